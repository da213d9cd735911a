"""The database tables: skills, their immutable versions, runs, conversations and processed events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Text, UniqueConstraint, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from skills_db.errors import ImmutableVersionError
from skills_db.owner import Owner
from skills_db.timestamps import UTCDateTime, utc_now

# JSON on every database, JSONB on PostgreSQL (indexable, compact).
JSONType = JSON().with_variant(JSONB(), "postgresql")
# Same, but Python ``None`` is stored as SQL NULL rather than the JSON value ``null``.
NullableJSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _timestamp_column(*, index: bool = False) -> Any:
    return Field(default_factory=utc_now, sa_type=UTCDateTime(), nullable=False, index=index)


class SkillStatus(StrEnum):
    """Life cycle of a skill. Values are plain strings in the database."""

    DRAFT = "draft"
    ACTIVE = "active"
    DISABLED = "disabled"
    ARCHIVED = "archived"


class RunStatus(StrEnum):
    """Outcome of a skill run."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RunTrigger(StrEnum):
    """What started a skill run."""

    COMMAND = "command"
    BUTTON = "button"
    SCHEDULE = "schedule"
    AGENT = "agent"


class Skill(SQLModel, table=True):
    """A named, owned piece of code with typed parameters; its code lives in ``SkillVersion`` rows."""

    __tablename__ = "skills"
    __table_args__ = (
        UniqueConstraint("owner_platform", "owner_team", "owner_user", "name", name="uq_skills_owner_name"),
        Index("ix_skills_owner", "owner_platform", "owner_team", "owner_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    owner_platform: str
    owner_team: str
    owner_user: str
    name: str
    description: str = Field(default="", sa_type=Text)
    status: str = Field(default=SkillStatus.DRAFT.value)
    current_version: int | None = None
    source_thread: str | None = None
    created_at: datetime = _timestamp_column()
    updated_at: datetime = _timestamp_column()

    @property
    def owner(self) -> Owner:
        """The owning user as an ``Owner``."""
        return Owner(self.owner_platform, self.owner_team, self.owner_user)

    def is_owned_by(self, who: Owner) -> bool:
        """True when ``who`` owns this skill."""
        return self.owner == who


class SkillVersion(SQLModel, table=True):
    """One immutable version of a skill's code, with the parameters and tools taken from it."""

    __tablename__ = "skill_versions"
    __table_args__ = (UniqueConstraint("skill_id", "version", name="uq_skill_versions_skill_version"),)

    id: int | None = Field(default=None, primary_key=True)
    skill_id: int = Field(sa_column=Column(Integer, ForeignKey("skills.id", ondelete="CASCADE"), nullable=False))
    version: int
    code: str = Field(sa_type=Text)
    parameters: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    tools: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    created_at: datetime = _timestamp_column()


@event.listens_for(SkillVersion, "before_update")
def _refuse_version_update(mapper: Any, connection: Any, target: SkillVersion) -> None:
    raise ImmutableVersionError(
        f"version {target.version} of skill {target.skill_id} is immutable; "
        "store changed code as a new version (SkillStore.add_version) instead"
    )


class SkillRun(SQLModel, table=True):
    """One execution of a skill version: inputs, outcome, logs and the tool calls it made."""

    __tablename__ = "skill_runs"
    __table_args__ = (Index("ix_skill_runs_skill_started", "skill_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    skill_id: int = Field(sa_column=Column(Integer, ForeignKey("skills.id", ondelete="CASCADE"), nullable=False))
    version: int
    triggered_by: str
    trigger: str
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    status: str = Field(default=RunStatus.RUNNING.value)
    result: Any | None = Field(default=None, sa_type=NullableJSONType, nullable=True)
    logs: str = Field(default="", sa_type=Text)
    tool_calls: list[Any] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    error: str | None = Field(default=None, sa_type=Text)
    started_at: datetime = _timestamp_column()
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    duration_ms: int | None = None


class Conversation(SQLModel, table=True):
    """A chat thread the bot works in, and the one progress message it edits in place there."""

    __tablename__ = "conversations"

    thread_id: str = Field(primary_key=True)
    platform: str
    team: str
    channel: str
    thread_ts: str
    requester_user: str
    progress_message_id: str | None = None
    created_at: datetime = _timestamp_column()
    updated_at: datetime = _timestamp_column()

    @staticmethod
    def make_thread_id(platform: str, team: str, channel: str, thread_ts: str) -> str:
        """``platform:team:channel:thread_ts``, the key of a conversation (and of its agent graph)."""
        return f"{platform}:{team}:{channel}:{thread_ts}"


class ProcessedEvent(SQLModel, table=True):
    """An inbound event already handled, remembered for a while to drop redeliveries."""

    __tablename__ = "processed_events"

    key: str = Field(primary_key=True)
    seen_at: datetime = _timestamp_column(index=True)
