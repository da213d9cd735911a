"""``SkillStore``: the one place that reads and writes skills, versions, approvals, runs, conversations and events.

Sharing, schedules and skill memory live in their own stores on the same engine, reached as
``store.sharing``, ``store.schedules`` and ``store.memory``.

Every method opens its own short session, so one store may be shared by threads (callers on asyncio use
``asyncio.to_thread``). Returned rows are detached copies: changing them changes nothing in the database.

Authorization is part of every method that takes a viewer or an actor: the owner may do everything;
members of an approved share may see and run the approved version only; anyone else is told the skill
does not exist. Methods without one (``start_run``, ``finish_run``, ``runs``) are for the runner, after
it authorized the run through ``get_runnable`` or ``find_runnable``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from skills_db.access import (
    Viewer,
    as_caller,
    member_share,
    member_shares,
    owned_by,
    owned_skill,
    visible_skill,
)
from skills_db.db import as_stored_json
from skills_db.errors import (
    AmbiguousSkillName,
    ConversationNotFound,
    InvalidSkillName,
    RunAlreadyFinished,
    RunNotFound,
    SkillNameTaken,
    SkillNotFound,
    SkillNotRunnable,
    VersionNotFound,
)
from skills_db.memory import MemoryStore
from skills_db.models import (
    Conversation,
    Decision,
    ProcessedEvent,
    RunStatus,
    RunTrigger,
    ShareRole,
    Skill,
    SkillApproval,
    SkillRun,
    SkillShare,
    SkillStatus,
    SkillVersion,
)
from skills_db.owner import Owner
from skills_db.params import extract_parameters
from skills_db.policy import RunPolicy
from skills_db.retention import RetentionPolicy, prune_runs
from skills_db.schedules import ScheduleStore
from skills_db.sharing import SharingStore
from skills_db.timestamps import utc_now
from skills_db.transfer import SkillFile

SKILL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# Slack redelivers an event up to about 5 minutes later; keep keys well past that.
DEFAULT_EVENT_TTL = timedelta(hours=1)
SCHEDULE_TRIGGER_PREFIX = "schedule:"
# Runs started by a schedule or by the agent act with the owner's account: the owner sees them.
OWNER_RUN_PREFIXES = (SCHEDULE_TRIGGER_PREFIX, "agent:")


@dataclass(frozen=True)
class RunnableSkill:
    """A skill the caller may run now, the version they run, and the share that allows it (None: their own)."""

    skill: Skill
    version: SkillVersion
    share: SkillShare | None = None

    @property
    def shared(self) -> bool:
        """True when the caller runs someone else's skill through a share."""
        return self.share is not None


@dataclass(frozen=True)
class VersionDiff:
    """What changed between two versions: the code as a unified diff, and the tools added or removed."""

    skill_name: str
    old: int
    new: int
    code_diff: str
    tools_added: list[str]
    tools_removed: list[str]

    @property
    def text(self) -> str:
        """The diff with a line per tool change, ready to show in a code block."""
        lines = [f"+ tool {name}" for name in self.tools_added] + [f"- tool {name}" for name in self.tools_removed]
        body = self.code_diff or "(the code is the same)\n"
        return ("\n".join(lines) + "\n" if lines else "") + body


# Statements of the run path built once, with parameters bound at execution (every /skill run goes through them).
_ACTIVE_BY_NAME = (
    select(Skill, SkillVersion)
    .join(SkillVersion, col(SkillVersion.skill_id) == col(Skill.id))
    .where(
        Skill.owner_platform == bindparam("platform"),
        Skill.owner_team == bindparam("team"),
        Skill.owner_user == bindparam("user"),
        Skill.name == bindparam("name"),
        Skill.status == SkillStatus.ACTIVE.value,
        col(SkillVersion.version) == col(Skill.current_version),
    )
)
_RUNS = SkillRun.__table__
_VERSION_EXISTS = select(SkillVersion.version).where(
    SkillVersion.skill_id == bindparam("skill_id"), SkillVersion.version == bindparam("version")
)
_INSERT_RUN = insert(_RUNS)
_RUN_FOR_UPDATE = select(_RUNS).where(_RUNS.c.id == bindparam("run_id")).with_for_update()
_FINISH_RUN = update(_RUNS).where(_RUNS.c.id == bindparam("finishing_id"))


