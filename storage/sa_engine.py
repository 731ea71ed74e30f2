"""A SQLAlchemy engine, for Alembic's migrations, the tests' arrangements and the benchmarks.

The application itself runs every statement on asyncpg (storage.pool, storage.driver); nothing in
gateway/, handlers/ or services/ imports SQLAlchemy (.importlinter).
"""
from __future__ import annotations

import orjson
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from common.jsonutil import dumps_str
from storage.db import install_log_redaction


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
    install_log_redaction()
    return create_async_engine(
        async_url(url),
        # A failed statement's exception (and so the log) never shows the values it was given.
        hide_parameters=True,
        connect_args=_connect_args(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        # jsonb columns accept UUIDs and datetimes as the API writes them (ISO, Z).
        json_serializer=dumps_str,
        json_deserializer=orjson.loads,
    )
