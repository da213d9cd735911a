"""The database tables: skills, versions, approvals, shares, memory, runs, schedules, conversations, events."""

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


class ShareKind(StrEnum):
    """Where a skill is shared: one channel, or a whole team (workspace)."""

    CHANNEL = "channel"
    TEAM = "team"


class ShareRole(StrEnum):
    """What members of a share may do: see the approved code, or also run it. Only the owner edits."""

    VIEW = "view"
    RUN = "run"


class Decision(StrEnum):
    """An approver's answer."""

    APPROVED = "approved"
    REJECTED = "rejected"


class ScheduleStatus(StrEnum):
    """A schedule fires while active; paused ones wait for their owner."""

    ACTIVE = "active"
    PAUSED = "paused"


class MissedRuns(StrEnum):
    """What to do with slots missed while nothing was running: drop them, or run once for all of them."""

    SKIP = "skip"
    RUN_ONCE = "run_once"


class RunTrigger(StrEnum):
    """What started a skill run."""

    COMMAND = "command"
    BUTTON = "button"
    SCHEDULE = "schedule"
    AGENT = "agent"
    MCP = "mcp"
    API = "api"


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
    # A ``skills_db.policy.RunPolicy`` as a dict; ``{}`` means the defaults.
    run_policy: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
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
    restored_from: int | None = None
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
    attempt: int = 1
    retry_of: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("skill_runs.id", ondelete="SET NULL"), nullable=True)
    )


class SkillApproval(SQLModel, table=True):
    """One recorded decision on one version: by the owner (``share_id`` None) or by a share's approver."""

    __tablename__ = "skill_approvals"
    __table_args__ = (Index("ix_skill_approvals_skill", "skill_id", "decided_at"),)

    id: int | None = Field(default=None, primary_key=True)
    skill_id: int = Field(sa_column=Column(Integer, ForeignKey("skills.id", ondelete="CASCADE"), nullable=False))
    version: int
    share_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("skill_shares.id", ondelete="SET NULL"), nullable=True)
    )
    decision: str
    by_platform: str
    by_team: str
    by_user: str
    note: str = Field(default="", sa_type=Text)
    decided_at: datetime = _timestamp_column()

    @property
    def by(self) -> Owner:
        """Who decided."""
        return Owner(self.by_platform, self.by_team, self.by_user)

    @classmethod
    def record(
        cls, skill_id: int, version: int, share_id: int | None, decision: Decision, by: Owner, note: str, at: datetime
    ) -> SkillApproval:
        """A decision row, ready to add to a session."""
        return cls(
            skill_id=skill_id,
            version=version,
            share_id=share_id,
            decision=decision.value,
            by_platform=by.platform,
            by_team=by.team,
            by_user=by.user,
            note=note,
            decided_at=at,
        )


class SkillShare(SQLModel, table=True):
    """A skill shared with a channel or a team; members may use ``approved_version`` once an approver set it."""

    __tablename__ = "skill_shares"
    __table_args__ = (
        UniqueConstraint("skill_id", "platform", "team", "kind", "target", name="uq_skill_shares_scope"),
        Index("ix_skill_shares_scope", "platform", "team", "kind", "target"),
    )

    id: int | None = Field(default=None, primary_key=True)
    skill_id: int = Field(sa_column=Column(Integer, ForeignKey("skills.id", ondelete="CASCADE"), nullable=False))
    platform: str
    team: str
    kind: str
    target: str
    role: str = Field(default=ShareRole.RUN.value)
    approved_version: int | None = None
    created_at: datetime = _timestamp_column()
    updated_at: datetime = _timestamp_column()


