"""Row factories for tests: insert real rows through the real tables; mint real tokens."""
from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from config import Settings
from domain import tokens
from common.passwords import hash_password_sync
from storage.pool import Connection
from storage.tables import admins, doctors, users

_seq = itertools.count(1)
PASSWORD = "s3cur3P@ss-test"
_PASSWORD_HASH = hash_password_sync(PASSWORD)


def access_token(settings: Settings, role: str, subject_id: uuid.UUID, ttl: int | None = None,
                 now: dt.datetime | None = None) -> str:
    token, _ = tokens.encode(settings.jwt_secret, subject=subject_id, role=role, type_="access",
                             ttl=ttl or settings.access_token_ttl,
                             now=now or dt.datetime.now(dt.timezone.utc))
    return token


async def _insert(engine: AsyncEngine, table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    async with engine.begin() as conn:
        row = (await conn.execute(sa.insert(table).values(**values).returning(table))).mappings().one()
    return dict(row)


async def make_user(engine: AsyncEngine, **values: Any) -> dict[str, Any]:
    n = next(_seq)
    defaults = {"phone": f"+9198{n:08d}", "full_name": f"Patient {n}", "age": 30, "sex": "male"}
    return await _insert(engine, users, {**defaults, **values})


async def make_doctor(engine: AsyncEngine, **values: Any) -> dict[str, Any]:
    n = next(_seq)
    name = values.get("full_name", f"Dr. Test Doctor {n}")
    defaults = {
        "email": f"doctor{n}@allign.test", "password_hash": _PASSWORD_HASH, "full_name": name,
        "slug": f"dr-test-{n}", "speciality_category": "General Medicine", "degrees": ["MBBS"],
        "languages": ["English", "Hindi"], "years_experience": 5, "registration_number": f"MCI{n:06d}",
        "rate_per_minute": 500, "presence_status": "ONLINE",
    }
    return await _insert(engine, doctors, {**defaults, **values})


async def make_admin(engine: AsyncEngine, **values: Any) -> dict[str, Any]:
    n = next(_seq)
    defaults = {"username": f"admin{n}", "email": f"admin{n}@allign.test", "full_name": "Admin",
                "password_hash": _PASSWORD_HASH}
    return await _insert(engine, admins, {**defaults, **values})


async def make_wallet(engine: AsyncEngine, user_id: uuid.UUID, balance: int) -> dict[str, Any]:
    """Set a patient's wallet balance (creates the row)."""
    from storage.tables import wallets
    async with engine.begin() as conn:
        await conn.execute(sa.delete(wallets).where(wallets.c.user_id == user_id))
        row = (await conn.execute(sa.insert(wallets).values(user_id=user_id, balance=balance)
                                  .returning(wallets))).mappings().one()
    return dict(row)


async def make_session(engine: AsyncEngine, patient_id: uuid.UUID, doctor_id: uuid.UUID,
                       status: str = "ONGOING", **values: Any) -> dict[str, Any]:
    """A connect session row in any state (ONGOING: started a minute ago), bypassing the API."""
    from storage.tables import connect_sessions
    session_id = values.pop("id", None) or uuid.uuid4()
    now = dt.datetime.now(dt.timezone.utc)
    defaults: dict[str, Any] = {
        "id": session_id, "patient_id": patient_id, "doctor_id": doctor_id, "status": status,
        "rate_per_minute": 500, "room_name": f"cn-{session_id}", "requested_at": now - dt.timedelta(minutes=2),
        "expires_at": now + dt.timedelta(minutes=28),
    }
    if status in ("ONGOING", "ENDED"):
        defaults["started_at"] = now - dt.timedelta(minutes=1)
    if status == "ENDED":
        defaults["ended_at"] = now
    return await _insert(engine, connect_sessions, {**defaults, **values})


async def make_participants(engine: AsyncEngine, patient_name: str = "Rahul Sharma",
                            doctor_name: str = "Dr. Asha Rao") -> tuple[dict, dict, dict]:
    """(patient, doctor, their ONGOING session): the two sides of most realtime tests."""
    patient = await make_user(engine, full_name=patient_name)
    doctor = await make_doctor(engine, full_name=doctor_name)
    return patient, doctor, await make_session(engine, patient["id"], doctor["id"])


async def terminate_other_backends(engine: AsyncEngine) -> None:
    """Kill every other client connection to the test database (the app's pool), as a database restart
    would, and wait until they are gone (termination is asynchronous)."""
    import asyncio

    async with engine.connect() as admin:
        pids = list((await admin.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"))).scalars().all())
        await admin.execute(sa.text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"),
                            {"pids": pids})
        # Until those backends are gone (the app's relay and push worker connect again at once, so
        # "no other client backend" may never hold). A transaction sees one snapshot of
        # pg_stat_activity: each look is a transaction of its own.
        async with asyncio.timeout(10):
            while True:
                await admin.rollback()
                if not await admin.scalar(sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(CAST(:pids AS int[]))"), {"pids": pids}):
                    return
                await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def app_connection(engine: AsyncEngine, *, begin: bool = True) -> AsyncIterator[Connection]:
    """The application's kind of connection (storage.pool.Connection) on a connection of the test
    engine, for calling storage functions directly: in a transaction committed at the end of the
    block (rolled back on an error), or, with begin=False, each statement on its own."""
    async with engine.connect() as outer:
        conn = Connection((await outer.get_raw_connection()).driver_connection)
        if begin:
            await conn.begin()
        try:
            yield conn
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()


async def answers_after_backends_die(engine: AsyncEngine, call: Callable[[], Awaitable[Any]], ok: int) -> None:
    """Kill the app's database connections (as a restart would), then: the first call answers `ok`
    (asyncpg's pool saw the close and replaced the connection at checkout) or 503
    DATABASE_UNAVAILABLE (its statement found it dead), never 500; the next two answer `ok`."""
    await terminate_other_backends(engine)
    first = await call()
    if first.status != ok:
        assert first.status == 503, await first.text()
        assert (await first.json())["code"] == "DATABASE_UNAVAILABLE" and first.headers["Retry-After"] == "1"
    assert [(await call()).status for _ in range(2)] == [ok, ok]
