"""Index updates by time so that pruning old updates does not scan the table.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_updates_time", "updates", ["time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_updates_time", table_name="updates")
