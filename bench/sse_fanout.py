"""SSE fan-out benchmark: doctor request streams across two server processes, requests through the other.

    .venv/bin/python bench/sse_fanout.py                            # 2,000 streams, 200 requests/s, 10 s
    .venv/bin/python bench/sse_fanout.py --streams 500 --rate 100 --duration 5
    .venv/bin/python bench/sse_fanout.py --direct                   # write outbox rows, skip POST

Builds a private database (allign_bench_sse), seeds N doctors (ONLINE) and rate×duration patients
with funded wallets, starts two `python run.py` processes (A and B) on that database and the local
Redis, and opens one `GET /connect/sessions/requests/stream` per doctor, alternating A and B.
Idle, it reads each server's RSS growth per stream held. Then patients create requests at a fixed
rate with POST /connect/sessions, each sent to the process that does NOT hold the target doctor's
stream, so every event crosses processes (outbox → relay leader → Redis → the other process).
Latency: just before the POST is sent → the `session_requested` event parsed on the doctor's stream
(one clock: the load generator holds both ends). With --direct, the outbox rows are written
straight into PostgreSQL at the same rate (bus only, no HTTP request in the path), each followed by
the Redis wake-up a server process sends the relay leader after a commit.

Prints: streams held per server (from /metrics), connect time, RSS per idle stream, requests sent,
events received, latency p50/p90/p99/max. Loopback only; bounded by --duration and --timeout.
The load generator shares the machine with both servers, PostgreSQL and Redis.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import resource
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import orjson  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from config import load_settings  # noqa: E402
from gateway.bus_history import BusKeys  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.factories import access_token  # noqa: E402
from tests.servers import start_server  # noqa: E402

from procstat import collector_paused, cpu_of, cpu_seconds, machine_busy, rss_kb  # noqa: E402

ADMIN_DSN = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_SSE_DB", "allign_bench_sse")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
STREAM = "/connect/sessions/requests/stream"


def _dsn(name: str) -> str:
    return ADMIN_DSN.rpartition("/")[0] + "/" + name


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def prepare_database(doctors: int, patients: int) -> tuple[str, list[uuid.UUID], list[uuid.UUID]]:
    await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{DB_NAME}"')
    url = _dsn(DB_NAME)
    await asyncio.get_running_loop().run_in_executor(None, upgrade, url)
    conn = await asyncpg.connect(url)
    try:
        doctor_ids = [r[0] for r in await conn.fetch("""
            INSERT INTO doctors (email, password_hash, full_name, slug, speciality_category, rate_per_minute,
                                 presence_status, chat_enabled, call_enabled)
            SELECT 'bench' || g || '@allign.test', 'x', 'Dr. Bench ' || g, 'dr-bench-' || g, 'General Medicine',
                   100, 'ONLINE', true, true
            FROM generate_series(1, $1) g ORDER BY g RETURNING id""", doctors)]
        patient_ids = [r[0] for r in await conn.fetch("""
            INSERT INTO users (phone, full_name, age, sex)
            SELECT '+9170' || lpad(g::text, 8, '0'), 'Bench Patient ' || g, 30, 'male'
            FROM generate_series(1, $1) g ORDER BY g RETURNING id""", patients)]
        await conn.execute("INSERT INTO wallets (user_id, balance) SELECT id, 10000000 FROM users")
    finally:
        await conn.close()
    return url, doctor_ids, patient_ids


async def gauge(http: aiohttp.ClientSession, server, name: str) -> float:
    async with http.get(server.base_url + "/metrics") as resp:
        match = re.search(rf"^{name} ([0-9.e+]+)$", await resp.text(), re.M)
    return float(match.group(1)) if match else 0.0


@dataclasses.dataclass
class Stats:
    sent_at: dict[str, float] = dataclasses.field(default_factory=dict)   # patient id → send time
    latencies: list[float] = dataclasses.field(default_factory=list)
    received: int = 0
    post_errors: int = 0
    all_received: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    expected: int = 0


async def read_stream(resp: aiohttp.ClientResponse, connected: asyncio.Future, stats: Stats) -> None:
    event, data = None, None
    try:
        async for raw in resp.content:
            line = raw.rstrip(b"\r\n")
            if line.startswith(b"event:"):
                event = line[6:].strip()
            elif line.startswith(b"data:"):
                data = line[5:].strip()
            elif not line:
                if event == b"connected" and not connected.done():
                    connected.set_result(None)
                elif event == b"session_requested" and data:
                    now = time.perf_counter()
                    patient = orjson.loads(data)["patient"]["user_id"]
                    sent = stats.sent_at.get(patient)
                    if sent is not None:
                        stats.latencies.append(now - sent)
                        stats.received += 1
                        if stats.received >= stats.expected:
                            stats.all_received.set()
                event, data = None, None
    except (aiohttp.ClientError, asyncio.CancelledError):
        pass


async def open_streams(http, servers, settings, doctor_ids, stats: Stats, concurrency: int):
    gate = asyncio.Semaphore(concurrency)
    home: dict[uuid.UUID, int] = {}
    tasks: list[asyncio.Task] = []

    async def one(n: int, doctor_id: uuid.UUID) -> None:
        server = servers[n % 2]
        token = access_token(settings, "doctor", doctor_id, ttl=3600)
        async with gate:
            resp = await http.get(server.api_url + STREAM, headers={"Authorization": f"Bearer {token}"})
            if resp.status != 200:
                raise RuntimeError(f"stream {n}: HTTP {resp.status} {await resp.text()}\n{server.output()[-3000:]}")
            connected = asyncio.get_running_loop().create_future()
            tasks.append(asyncio.create_task(read_stream(resp, connected, stats)))
            await asyncio.wait_for(connected, 30)
        home[doctor_id] = n % 2

    await asyncio.gather(*(one(n, d) for n, d in enumerate(doctor_ids)))
    return home, tasks


async def send_requests(http, servers, settings, doctor_ids, patient_ids, home, stats: Stats, *,
                        rate: float, duration: float, direct_dsn: str | None) -> int:
    total = min(int(rate * duration), len(patient_ids))
    stats.expected = total
    pending: set[asyncio.Task] = set()
    db = await asyncpg.connect(direct_dsn) if direct_dsn else None
    wake = _LeaderWake(settings.redis_prefix) if direct_dsn else None
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        patient, doctor = patient_ids[i], doctor_ids[i % len(doctor_ids)]
        if db is not None:
            task = asyncio.create_task(_write_outbox(db, wake, patient, doctor, stats))
        else:
            other = servers[1 - home[doctor]]
            task = asyncio.create_task(_post(http, other, settings, patient, doctor, stats))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*pending)
    if db is not None:
        await db.close()
        await wake.redis.aclose()
    return total


async def _post(http, server, settings, patient: uuid.UUID, doctor: uuid.UUID, stats: Stats) -> None:
    token = access_token(settings, "client", patient, ttl=3600)
    stats.sent_at[str(patient)] = time.perf_counter()
    async with http.post(server.api_url + "/connect/sessions", headers={"Authorization": f"Bearer {token}"},
                         json={"target_doctor_id": str(doctor), "symptoms": ["fever"]}) as resp:
        await resp.read()
        if resp.status != 201:
            stats.post_errors += 1


_write_lock = asyncio.Lock()


class _LeaderWake:
    """What a server process does after a commit with events when another process leads the relay."""

    def __init__(self, redis_prefix: str) -> None:
        self.redis = aioredis.from_url(REDIS_URL)
        self.key = BusKeys(redis_prefix).relay_wake


async def _write_outbox(db: asyncpg.Connection, wake: _LeaderWake, patient: uuid.UUID, doctor: uuid.UUID,
                        stats: Stats) -> None:
    item = {"session_id": str(uuid.uuid4()), "status": "REQUESTED", "patient": {"user_id": str(patient)}}
    async with _write_lock:  # one connection: one statement at a time
        stats.sent_at[str(patient)] = time.perf_counter()
        await db.execute("INSERT INTO event_outbox (channel, event_type, data) VALUES ($1, $2, $3::jsonb)",
                         f"doctor:{doctor}:requests", "session_requested", orjson.dumps(item).decode())
    await wake.redis.publish(wake.key, b"")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


async def run(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # servers inherit it
    patients = int(args.rate * args.duration)
    print(f"preparing {args.streams} doctors and {patients} patients in database {DB_NAME} ...", flush=True)
    url, doctor_ids, patient_ids = await prepare_database(args.streams, patients)
    settings = dataclasses.replace(load_settings({"ALLIGN_ENV": "test"}), database_url=url, redis_url=REDIS_URL,
                                   redis_prefix=f"bench-sse:{os.getpid()}:")
    servers = [await start_server(settings, env_overrides={"DB_POOL_SIZE": str(args.pool)}) for _ in range(2)]
    stats = Stats()
    tasks: list[asyncio.Task] = []
    try:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            for server in servers:  # warm up: imports, pools, first queries
                token = access_token(settings, "doctor", doctor_ids[0], ttl=3600)
                async with http.get(server.api_url + "/connect/sessions/requests",
                                    headers={"Authorization": f"Bearer {token}"}) as resp:
                    await resp.read()
            await asyncio.sleep(1.0)
            rss_before = [rss_kb(s.pid) for s in servers]
            t0 = time.perf_counter()
            home, tasks = await open_streams(http, servers, settings, doctor_ids, stats, args.concurrency)
            connect_s = time.perf_counter() - t0
            await asyncio.sleep(1.0)
            idle_cpu = [cpu_seconds(s.pid) for s in servers]
            await asyncio.sleep(3.0)
            idle_cpu = [(cpu_seconds(s.pid) - before) / 3.0 * 100 for s, before in zip(servers, idle_cpu)]
            held = [int(await gauge(http, s, "allign_sse_connections")) for s in servers]
            rss_idle = [rss_kb(s.pid) for s in servers]
            per_stream = [(after - before) / max(1, n) for before, after, n in zip(rss_before, rss_idle, held)]
            print(f"streams held: A={held[0]} B={held[1]} (opened in {connect_s:.1f} s)")
            print(f"server RSS idle: A {rss_before[0] / 1024:.0f} → {rss_idle[0] / 1024:.0f} MB, "
                  f"B {rss_before[1] / 1024:.0f} → {rss_idle[1] / 1024:.0f} MB; "
                  f"per idle stream: A {per_stream[0]:.1f} KB, B {per_stream[1]:.1f} KB; "
                  f"idle CPU: A {idle_cpu[0]:.1f}%, B {idle_cpu[1]:.1f}%")

            mode = "outbox rows written directly" if args.direct else "POST /connect/sessions via the other process"
            print(f"load: {args.rate:.0f} requests/s for {args.duration:.0f} s ({mode}) ...", flush=True)
            cpu_before = [cpu_seconds(s.pid) for s in servers] + [time.process_time(), cpu_of(("postgres",)),
                                                                  cpu_of(("redis-server",))]
            busy_before = machine_busy()
            t1 = time.perf_counter()
            with collector_paused():
                sent = await send_requests(http, servers, settings, doctor_ids, patient_ids, home, stats,
                                           rate=args.rate, duration=args.duration,
                                           direct_dsn=url if args.direct else None)
            send_s = time.perf_counter() - t1
            cpu_used = [after - before for before, after in
                        zip(cpu_before, [cpu_seconds(s.pid) for s in servers] + [time.process_time(),
                                                                                 cpu_of(("postgres",)),
                                                                                 cpu_of(("redis-server",))])]
            busy_after = machine_busy()
            busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]) * 100
            try:
                await asyncio.wait_for(stats.all_received.wait(), args.timeout)
            except asyncio.TimeoutError:
                pass
            held_after = [int(await gauge(http, s, "allign_sse_connections")) for s in servers]
            rss_loaded = [rss_kb(s.pid) for s in servers]
            lat = stats.latencies
            print(f"requests sent: {sent} in {send_s:.1f} s ({sent / send_s:.0f}/s), POST errors: {stats.post_errors}")
            print(f"events received: {stats.received}/{sent}; streams still held: A={held_after[0]} B={held_after[1]}")
            if lat:
                print(f"latency request → event: p50 {pct(lat, 50):.1f} ms  p90 {pct(lat, 90):.1f} ms  "
                      f"p99 {pct(lat, 99):.1f} ms  max {max(lat) * 1000:.1f} ms")
            print(f"CPU during load ({os.cpu_count()} cores, {busy:.0f}% busy): server A {cpu_used[0] / send_s * 100:.0f}%, "
                  f"B {cpu_used[1] / send_s * 100:.0f}%, load generator {cpu_used[2] / send_s * 100:.0f}%, "
                  f"PostgreSQL {cpu_used[3] / send_s * 100:.0f}%, Redis {cpu_used[4] / send_s * 100:.0f}% "
                  f"(= {sum(cpu_used[:2]) / max(1, sent) * 1000:.2f} ms server CPU per request)")
            print(f"server RSS after load: A {rss_loaded[0] / 1024:.0f} MB, B {rss_loaded[1] / 1024:.0f} MB")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            await server.stop()
        if not args.keep:
            await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000, help="doctor streams (alternating A and B)")
    parser.add_argument("--rate", type=float, default=200.0, help="new requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the last events")
    parser.add_argument("--concurrency", type=int, default=50, help="streams being opened at once")
    parser.add_argument("--pool", type=int, default=20, help="DB_POOL_SIZE of each server")
    parser.add_argument("--direct", action="store_true", help="write outbox rows instead of POST /connect/sessions")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
