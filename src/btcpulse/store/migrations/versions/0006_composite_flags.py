"""Composite price flags: per composite window, the venues kept and why others were left out.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "composite_flags",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("resolution_s", sa.Integer(), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("venues", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "resolution_s", "start"),
    )


def downgrade() -> None:
    op.drop_table("composite_flags")
