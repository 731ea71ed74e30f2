"""orjson encoding with the contract's conventions: UTC datetimes with `Z`, UUIDs as strings."""
from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import orjson

# orjson would keep a non-UTC offset (+05:30) as is; the contract wants UTC with Z, so datetimes
# pass through to `_default`, which converts them.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return isoformat(value)
    if isinstance(value, (dt.date, dt.time)):  # also passed through: `YYYY-MM-DD`, `HH:MM:SS`
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):  # asyncpg returns its own UUID subclass, which orjson refuses
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def dumps_str(value: Any) -> str:
    return dumps(value).decode()


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)


def isoformat(value: dt.datetime | None) -> str | None:
    """For places that need a string (SSE data built by hand, tokens): same format as dumps."""
    if value is None:
        return None
    return to_utc(value).isoformat().replace("+00:00", "Z")


__all__ = ["dumps", "dumps_str", "loads", "isoformat", "to_utc"]
