"""Community articles and events: their push payloads, the topic they go out on, the list rules (pure).

Every patient app is subscribed to COMMUNITY_TOPIC (the push worker keeps FCM's subscriptions in
step with the active patient tokens), so a publish is one topic message, whatever the number of
patients.
"""
from __future__ import annotations

import datetime as dt
import uuid

from domain.push_payloads import PushPayload

COMMUNITY_TOPIC = "community"
TOPIC_ROLE = "client"  # whose devices are on the topic (migration 0015's partial index says the same)
EVENT_TYPES = ("online", "in_person", "hybrid")
EVENT_STATUSES = ("upcoming", "past")
ARTICLE_SORTS = ("published_at", "title")
SORT_ORDERS = ("asc", "desc")


def article_published(article_id: uuid.UUID, title: str, category: str | None) -> PushPayload:
    data = {"type": "community.article", "article_id": str(article_id)}
    if category:
        data["category"] = category
    return PushPayload("community.article", "New in the community", title, data)


def event_created(event_id: uuid.UUID, title: str, event_date: dt.datetime, event_type: str) -> PushPayload:
    return PushPayload("community.event", "New community event", title,
                       {"type": "community.event", "event_id": str(event_id), "event_type": event_type,
                        "event_date": event_date.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})


def article_sort_order(sort_by: str, sort_order: str | None) -> str:
    """Newest first by date, A to Z by title, unless the caller says otherwise."""
    return sort_order or ("desc" if sort_by == "published_at" else "asc")


def event_sort_order(status: str | None, sort_order: str | None) -> str:
    """Soonest first for upcoming (and unfiltered) events, most recent first for past ones."""
    return sort_order or ("desc" if status == "past" else "asc")
