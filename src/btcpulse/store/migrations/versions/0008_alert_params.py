"""Alerts keep the figures of their message as JSON, so the dashboard can word them in the
reader's language. Alerts already stored get an empty object (shown with their English text).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as b:
        b.add_column(sa.Column("params", sa.Text(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as b:
        b.drop_column("params")
