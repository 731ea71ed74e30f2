"""Session websocket benchmark: send → other-party-receive latency across two server processes.

    .venv/bin/python bench/ws_messages.py                         # 1,000 pairs, 1,000 msg/s, 20 s
    .venv/bin/python bench/ws_messages.py --pairs 200 --rate 400 --duration 10 --via post

Builds a private database (allign_bench_ws), seeds M patients, M doctors and M ONGOING sessions,
starts two `python run.py` processes (A and B) on the same database and Redis, and connects every
patient to A and every doctor to B (2·M sockets), so each message crosses processes through the
bus. Then it sends at a fixed total rate, alternating sender and session, either as `message.send`
frames (default) or as POST /messages, and measures the time from just before the send to the
other party's `message.new` frame (same clock: the load generator holds both sockets). A warm-up
sends every sender's first message first, at the same rate, and reports it on its own line
(`--no-warmup` counts it with the rest).

Prints: sockets held (from each server's /metrics), connect time, messages sent / delivered,
latency p50/p90/p99/max, achieved rate, and each server's RSS growth per socket held.
The load generator shares the machine with both servers, PostgreSQL and Redis.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import orjson  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from config import load_settings  # noqa: E402
from common.clock import Clock  # noqa: E402
from storage.sa_engine import create_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.tables import connect_sessions, doctors, users, wallets  # noqa: E402
from tests.factories import access_token  # noqa: E402
from tests.servers import start_server  # noqa: E402

from pgwaits import WalWaits  # noqa: E402
from procstat import collector_paused, cpu_of, cpu_seconds, machine_busy, rss_kb  # noqa: E402

ADMIN_DSN = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_WS_DB", "allign_bench_ws")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _dsn(name: str) -> str:
    return ADMIN_DSN.rpartition("/")[0] + "/" + name


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def prepare_database(pairs: int) -> tuple[str, list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]]:
    await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{DB_NAME}"')
    url = _dsn(DB_NAME)
    await asyncio.get_running_loop().run_in_executor(None, upgrade, url)
    now = Clock().now()
    rows = [(uuid.uuid4(), uuid.uuid4(), uuid.uuid4()) for _ in range(pairs)]
    engine = create_engine(url, pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(sa.insert(users), [
            {"id": p, "phone": f"+9197{n:08d}", "full_name": f"Bench Patient {n}", "age": 30, "sex": "male"}
            for n, (p, _, _) in enumerate(rows)])
        await conn.execute(sa.insert(doctors), [
            {"id": d, "email": f"bench{n}@allign.test", "password_hash": "x", "full_name": f"Dr. Bench {n}",
             "slug": f"dr-bench-{n}", "speciality_category": "General Medicine", "rate_per_minute": 500,
             "presence_status": "BUSY"} for n, (_, d, _) in enumerate(rows)])
        # Funded, so the balance watcher does not end the sessions mid-run.
        await conn.execute(sa.insert(wallets), [{"user_id": p, "balance": 10**12} for p, _, _ in rows])
        await conn.execute(sa.insert(connect_sessions), [
            {"id": s, "patient_id": p, "doctor_id": d, "status": "ONGOING", "rate_per_minute": 500,
             "room_name": f"cn-{s}", "requested_at": now, "expires_at": now, "started_at": now}
            for p, d, s in rows])
    # A live database has planner statistics (autovacuum analyzes within a minute of a bulk load);
    # a fresh one would plan even the foreign-key checks as sequential scans.
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("ANALYZE")
    await engine.dispose()
    return url, rows


async def _drained(stats: Stats, sent: int, *, acks: bool = False, timeout: float = 10.0) -> None:
    """Wait (up to `timeout`) until every message sent has reached the other party (and its ack)."""
    deadline = time.perf_counter() + timeout
    while ((len(stats.latencies) < sent or (acks and stats.acks < sent))
           and time.perf_counter() < deadline):
        await asyncio.sleep(0.1)


def _print_timeline(timeline: list[tuple[float, float]], start: float) -> None:
    """Per second of sending: messages, p50, max (where a slow tail comes from: spread or bursts)."""
    by_second: dict[int, list[float]] = {}
    for sent_at, latency in timeline:
        by_second.setdefault(int(sent_at - start), []).append(latency)
    print("second   messages   p50 ms   max ms")
    for second in sorted(by_second):
        values = by_second[second]
        print(f"{second:6d} {len(values):10d} {pct(values, 50):8.1f} {max(values) * 1000:8.1f}")


def _cpu_readings(servers) -> list[float]:
    """CPU seconds so far: server A, server B, this load generator, PostgreSQL, Redis."""
    return ([cpu_seconds(s.pid) for s in servers]
            + [time.process_time(), cpu_of(("postgres",)), cpu_of(("redis-server",))])


async def ws_gauge(http: aiohttp.ClientSession, server) -> int:
    async with http.get(server.base_url + "/metrics") as resp:
        match = re.search(r"^allign_ws_connections ([0-9.e+]+)$", await resp.text(), re.M)
    return int(float(match.group(1))) if match else 0


@dataclasses.dataclass
class Stats:
    latencies: list[float] = dataclasses.field(default_factory=list)   # send → other party's message.new
    ack_latencies: list[float] = dataclasses.field(default_factory=list)  # send → sender's ack (stored)
    sent_at: dict[int, float] = dataclasses.field(default_factory=dict)
    timeline: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # (sent at, latency)
    acks: int = 0
    errors: int = 0


async def reader(ws: aiohttp.ClientWebSocketResponse, my_role: str, stats: Stats) -> None:
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            continue
        frame = orjson.loads(msg.data)
        kind = frame["type"]
        if kind == "message.new":
            data = frame["data"]
            if data["sender_role"] != my_role:  # the other party's message
                sent_at = float(data["content"].partition("|")[0])
                stats.latencies.append(time.perf_counter() - sent_at)
                stats.timeline.append((sent_at, stats.latencies[-1]))
        elif kind == "ack":
            stats.acks += 1
            sent_at = stats.sent_at.pop(frame["data"]["ref"], None)
            if sent_at is not None:
                stats.ack_latencies.append(time.perf_counter() - sent_at)
        elif kind == "error":
            stats.errors += 1


async def connect_all(http, servers, settings, rows, concurrency: int = 64):
    """Patients on A, doctors on B. Returns [(patient_ws, doctor_ws, session_id, p_token, d_token)]."""
    a, b = servers
    gate = asyncio.Semaphore(concurrency)
    out: list = [None] * len(rows)

    async def one(n: int, patient_id, doctor_id, session_id) -> None:
        p_token = access_token(settings, "client", patient_id, ttl=3600)
        d_token = access_token(settings, "doctor", doctor_id, ttl=3600)
        path = f"/connect/sessions/{session_id}/ws"
        async with gate:
            p_ws = await http.ws_connect(a.api_url + path, headers={"Authorization": f"Bearer {p_token}"},
                                         heartbeat=None, autoping=True)
            d_ws = await http.ws_connect(b.api_url + path, headers={"Authorization": f"Bearer {d_token}"},
                                         heartbeat=None, autoping=True)
        out[n] = (p_ws, d_ws, session_id, p_token, d_token)

    await asyncio.gather(*(one(n, p, d, s) for n, (p, d, s) in enumerate(rows)))
    return out


async def send_load(http, servers, sockets, stats: Stats, *, rate: float, duration: float, via: str) -> int:
    interval = 1.0 / rate
    total = int(rate * duration)
    a, _ = servers
    start = time.perf_counter()
    pending: set[asyncio.Task] = set()
    for i in range(total):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        p_ws, d_ws, session_id, p_token, d_token = sockets[i % len(sockets)]
        from_patient = (i // len(sockets)) % 2 == 0
        now = time.perf_counter()
        body = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": f"{now:.6f}|{i}"}
        if via == "ws":
            ws = p_ws if from_patient else d_ws
            if ws.closed:
                raise RuntimeError(f"socket closed by the server: code {ws.close_code}")
            stats.sent_at[i] = now
            await ws.send_str(orjson.dumps({"type": "message.send", "id": i, "data": body}).decode())
        else:
            token = p_token if from_patient else d_token
            task = asyncio.create_task(_post(http, a.api_url + f"/connect/sessions/{session_id}/messages",
                                             token, body))
            pending.add(task)
            task.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*pending)
    return total


async def _post(http, url: str, token: str, body: dict) -> None:
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        await resp.read()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


async def run(args: argparse.Namespace) -> None:
    print(f"preparing {args.pairs} sessions in database {DB_NAME} ...", flush=True)
    url, rows = await prepare_database(args.pairs)
    settings = dataclasses.replace(load_settings({"ALLIGN_ENV": "test"}), database_url=url, redis_url=REDIS_URL,
                                   redis_prefix=f"bench-ws:{os.getpid()}:")
    overrides = {"DB_POOL_SIZE": str(args.pool)}
    servers = [await start_server(settings, env_overrides=overrides) for _ in range(2)]
    try:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            rss_before = [rss_kb(s.pid) for s in servers]
            t0 = time.perf_counter()
            sockets = await connect_all(http, servers, settings, rows)
            connect_s = time.perf_counter() - t0
            await asyncio.sleep(1.0)
            held = [await ws_gauge(http, s) for s in servers]
            rss_after = [rss_kb(s.pid) for s in servers]
            stats = Stats()
            readers = [asyncio.create_task(reader(ws, role, stats))
                       for p_ws, d_ws, *_ in sockets for ws, role in ((p_ws, "patient"), (d_ws, "doctor"))]
            print(f"connected {2 * len(sockets)} sockets in {connect_s:.1f} s; sending for {args.duration:.0f} s "
                  f"at {args.rate:.0f} msg/s via {args.via} ...", flush=True)
            warmup = None
            if not args.no_warmup:
                # Every sender's first message (its socket reads the sender's context; pooled database
                # connections prepare their statements): sent at the same rate, reported apart.
                warm_count = await send_load(http, servers, sockets, stats, rate=args.rate,
                                             duration=2 * len(sockets) / args.rate, via=args.via)
                await _drained(stats, warm_count, acks=args.via == "ws")
                warmup = (warm_count, list(stats.latencies))
                stats.latencies.clear()
                stats.ack_latencies.clear()
                stats.timeline.clear()
                stats.acks = stats.errors = 0
            t1 = time.perf_counter()
            cpu_before = _cpu_readings(servers)
            busy_before = machine_busy()
            async with WalWaits(ADMIN_DSN, DB_NAME) as wal_waits:
                with collector_paused():
                    sent = await send_load(http, servers, sockets, stats, rate=args.rate, duration=args.duration,
                                           via=args.via)
            send_s = time.perf_counter() - t1
            await _drained(stats, sent)
            cpu_used = [after - before for before, after in zip(cpu_before, _cpu_readings(servers))]
            busy_after = machine_busy()
            busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]) * 100
            for p_ws, d_ws, *_ in sockets:
                await p_ws.close()
                await d_ws.close()
            for task in readers:
                task.cancel()
        lat = stats.latencies
        print()
        print(f"sessions                 {args.pairs} pairs across 2 processes (patients on A, doctors on B)")
        print(f"sockets held             {sum(held)} (A {held[0]}, B {held[1]}); connected in {connect_s:.1f} s")
        print(f"messages                 sent {sent} in {send_s:.1f} s ({sent / send_s:.0f}/s), delivered to the "
              f"other party {len(lat)}, acks {stats.acks}, errors {stats.errors}")
        if warmup:
            print(f"warm-up                  {warmup[0]} messages, every sender's first, not counted below: "
                  f"p50 {pct(warmup[1], 50):.1f} ms  p99 {pct(warmup[1], 99):.1f} ms")
        if lat:
            print(f"latency send→receive     p50 {pct(lat, 50):.1f} ms  p90 {pct(lat, 90):.1f} ms  "
                  f"p99 {pct(lat, 99):.1f} ms  max {max(lat) * 1000:.1f} ms  mean {statistics.mean(lat) * 1000:.1f} ms")
        if stats.ack_latencies:
            acks = stats.ack_latencies
            print(f"latency send→ack         p50 {pct(acks, 50):.1f} ms  p90 {pct(acks, 90):.1f} ms  "
                  f"p99 {pct(acks, 99):.1f} ms  (stored and committed; ws mode only)")
        print(f"server CPU               A {cpu_used[0]:.1f} s, B {cpu_used[1]:.1f} s during the run: "
              f"{sum(cpu_used[:2]) / max(1, sent) * 1000:.2f} ms per message for both processes together")
        print(f"machine CPU              {os.cpu_count()} cores {busy:.0f}% busy; per message: servers "
              f"{sum(cpu_used[:2]) / max(1, sent) * 1000:.2f} ms, PostgreSQL {cpu_used[3] / max(1, sent) * 1000:.2f} ms, "
              f"Redis {cpu_used[4] / max(1, sent) * 1000:.2f} ms, load generator {cpu_used[2] / max(1, sent) * 1000:.2f} ms")
        print(f"WAL flush                {wal_waits.summary()}")
        if args.timeline and stats.timeline:
            _print_timeline(stats.timeline, t1)
        for name, before, after, count in zip("AB", rss_before, rss_after, held):
            per = (after - before) / count if count else 0
            print(f"server {name} RSS            {before / 1024:.0f} MB idle → {after / 1024:.0f} MB with {count} sockets "
                  f"({per:.0f} KB per socket)")
    except BaseException:
        for server in servers:
            print(server.output()[-2000:], file=sys.stderr)
        raise
    finally:
        for server in servers:
            await server.stop()
        import redis.asyncio as aioredis
        r = aioredis.from_url(REDIS_URL)
        async for key in r.scan_iter(match=settings.redis_prefix + "*", count=1000):
            await r.delete(key)
        await r.aclose()
        if not args.keep_db:
            await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000, help="concurrent sessions (2 sockets each)")
    parser.add_argument("--rate", type=float, default=1000.0, help="total messages per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sending")
    parser.add_argument("--via", choices=("ws", "post"), default="ws", help="send as ws frames or REST POSTs")
    parser.add_argument("--pool", type=int, default=20, help="DB_POOL_SIZE of each server")
    parser.add_argument("--no-warmup", action="store_true", help="count every sender's first message too")
    parser.add_argument("--timeline", action="store_true", help="print latency per second of sending")
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database behind")
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
