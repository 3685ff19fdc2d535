"""Full articles (author, body), flagged event times and relevance on news; next poll and
per-source metrics on source health.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from btcpulse.store.types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("news") as batch:
        batch.add_column(sa.Column("author", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("body", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("time_estimated", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("relevant", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("source_health") as batch:
        batch.add_column(sa.Column("next_poll_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("metrics", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source_health") as batch:
        batch.drop_column("metrics")
        batch.drop_column("next_poll_at")
    with op.batch_alter_table("news") as batch:
        batch.drop_column("relevant")
        batch.drop_column("time_estimated")
        batch.drop_column("body")
        batch.drop_column("author")