class SkillStore:
    """Skills and their history on one database engine (see ``skills_db.db.make_engine``)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utc_now,
        event_ttl: timedelta = DEFAULT_EVENT_TTL,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._event_ttl = event_ttl
        self.sharing = SharingStore(engine, clock=clock)
        self.schedules = ScheduleStore(engine, clock=clock)
        self.memory = MemoryStore(engine, clock=clock)


    @property
    def is_local(self) -> bool:
        """True for SQLite: a file on this machine, read in well under a millisecond (no network)."""
        return self._engine.dialect.name == "sqlite"

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    # ----------------------------------------------------------------------------------------- skills

    def create_draft(
        self,
        owner: Owner,
        name: str,
        description: str,
        code: str,
        tools: Sequence[str],
        source_thread: str | None = None,
    ) -> Skill:
        """A new draft skill whose version 1 is ``code``; parameters are read from its ``async def run``.

        Raises ``InvalidSkillName``, ``SkillCodeError`` (bad ``run``) or ``SkillNameTaken``.
        """
        _check_name(name)
        parameters = [parameter.to_dict() for parameter in extract_parameters(code)]
        now = self._clock()
        with self._session() as session:
            taken = session.exec(select(Skill).where(*owned_by(owner), Skill.name == name)).first()
            if taken is not None:
                raise _name_taken(name, taken)
            skill = Skill(
                owner_platform=owner.platform,
                owner_team=owner.team,
                owner_user=owner.user,
                name=name,
                description=description,
                status=SkillStatus.DRAFT.value,
                current_version=1,
                source_thread=source_thread,
                created_at=now,
                updated_at=now,
            )
            session.add(skill)
            try:
                session.flush()
                assert skill.id is not None  # assigned by the flush
                session.add(
                    SkillVersion(
                        skill_id=skill.id,
                        version=1,
                        code=code,
                        parameters=parameters,
                        tools=list(tools),
                        created_at=now,
                    )
                )
                session.commit()
            except IntegrityError:
                # Another writer took the name between our check and our insert.
                raise _name_taken(name, None) from None
            return skill

    def add_version(
        self, skill_id: int, by: Owner, code: str, tools: Sequence[str], *, restored_from: int | None = None
    ) -> SkillVersion:
        """Store ``code`` as the skill's next version; the current version stays until the owner approves it."""
        parameters = [parameter.to_dict() for parameter in extract_parameters(code)]
        now = self._clock()
        with self._session() as session:
            # Locked, so two new versions at once get consecutive numbers instead of colliding.
            skill = owned_skill(session, skill_id, by, action="change", lock=True)
            latest = session.exec(select(func.max(SkillVersion.version)).where(SkillVersion.skill_id == skill_id)).one()
            version = SkillVersion(
                skill_id=skill_id,
                version=(latest or 0) + 1,
                code=code,
                parameters=parameters,
                tools=list(tools),
                restored_from=restored_from,
                created_at=now,
            )
            session.add(version)
            skill.updated_at = now
            session.add(skill)
            session.commit()
            return version

    def restore(self, skill_id: int, by: Owner, version: int) -> SkillVersion:
        """Copy old ``version`` as the newest version (history is never rewritten); it needs approval like any other."""
        old = self.get_version(skill_id, by, version)
        return self.add_version(skill_id, by, old.code, old.tools, restored_from=version)

    def approve(self, skill_id: int, by: Owner, version: int, note: str = "") -> Skill:
        """The owner approves ``version`` after seeing it: it becomes the one that runs, and the skill active.

        The decision is recorded (who, when, which version), even when the version was approved before.
        """
        with self._session() as session:
            skill = owned_skill(session, skill_id, by, action="approve")
            if session.exec(_version_query(skill_id, version)).first() is None:
                raise VersionNotFound(f"skill '{skill.name}' has no version {version}; pick one of its stored versions")
            now = self._clock()
            session.add(SkillApproval.record(skill_id, version, None, Decision.APPROVED, by, note, now))
            skill.status = SkillStatus.ACTIVE.value
            skill.current_version = version
            skill.updated_at = now
            session.add(skill)
            session.commit()
            return skill

    def reject(self, skill_id: int, by: Owner, version: int, note: str = "") -> SkillApproval:
        """The owner turns down ``version`` (recorded); what runs now does not change."""
        with self._session() as session:
            skill = owned_skill(session, skill_id, by, action="reject versions of")
            if session.exec(_version_query(skill_id, version)).first() is None:
                raise VersionNotFound(f"skill '{skill.name}' has no version {version}; pick one of its stored versions")
            decision = SkillApproval.record(skill_id, version, None, Decision.REJECTED, by, note, self._clock())
            session.add(decision)
            session.commit()
            return decision

    def activate(self, skill_id: int, by: Owner, version: int | None = None) -> Skill:
        """Make the skill runnable at ``version`` (default: its current one). Only the owner may; idempotent.

        Activating a version is the owner's approval of it: a change is recorded like ``approve``.
        """
        with self._session() as session:
            skill = owned_skill(session, skill_id, by, action="activate")
        target = skill.current_version if version is None else version
        if skill.status == SkillStatus.ACTIVE and skill.current_version == target:
            return skill
        if target is None:
            raise VersionNotFound(f"skill '{skill.name}' has no current version; pick one of its stored versions")
        return self.approve(skill_id, by, target)

    def disable(self, skill_id: int, by: Owner) -> Skill:
        """Stop the skill from running (its versions are kept). Only the owner may."""
        return self._set_status(skill_id, by, SkillStatus.DISABLED, action="disable")

    def archive(self, skill_id: int, by: Owner) -> Skill:
        """Retire the skill (its versions and runs are kept). Only the owner may."""
        return self._set_status(skill_id, by, SkillStatus.ARCHIVED, action="archive")

    def _set_status(self, skill_id: int, by: Owner, status: SkillStatus, action: str) -> Skill:
        with self._session() as session:
            skill = owned_skill(session, skill_id, by, action=action)
            if skill.status != status:
                skill.status = status.value
                skill.updated_at = self._clock()
                session.add(skill)
                session.commit()
            return skill

    def delete(self, skill_id: int, by: Owner) -> None:
        """Delete the skill with its versions, runs, approvals, shares, schedule and memory. Only the owner may."""
        with self._session() as session:
            skill = owned_skill(session, skill_id, by, action="delete")
            session.delete(skill)
            session.commit()

    def set_run_policy(self, skill_id: int, by: Owner, policy: RunPolicy) -> Skill:
        """Set how runs of the skill are retried and when its schedule pauses. Only the owner may."""
        with self._session() as session:
            skill = owned_skill(session, skill_id, by, action="change the run policy of")
            skill.run_policy = policy.to_dict()
            skill.updated_at = self._clock()
            session.add(skill)
            session.commit()
            return skill

    def run_policy(self, skill: Skill) -> RunPolicy:
        """The skill's run policy (defaults for what it does not set)."""
        return RunPolicy.from_dict(skill.run_policy)

    def get(self, skill_id: int, viewer: Viewer) -> Skill:
        """The skill, if ``viewer`` owns it or reaches it through an approved share; ``SkillNotFound`` otherwise."""
        with self._session() as session:
            return visible_skill(session, skill_id, viewer)[0]

    def get_version(self, skill_id: int, viewer: Viewer, version: int | None = None) -> SkillVersion:
        """One version (default: the current one); members of a share see only the version approved for it."""
        with self._session() as session:
            skill, share = visible_skill(session, skill_id, viewer)
            default = skill.current_version if share is None else share.approved_version
            wanted = default if version is None else version
            if share is not None and wanted != share.approved_version:
                raise VersionNotFound(
                    f"skill '{skill.name}' is shared with you at version {share.approved_version} only"
                )
            row = session.exec(_version_query(skill_id, wanted)).first() if wanted is not None else None
            if row is None:
                raise VersionNotFound(f"skill '{skill.name}' has no version {wanted}")
            return row

    def versions(self, skill_id: int, viewer: Viewer) -> list[SkillVersion]:
        """Every version the viewer may see, oldest first (all for the owner, the approved one for members)."""
        with self._session() as session:
            skill, share = visible_skill(session, skill_id, viewer)
            query = select(SkillVersion).where(SkillVersion.skill_id == skill_id)
            if share is not None:
                query = query.where(SkillVersion.version == share.approved_version)
            return list(session.exec(query.order_by(col(SkillVersion.version))).all())

    def diff(self, skill_id: int, viewer: Viewer, old: int, new: int) -> VersionDiff:
        """How version ``new`` differs from version ``old`` (a unified diff of the code, and the tools)."""
        skill = self.get(skill_id, viewer)
        before, after = self.get_version(skill_id, viewer, old), self.get_version(skill_id, viewer, new)
        return version_diff(skill.name, before, after)

    def approvals(self, skill_id: int, viewer: Owner) -> list[SkillApproval]:
        """Every decision on the skill, the owner's and the share approvers', oldest first. Only the owner sees them."""
        with self._session() as session:
            owned_skill(session, skill_id, viewer, action="see the approvals of")
            return list(
                session.exec(
                    select(SkillApproval)
                    .where(SkillApproval.skill_id == skill_id)
                    .order_by(col(SkillApproval.decided_at), col(SkillApproval.id))
                ).all()
            )

    def find_active(self, owner: Owner, name: str) -> tuple[Skill, SkillVersion] | None:
        """The owner's active skill called ``name`` with its current version, or None."""
        with self._session() as session:
            return _active(session, owner, name)

    def list_skills(self, owner: Owner) -> list[Skill]:
        """All of the owner's skills, by name."""
        with self._session() as session:
            return list(session.exec(select(Skill).where(*owned_by(owner)).order_by(col(Skill.name))).all())

    def find_runnable(self, caller: Viewer, name: str) -> RunnableSkill | None:
        """What ``/skill run NAME`` runs for ``caller``: their own active skill, else one shared with them.

        ``AmbiguousSkillName`` when several shared skills have the name (the caller must pick one by id).
        """
        who = as_caller(caller)
        with self._session() as session:   # one transaction for both lookups: this runs in every /skill run ack
            own = _active(session, who.user, name)
            if own is not None:
                return RunnableSkill(*own)
            rows = session.exec(
                select(Skill, SkillShare)
                .join(SkillShare, col(SkillShare.skill_id) == col(Skill.id))
                .where(Skill.name == name, Skill.status == SkillStatus.ACTIVE.value, *member_shares(who))
                .where(SkillShare.role == ShareRole.RUN.value)
                .order_by(col(Skill.id))
            ).all()
            by_skill = {skill.id: (skill, share) for skill, share in rows}
            if len(by_skill) > 1:
                ids = ", ".join(str(skill_id) for skill_id in by_skill)
                raise AmbiguousSkillName(f"several skills named '{name}' are shared with you (ids {ids}); pick one by id")
            if not by_skill:
                return None
            skill, share = next(iter(by_skill.values()))
            version = session.exec(_version_query(skill.id, share.approved_version)).one()
            return RunnableSkill(skill, version, share)

    def get_runnable(self, skill_id: int, caller: Viewer, version: int | None = None) -> RunnableSkill:
        """The skill and version ``caller`` may run now (a button's skill id goes through here).

        The owner runs an active skill at its current version, or an older ``version`` they name; members
        run the version approved for their share. ``SkillNotFound``, ``SkillNotRunnable`` or
        ``VersionNotFound`` otherwise.
        """
        who = as_caller(caller)
        with self._session() as session:
            skill, share = visible_skill(session, skill_id, who)
            if skill.status != SkillStatus.ACTIVE:
                raise SkillNotRunnable(_not_runnable_message(skill))
            if share is not None:
                share = member_share(session, skill, who, to_run=True)
                if share is None:
                    raise SkillNotRunnable(f"skill '{skill.name}' is shared with you to read, not to run")
                if version is not None and version != share.approved_version:
                    raise VersionNotFound(
                        f"skill '{skill.name}' is shared with you at version {share.approved_version} only"
                    )
                wanted = share.approved_version
            else:
                wanted = skill.current_version if version is None else version
            row = session.exec(_version_query(skill_id, wanted)).first() if wanted is not None else None
            if row is None:
                raise VersionNotFound(f"skill '{skill.name}' has no version {wanted}")
            return RunnableSkill(skill, row, share)

    def list_runnable(self, caller: Viewer) -> list[RunnableSkill]:
        """The caller's own active skills, then those shared with them to run, each by name."""
        who = as_caller(caller)
        with self._session() as session:
            own = session.exec(
                select(Skill, SkillVersion)
                .join(SkillVersion, col(SkillVersion.skill_id) == col(Skill.id))
                .where(
                    *owned_by(who.user),
                    Skill.status == SkillStatus.ACTIVE.value,
                    col(SkillVersion.version) == col(Skill.current_version),
                )
                .order_by(col(Skill.name))
            ).all()
            shared = session.exec(
                select(Skill, SkillVersion, SkillShare)
                .join(SkillShare, col(SkillShare.skill_id) == col(Skill.id))
                .join(
                    SkillVersion,
                    (col(SkillVersion.skill_id) == col(Skill.id))
                    & (col(SkillVersion.version) == col(SkillShare.approved_version)),
                )
                .where(Skill.status == SkillStatus.ACTIVE.value, SkillShare.role == ShareRole.RUN.value)
                .where(*member_shares(who))
                .order_by(col(Skill.name), col(Skill.id))
            ).all()
            found = [RunnableSkill(skill, version) for skill, version in own]
            seen = {skill.id for skill, _ in own}
            for skill, version, share in shared:
                if skill.id not in seen:
                    seen.add(skill.id)
                    found.append(RunnableSkill(skill, version, share))
            return found

    # --------------------------------------------------------------------------------------- transfer

    def export_file(self, skill_id: int, viewer: Viewer, version: int | None = None) -> str:
        """The version as one readable ``.py`` file with a metadata header (save it as ``<name>.py``)."""
        skill = self.get(skill_id, viewer)
        row = self.get_version(skill_id, viewer, version)
        return SkillFile(skill.name, skill.description, row.version, list(row.tools), row.code).render(self._clock())

    def import_file(
        self, owner: Owner, text: str, *, name: str | None = None, source_thread: str | None = None
    ) -> tuple[Skill, SkillVersion]:
        """Read an exported ``.py`` file: a new draft, or a new version of the owner's skill of that name.

        Either way nothing runs until the owner approves it. Raises ``InvalidSkillFile`` or ``SkillCodeError``.
        """
        parsed = SkillFile.parse(text)
        wanted = name or parsed.name
        _check_name(wanted)
        with self._session() as session:
            existing = session.exec(select(Skill).where(*owned_by(owner), Skill.name == wanted)).first()
        if existing is None:
            skill = self.create_draft(owner, wanted, parsed.description, parsed.code, parsed.tools, source_thread)
            return skill, self.get_version(skill.id, owner, 1)
        version = self.add_version(existing.id, owner, parsed.code, parsed.tools)
        return self.get(existing.id, owner), version

    # ------------------------------------------------------------------------------------------- runs

    def start_run(
        self,
        skill_id: int,
        version: int,
        triggered_by: str,
        trigger: str,
        parameters: dict[str, Any],
        *,
        attempt: int = 1,
        retry_of: int | None = None,
    ) -> SkillRun:
        """Record that a run of ``version`` began (status "running"). ``trigger`` is a ``RunTrigger`` value.

        Automatic retries pass their ``attempt`` number and the id of the first attempt as ``retry_of``.
        """
        allowed = [member.value for member in RunTrigger]
        if trigger not in allowed:
            raise ValueError(f"trigger {trigger!r} is not one of {', '.join(allowed)}")
        record = {
            "skill_id": skill_id,
            "version": version,
            "triggered_by": triggered_by,
            "trigger": trigger,
            "parameters": as_stored_json(parameters),
            "status": RunStatus.RUNNING.value,
            "started_at": self._clock(),
            "attempt": attempt,
            "retry_of": retry_of,
            # the columns finish_run sets, given here so that building the returned record runs no defaults
            "result": None,
            "logs": "",
            "tool_calls": [],
            "error": None,
            "finished_at": None,
            "duration_ms": None,
        }
        # Core statements rather than the ORM's unit of work: this and finish_run are on the path of every run.
        with self._engine.begin() as connection:
            if connection.execute(_VERSION_EXISTS, {"skill_id": skill_id, "version": version}).first() is None:
                raise VersionNotFound(f"skill {skill_id} has no version {version}; run a stored version")
            run_id = connection.execute(_INSERT_RUN, record).inserted_primary_key[0]
        return SkillRun(id=run_id, **record)

    def finish_run(
        self,
        run_id: int,
        status: str,
        result: Any = None,
        logs: str = "",
        tool_calls: Sequence[Any] = (),
        error: str | None = None,
    ) -> SkillRun:
        """Record how a run ended: ``status`` is "succeeded" or "failed"; the duration is computed."""
        allowed = (RunStatus.SUCCEEDED.value, RunStatus.FAILED.value)
        if status not in allowed:
            raise ValueError(f"a run finishes as {' or '.join(allowed)}, not {status!r}")
        with self._engine.begin() as connection:
            stored = connection.execute(_RUN_FOR_UPDATE, {"run_id": run_id}).first()
            if stored is None:
                raise RunNotFound(f"no run with id {run_id}; start it with start_run first")
            if stored.status != RunStatus.RUNNING:
                raise RunAlreadyFinished(f"run {run_id} already finished as {stored.status}; a run finishes once")
            finished_at = self._clock()
            ending = {
                "status": status,
                "result": as_stored_json(result),
                "logs": logs,
                "tool_calls": as_stored_json(list(tool_calls)),
                "error": error,
                "finished_at": finished_at,
                "duration_ms": max(0, round((finished_at - stored.started_at).total_seconds() * 1000)),
            }
            connection.execute(_FINISH_RUN, {"finishing_id": run_id, **ending})
        return SkillRun(**{**stored._mapping, **ending})

    def runs(self, skill_id: int, limit: int = 20) -> list[SkillRun]:
        """The skill's most recent runs, newest first (for the runtime; people use ``history``)."""
        with self._session() as session:
            return list(
                session.exec(
                    select(SkillRun)
                    .where(SkillRun.skill_id == skill_id)
                    .order_by(col(SkillRun.started_at).desc(), col(SkillRun.id).desc())
                    .limit(limit)
                ).all()
            )

    def run_count(self, skill_id: int) -> int:
        """How many runs of the skill are recorded (what deleting it would remove)."""
        with self._session() as session:
            return session.exec(select(func.count()).select_from(SkillRun).where(SkillRun.skill_id == skill_id)).one()

    def history(self, skill_id: int, viewer: Viewer, limit: int = 20) -> list[SkillRun]:
        """The runs ``viewer`` may see, newest first: the owner's own, scheduled and agent runs; a member's own runs.

        A member's run acts on the member's account, so its results stay theirs: the owner does not see them.
        """
        with self._session() as session:
            skill, _ = visible_skill(session, skill_id, viewer)
            user = as_caller(viewer).user
            mine = col(SkillRun.triggered_by) == user.user_ref
            if skill.is_owned_by(user):
                mine = or_(mine, *(col(SkillRun.triggered_by).startswith(prefix) for prefix in OWNER_RUN_PREFIXES))
            return list(
                session.exec(
                    select(SkillRun)
                    .where(SkillRun.skill_id == skill_id, mine)
                    .order_by(col(SkillRun.started_at).desc(), col(SkillRun.id).desc())
                    .limit(limit)
                ).all()
            )

    def get_run(self, run_id: int, viewer: Viewer) -> SkillRun:
        """One run the viewer may see (as in ``history``); ``RunNotFound`` otherwise (a Retry button goes here)."""
        user = as_caller(viewer).user
        with self._session() as session:
            run = session.get(SkillRun, run_id)
            if run is not None:
                try:
                    skill, _ = visible_skill(session, run.skill_id, viewer)
                except SkillNotFound:
                    skill = None
                if skill is not None and (
                    run.triggered_by == user.user_ref
                    or (skill.is_owned_by(user) and run.triggered_by.startswith(OWNER_RUN_PREFIXES))
                ):
                    return run
        raise RunNotFound(f"you have no run with id {run_id}; /skill history NAME lists your runs")

    def prune_runs(self, policy: RetentionPolicy) -> int:
        """Delete finished runs that ``policy`` no longer keeps; the number deleted. Nothing else is deleted."""
        with self._session() as session:
            deleted = prune_runs(session, policy, self._clock())
            session.commit()
            return deleted

    # ---------------------------------------------------------------------------------- conversations

    def upsert_conversation(
        self, platform: str, team: str, channel: str, thread_ts: str, requester_user: str
    ) -> Conversation:
        """The conversation of this thread, created on first sight; later calls only touch ``updated_at``.

        The requester stays the person who started the thread.
        """
        thread_id = Conversation.make_thread_id(platform, team, channel, thread_ts)
        now = self._clock()
        with self._session() as session:
            stored = session.get(Conversation, thread_id)
            if stored is None:
                created = Conversation(
                    thread_id=thread_id,
                    platform=platform,
                    team=team,
                    channel=channel,
                    thread_ts=thread_ts,
                    requester_user=requester_user,
                    created_at=now,
                    updated_at=now,
                )
                session.add(created)
                try:
                    session.commit()
                    return created
                except IntegrityError:
                    session.rollback()  # another writer created it between our read and our insert
                    stored = session.get(Conversation, thread_id)
                    if stored is None:
                        raise ConversationNotFound(
                            f"conversation {thread_id} was created and deleted at the same time; retry"
                        ) from None
            stored.updated_at = now
            session.add(stored)
            session.commit()
            return stored

    def get_conversation(self, thread_id: str) -> Conversation | None:
        """The conversation with this ``platform:team:channel:thread_ts`` id, or None."""
        with self._session() as session:
            return session.get(Conversation, thread_id)

    def set_progress_message(self, thread_id: str, message_id: str) -> Conversation:
        """Remember the id/ts of the thread's progress message (the one edited in place)."""
        with self._session() as session:
            conversation = session.get(Conversation, thread_id)
            if conversation is None:
                raise ConversationNotFound(f"no conversation {thread_id}; record it with upsert_conversation first")
            conversation.progress_message_id = message_id
            conversation.updated_at = self._clock()
            session.add(conversation)
            session.commit()
            return conversation

    # ----------------------------------------------------------------------------------------- events

    def mark_event_processed(self, key: str) -> bool:
        """True the first time ``key`` is seen within the TTL, False for a duplicate. Prunes expired keys."""
        now = self._clock()
        with self._session() as session:
            session.execute(delete(ProcessedEvent).where(col(ProcessedEvent.seen_at) < now - self._event_ttl))
            session.add(ProcessedEvent(key=key, seen_at=now))
            try:
                session.commit()
            except IntegrityError:
                return False
            return True


