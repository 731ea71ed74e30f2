"""The outbox relay: committed event_outbox rows → Redis, in commit order, by one leader at a time.

Every process runs a relay; the one holding a PostgreSQL advisory lock is the leader, the others
try to take that lock four times a second (a dead leader's connection drops, even on SIGKILL, the
lock is released, the next one takes over within LEADER_POLL). One leader keeps each channel's events in commit order
across processes.

A pass: (1) give the oldest unassigned rows their bus `event_id` from `event_bus_seq`, in outbox id
order (rows visible now are committed; a later commit gets a later id); (2) publish them with one
Lua script (XADD with the explicit id `<event_id>-0`, PUBLISH, tip); (3) mark them published, in
the same statement as the next pass's (1): passes follow each other until one finds nothing.
A crash between (2) and (3) republishes on the next pass: XADD refuses an id it already holds,
and the script then skips the PUBLISH, so a retry is idempotent. While Redis is down, (2) fails and
rows stay in the outbox; they go out, in order, when it is back.

The leader is woken by `wake()`: after a commit in its own process directly, after a commit in
another process through Redis pub/sub (`EventBus.wake`, `Listener.follow_relay_wakes`); it polls as
a safety net (a writer outside any server process is picked up within POLL_INTERVAL). It also
prunes published rows older than the retention.

Not LISTEN/NOTIFY (a trigger's NOTIFY woke it until migration 0010): a transaction that notifies
takes one database-wide lock from its commit's start to its end, WAL flush included, so every
sending commit of every process queued behind the one before and group commit never happened. In
`bench/ws_messages.py` at 1,000 msg/s, up to 19 backends waited on it at once; a slow flush stalled
every send for hundreds of milliseconds.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import orjson
from redis.exceptions import RedisError

from gateway.bus_history import BusKeys
from gateway.bus_listener import Listener
from common.tasks import Wakeup, stop_task
from storage import driver

log = logging.getLogger(__name__)

RELAY_LOCK = 0x416C6C69676E4276   # advisory lock key of the relay leader ("AllignBv")
POLL_INTERVAL = 0.25  # seconds between a leader's passes when nothing woke it
PRUNE_EVERY = 60.0
LEADER_POLL = 0.25  # seconds between a follower's attempts to take over (the failover delay; < 1 s)
RETRY_MAX = 2.0  # longest wait between attempts to reach the database again after losing it
QUERY_TIMEOUT = 15.0  # a relay query that hangs (dead database host) ends the leadership; another takes over
# Numbers the next rows, and marks as published the batch the previous pass published (one
# statement per pass under load; the two sets never overlap: numbered rows had no event_id).
# `o.id = ANY(ARRAY(...))` keeps the update a key lookup in every plan: the generic plan a
# prepared statement settles on while the table is small would otherwise join by reading it whole.
_ASSIGN = """
WITH marked AS (
    UPDATE event_outbox SET published_at = now() WHERE id = ANY($2::bigint[])
), numbered AS (
    SELECT id, nextval('event_bus_seq') AS event_id FROM event_outbox
    WHERE event_id IS NULL ORDER BY id LIMIT $1)
UPDATE event_outbox o SET event_id = n.event_id FROM numbered n
WHERE o.id = ANY(ARRAY(SELECT id FROM numbered)) AND o.id = n.id
RETURNING o.id, o.event_id, o.channel, o.event_type, o.data::text AS data
"""
_LEFTOVER = """
SELECT id, event_id, channel, event_type, data::text AS data FROM event_outbox
WHERE published_at IS NULL AND event_id IS NOT NULL ORDER BY event_id LIMIT $1
"""
_MARK = "UPDATE event_outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
_PRUNE = """
DELETE FROM event_outbox WHERE id IN (
    SELECT id FROM event_outbox WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)
"""

# KEYS[1] tip, KEYS[i+1] stream of event i; ARGV[1] maxlen, ARGV[2] '~' or '=', ARGV[3] ttl,
# then five values per event: id, live channel, live payload, type, data.
_PUBLISH_LUA = """
local top = tonumber(redis.call('GET', KEYS[1]) or '0')
local top_raw = nil
local published = {}
for i = 1, #KEYS - 1 do
  local base = 3 + (i - 1) * 5
  local id = ARGV[base + 1]
  local added = redis.pcall('XADD', KEYS[i + 1], 'MAXLEN', ARGV[2], ARGV[1], id .. '-0',
                            't', ARGV[base + 4], 'd', ARGV[base + 5])
  if type(added) == 'table' and added.err then
    published[i] = 0
  else
    redis.call('EXPIRE', KEYS[i + 1], ARGV[3])
    redis.call('PUBLISH', ARGV[base + 2], ARGV[base + 3])
    published[i] = 1
  end
  if tonumber(id) > top then
    top = tonumber(id)
    top_raw = id
  end
