"""Where bus events live, and how to read a channel's history after an id.

Redis (per channel): stream `<prefix>bus:s:<channel>` with entry ids `<event_id>-0` (fields
`t` type, `d` data JSON), trimmed to about `event_history_len` entries and expiring with the
outbox retention; pub/sub channel `<prefix>bus:c:<channel>` carrying `[event_id, type, data]`
(`event_id` null for ephemeral events); `<prefix>bus:tip` = the highest event id published;
pub/sub channel `<prefix>bus:relay-wake`: other processes' commits waking the relay leader.

PostgreSQL: every published event stays in event_outbox (with its `event_id`) for the retention
period. A read after an id is served by the Redis stream when the stream still holds that id
(its first entry is at or before it), else by the outbox table; it is complete when that source
covers everything after the id.
"""
from __future__ import annotations

from typing import Any

import orjson
from redis.exceptions import RedisError
from storage.pool import Pool

from gateway.bus_subscription import Event
from storage import driver


class BusKeys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.stream_prefix = f"{prefix}bus:s:"
        self.live_prefix = f"{prefix}bus:c:"
        self.tip = f"{prefix}bus:tip"
        self.relay_wake = f"{prefix}bus:relay-wake"

    def stream(self, channel: str) -> str:
        return self.stream_prefix + channel

    def live(self, channel: str) -> str:
        return self.live_prefix + channel


def stream_seq(entry_id: bytes | str) -> int:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(raw.partition("-")[0])


def _stream_event(entry_id: bytes, fields: dict[bytes, bytes]) -> Event:
    return Event.durable(stream_seq(entry_id), fields[b"t"].decode(), orjson.loads(fields[b"d"]))


_DB_PAGE = """
    SELECT event_id, event_type, data FROM event_outbox
    WHERE channel = $1 AND event_id > $2
    ORDER BY event_id LIMIT $3
"""
# Oldest event id still kept (or, with nothing kept, the next id to be assigned): the table covers
# every id from there on, because rows are pruned oldest first.
_FLOOR = """coalesce(
        (SELECT min(event_id) FROM event_outbox WHERE event_id IS NOT NULL),
        (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM event_bus_seq))"""
_DB_FLOOR = f"SELECT {_FLOOR}"
# Everything below the floor was published (only published rows are pruned).
_DB_TIP = f"""SELECT greatest(
    (SELECT max(event_id) FROM event_outbox WHERE published_at IS NOT NULL), {_FLOOR} - 1, 0)"""


def _data(raw: Any) -> dict[str, Any]:
    # asyncpg hands jsonb over as text unless a codec is set on the connection.
    return orjson.loads(raw) if isinstance(raw, (str, bytes)) else raw


class History:
    def __init__(self, redis: Any, engine: Pool, keys: BusKeys) -> None:
        self.redis = redis
        self.engine = engine
        self.keys = keys

    async def tip(self) -> int:
        """The highest event id published so far: events after it are still to come."""
        try:
            raw = await self.redis.get(self.keys.tip)
            if raw is not None:
                return int(raw)
        except RedisError:
            pass
        # Redis down or freshly restarted: the outbox knows what went out.
        async with self.engine.connect() as conn:
            return int(await driver.fetchval(conn, _DB_TIP))

    async def read(self, channel: str, after: int, limit: int) -> tuple[list[Event], bool]:
        """Up to `limit` events of `channel` with id > `after`, in order, and whether the source
        covers everything after `after` (False: some events may be gone for good)."""
        try:
            page = await self._read_redis(channel, after, limit)
            if page is not None:
                return page, True
        except RedisError:
            pass
        return await self._read_db(channel, after, limit)

    async def _read_redis(self, channel: str, after: int, limit: int) -> list[Event] | None:
        key = self.keys.stream(channel)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xrange(key, "-", "+", count=1)
            pipe.xrange(key, f"({after}-0", "+", count=limit)
            first, entries = await pipe.execute()
        if not first or stream_seq(first[0][0]) > after:
            return None  # the stream does not reach back to `after` (trimmed, expired or Redis restarted)
        return [_stream_event(entry_id, fields) for entry_id, fields in entries]

    async def _read_db(self, channel: str, after: int, limit: int) -> tuple[list[Event], bool]:
        async with self.engine.connect() as conn:
            rows = await driver.fetch(conn, _DB_PAGE, channel, after, limit)
            # Read after the page: rows pruned meanwhile raise the floor, never hide a gap.
            floor = int(await driver.fetchval(conn, _DB_FLOOR))
        events = [Event.durable(int(r["event_id"]), r["event_type"], _data(r["data"])) for r in rows]
        return events, after >= floor - 1
