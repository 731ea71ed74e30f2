"""Community articles and events (tables storage.tables.community): SQL text on the driver.

Partial updates set a nullable column (null included) when its flag is true; the other columns keep
their value when the argument is NULL (the API never nulls them).
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage import driver
from storage.pool import Connection
from storage.tables import community_articles, community_events

Row = dict[str, Any]
ARTICLE_FIELDS = ", ".join(c.name for c in community_articles.c)
EVENT_FIELDS = ", ".join(c.name for c in community_events.c)

# --- articles --------------------------------------------------------------------------------

_INSERT_ARTICLE = f"""INSERT INTO community_articles (title, excerpt, content, category, author, image_url,
    is_published, published_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $7 THEN $8::timestamptz END, $8, $8) RETURNING {ARTICLE_FIELDS}"""
# The row is locked first (the CTE), so of two concurrent publishes exactly one sees published_at
# unset: `first_published` is true for that one only.
_UPDATE_ARTICLE = f"""
WITH before AS (SELECT id, published_at FROM community_articles WHERE id = $1 FOR UPDATE)
UPDATE community_articles AS a SET
    title = coalesce($2, a.title), excerpt = coalesce($3, a.excerpt), content = coalesce($4, a.content),
    category = CASE WHEN $5 THEN $6 ELSE a.category END,
    author = CASE WHEN $7 THEN $8 ELSE a.author END,
    image_url = CASE WHEN $9 THEN $10 ELSE a.image_url END,
    is_published = coalesce($11, a.is_published),
    published_at = CASE WHEN coalesce($11, a.is_published) THEN coalesce(a.published_at, $12) ELSE a.published_at END,
    updated_at = $12