end
if top_raw then redis.call('SET', KEYS[1], top_raw) end
return published
"""


def channel_kind(channel: str) -> str:
    return channel.partition(":")[0] or "other"


class OutboxRelay:
    def __init__(self, *, dsn: str, redis: Any, keys: BusKeys, listener: Listener, metrics: Any,
                 history_len: int, retention: float, batch: int = 500,
                 poll_interval: float = POLL_INTERVAL, gather: float = 0.002) -> None:
        self._dsn = dsn
        self._redis = redis
        self._keys = keys
        self._listener = listener
        self._metrics = metrics
        self._history_len = max(1, history_len)
        self.retention = retention
        self.batch = batch
        self.poll_interval = poll_interval
        self.gather = gather
        self._script = redis.register_script(_PUBLISH_LUA)
        self._wakeup = Wakeup()
        self._leftover = True
        self._unmarked: list[int] = []  # outbox ids published but not yet marked so
        self.is_leader = False
        # Passes the leader has finished (each followed by a wait of the then-current poll_interval):
        # what tests wait on instead of sleeping past the relay's timings.
        self.passes = 0
        self._task: asyncio.Task | None = None
        self._redis_down = False

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bus-relay")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _run(self) -> None:
        backoff = 0.1
        failing = False
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await driver.queue_connection(self._dsn, "allign-event-relay")
                if failing:
                    log.warning("event relay: the database is reachable again")
                    failing = False
                backoff = 0.1
                await self._wait_for_leadership(conn)
                await self._listener.follow_relay_wakes(self.wake)
                self.is_leader = True
                self._leftover = True
                backoff = 0.1
                log.info("event relay: this process is the leader")
                await self._lead(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Once per outage: events wait in the outbox meanwhile (committed ones only: nothing
                # half-written), retried with backoff up to RETRY_MAX.
                if not failing:
                    log.warning("event relay lost its database connection (%s); retrying", type(exc).__name__)
                    failing = True
            finally:
                if self.is_leader:
                    self.is_leader = False
                    await self._listener.unfollow_relay_wakes()
                if conn is not None:
                    conn.terminate()  # releases the advisory lock at once
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX)

    async def _wait_for_leadership(self, conn: asyncpg.Connection) -> None:
        """Take the leader's lock once it is free. Polled: a statement waiting on the lock would hold
        its snapshot all along, and with it back every VACUUM and dead-index-entry cleanup of the
        database (the relay's own queue scans included) for as long as another process leads."""
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK, timeout=QUERY_TIMEOUT):
            await asyncio.sleep(LEADER_POLL)

    async def _lead(self, conn: asyncpg.Connection) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + PRUNE_EVERY
        while True:
            self._wakeup.clear()
            try:
                while await self.relay_once(conn):
                    # Busy: let the next pass gather what commits meanwhile (the first pass after
                    # a quiet spell runs at once, so a lone event is not delayed).
                    await asyncio.sleep(self.gather)
                if self._redis_down:
                    log.warning("event relay: Redis is back, outbox drained")
                    self._redis_down = False
            except RedisError as exc:
                if not self._redis_down:
                    log.warning("event relay: Redis unavailable (%s); events wait in the outbox", exc)
                    self._redis_down = True
            if loop.time() >= next_prune:
                next_prune = loop.time() + PRUNE_EVERY
                await self.prune(conn)
            self.passes += 1
            await self._wakeup.wait(self.poll_interval)

    async def relay_once(self, conn: asyncpg.Connection) -> int:
        """One batch; returns how many rows it published (call again until 0: the pass that finds
        nothing new is also the one that marks the last batch published)."""
        if self._leftover:  # numbered earlier but maybe never published: a crash, or Redis was down
            rows = await conn.fetch(_LEFTOVER, self.batch, timeout=QUERY_TIMEOUT)
            if rows:
                await self._publish(rows)
                await conn.execute(_MARK, [r["id"] for r in rows], timeout=QUERY_TIMEOUT)
                self._leftover = len(rows) >= self.batch
                return len(rows)
            self._leftover = False
        rows = await conn.fetch(_ASSIGN, self.batch, self._unmarked, timeout=QUERY_TIMEOUT)
        self._unmarked = []
        if not rows:
            return 0
        rows.sort(key=lambda r: r["event_id"])
        self._leftover = True  # if publishing fails, these wait as leftovers
        await self._publish(rows)
        self._leftover = False
        self._unmarked = [r["id"] for r in rows]  # published; marked by the next pass
        return len(rows)

    async def _publish(self, rows: list[asyncpg.Record]) -> None:
        keys = [self._keys.tip]
        args: list[Any] = [self._history_len, "~" if self._history_len >= 100 else "=",
                           max(1, int(self.retention))]
        for r in rows:
            event_id = str(r["event_id"])
            keys.append(self._keys.stream(r["channel"]))
            payload = b"[" + event_id.encode() + b"," + orjson.dumps(r["event_type"]) + b"," + r["data"].encode() + b"]"
            args += [event_id, self._keys.live(r["channel"]), payload, r["event_type"], r["data"]]
        flags = await self._script(keys=keys, args=args)
        for r, flag in zip(rows, flags):
            if flag:
                self._metrics.events_published.labels(channel_kind(r["channel"])).inc()

    async def prune(self, conn: asyncpg.Connection, older_than: float | None = None) -> int:
        retention = self.retention if older_than is None else older_than
        total = 0
        while True:
            status = await conn.execute(_PRUNE, float(retention), 10_000, timeout=QUERY_TIMEOUT * 4)
            deleted = int(status.split()[-1])
            total += deleted
            if deleted < 10_000:
                return total
