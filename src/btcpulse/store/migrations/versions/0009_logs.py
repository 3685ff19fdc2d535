"""Warnings and errors of every process, kept in the store beside the dead letters.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from btcpulse.store.types import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("time", UtcDateTime(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("component", sa.String(100), nullable=False),
        sa.Column("logger", sa.String(100), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
    )
    op.create_index("ix_logs_time", "logs", ["time"])


def downgrade() -> None:
    op.drop_index("ix_logs_time", table_name="logs")
    op.drop_table("logs")
