"""Sharing skills with a channel or team: shares, the approvers of each scope, and their recorded decisions.

A share makes nothing runnable by itself: an approver of its channel or team reviews the skill's current
version and approves it, and members then run exactly that version (``SkillShare.approved_version``) until
an approver approves a newer one. Approvers are set by an operator (settings, CLI or a workspace admin).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from skills_db.access import ShareScope, owned_skill
from skills_db.errors import ShareNotFound, SkillNotRunnable, VersionNotFound
from skills_db.models import (
    Decision,
    ScopeApprover,
    ShareRole,
    Skill,
    SkillApproval,
    SkillShare,
    SkillStatus,
    SkillVersion,
)
from skills_db.owner import Owner
from skills_db.timestamps import utc_now


@dataclass(frozen=True)
class ShareReview:
    """What an approver is shown: the share, the skill, the version to approve, and the one approved before."""

    share: SkillShare
    skill: Skill
    version: SkillVersion
    previous: SkillVersion | None


class SharingStore:
    """Shares, approvers and approvals (reached as ``SkillStore.sharing``)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    # -------------------------------------------------------------------------------------- the owner

    def share(self, skill_id: int, by: Owner, scope: ShareScope, role: str = ShareRole.RUN.value) -> SkillShare:
        """Share the skill with ``scope`` (pending until an approver there approves). Sharing again changes the role."""
        roles = [member.value for member in ShareRole]
        if role not in roles:
            raise ValueError(f"a share's role is one of {', '.join(roles)}, not {role!r}")
        if (scope.platform, scope.team) != (by.platform, by.team):
            raise ValueError(f"a skill can be shared within its own workspace only ({by.platform} {by.team})")
        now = self._clock()
        with self._session() as session:
            owned_skill(session, skill_id, by, action="share")
            share = session.exec(_share_query(skill_id, scope)).first()
            if share is None:
                share = SkillShare(
                    skill_id=skill_id,
                    platform=scope.platform,
                    team=scope.team,
                    kind=scope.kind,
                    target=scope.target,
                    role=role,
                    created_at=now,
                    updated_at=now,
                )
            else:
                share.role = role
                share.updated_at = now
            session.add(share)
            try:
                session.commit()
            except IntegrityError:  # shared twice at once: the other one won, with the same scope
                session.rollback()
                share = session.exec(_share_query(skill_id, scope)).one()
            return share

    def unshare(self, skill_id: int, by: Owner, scope: ShareScope) -> bool:
        """Stop sharing with ``scope``; False when it was not shared there. Recorded decisions are kept."""
        with self._session() as session:
            owned_skill(session, skill_id, by, action="unshare")
            share = session.exec(_share_query(skill_id, scope)).first()
            if share is None:
                return False
            session.delete(share)
            session.commit()
            return True

    def shares(self, skill_id: int, by: Owner) -> list[SkillShare]:
        """Where the owner shared the skill, and what was approved there."""
        with self._session() as session:
            owned_skill(session, skill_id, by, action="see the shares of")
            return list(session.exec(select(SkillShare).where(SkillShare.skill_id == skill_id)).all())

    # -------------------------------------------------------------------------------------- approvers

    def add_approver(self, scope: ShareScope, user: str, added_by: str) -> bool:
        """Make ``user`` an approver of ``scope`` (an operator's action); False when they already were."""
        with self._session() as session:
            session.add(
                ScopeApprover(
                    platform=scope.platform,
                    team=scope.team,
                    kind=scope.kind,
                    target=scope.target,
                    user=user,
                    added_by=added_by,
                    added_at=self._clock(),
                )
            )
            try:
                session.commit()
            except IntegrityError:
                return False
            return True

    def remove_approver(self, scope: ShareScope, user: str) -> bool:
        """``user`` no longer approves for ``scope``; False when they did not."""
        with self._session() as session:
            result = session.execute(delete(ScopeApprover).where(*_approver_of(scope), ScopeApprover.user == user))
            session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def approvers(self, scope: ShareScope) -> list[str]:
        """The user ids that approve skills shared with ``scope``."""
        with self._session() as session:
            query = select(ScopeApprover.user).where(*_approver_of(scope)).order_by(col(ScopeApprover.user))
            return list(session.exec(query).all())

    # -------------------------------------------------------------------------------------- approving

    def pending(self, approver: Owner) -> list[ShareReview]:
        """Shares waiting for ``approver``: in their scopes, the skill active, its current version not yet decided."""
        with self._session() as session:
            rows = session.exec(
                select(SkillShare, Skill)
                .join(Skill, col(Skill.id) == col(SkillShare.skill_id))
                .join(
                    ScopeApprover,
                    (col(ScopeApprover.platform) == col(SkillShare.platform))
                    & (col(ScopeApprover.team) == col(SkillShare.team))
                    & (col(ScopeApprover.kind) == col(SkillShare.kind))
                    & (col(ScopeApprover.target) == col(SkillShare.target)),
                )
                .where(
                    ScopeApprover.platform == approver.platform,
                    ScopeApprover.team == approver.team,
                    ScopeApprover.user == approver.user,
                    Skill.status == SkillStatus.ACTIVE.value,
                )
                .order_by(col(SkillShare.id))
            ).all()
            reviews = []
            for share, skill in rows:
                if share.approved_version == skill.current_version:
                    continue
                decided = session.exec(
                    select(SkillApproval.id).where(
                        SkillApproval.share_id == share.id, SkillApproval.version == skill.current_version
                    )
                ).first()
                if decided is None:
                    reviews.append(_review(session, share, skill))
            return reviews

    def review(self, share_id: int, approver: Owner) -> ShareReview:
        """The share as its approver sees it (the version to approve is the skill's current one)."""
        with self._session() as session:
            share, skill = _approvable(session, share_id, approver)
            return _review(session, share, skill)

    def approve(self, share_id: int, approver: Owner, version: int, note: str = "") -> SkillShare:
        """An approver of the share's scope approves ``version`` (the one they were shown): members may run it."""
        return self._decide(share_id, approver, version, Decision.APPROVED, note)

    def reject(self, share_id: int, approver: Owner, version: int, note: str = "") -> SkillShare:
        """An approver turns ``version`` down (recorded); an earlier approved version stays runnable."""
        return self._decide(share_id, approver, version, Decision.REJECTED, note)

    def _decide(self, share_id: int, approver: Owner, version: int, decision: Decision, note: str) -> SkillShare:
        now = self._clock()
        with self._session() as session:
            share, skill = _approvable(session, share_id, approver)
            if skill.status != SkillStatus.ACTIVE:
                raise SkillNotRunnable(f"skill '{skill.name}' is {skill.status}; only active skills can be approved")
            if version != skill.current_version:
                raise VersionNotFound(
                    f"version {version} of '{skill.name}' is not the one to review (version {skill.current_version} "
                    "is); reopen the review to see it"
                )
            session.add(SkillApproval.record(skill.id, version, share.id, decision, approver, note, now))
            if decision == Decision.APPROVED:
                share.approved_version = version
                share.updated_at = now
                session.add(share)
            session.commit()
            return share


