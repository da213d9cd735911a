"""Procedural memory: approvals, shares and approvers, skill memory, schedules and their slots; run policy,
restored versions and retry attempts.

Revision ID: 0002
Revises: 0001
Created: 2026-11-21

Columns of ``skills`` and ``skill_versions`` are added in place: SQLite must never rebuild ``skills``, as
dropping the old copy would cascade-delete the versions and runs that reference it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
NULLABLE_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("skills", sa.Column("run_policy", JSON, nullable=False, server_default=sa.text("'{}'")))
    op.add_column("skill_versions", sa.Column("restored_from", sa.Integer(), nullable=True))
    # Nothing references skill_runs yet, so SQLite may rebuild it to add the foreign key.
    with op.batch_alter_table("skill_runs") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default=sa.text("1")))
        batch.add_column(sa.Column("retry_of", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_skill_runs_retry_of", "skill_runs", ["retry_of"], ["id"], ondelete="SET NULL")
    op.create_table(
        "skill_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("skill_id", sa.Integer(), sa.ForeignKey("skills.id", ondelete="CASCADE"), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("approved_version", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("skill_id", "platform", "team", "kind", "target", name="uq_skill_shares_scope"),
    )
    op.create_index("ix_skill_shares_scope", "skill_shares", ["platform", "team", "kind", "target"])
    op.create_table(
        "skill_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("skill_id", sa.Integer(), sa.ForeignKey("skills.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("share_id", sa.Integer(), sa.ForeignKey("skill_shares.id", ondelete="SET NULL"), nullable=True),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("by_platform", sa.String(), nullable=False),
        sa.Column("by_team", sa.String(), nullable=False),
        sa.Column("by_user", sa.String(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_skill_approvals_skill", "skill_approvals", ["skill_id", "decided_at"])
    op.create_table(
        "scope_approvers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("user", sa.String(), nullable=False),
        sa.Column("added_by", sa.String(), nullable=False),
        sa.Column("added_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "team", "kind", "target", "user", name="uq_scope_approvers_user"),
    )
    op.create_table(
        "skill_memory",
        sa.Column("skill_id", sa.Integer(), sa.ForeignKey("skills.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", JSON, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("skill_id", "key"),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("skill_id", sa.Integer(), sa.ForeignKey("skills.id", ondelete="CASCADE"), nullable=False),
        sa.Column("cron", sa.String(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column("arguments", JSON, nullable=False),
        sa.Column("missed", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("next_run_at", TIMESTAMP, nullable=False),
        sa.Column("last_slot_at", TIMESTAMP, nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("notify", NULLABLE_JSON, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("skill_id"),
    )
    op.create_index("ix_schedules_due", "schedules", ["status", "next_run_at"])
    op.create_table(
        "schedule_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), sa.ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False),
        sa.Column("slot_at", TIMESTAMP, nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=False),
        sa.Column("claimed_at", TIMESTAMP, nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("skill_runs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "slot_at", name="uq_schedule_slots_slot"),
    )


def downgrade() -> None:
    op.drop_table("schedule_slots")
    op.drop_table("schedules")
    op.drop_table("skill_memory")
    op.drop_table("scope_approvers")
    op.drop_table("skill_approvals")
    op.drop_table("skill_shares")
    with op.batch_alter_table("skill_runs") as batch:
        batch.drop_constraint("fk_skill_runs_retry_of", type_="foreignkey")
        batch.drop_column("retry_of")
        batch.drop_column("attempt")
    with op.batch_alter_table("skill_versions") as batch:
        batch.drop_column("restored_from")
    op.drop_column("skills", "run_policy")
