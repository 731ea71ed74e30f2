"""One asyncpg-backed SQLAlchemy engine per process."""
from __future__ import annotations

import orjson
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from common.jsonutil import dumps_str


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs from the environment; SQLAlchemy needs the driver named."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def _connect_args(url: str) -> dict:
    """asyncpg tries SSL first by default: a wasted round trip per new connection on loopback.
    Remote databases keep the default unless the URL says otherwise (`?ssl=require`)."""
    parsed = make_url(async_url(url))
    if parsed.host in ("127.0.0.1", "localhost", "::1") and "ssl" not in parsed.query and "sslmode" not in parsed.query:
        return {"ssl": False}
    return {}


def create_engine(url: str, pool_size: int = 10, pool_timeout: float = 5.0) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        connect_args=_connect_args(url),
        pool_size=pool_size,
        # A hard cap: past it, requests wait their turn (up to pool_timeout, then 503 DATABASE_BUSY).
        # Overflow connections were opened and closed again as load came and went; each costs a
        # new backend (fork, authentication, cold caches, statements prepared again) just when the
        # database is busiest, and the websocket benchmark collapsed at 800 msg/s because of it.
        max_overflow=0,
        pool_timeout=pool_timeout,
        # No pre-ping: it costs a round trip per checkout. A connection found dead is invalidated
        # (with the rest of the pool) and the request answers 503; the next one reconnects.
        pool_recycle=1800,
        # jsonb columns accept UUIDs and datetimes as the API writes them (ISO, Z).
        json_serializer=dumps_str,
        json_deserializer=orjson.loads,
    )