def _share_query(skill_id: int, scope: ShareScope):  # type: ignore[no-untyped-def]
    return select(SkillShare).where(
        SkillShare.skill_id == skill_id,
        SkillShare.platform == scope.platform,
        SkillShare.team == scope.team,
        SkillShare.kind == scope.kind,
        SkillShare.target == scope.target,
    )


def _approver_of(scope: ShareScope) -> tuple:
    return (
        ScopeApprover.platform == scope.platform,
        ScopeApprover.team == scope.team,
        ScopeApprover.kind == scope.kind,
        ScopeApprover.target == scope.target,
    )


def _approvable(session: Session, share_id: int, approver: Owner) -> tuple[SkillShare, Skill]:
    """The share and its skill when ``approver`` approves for the share's scope; ``ShareNotFound`` otherwise."""
    share = session.get(SkillShare, share_id)
    if share is not None:
        is_approver = session.exec(
            select(ScopeApprover.id).where(
                *_approver_of(ShareScope.of_share(share)),
                ScopeApprover.user == approver.user,
                ScopeApprover.platform == approver.platform,
                ScopeApprover.team == approver.team,
            )
        ).first()
        skill = session.get(Skill, share.skill_id)
        if is_approver is not None and skill is not None:
            return share, skill
    raise ShareNotFound(f"there is no share {share_id} for you to review; your pending reviews list the ones there are")


def _review(session: Session, share: SkillShare, skill: Skill) -> ShareReview:
    def version(number: int | None) -> SkillVersion | None:
        if number is None:
            return None
        return session.exec(
            select(SkillVersion).where(SkillVersion.skill_id == skill.id, SkillVersion.version == number)
        ).first()

    current = version(skill.current_version)
    if current is None:
        raise VersionNotFound(f"skill '{skill.name}' has no current version to review")
    return ShareReview(share, skill, current, version(share.approved_version))
