"""Alembic environment: async engine, one advisory lock so concurrent starts migrate once.

Migrations are written by hand as SQL; upgrades do not use `target_metadata`. It is set (the table
definitions, compared as tests/test_schema.py compares them) for `alembic check` and
`alembic revision --autogenerate`, which show where a database and storage/tables differ.
"""
from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context

from storage.sa_engine import async_url, create_engine
from storage.tables import metadata

MIGRATION_LOCK = 7_314_159


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      compare_server_default=True, transaction_per_migration=False)
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
