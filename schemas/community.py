"""Community articles and events: admin bodies, list queries, and the public and admin shapes."""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from marshmallow import fields, validate

from domain.community import ARTICLE_SORTS, EVENT_STATUSES, EVENT_TYPES, SORT_ORDERS
from schemas.common import BaseSchema, PageQuery, Str
from schemas.out import OutSchema, one_of

_URL = [validate.URL(schemes={"http", "https"}, require_tld=False, error="Not a valid http(s) URL.")]


def _image_url(**kwargs: Any) -> Str:
    return Str(max_len=2048, allow_none=True, validate=list(_URL), **kwargs)


def _when(**kwargs: Any) -> fields.AwareDateTime:
    # ISO 8601; a time without an offset is taken as UTC (the contract's datetimes are UTC).
    return fields.AwareDateTime(default_timezone=dt.timezone.utc, **kwargs)


# --- articles --------------------------------------------------------------------------------

class ArticleCreate(BaseSchema):
    title = Str(required=True, max_len=200)
    excerpt = Str(required=True, max_len=500)
    content = Str(required=True, max_len=50_000)
    category = Str(min_len=1, max_len=50, allow_none=True, load_default=None)
    author = Str(min_len=1, max_len=100, allow_none=True, load_default=None)
    image_url = _image_url(load_default=None)
    is_published = fields.Boolean(load_default=False)


class ArticleUpdate(BaseSchema):
    """All optional; null clears category, author and image_url."""
    title = Str(min_len=1, max_len=200)
    excerpt = Str(min_len=1, max_len=500)
    content = Str(min_len=1, max_len=50_000)
    category = Str(min_len=1, max_len=50, allow_none=True)
    author = Str(min_len=1, max_len=100, allow_none=True)
    image_url = _image_url()
    is_published = fields.Boolean()


class AdminArticlesQuery(PageQuery):
    is_published = fields.Boolean()
    category = Str(min_len=1, max_len=50)


class ArticlesQuery(PageQuery):
    category = Str(min_len=1, max_len=50)
    sort_by = Str(load_default="published_at", validate=[validate.OneOf(ARTICLE_SORTS)])
    sort_order = Str(validate=[validate.OneOf(SORT_ORDERS)])


def article_out(a: Mapping[str, Any], *, with_content: bool = True) -> dict[str, Any]:
    """The public shape (lists leave the body out: the excerpt is for them)."""
    out = {"id": a["id"], "title": a["title"], "excerpt": a["excerpt"], "category": a["category"],
           "author": a["author"], "image_url": a["image_url"], "published_at": a["published_at"]}
    if with_content:
        out["content"] = a["content"]
    return out


def article_admin_out(a: Mapping[str, Any]) -> dict[str, Any]:
    return {**article_out(a), "is_published": a["is_published"], "created_at": a["created_at"],
            "updated_at": a["updated_at"]}


# --- events ----------------------------------------------------------------------------------

class EventCreate(BaseSchema):
    title = Str(required=True, max_len=200)
    description = Str(required=True, max_len=5000)
    event_date = _when(required=True)
    event_type = Str(load_default="online", validate=[validate.OneOf(EVENT_TYPES)])
    category = Str(min_len=1, max_len=50, allow_none=True, load_default=None)
    image_url = _image_url(load_default=None)


class EventUpdate(BaseSchema):
    """All optional; null clears category and image_url."""
    title = Str(min_len=1, max_len=200)
    description = Str(min_len=1, max_len=5000)
    event_date = _when()
    event_type = Str(validate=[validate.OneOf(EVENT_TYPES)])
    category = Str(min_len=1, max_len=50, allow_none=True)
    image_url = _image_url()


class EventsQuery(PageQuery):
    event_type = Str(validate=[validate.OneOf(EVENT_TYPES)])
    status = Str(validate=[validate.OneOf(EVENT_STATUSES)])
    sort_by = Str(load_default="event_date", validate=[validate.OneOf(("event_date",))])
    sort_order = Str(validate=[validate.OneOf(SORT_ORDERS)])


def event_out(e: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": e["id"], "title": e["title"], "description": e["description"], "event_date": e["event_date"],
            "event_type": e["event_type"], "category": e["category"], "image_url": e["image_url"]}


def event_admin_out(e: Mapping[str, Any]) -> dict[str, Any]:
    return {**event_out(e), "created_at": e["created_at"], "updated_at": e["updated_at"]}


class ArticleListItemOut(OutSchema):
    """A published article in the public list (no body: the excerpt is for lists)."""
    id = fields.UUID()
    title = fields.String()
    excerpt = fields.String()
    category = fields.String(allow_none=True)
    author = fields.String(allow_none=True)
    image_url = fields.String(allow_none=True)
    published_at = fields.DateTime(allow_none=True)


class ArticleOut(ArticleListItemOut):
    content = fields.String()


class ArticleAdminOut(ArticleOut):
    is_published = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class EventOut(OutSchema):
    id = fields.UUID()
    title = fields.String()
    description = fields.String()
    event_date = fields.DateTime()
    event_type = one_of(EVENT_TYPES)
    category = fields.String(allow_none=True)
    image_url = fields.String(allow_none=True)


class EventAdminOut(EventOut):
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