FROM before WHERE a.id = before.id
RETURNING {", ".join("a." + c.name for c in community_articles.c)},
    (before.published_at IS NULL AND a.published_at IS NOT NULL) AS first_published"""
_DELETE_ARTICLE = "DELETE FROM community_articles WHERE id = $1 RETURNING id"
_GET_ARTICLE = f"SELECT {ARTICLE_FIELDS} FROM community_articles WHERE id = $1"
_GET_PUBLISHED_ARTICLE = f"SELECT {ARTICLE_FIELDS} FROM community_articles WHERE id = $1 AND is_published"
# Admin list: $1 is_published (NULL: both), $2 category (NULL: any); newest first.
_ADMIN_ARTICLES_WHERE = "($1::boolean IS NULL OR is_published = $1) AND ($2::text IS NULL OR category = $2)"
_ADMIN_ARTICLES_COUNT = f"SELECT count(*) FROM community_articles WHERE {_ADMIN_ARTICLES_WHERE}"
_ADMIN_ARTICLES_PAGE = f"""SELECT {ARTICLE_FIELDS} FROM community_articles WHERE {_ADMIN_ARTICLES_WHERE}
ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"""
# Public list: published only, $1 category (NULL: any). One statement per order, so each can use
# its index (ix_community_articles_published / _category).
_PUBLIC_ARTICLES_WHERE = "is_published AND ($1::text IS NULL OR category = $1)"
_PUBLIC_ARTICLES_COUNT = f"SELECT count(*) FROM community_articles WHERE {_PUBLIC_ARTICLES_WHERE}"
_ARTICLE_ORDERS = {
    ("published_at", "desc"): "published_at DESC, id DESC",
    ("published_at", "asc"): "published_at ASC, id ASC",
    ("title", "asc"): "lower(title) ASC, id ASC",
    ("title", "desc"): "lower(title) DESC, id DESC",
}
_PUBLIC_ARTICLES_PAGES = {
    key: f"SELECT {ARTICLE_FIELDS} FROM community_articles WHERE {_PUBLIC_ARTICLES_WHERE} ORDER BY {order} "
         f"LIMIT $2 OFFSET $3"
    for key, order in _ARTICLE_ORDERS.items()
}


def _nullable_args(changes: dict[str, Any], names: tuple[str, ...]) -> list[Any]:
    args: list[Any] = []
    for name in names:
        args += [name in changes, changes.get(name)]
    return args


async def insert_article(conn: Connection, values: dict[str, Any], now: dt.datetime) -> Row:
    row = await driver.fetchrow(conn, _INSERT_ARTICLE, values["title"], values["excerpt"], values["content"],
                                values.get("category"), values.get("author"), values.get("image_url"),
                                bool(values.get("is_published", False)), now, begin=True)
    assert row is not None
    return dict(row)


async def update_article(conn: Connection, article_id: uuid.UUID, changes: dict[str, Any],
                         now: dt.datetime) -> Row | None:
    """The updated row with `first_published` (this update published it for the first time), or None."""
    row = await driver.fetchrow(conn, _UPDATE_ARTICLE, article_id, changes.get("title"), changes.get("excerpt"),
                                changes.get("content"), *_nullable_args(changes, ("category", "author", "image_url")),
                                changes.get("is_published"), now, begin=True)
    return dict(row) if row else None


async def delete_article(conn: Connection, article_id: uuid.UUID) -> bool:
    return await driver.fetchval(conn, _DELETE_ARTICLE, article_id, begin=True) is not None


async def get_article(conn: Connection, article_id: uuid.UUID, *, published_only: bool) -> Row | None:
    row = await driver.fetchrow(conn, _GET_PUBLISHED_ARTICLE if published_only else _GET_ARTICLE, article_id)
    return dict(row) if row else None


async def admin_articles_page(conn: Connection, *, is_published: bool | None, category: str | None,
                              limit: int, offset: int) -> tuple[list[Row], int]:
    total = await driver.fetchval(conn, _ADMIN_ARTICLES_COUNT, is_published, category)
    rows = await driver.fetch(conn, _ADMIN_ARTICLES_PAGE, is_published, category, limit, offset)
    return [dict(r) for r in rows], int(total or 0)


async def published_articles_page(conn: Connection, *, category: str | None, sort_by: str, sort_order: str,
                                  limit: int, offset: int) -> tuple[list[Row], int]:
    total = await driver.fetchval(conn, _PUBLIC_ARTICLES_COUNT, category)
    rows = await driver.fetch(conn, _PUBLIC_ARTICLES_PAGES[(sort_by, sort_order)], category, limit, offset)
    return [dict(r) for r in rows], int(total or 0)


# --- events ----------------------------------------------------------------------------------

_INSERT_EVENT = f"""INSERT INTO community_events (title, description, event_date, event_type, category, image_url,
    created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {EVENT_FIELDS}"""
_UPDATE_EVENT = f"""UPDATE community_events SET
    title = coalesce($2, title), description = coalesce($3, description), event_date = coalesce($4, event_date),
    event_type = coalesce($5, event_type),
    category = CASE WHEN $6 THEN $7 ELSE category END,
    image_url = CASE WHEN $8 THEN $9 ELSE image_url END,
    updated_at = $10
WHERE id = $1 RETURNING {EVENT_FIELDS}"""
_DELETE_EVENT = "DELETE FROM community_events WHERE id = $1 RETURNING id"
_GET_EVENT = f"SELECT {EVENT_FIELDS} FROM community_events WHERE id = $1"
# $1 event_type (NULL: any), $2 'upcoming' | 'past' | NULL relative to $3 (now).
_EVENTS_WHERE = """($1::text IS NULL OR event_type = $1)
    AND ($2::text IS NULL OR ($2 = 'upcoming' AND event_date >= $3) OR ($2 = 'past' AND event_date < $3))"""
_EVENTS_COUNT = f"SELECT count(*) FROM community_events WHERE {_EVENTS_WHERE}"
_EVENTS_PAGES = {
    "asc": f"SELECT {EVENT_FIELDS} FROM community_events WHERE {_EVENTS_WHERE} "
           f"ORDER BY event_date ASC, id ASC LIMIT $4 OFFSET $5",
    "desc": f"SELECT {EVENT_FIELDS} FROM community_events WHERE {_EVENTS_WHERE} "
            f"ORDER BY event_date DESC, id DESC LIMIT $4 OFFSET $5",
}


async def insert_event(conn: Connection, values: dict[str, Any], now: dt.datetime) -> Row:
    row = await driver.fetchrow(conn, _INSERT_EVENT, values["title"], values["description"], values["event_date"],
                                values.get("event_type") or "online", values.get("category"), values.get("image_url"),
                                now, begin=True)
    assert row is not None
    return dict(row)


async def update_event(conn: Connection, event_id: uuid.UUID, changes: dict[str, Any],
                       now: dt.datetime) -> Row | None:
    row = await driver.fetchrow(conn, _UPDATE_EVENT, event_id, changes.get("title"), changes.get("description"),
                                changes.get("event_date"), changes.get("event_type"),
                                *_nullable_args(changes, ("category", "image_url")), now, begin=True)
    return dict(row) if row else None


async def delete_event(conn: Connection, event_id: uuid.UUID) -> bool:
    return await driver.fetchval(conn, _DELETE_EVENT, event_id, begin=True) is not None


async def get_event(conn: Connection, event_id: uuid.UUID) -> Row | None:
    row = await driver.fetchrow(conn, _GET_EVENT, event_id)
    return dict(row) if row else None


async def events_page(conn: Connection, *, event_type: str | None, status: str | None, now: dt.datetime,
                      sort_order: str, limit: int, offset: int) -> tuple[list[Row], int]:
    where = (event_type, status, now)
    total = await driver.fetchval(conn, _EVENTS_COUNT, *where)
    rows = await driver.fetch(conn, _EVENTS_PAGES[sort_order], *where, limit, offset)
    return [dict(r) for r in rows], int(total or 0)