def _check_name(name: str) -> None:
    if not SKILL_NAME_PATTERN.match(name):
        raise InvalidSkillName(
            f"skill name {name!r} cannot be used; use 1-64 letters, digits, '-' or '_' starting with a "
            "letter or digit, e.g. attachments-bridge"
        )


def _name_taken(name: str, existing: Skill | None) -> SkillNameTaken:
    detail = f" (id {existing.id}, {existing.status})" if existing is not None else ""
    return SkillNameTaken(
        f"you already have a skill named '{name}'{detail}; choose another name, "
        "or store the new code as a new version of that skill"
    )


def _active(session: Session, owner: Owner, name: str) -> tuple[Skill, SkillVersion] | None:
    params = {"platform": owner.platform, "team": owner.team, "user": owner.user, "name": name}
    row = session.exec(_ACTIVE_BY_NAME, params=params).first()
    return (row[0], row[1]) if row is not None else None


def _version_query(skill_id: int, version: int | None) -> SelectOfScalar[SkillVersion]:
    return select(SkillVersion).where(SkillVersion.skill_id == skill_id, SkillVersion.version == version)


def _not_runnable_message(skill: Skill) -> str:
    if skill.status == SkillStatus.DRAFT:
        return f"skill '{skill.name}' is a draft: its owner must approve it before it runs"
    return f"skill '{skill.name}' is {skill.status}; its owner can activate it again"


def version_diff(name: str, before: SkillVersion, after: SkillVersion) -> VersionDiff:
    """The ``VersionDiff`` between two versions of skill ``name``."""
    lines = difflib.unified_diff(
        before.code.splitlines(),
        after.code.splitlines(),
        fromfile=f"{name} v{before.version}",
        tofile=f"{name} v{after.version}",
        lineterm="",
    )
    code_diff = "".join(f"{line}\n" for line in lines)
    return VersionDiff(
        skill_name=name,
        old=before.version,
        new=after.version,
        code_diff=code_diff,
        tools_added=sorted(set(after.tools) - set(before.tools)),
        tools_removed=sorted(set(before.tools) - set(after.tools)),
    )
