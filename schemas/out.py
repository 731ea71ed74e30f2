"""Response shapes: dump-only marshmallow descriptions of what the handlers answer.

Handlers build their answers with the `*_out` functions of schemas/<domain>.py; the OutSchema beside
each function says exactly what it returns, field by field, for the OpenAPI document
(gateway.openapi) and for the tests that hold real answers to it. So:
- every field is always present, unless its metadata says `optional` (OPTIONAL below);
- a field may be null only where it says `allow_none=True`;
- integers are integers (paise, counts), `format: uuid` / `date-time` / `date` where the value is one.
"""
from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate

OPTIONAL = {"optional": True}  # metadata of a field that only some answers carry


class OutSchema(Schema):
    """A response shape (never used to load): its fields are required unless declared OPTIONAL, and
    it has no others (`unknown = RAISE`: the document says `additionalProperties: false`)."""

    class Meta:
        unknown = RAISE

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.required = not field_obj.metadata.get("optional", False)


def one_of(values: Any, **kwargs: Any) -> fields.String:
    """A string that is one of `values` (a status, a role): documented as an enum."""
    return fields.String(validate=validate.OneOf([str(v) for v in values]), **kwargs)


_PAGES: dict[type[Schema], type[OutSchema]] = {}


def page_of(item: type[Schema]) -> type[OutSchema]:
    """The pagination envelope of schemas.common.page around `item`: {items, total, limit, offset,
    has_more}, one schema class per item schema (named `<Item>Page`)."""
    cls = _PAGES.get(item)
    if cls is None:
        name = item.__name__.removesuffix("Out") + "Page"
        cls = _PAGES[item] = OutSchema.from_dict({
            "items": fields.List(fields.Nested(item)),
            "total": fields.Integer(),
            "limit": fields.Integer(),
            "offset": fields.Integer(),
            "has_more": fields.Boolean(metadata={"description": "offset + limit < total"}),
        }, name=name)
    return cls


class NoticeOut(OutSchema):
    """A plain confirmation: `{"message": "..."}`."""
    message = fields.String()


class UpdatedOut(OutSchema):
    """How many rows a receipt changed (0 when repeated)."""
    updated = fields.Integer()


class WebhookAckOut(OutSchema):
    """A verified webhook, acknowledged; `handled` says whether it changed anything."""
    received = fields.Boolean()
    handled = fields.Boolean()


# --- operations ---------------------------------------------------------------------------

class HealthOut(OutSchema):
    status = one_of(("ok",))


class ReadyChecksOut(OutSchema):
    database = fields.String(metadata={"description": '"ok" or "error: <kind>"'})
    redis = fields.String(metadata={"description": '"ok" or "error: <kind>"'})


class ReadyOut(OutSchema):
    status = one_of(("ok", "unavailable"))
    checks = fields.Nested(ReadyChecksOut)


class IndexOut(OutSchema):
    """GET /: where things are."""
    name = fields.String()
    version = fields.String()
    docs = fields.String(metadata={"description": "Swagger UI over the OpenAPI document"})
    openapi = fields.String()
    realtime_docs = fields.String(metadata={"description": "The SSE stream and the websocket, readable"})
    asyncapi = fields.String()
    api = fields.String(metadata={"description": "The API's base path"})
    health = fields.String()
    ready = fields.String()
