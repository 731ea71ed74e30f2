"""Shared fixtures: a private test database (migrated once per run), a Redis key prefix per test,
the app on `aiohttp_client`, and factories for accounts and tokens.

Each pytest process gets its own database (`allign_test_<pid>`), so parallel runs never collide.
"""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import signal
import sys
import uuid

import asyncpg
import pytest
import sqlalchemy as sa

from config import load_settings
from gateway import keys
from gateway.app import create_app
from common.clock import Clock, FrozenClock
from common.tasks import await_chain
from storage.sa_engine import create_engine
from storage.migrate import upgrade
from tests import factories

def _dump_asyncio_tasks(signum, frame) -> None:
    """`kill -USR1 <pytest pid>`: print every task of the running event loop (a stuck test's await)."""
    loop = asyncio.events._get_running_loop()
    tasks = asyncio.all_tasks(loop) if loop is not None else set()
    print(f"\n--- {len(tasks)} asyncio tasks ---", file=sys.stderr)
    for task in tasks:
        print(f"{task!r}", *(f"  {where}" for where in await_chain(task)), sep="\n", file=sys.stderr)


signal.signal(signal.SIGUSR1, _dump_asyncio_tasks)

ADMIN_DSN = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_NUMBERS = "+919999999999:123456,+919999999998:654321"
_counter = itertools.count()


def _dsn_for(name: str) -> str:
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{name}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url() -> str:
    name = f"allign_test_{os.getpid()}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = _dsn_for(name)
    upgrade(url)
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(database_url):
    base = load_settings({"ALLIGN_ENV": "test", "OTP_TEST_NUMBERS": TEST_NUMBERS})
    return dataclasses.replace(
        base,
        database_url=database_url,
        redis_url=REDIS_URL,
        redis_prefix=f"test:{os.getpid()}:{next(_counter)}:",
        db_pool_size=5,
        apply_migrations=False,
        seed_demo_data=False,
        blob_local_dir=str(_tmp_blob_dir()),
    )


def _tmp_blob_dir():
    import tempfile
    return tempfile.mkdtemp(prefix="allign-blobs-")


@pytest.fixture
async def db(database_url):
    """A separate engine for arranging and asserting rows; tables are emptied before each test."""
    engine = create_engine(database_url, pool_size=2)
    async with engine.begin() as conn:
        names = (await conn.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"
        ))).scalars().all()
        if names:
            # The audit log refuses TRUNCATE by trigger (migration 0012); emptying it between tests
            # is the one place that may, as a superuser with triggers off for this transaction.
            await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            await conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " CASCADE"))
    yield engine
    await engine.dispose()


@pytest.fixture
async def pool(database_url, db):
    """The application's kind of pool (storage.pool) on the test database, for calling storage and
    use-case functions directly; `db` (SQLAlchemy) arranges and asserts rows."""
    from storage.pool import Pool
    connections = Pool(database_url, size=3)
    yield connections
    await connections.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def frozen_clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def make_client(aiohttp_client, settings, db):
    """make_client(clock=..., **settings_overrides) → a test client on a fresh app."""

    async def make(clock: Clock | None = None, **overrides):
        app = create_app(dataclasses.replace(settings, **overrides), clock=clock)
        return await aiohttp_client(app)

    yield make


@pytest.fixture
async def client(make_client, clock):
    return await make_client(clock=clock)


@pytest.fixture
async def redis_cleanup(settings):
    yield
    import redis.asyncio as aioredis
    r = aioredis.from_url(settings.redis_url)
    async for key in r.scan_iter(match=settings.redis_prefix + "*", count=500):
        await r.delete(key)
    await r.aclose()


@pytest.fixture(autouse=True)
async def _clean_redis(redis_cleanup):
    yield


@pytest.fixture
def auth(settings):
    """auth(role, subject_id) → headers with a valid access token minted by the real encoder."""

    def headers(role: str, subject_id: uuid.UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {factories.access_token(settings, role, subject_id)}"}

    return headers


@pytest.fixture
def app_of():
    def get(client):
        return client.server.app
    return get


__all__ = ["factories", "keys"]


@pytest.fixture
async def servers(settings, db):
    """Two real server processes (`python run.py`) on the test database and Redis."""
    from tests.servers import start_server

    a = await start_server(settings)
    try:
        b = await start_server(settings)
    except BaseException:
        await a.stop()
        raise
    yield a, b
    for server in (a, b):
        await server.stop()
