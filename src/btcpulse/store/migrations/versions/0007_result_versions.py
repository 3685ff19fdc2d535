"""Derived results record the version that made them: the sentiment index its sentiment model,
news bursts their topic tagger. Rows already there get the versions current at upgrade time.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from btcpulse.analytics.sentiment import model_version
    from btcpulse.engines.text import TAGS_VERSION

    with op.batch_alter_table("index_values") as b:
        b.add_column(
            sa.Column(
                "model_version",
                sa.String(length=64),
                nullable=False,
                server_default=model_version("default"),
            )
        )
    with op.batch_alter_table("bursts") as b:
        b.add_column(
            sa.Column("version", sa.String(length=64), nullable=False, server_default=TAGS_VERSION)
        )


def downgrade() -> None:
    with op.batch_alter_table("bursts") as b:
        b.drop_column("version")
    with op.batch_alter_table("index_values") as b:
        b.drop_column("model_version")
