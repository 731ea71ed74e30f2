"""The relay's and the push worker's queue statements stay key lookups in the plan PostgreSQL
caches for them: a prepared statement switches to a generic plan after a few runs, and a generic
plan settled while a queue table was small must not read the whole table once it has grown."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import orjson

from gateway.bus_relay import _ASSIGN, _LEFTOVER
from storage.driver import LOOKUPS_ONLY
from storage.push_queue import LEASE, RECORD
from storage.sessions import EXPIRE_DUE

# Scans these statements may make without an index condition: the partial indexes that hold
# exactly the rows waiting for them.
WAITING_ROWS_INDEXES = {"ix_event_outbox_unassigned", "ix_event_outbox_unpublished", "ix_notifications_due",
                        "ix_connect_sessions_expiry"}
QUEUES = {"event_outbox", "notifications", "connect_sessions"}


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _queue_scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in _nodes(plan) if n.get("Relation Name") in QUEUES and n["Node Type"] != "ModifyTable"]


async def _generic_plan(raw, name: str, sql: str, args: str) -> dict[str, Any]:
    await raw.execute("ANALYZE event_outbox, notifications, connect_sessions")  # small tables, as at start-up
    await raw.execute("SET plan_cache_mode = force_generic_plan")
    for setting, value in LOOKUPS_ONLY.items():
        await raw.execute(f"SET {setting} = {value}")
    await raw.execute(f"PREPARE {name} AS {sql}")
    try:
        async with raw.transaction():  # EXPLAIN of an UPDATE plans it without running it
            [row] = await raw.fetch(f"EXPLAIN (FORMAT JSON) EXECUTE {name}({args})")
    finally:
        await raw.execute(f"DEALLOCATE {name}")
        await raw.execute("RESET ALL")
    explained = row[0] if isinstance(row[0], list) else orjson.loads(row[0])  # the pool may decode json
    return explained[0]["Plan"]


def _literal(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(int(value))


def _assert_key_lookups(plan: dict[str, Any]) -> None:
    scans = _queue_scans(plan)
    assert scans, plan
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan
        assert "Index Cond" in scan or scan["Index Name"] in WAITING_ROWS_INDEXES, scan


async def test_relay_statements_are_key_lookups_in_their_generic_plans(db):
    async with db.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        _assert_key_lookups(await _generic_plan(raw, "relay_assign", _ASSIGN, "500, '{1,2,3}'::bigint[]"))
        _assert_key_lookups(await _generic_plan(raw, "relay_leftover", _LEFTOVER, "500"))


async def test_push_worker_statements_are_key_lookups_in_their_generic_plans(db):
    now = dt.datetime.now(dt.timezone.utc)
    async with db.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        _assert_key_lookups(await _generic_plan(
            raw, "push_lease", LEASE, f"{_literal(now)}, {_literal(now + dt.timedelta(seconds=120))}, 100"))
        _assert_key_lookups(await _generic_plan(
            raw, "push_record", RECORD, "'{00000000-0000-0000-0000-000000000001}'::uuid[], '{1}'::int[], "
            "'{SENT}'::text[], '{1}'::int[], '{NULL}'::text[], '{NULL}'::timestamptz[], '{NULL}'::timestamptz[]"))


async def test_request_expiry_is_a_key_lookup_in_its_generic_plan(db):
    now = dt.datetime.now(dt.timezone.utc)
    async with db.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        _assert_key_lookups(await _generic_plan(raw, "expire_requests", EXPIRE_DUE, f"{_literal(now)}, 100"))
