"""Errors raised by the skill store. Messages say what was wrong and how to fix it."""

from __future__ import annotations


class SkillStoreError(Exception):
    """Base class of the store's errors."""


class SkillNotFound(SkillStoreError, LookupError):
    """No such skill visible to the caller (someone else's private skill looks the same as a missing one)."""


class NotAllowed(SkillStoreError, PermissionError):
    """The caller may see the object but not change it (only a skill's owner may)."""


class SkillNameTaken(SkillStoreError, ValueError):
    """The owner already has a skill with this name."""


class InvalidSkillName(SkillStoreError, ValueError):
    """A skill name that cannot be typed in ``/skill run NAME``."""


class VersionNotFound(SkillStoreError, LookupError):
    """The skill has no such version."""


class RunNotFound(SkillStoreError, LookupError):
    """No run with this id."""


class RunAlreadyFinished(SkillStoreError, ValueError):
    """``finish_run`` was called twice for the same run."""


class ConversationNotFound(SkillStoreError, LookupError):
    """No conversation recorded for this thread id."""


class ImmutableVersionError(SkillStoreError, RuntimeError):
    """Something tried to change a stored skill version in place."""


class SkillNotRunnable(SkillStoreError, ValueError):
    """The skill exists and is visible, but cannot run now (a draft, disabled, archived, or view-only)."""


class AmbiguousSkillName(SkillStoreError, LookupError):
    """Several skills shared with the caller have this name and the caller has none of their own."""


class InvalidSchedule(SkillStoreError, ValueError):
    """A cron expression, time zone or missed-run policy that cannot be used."""


class ScheduleNotFound(SkillStoreError, LookupError):
    """The skill has no schedule."""


class MemoryLimitExceeded(SkillStoreError, ValueError):
    """A skill memory key or value that is too large, or too many keys."""


class InvalidSkillFile(SkillStoreError, ValueError):
    """An imported ``.py`` file without a usable CodeMem metadata header."""


class ShareNotFound(SkillStoreError, LookupError):
    """No such share, or the caller is not an approver of its channel or team."""
