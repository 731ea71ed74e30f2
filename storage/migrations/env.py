"""Alembic environment: async engine, one advisory lock so concurrent starts migrate once."""
from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context

from storage.db import async_url, create_engine

MIGRATION_LOCK = 7_314_159


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
    with context.begin_transaction():
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        context.run_migrations()


async def _main() -> None:
    url = context.config.attributes.get("database_url")
    engine = create_engine(async_url(url), pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


asyncio.run(_main())
