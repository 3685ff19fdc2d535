"""Text analytics: topics and entities per article, stories across outlets.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from btcpulse.store.types import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "news_tags",
        sa.Column("news_id", sa.String(length=64), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False),
        sa.Column("entities", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("news_id"),
    )
    op.create_table(
        "news_stories",
        sa.Column("news_id", sa.String(length=64), nullable=False),
        sa.Column("story_id", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("news_id"),
    )
    op.create_index("ix_news_stories_story", "news_stories", ["story_id"], unique=False)
    op.create_table(
        "stories",
        sa.Column("story_id", sa.String(length=80), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("source_count", sa.Integer(), nullable=False),
        sa.Column("first_source", sa.String(length=100), nullable=False),
        sa.Column("first_published_at", UtcDateTime(), nullable=False),
        sa.Column("last_published_at", UtcDateTime(), nullable=False),
        sa.Column("replay", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("story_id"),
    )
    op.create_index("ix_stories_last", "stories", ["replay", "last_published_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_stories_last", table_name="stories")
    op.drop_table("stories")
    op.drop_index("ix_news_stories_story", table_name="news_stories")
    op.drop_table("news_stories")
    op.drop_table("news_tags")
