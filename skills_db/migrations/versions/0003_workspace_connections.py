"""Workspace connections (encrypted OAuth tokens) and pending OAuth sign-ins, as ``skills_db.connections`` defines.

Revision ID: 0003
Revises: 0002
Created: 2026-11-21

``ConnectionStore`` also creates these tables when missing, so each is created here only if absent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "workspace_connections" not in existing:
        op.create_table(
            "workspace_connections",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("platform", sa.String(32), nullable=False),
            sa.Column("team", sa.String(128), nullable=False),
            sa.Column("user", sa.String(128), nullable=False),
            sa.Column("provider", sa.String(32), nullable=False),
            sa.Column("account", sa.String(320), nullable=False),
            sa.Column("display_name", sa.String(256), nullable=False),
            sa.Column("scopes", sa.Text(), nullable=False),
            sa.Column("secret", sa.Text(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("platform", "team", "user", "provider", name="uq_workspace_connection_owner_provider"),
        )
    if "oauth_states" not in existing:
        op.create_table(
            "oauth_states",
            sa.Column("state_hash", sa.String(64), nullable=False),
            sa.Column("platform", sa.String(32), nullable=False),
            sa.Column("team", sa.String(128), nullable=False),
            sa.Column("user", sa.String(128), nullable=False),
            sa.Column("provider", sa.String(32), nullable=False),
            sa.Column("secret", sa.Text(), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("state_hash"),
        )


def downgrade() -> None:
    op.drop_table("oauth_states")
    op.drop_table("workspace_connections")
