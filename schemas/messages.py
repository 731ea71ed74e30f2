"""Message bodies and queries in; MessageOut and the cursor page out."""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from domain.messages import PAGE_DEFAULT, PAGE_MAX, RECEIPT_MAX_IDS, TEXT_MAX_CHARS, message_out
from schemas.common import BaseSchema, Str
from schemas.out import OutSchema, one_of
from storage.tables.messaging import MESSAGE_CONTENT_TYPES


class MessageCreate(BaseSchema):
    client_message_id = fields.UUID(required=True)
    content_type = Str(required=True, validate=[validate.OneOf(MESSAGE_CONTENT_TYPES)])
    content = Str(required=True, min_len=1, max_len=TEXT_MAX_CHARS)


class ReceiptBody(BaseSchema):
    message_ids = fields.List(fields.UUID(), required=True,
                              validate=validate.Length(min=1, max=RECEIPT_MAX_IDS))


class MessageListQuery(BaseSchema):
    limit = fields.Integer(load_default=PAGE_DEFAULT, validate=validate.Range(min=1, max=PAGE_MAX))
    before = fields.String(load_default=None)
    after = fields.String(load_default=None)


def message_page(rows: list[dict[str, Any]], *, total: int, limit: int, has_more: bool) -> dict[str, Any]:
    """Oldest first. `before_cursor` pages further back, `after_cursor` fetches what came later."""
    items = [message_out(r) for r in rows]
    return {
        "items": items, "total": total, "limit": limit, "offset": 0, "has_more": has_more,
        "before_cursor": str(rows[0]["id"]) if rows else None,
        "after_cursor": str(rows[-1]["id"]) if rows else None,
    }


class MessageOut(OutSchema):
    """A message as clients see it, on REST and in `message.new` frames alike (domain.messages)."""
    id = fields.UUID()
    session_id = fields.UUID()
    sender_id = fields.UUID()
    sender_role = one_of(("patient", "doctor"))
    client_message_id = fields.UUID()
    content_type = one_of(MESSAGE_CONTENT_TYPES)
    content = fields.String()
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    read_at = fields.DateTime(allow_none=True)


class MessagePageOut(OutSchema):
    """Oldest first; `before_cursor` pages further back, `after_cursor` fetches what came later."""
    items = fields.List(fields.Nested(MessageOut))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()
    has_more = fields.Boolean()
    before_cursor = fields.String(allow_none=True, metadata={"description": "A message id"})
    after_cursor = fields.String(allow_none=True, metadata={"description": "A message id"})
