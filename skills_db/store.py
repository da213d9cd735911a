"""``SkillStore``: the one place that reads and writes skills, versions, runs, conversations and events.

Every method opens its own short session, so one store may be shared by threads (callers on asyncio use
``asyncio.to_thread``). Returned rows are detached copies: changing them changes nothing in the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from skills_db.db import as_stored_json
from skills_db.errors import (
    ConversationNotFound,
    InvalidSkillName,
    NotAllowed,
    RunAlreadyFinished,
    RunNotFound,
    SkillNameTaken,
    SkillNotFound,
    VersionNotFound,
)
from skills_db.models import (
    Conversation,
    ProcessedEvent,
    RunStatus,
    RunTrigger,
    Skill,
    SkillRun,
    SkillStatus,
    SkillVersion,
)
from skills_db.owner import Owner
from skills_db.params import extract_parameters
from skills_db.timestamps import utc_now

SKILL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# Slack redelivers an event up to about 5 minutes later; keep keys well past that.
DEFAULT_EVENT_TTL = timedelta(hours=1)


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
            taken = session.exec(select(Skill).where(*_owned_by(owner), Skill.name == name)).first()
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

    def add_version(self, skill_id: int, by: Owner, code: str, tools: Sequence[str]) -> SkillVersion:
        """Store ``code`` as the skill's next version; the current version stays until ``activate(version=...)``."""
        parameters = [parameter.to_dict() for parameter in extract_parameters(code)]
        now = self._clock()
        with self._session() as session:
            # Locked, so two new versions at once get consecutive numbers instead of colliding.
            skill = _owned_skill(session, skill_id, by, action="change", lock=True)
            latest = session.exec(select(func.max(SkillVersion.version)).where(SkillVersion.skill_id == skill_id)).one()
            version = SkillVersion(
                skill_id=skill_id,
                version=(latest or 0) + 1,
                code=code,
                parameters=parameters,
                tools=list(tools),
                created_at=now,
            )
            session.add(version)
            skill.updated_at = now
            session.add(skill)
            session.commit()
            return version

    def activate(self, skill_id: int, by: Owner, version: int | None = None) -> Skill:
        """Make the skill runnable at ``version`` (default: its current one). Only the owner may; idempotent."""
        with self._session() as session:
            skill = _owned_skill(session, skill_id, by, action="activate")
            target = skill.current_version if version is None else version
            if skill.status == SkillStatus.ACTIVE and skill.current_version == target:
                return skill
            if target is None or session.exec(_version_query(skill_id, target)).first() is None:
                raise VersionNotFound(f"skill '{skill.name}' has no version {target}; pick one of its stored versions")
            skill.status = SkillStatus.ACTIVE.value
            skill.current_version = target
            skill.updated_at = self._clock()
            session.add(skill)
            session.commit()
            return skill

    def disable(self, skill_id: int, by: Owner) -> Skill:
        """Stop the skill from running (its versions are kept). Only the owner may."""
        return self._set_status(skill_id, by, SkillStatus.DISABLED, action="disable")

    def archive(self, skill_id: int, by: Owner) -> Skill:
        """Retire the skill (its versions and runs are kept). Only the owner may."""
        return self._set_status(skill_id, by, SkillStatus.ARCHIVED, action="archive")

    def _set_status(self, skill_id: int, by: Owner, status: SkillStatus, action: str) -> Skill:
        with self._session() as session:
            skill = _owned_skill(session, skill_id, by, action=action)
            if skill.status != status:
                skill.status = status.value
                skill.updated_at = self._clock()
                session.add(skill)
                session.commit()
            return skill

    def get(self, skill_id: int, viewer: Owner) -> Skill:
        """The skill, if ``viewer`` owns it; ``SkillNotFound`` otherwise (other people's skills are not revealed)."""
        with self._session() as session:
            return _visible_skill(session, skill_id, viewer)

    def get_version(self, skill_id: int, viewer: Owner, version: int | None = None) -> SkillVersion:
        """One version of a skill the viewer owns (default: the current one)."""
        with self._session() as session:
            skill = _visible_skill(session, skill_id, viewer)
            wanted = skill.current_version if version is None else version
            row = session.exec(_version_query(skill_id, wanted)).first() if wanted is not None else None
            if row is None:
                raise VersionNotFound(f"skill '{skill.name}' has no version {wanted}")
            return row

    def find_active(self, owner: Owner, name: str) -> tuple[Skill, SkillVersion] | None:
        """The owner's active skill called ``name`` with its current version, or None."""
        with self._session() as session:
            row = session.exec(
                select(Skill, SkillVersion)
                .join(SkillVersion, col(SkillVersion.skill_id) == col(Skill.id))
                .where(
                    *_owned_by(owner),
                    Skill.name == name,
                    Skill.status == SkillStatus.ACTIVE.value,
                    col(SkillVersion.version) == col(Skill.current_version),
                )
            ).first()
            return (row[0], row[1]) if row is not None else None

    def list_skills(self, owner: Owner) -> list[Skill]:
        """All of the owner's skills, by name."""
        with self._session() as session:
            return list(session.exec(select(Skill).where(*_owned_by(owner)).order_by(col(Skill.name))).all())

    # ------------------------------------------------------------------------------------------- runs

    def start_run(
        self,
        skill_id: int,
        version: int,
        triggered_by: str,
        trigger: str,
        parameters: dict[str, Any],
    ) -> SkillRun:
        """Record that a run of ``version`` began (status "running"). ``trigger`` is a ``RunTrigger`` value."""
        allowed = [member.value for member in RunTrigger]
        if trigger not in allowed:
            raise ValueError(f"trigger {trigger!r} is not one of {', '.join(allowed)}")
        with self._session() as session:
            if session.exec(_version_query(skill_id, version)).first() is None:
                raise VersionNotFound(f"skill {skill_id} has no version {version}; run a stored version")
            run = SkillRun(
                skill_id=skill_id,
                version=version,
                triggered_by=triggered_by,
                trigger=trigger,
                parameters=as_stored_json(parameters),
                status=RunStatus.RUNNING.value,
                started_at=self._clock(),
            )
            session.add(run)
            session.commit()
            return run

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
        with self._session() as session:
            run = session.get(SkillRun, run_id)
            if run is None:
                raise RunNotFound(f"no run with id {run_id}; start it with start_run first")
            if run.status != RunStatus.RUNNING:
                raise RunAlreadyFinished(f"run {run_id} already finished as {run.status}; a run finishes once")
            finished_at = self._clock()
            run.status = status
            run.result = as_stored_json(result)
            run.logs = logs
            run.tool_calls = as_stored_json(list(tool_calls))
            run.error = error
            run.finished_at = finished_at
            run.duration_ms = max(0, round((finished_at - run.started_at).total_seconds() * 1000))
            session.add(run)
            session.commit()
            return run

    def runs(self, skill_id: int, limit: int = 20) -> list[SkillRun]:
        """The skill's most recent runs, newest first."""
        with self._session() as session:
            return list(
                session.exec(
                    select(SkillRun)
                    .where(SkillRun.skill_id == skill_id)
                    .order_by(col(SkillRun.started_at).desc(), col(SkillRun.id).desc())
                    .limit(limit)
                ).all()
            )

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


def _owned_by(owner: Owner) -> tuple[Any, ...]:
    return (
        Skill.owner_platform == owner.platform,
        Skill.owner_team == owner.team,
        Skill.owner_user == owner.user,
    )


def _version_query(skill_id: int, version: int) -> SelectOfScalar[SkillVersion]:
    return select(SkillVersion).where(SkillVersion.skill_id == skill_id, SkillVersion.version == version)


def _visible_skill(session: Session, skill_id: int, viewer: Owner) -> Skill:
    skill = session.get(Skill, skill_id)
    if skill is None or not skill.is_owned_by(viewer):
        raise SkillNotFound(f"you have no skill with id {skill_id}; list your skills to find its id")
    return skill


def _owned_skill(session: Session, skill_id: int, by: Owner, action: str, lock: bool = False) -> Skill:
    """The skill if ``by`` owns it; ``lock`` holds its row until commit (PostgreSQL; SQLite locks the file)."""
    skill = session.get(Skill, skill_id, with_for_update=lock)
    if skill is None:
        raise SkillNotFound(f"there is no skill with id {skill_id}")
    if not skill.is_owned_by(by):
        raise NotAllowed(f"only the owner of skill '{skill.name}' can {action} it; ask them, or save your own copy")
    return skill
