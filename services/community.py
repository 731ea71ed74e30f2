"""Community use cases: the admin's article and event writes (each audited, in its own transaction,
with its push in the same transaction), and the public's reads of published articles and events.

Publishing an article for the first time pushes `community.article`, creating an event pushes
`community.event`: one outbox row for the community topic (storage.events.push_topic_after_commit),
sent by the push worker as one FCM topic message.
"""
from __future__ import annotations

import uuid
from typing import Any

from domain import community as rules
from domain.errors import NotFound
from domain.push_payloads import PushPayload
from services.audit import Actor, audited
from services.context import Context, reading
from storage import community as store
from storage import events
from storage.pool import Connection

Row = dict[str, Any]
ARTICLE, EVENT = "article", "event"


def article_not_found() -> NotFound:
    return NotFound("Article not found", code="ARTICLE_NOT_FOUND")


def event_not_found() -> NotFound:
    return NotFound("Event not found", code="EVENT_NOT_FOUND")


async def _push(conn: Connection, payload: PushPayload) -> None:
    await events.push_topic_after_commit(conn, topic=rules.COMMUNITY_TOPIC, **payload.outbox_fields())


# --- articles (admin) ------------------------------------------------------------------------

async def create_article(ctx: Context, actor: Actor, values: dict[str, Any]) -> Row:
    """A new article, a draft unless `is_published`; published at once, it is pushed."""
    async with audited(ctx, actor, "article.create", ARTICLE, changed_fields=values) as (conn, entry):
        row = await store.insert_article(conn, values, ctx.now())
        entry.target_id = str(row["id"])
        if row["is_published"]:
            await _push(conn, rules.article_published(row["id"], row["title"], row["category"]))
    return row


async def update_article(ctx: Context, actor: Actor, article_id: uuid.UUID, changes: dict[str, Any]) -> Row:
    """Partial update; the first publish sets published_at and pushes (a later unpublish and
    republish keeps the date and does not push again)."""
    action = "article.publish" if changes.get("is_published") is True else "article.update"
    async with audited(ctx, actor, action, ARTICLE, article_id, changed_fields=changes) as (conn, _):
        row = await store.update_article(conn, article_id, changes, ctx.now())
        if row is None:
            raise article_not_found()
        if row.pop("first_published"):
            await _push(conn, rules.article_published(row["id"], row["title"], row["category"]))
    return row


async def delete_article(ctx: Context, actor: Actor, article_id: uuid.UUID) -> None:
    async with audited(ctx, actor, "article.delete", ARTICLE, article_id) as (conn, _):
        if not await store.delete_article(conn, article_id):
            raise article_not_found()


async def admin_article(ctx: Context, article_id: uuid.UUID) -> Row:
    async with reading(ctx) as conn:
        row = await store.get_article(conn, article_id, published_only=False)
    if row is None:
        raise article_not_found()
    return row


async def admin_articles(ctx: Context, *, is_published: bool | None, category: str | None, limit: int,
                         offset: int) -> tuple[list[Row], int]:
    async with reading(ctx) as conn:
        return await store.admin_articles_page(conn, is_published=is_published, category=category,
                                               limit=limit, offset=offset)


# --- events (admin) --------------------------------------------------------------------------

async def create_event(ctx: Context, actor: Actor, values: dict[str, Any]) -> Row:
    """A new event, public at once, pushed to every patient app."""
    async with audited(ctx, actor, "event.create", EVENT, changed_fields=values) as (conn, entry):
        row = await store.insert_event(conn, values, ctx.now())
        entry.target_id = str(row["id"])
        await _push(conn, rules.event_created(row["id"], row["title"], row["event_date"], row["event_type"]))
    return row


async def update_event(ctx: Context, actor: Actor, event_id: uuid.UUID, changes: dict[str, Any]) -> Row:
    async with audited(ctx, actor, "event.update", EVENT, event_id, changed_fields=changes) as (conn, _):
        row = await store.update_event(conn, event_id, changes, ctx.now())
        if row is None:
            raise event_not_found()
    return row


async def delete_event(ctx: Context, actor: Actor, event_id: uuid.UUID) -> None:
    async with audited(ctx, actor, "event.delete", EVENT, event_id) as (conn, _):
        if not await store.delete_event(conn, event_id):
            raise event_not_found()


async def event(ctx: Context, event_id: uuid.UUID) -> Row:
    async with reading(ctx) as conn:
        row = await store.get_event(conn, event_id)
    if row is None:
        raise event_not_found()
    return row


# --- the public --------------------------------------------------------------------------------

async def published_article(ctx: Context, article_id: uuid.UUID) -> Row:
    """A published article; a draft is 404, as if it did not exist."""
    async with reading(ctx) as conn:
        row = await store.get_article(conn, article_id, published_only=True)
    if row is None:
        raise article_not_found()
    return row


async def published_articles(ctx: Context, *, category: str | None, sort_by: str, sort_order: str | None,
                             limit: int, offset: int) -> tuple[list[Row], int]:
    async with reading(ctx) as conn:
        return await store.published_articles_page(conn, category=category, sort_by=sort_by,
                                                   sort_order=rules.article_sort_order(sort_by, sort_order),
                                                   limit=limit, offset=offset)


async def events_list(ctx: Context, *, event_type: str | None, status: str | None, sort_order: str | None,
                      limit: int, offset: int) -> tuple[list[Row], int]:
    """Events of a type, upcoming (not started yet) or past relative to now, by date."""
    async with reading(ctx) as conn:
        return await store.events_page(conn, event_type=event_type, status=status, now=ctx.now(),
                                       sort_order=rules.event_sort_order(status, sort_order),
                                       limit=limit, offset=offset)