class ScopeApprover(SQLModel, table=True):
    """A user who approves skills shared with one channel or team."""

    __tablename__ = "scope_approvers"
    __table_args__ = (
        UniqueConstraint("platform", "team", "kind", "target", "user", name="uq_scope_approvers_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    team: str
    kind: str
    target: str
    user: str
    added_by: str
    added_at: datetime = _timestamp_column()


class SkillMemoryEntry(SQLModel, table=True):
    """One key of a skill's small key-value memory (ids already processed, say)."""

    __tablename__ = "skill_memory"

    skill_id: int = Field(
        sa_column=Column(Integer, ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, nullable=False)
    )
    key: str = Field(primary_key=True)
    value: Any = Field(default=None, sa_type=JSONType, nullable=True)
    updated_at: datetime = _timestamp_column()


class Schedule(SQLModel, table=True):
    """A skill on a cron in a time zone, run as its owner; one schedule per skill."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_due", "status", "next_run_at"),)

    id: int | None = Field(default=None, primary_key=True)
    skill_id: int = Field(
        sa_column=Column(Integer, ForeignKey("skills.id", ondelete="CASCADE"), nullable=False, unique=True)
    )
    cron: str
    timezone: str
    # Arguments as typed in chat (``{"days_back": "7"}``), typed against the version that runs.
    arguments: dict[str, str] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    missed: str = Field(default=MissedRuns.SKIP.value)
    status: str = Field(default=ScheduleStatus.ACTIVE.value)
    paused_reason: str | None = Field(default=None, sa_type=Text)
    next_run_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    last_slot_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    consecutive_failures: int = 0
    # Where results and alerts go, as the surface wants it (e.g. a channel); opaque to the store.
    notify: dict[str, Any] | None = Field(default=None, sa_type=NullableJSONType, nullable=True)
    created_at: datetime = _timestamp_column()
    updated_at: datetime = _timestamp_column()


class ScheduleSlot(SQLModel, table=True):
    """A claimed cron slot: the unique (schedule, time) pair is what makes a slot run exactly once."""

    __tablename__ = "schedule_slots"
    __table_args__ = (UniqueConstraint("schedule_id", "slot_at", name="uq_schedule_slots_slot"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: int = Field(
        sa_column=Column(Integer, ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False)
    )
    slot_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    missed: int = 0
    claimed_by: str
    claimed_at: datetime = _timestamp_column()
    run_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("skill_runs.id", ondelete="SET NULL"), nullable=True)
    )
    outcome: str | None = None


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


class McpServer(SQLModel, table=True):
    """An MCP server an admin registered: its tools are offered as `NAME__tool` functions.

    `auth` is none, bearer (the admin's token, `secret` encrypted with the connections' keys) or oauth (each
    user connects their own account). `trusted` makes its tools' annotations (read-only, destructive) believed."""

    __tablename__ = "mcp_servers"

    name: str = Field(primary_key=True, max_length=32)
    url: str = Field(sa_type=Text)
    auth: str = Field(default="none", max_length=16)
    trusted: bool = False
    secret: str | None = Field(default=None, sa_type=Text)
    added_by: str = Field(max_length=256)
    added_at: datetime = _timestamp_column()


class McpToolPin(SQLModel, table=True):
    """The input schema of an MCP tool that a skill version uses, as it was when the version was made: a rerun
    fails, naming the change, when the server's schema is no longer that one."""

    __tablename__ = "mcp_tool_pins"

    skill_id: int = Field(sa_column=Column(Integer, ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True))
    version: int = Field(primary_key=True)
    function: str = Field(primary_key=True, max_length=64)
    server: str = Field(max_length=32)
    tool: str = Field(sa_type=Text)
    schema_digest: str = Field(max_length=64)
    input_schema: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)


class PersonalToken(SQLModel, table=True):
    """A personal token for CodeMem's MCP server and HTTP API: only its SHA-256 is kept; it acts as its user."""

    __tablename__ = "personal_tokens"
    __table_args__ = (Index("ix_personal_tokens_owner", "owner_platform", "owner_team", "owner_user"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    owner_platform: str
    owner_team: str
    owner_user: str
    label: str = Field(default="", max_length=100)
    created_at: datetime = _timestamp_column()
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)

    @property
    def owner(self) -> Owner:
        """The user the token acts as."""
        return Owner(self.owner_platform, self.owner_team, self.owner_user)


class IdempotentRun(SQLModel, table=True):
    """An `Idempotency-Key` of the HTTP API and the run it started: a repeat returns that run."""

    __tablename__ = "idempotent_runs"

    owner_ref: str = Field(primary_key=True, max_length=256)
    key: str = Field(primary_key=True, max_length=200)
    run_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("skill_runs.id", ondelete="CASCADE"),
                                                               nullable=True))
    created_at: datetime = _timestamp_column()
