"""Shared schema pieces and the request parsers every handler uses.

Parsing failures become `ValidationFailed` (422, FastAPI-shaped) through the error middleware.
"""
from __future__ import annotations

import re
import uuid
from typing import Any, Mapping

import orjson
from aiohttp import web
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from domain.errors import UnsupportedMediaType, ValidationFailed

_MISSING_MESSAGES = {"Missing data for required field.", "Field may not be null."}


# What PostgreSQL cannot store is refused while parsing, so no endpoint answers 500 for it: NUL
# (text and jsonb refuse it) and unpaired surrogates (no UTF-8 form), and integers beyond `bigint`
# (what OFFSET, amounts and sizes take). A field bound for an `integer` column declares its Range.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MSG = "String should not contain NUL or unpaired surrogate characters"
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1


def _bounded(field: fields.Field) -> bool:
    return any(isinstance(v, validate.Range) and v.min is not None and v.max is not None for v in field.validators)


class BaseSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        inner = field_obj.inner if isinstance(field_obj, fields.List) else field_obj
        if isinstance(inner, fields.Integer) and not _bounded(inner):
            inner.validators = [*inner.validators, validate.Range(min=INT_MIN, max=INT_MAX)]


class Str(fields.String):
    """Trimmed string; an empty value counts as missing for required fields."""

    def __init__(self, *args: Any, min_len: int | None = None, max_len: int | None = None, **kwargs: Any):
        validators = list(kwargs.pop("validate", []) or [])
        if kwargs.get("required") and min_len is None:
            min_len = 1
        if min_len is not None or max_len is not None:
            validators.append(validate.Length(min=min_len, max=max_len))
        super().__init__(*args, validate=validators, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        result = super()._deserialize(value, attr, data, **kwargs)
        return result.strip()


class PageQuery(BaseSchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


def _error_type(msg: str) -> str:
    if msg in _MISSING_MESSAGES:
        return "missing"
    if msg.startswith("Not a valid integer") or msg.startswith("Not a valid number"):
        return "int_parsing" if "integer" in msg else "float_parsing"
    if msg.startswith("Not a valid"):
        return "type_error"
    return "value_error"


def flatten_errors(messages: Any, where: str, prefix: tuple = ()) -> list[dict[str, Any]]:
    """marshmallow's nested {"field": ["msg"]} → [{"loc": [where, "field"], "msg", "type"}]."""
    out: list[dict[str, Any]] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            loc = prefix if key == "_schema" else prefix + (key,)
            out.extend(flatten_errors(value, where, loc))
    elif isinstance(messages, (list, tuple)):
        for item in messages:
            if isinstance(item, (Mapping, list, tuple)):
                out.extend(flatten_errors(item, where, prefix))
            else:
                out.append({"loc": [where, *prefix], "msg": str(item), "type": _error_type(str(item))})
    else:
        out.append({"loc": [where, *prefix], "msg": str(messages), "type": _error_type(str(messages))})
    return out


_INSTANCES: dict[type[Schema], Schema] = {}


def instance(schema: Schema | type[Schema]) -> Schema:
    """One instance per schema class: building a Schema (field deep copies) costs more than loading
    with it, and loads keep no state on the instance."""
    if isinstance(schema, Schema):
        return schema
    built = _INSTANCES.get(schema)
    if built is None:
        built = _INSTANCES[schema] = schema()
    return built


def unstorable(value: Any, loc: tuple = ()) -> list[tuple]:
    """Where in `value` (strings, and the strings inside dicts and lists) PostgreSQL could not store it."""
    if isinstance(value, str):
        return [loc] if _UNSTORABLE.search(value) is not None else []
    found: list[tuple] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and _UNSTORABLE.search(key) is not None:
                found.append(loc + (key,))
            elif isinstance(item, (str, Mapping, list, tuple)):
                found.extend(unstorable(item, loc + (key,)))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if isinstance(item, (str, Mapping, list, tuple)):
                found.extend(unstorable(item, loc + (index,)))
    return found


def refuse_unstorable(value: Any, where: str, loc: tuple = ()) -> None:
    found = unstorable(value, loc)
    if found:
        raise ValidationFailed([{"loc": [where, *at], "msg": UNSTORABLE_MSG, "type": "string_unicode"}
                                for at in found])


def load(schema: Schema | type[Schema], data: Any, where: str) -> dict[str, Any]:
    """The one way requests are parsed (bodies, queries, websocket frames): marshmallow's errors, then
    what the database could not store (checked on the result: unknown fields stay ignored)."""
    schema = instance(schema)
    try:
        result = schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed(flatten_errors(exc.messages, where)) from None
    refuse_unstorable(result, where)
    return result


async def read_json(request: web.Request, *, optional: bool = False) -> Any:
    """The request body as JSON; an absent body is `{}` when `optional`."""
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        raise ValidationFailed([{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    ctype = request.content_type
    if ctype not in ("application/json", "application/octet-stream", "text/plain") and not ctype.endswith("+json"):
        raise UnsupportedMediaType(f"Expected application/json, got {ctype}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed([{"loc": ["body", exc.pos], "msg": "JSON decode error",
                                 "type": "json_invalid"}]) from None


async def parse_body(request: web.Request, schema: Schema | type[Schema], *,
                     optional: bool = False) -> dict[str, Any]:
    data = await read_json(request, optional=optional)
    if not isinstance(data, dict):
        raise ValidationFailed([{"loc": ["body"], "msg": "Input should be a valid object",
                                 "type": "model_attributes_type"}])
    return load(schema, data, "body")


def parse_query(request: web.Request, schema: Schema | type[Schema]) -> dict[str, Any]:
    # Repeated keys keep the last value unless the field is a list.
    schema = instance(schema)
    data: dict[str, Any] = {}
    for key in request.query.keys():
        field = schema.fields.get(key)
        values = request.query.getall(key)
        data[key] = values if isinstance(field, fields.List) else values[-1]
    return load(schema, data, "query")


def check_path(request: web.Request) -> None:
    """A NUL in a path parameter (`/doctors/slug/%00`) → 422 on that parameter. The error middleware
    calls this only when the decoded path holds one (yarl leaves undecodable bytes escaped)."""
    for name, value in request.match_info.items():
        refuse_unstorable(value, "path", (name,))


def path_uuid(request: web.Request, name: str) -> uuid.UUID:
    """Routes already restrict ids to UUID shape; this converts (and guards direct callers)."""
    try:
        return uuid.UUID(request.match_info[name])
    except (KeyError, ValueError):
        raise ValidationFailed.single("path", name, "Input should be a valid UUID", "uuid_parsing") from None


def page(items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": limit, "offset": offset,
            "has_more": offset + limit < total}


UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
