"""Personal tokens for the MCP server and the HTTP API (only their SHA-256 is stored), and the HTTP API's
idempotency keys.

Revision ID: 0005
Revises: 0004
Created: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "personal_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("owner_platform", sa.String(), nullable=False),
        sa.Column("owner_team", sa.String(), nullable=False),
        sa.Column("owner_user", sa.String(), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_personal_tokens_owner", "personal_tokens", ["owner_platform", "owner_team", "owner_user"])
    op.create_table(
        "idempotent_runs",
        sa.Column("owner_ref", sa.String(256), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["skill_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("owner_ref", "key"),
    )


def downgrade() -> None:
    op.drop_table("idempotent_runs")
    op.drop_index("ix_personal_tokens_owner", table_name="personal_tokens")
    op.drop_table("personal_tokens")
