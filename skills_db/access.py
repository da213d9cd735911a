"""Who may see, run or change a skill: the owner always; members of an approved share only what was approved.

Every store path goes through these helpers, so no caller can reach someone else's private skill: a skill
the caller may not see is reported exactly like a skill that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, or_, select

from skills_db.errors import NotAllowed, SkillNotFound
from skills_db.models import ShareKind, ShareRole, Skill, SkillShare, SkillStatus
from skills_db.owner import Owner


@dataclass(frozen=True)
class Caller:
    """A user acting from somewhere: ``channel`` is the channel the verified request came from (None in a DM).

    Take the channel from the platform's signed payload, never from a button value or user text.
    """

    user: Owner
    channel: str | None = None


Viewer = Owner | Caller
"""Methods that read accept a bare ``Owner`` (no channel) or a ``Caller``."""


def as_caller(viewer: Viewer) -> Caller:
    """``viewer`` as a ``Caller``."""
    return viewer if isinstance(viewer, Caller) else Caller(viewer)


@dataclass(frozen=True)
class ShareScope:
    """A channel or a team of one platform workspace that skills can be shared with."""

    platform: str
    team: str
    kind: str
    target: str

    def __post_init__(self) -> None:
        kinds = [kind.value for kind in ShareKind]
        if self.kind not in kinds:
            raise ValueError(f"a share scope is one of {', '.join(kinds)}, not {self.kind!r}")
        for name in ("platform", "team", "target"):
            if not getattr(self, name):
                raise ValueError(f"ShareScope.{name} must be a non-empty string")
        if self.kind == ShareKind.TEAM and self.target != self.team:
            raise ValueError("a team scope's target is the team itself; use ShareScope.of_team(platform, team)")

    @classmethod
    def of_channel(cls, platform: str, team: str, channel: str) -> ShareScope:
        """Channel ``channel`` of workspace ``team``."""
        return cls(platform, team, ShareKind.CHANNEL.value, channel)

    @classmethod
    def of_team(cls, platform: str, team: str) -> ShareScope:
        """Everybody in workspace ``team``."""
        return cls(platform, team, ShareKind.TEAM.value, team)

    @classmethod
    def of_share(cls, share: SkillShare) -> ShareScope:
        """The scope a share row points at."""
        return cls(share.platform, share.team, share.kind, share.target)

    def label(self) -> str:
        """``channel C123`` or ``team T123``, for messages."""
        return f"{self.kind} {self.target}"


def owned_by(owner: Owner) -> tuple[Any, ...]:
    """WHERE clauses: skills owned by ``owner``."""
    return (
        Skill.owner_platform == owner.platform,
        Skill.owner_team == owner.team,
        Skill.owner_user == owner.user,
    )


def member_shares(caller: Caller) -> tuple[Any, ...]:
    """WHERE clauses: approved shares whose scope includes ``caller`` (their team, and the channel they act from)."""
    user = caller.user
    in_scope = [(SkillShare.kind == ShareKind.TEAM.value) & (SkillShare.target == user.team)]
    if caller.channel:
        in_scope.append((SkillShare.kind == ShareKind.CHANNEL.value) & (SkillShare.target == caller.channel))
    return (
        SkillShare.platform == user.platform,
        SkillShare.team == user.team,
        SkillShare.approved_version.is_not(None),  # type: ignore[union-attr]
        or_(*in_scope),
    )


def not_found(skill_id: int) -> SkillNotFound:
    """The one answer for a skill that is missing or not the caller's to see."""
    return SkillNotFound(f"you have no skill with id {skill_id}; list your skills to find its id")


def member_share(session: Session, skill: Skill, caller: Caller, *, to_run: bool = False) -> SkillShare | None:
    """The approved share through which ``caller`` reaches ``skill`` (the run role first when ``to_run``)."""
    shares = session.exec(select(SkillShare).where(SkillShare.skill_id == skill.id, *member_shares(caller))).all()
    if to_run:
        shares = [share for share in shares if share.role == ShareRole.RUN]
    return shares[0] if shares else None


def visible_skill(session: Session, skill_id: int, viewer: Viewer) -> tuple[Skill, SkillShare | None]:
    """The skill and, for a non-owner, the share that lets them see it; ``SkillNotFound`` otherwise."""
    caller = as_caller(viewer)
    skill = session.get(Skill, skill_id)
    if skill is None:
        raise not_found(skill_id)
    if skill.is_owned_by(caller.user):
        return skill, None
    share = member_share(session, skill, caller) if skill.status == SkillStatus.ACTIVE else None
    if share is None:
        raise not_found(skill_id)
    return skill, share


def owned_skill(session: Session, skill_id: int, by: Viewer, action: str, lock: bool = False) -> Skill:
    """The skill if ``by`` owns it; ``lock`` holds its row until commit (PostgreSQL; SQLite locks the file).

    A member who can see the skill through a share gets ``NotAllowed``; anyone else gets the same
    ``SkillNotFound`` as for a missing skill.
    """
    caller = as_caller(by)
    skill = session.get(Skill, skill_id, with_for_update=lock)
    if skill is None:
        raise not_found(skill_id)
    if skill.is_owned_by(caller.user):
        return skill
    if skill.status == SkillStatus.ACTIVE and member_share(session, skill, caller) is not None:
        raise NotAllowed(f"only the owner of skill '{skill.name}' can {action} it; ask them, or save your own copy")
    raise not_found(skill_id)
