"""Community articles and events (schema: migration 0015). Admins write them; the public reads
published articles and every event."""
from __future__ import annotations

import sqlalchemy as sa

from storage.tables.base import created_at, metadata, updated_at, uuid_pk

community_articles = sa.Table(
    "community_articles", metadata,
    uuid_pk(),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("excerpt", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("category", sa.Text),
    sa.Column("author", sa.Text),
    sa.Column("image_url", sa.Text),
    sa.Column("is_published", sa.Boolean, nullable=False, server_default=sa.false()),
    # Set on the first publish and kept (an unpublished, then republished article keeps its date).
    sa.Column("published_at", sa.DateTime(timezone=True)),
    created_at(),
    updated_at(),
    sa.CheckConstraint("NOT is_published OR published_at IS NOT NULL", name="published"),
)
# The public list: published only, newest first (or by title), optionally one category.
sa.Index("ix_community_articles_published", community_articles.c.published_at.desc(), community_articles.c.id,
         postgresql_where=community_articles.c.is_published)
sa.Index("ix_community_articles_category", community_articles.c.category, community_articles.c.published_at.desc(),
         postgresql_where=community_articles.c.is_published)

community_events = sa.Table(
    "community_events", metadata,
    uuid_pk(),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("event_date", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event_type", sa.Text, nullable=False, server_default="online"),
    sa.Column("category", sa.Text),
    sa.Column("image_url", sa.Text),
    created_at(),
    updated_at(),
    sa.CheckConstraint("event_type IN ('online','in_person','hybrid')", name="event_type"),
)
sa.Index("ix_community_events_event_date", community_events.c.event_date, community_events.c.id)
sa.Index("ix_community_events_event_type", community_events.c.event_type, community_events.c.event_date)
