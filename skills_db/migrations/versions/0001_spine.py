"""The spine's schema: skills, versions, runs, conversations, processed events.

Revision ID: 0001
Revises:
Created: 2026-11-21

Databases made before migrations existed (by ``create_all``) have exactly this schema: ``init_db`` stamps
them with this revision and upgrades them from here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
NULLABLE_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("thread_id", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("thread_ts", sa.String(), nullable=False),
        sa.Column("requester_user", sa.String(), nullable=False),
        sa.Column("progress_message_id", sa.String(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("thread_id"),
    )
    op.create_table(
        "processed_events",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("seen_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_processed_events_seen_at", "processed_events", ["seen_at"])
    op.create_table(
        "skills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_platform", sa.String(), nullable=False),
        sa.Column("owner_team", sa.String(), nullable=False),
        sa.Column("owner_user", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=True),
        sa.Column("source_thread", sa.String(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_platform", "owner_team", "owner_user", "name", name="uq_skills_owner_name"),
    )
    op.create_index("ix_skills_owner", "skills", ["owner_platform", "owner_team", "owner_user"])
    op.create_table(
        "skill_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("skill_id", sa.Integer(), sa.ForeignKey("skills.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("triggered_by", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("result", NULLABLE_JSON, nullable=True),
        sa.Column("logs", sa.Text(), nullable=False),
        sa.Column("tool_calls", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_skill_runs_skill_started", "skill_runs", ["skill_id", "started_at"])
    op.create_table(
        "skill_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("skill_id", sa.Integer(), sa.ForeignKey("skills.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("tools", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("skill_id", "version", name="uq_skill_versions_skill_version"),
    )


def downgrade() -> None:
    op.drop_table("skill_versions")
    op.drop_table("skill_runs")
    op.drop_table("skills")
    op.drop_table("processed_events")
    op.drop_table("conversations")
