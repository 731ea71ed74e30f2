"""10,000 connections on one server process: doctor SSE streams and session websockets.

    .venv/bin/python bench/connections.py                          # 5,000 streams + 5,000 sockets
    .venv/bin/python bench/connections.py --streams 1000 --sessions 500 --rate 200 --duration 5

Builds a private database (allign_bench_conn) with N doctors and M ongoing sessions, starts ONE
`python run.py` and opens one request stream per doctor and both sockets (patient and doctor) of each
session. Prints, for the server process: RSS per stream and per socket (growth over the idle
baseline ÷ connections), open file descriptors, idle CPU over 10 s; then, while holding everything,
events at a steady rate (outbox rows written straight into PostgreSQL, half to doctors' streams,
half to sessions, each followed by the relay wake-up a server sends after a commit): p50/p99
delivery (insert → parsed by the client; the load generator holds both ends); and a burst of 1,000
events committed at once to 1,000 streams: time until the last one arrived. Loopback only.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import orjson  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from config import load_settings  # noqa: E402
from gateway.bus_history import BusKeys  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.factories import access_token  # noqa: E402
from tests.servers import start_server  # noqa: E402

from procstat import collector_paused, cpu_seconds, rss_kb  # noqa: E402

ADMIN_DSN = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_CONN_DB", "allign_bench_conn")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000 if ordered else float("nan")


async def prepare(doctors: int, sessions: int) -> str:
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    await admin.close()
    url = ADMIN_DSN.rpartition("/")[0] + "/" + DB_NAME
    await asyncio.get_running_loop().run_in_executor(None, upgrade, url)
    db = await asyncpg.connect(url)
    await db.execute("""
        INSERT INTO doctors (email, password_hash, full_name, slug, speciality_category, rate_per_minute,
                             presence_status)
        SELECT 'bench' || n || '@allign.test', 'x', 'Dr. Bench ' || n, 'dr-bench-' || n, 'General Medicine', 500,
               'ONLINE' FROM generate_series(1, $1) n""", doctors)
    await db.execute("""
        INSERT INTO users (phone, full_name, age, sex)
        SELECT '+9197' || lpad(n::text, 8, '0'), 'Bench Patient ' || n, 30, 'male' FROM generate_series(1, $1) n""",
                     sessions)
    await db.execute("INSERT INTO wallets (user_id, balance) SELECT id, 1000000000000 FROM users")
    await db.execute("""
        INSERT INTO connect_sessions (patient_id, doctor_id, status, rate_per_minute, room_name, requested_at,
                                      expires_at, started_at)
        SELECT u.id, d.id, 'ONGOING', 500, 'cn-' || gen_random_uuid(), now(), now(), now()
        FROM (SELECT id, row_number() OVER (ORDER BY id) r FROM users) u
        JOIN (SELECT id, row_number() OVER (ORDER BY id) r FROM doctors) d USING (r)""")
    await db.execute("ANALYZE")
    await db.close()
    return url


class Client:
    """Holds the connections; records each event's delivery latency from the `t` in its data."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.received = 0
        self.errors = 0
        self.tasks: list[asyncio.Task] = []

    def _delivered(self, data: dict) -> None:
        sent = data.get("t")
        if sent is not None:
            self.latencies.append(time.time() - sent)
        self.received += 1

    async def stream(self, http: aiohttp.ClientSession, url: str, token: str, ready: asyncio.Event) -> None:
        try:
            async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
                ready.set()
                async for line in resp.content:
                    if line.startswith(b"data:") and b'"t"' in line:
                        self._delivered(orjson.loads(line[5:]))
        except Exception:
            self.errors += 1
            ready.set()

    async def socket(self, http: aiohttp.ClientSession, url: str, token: str, ready: asyncio.Event) -> None:
        try:
            async with http.ws_connect(url, headers={"Authorization": f"Bearer {token}"}, heartbeat=None) as ws:
                ready.set()
                async for msg in ws:
                    frame = orjson.loads(msg.data)
                    if isinstance(frame.get("data"), dict) and "t" in frame["data"]:
                        self._delivered(frame["data"])
        except Exception:
            self.errors += 1
            ready.set()

    async def open(self, factory, *args) -> None:
        ready = asyncio.Event()
        self.tasks.append(asyncio.create_task(factory(*args, ready)))
        await ready.wait()


async def open_all(client: Client, http, specs, concurrency: int = 100) -> float:
    started = time.perf_counter()
    queue = list(specs)

    async def worker() -> None:
        while queue:
            await client.open(*queue.pop())
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def settle(pid: int, seconds: float = 3.0) -> int:
    await asyncio.sleep(seconds)
    return rss_kb(pid)


async def emit(db: asyncpg.Connection, wake, channels: list[tuple[str, str]]) -> None:
    """One transaction of outbox rows (as a use case writes them), then the relay's wake-up."""
    now = time.time()
    await db.executemany("INSERT INTO event_outbox (channel, event_type, data) VALUES ($1, $2, $3::jsonb)",
                         [(ch, kind, orjson.dumps({"t": now, "n": i}).decode()) for i, (ch, kind) in enumerate(channels)])
    await wake.publish(BusKeys(wake.prefix).relay_wake, b"")


async def run(args) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"preparing {args.streams} doctors and {args.sessions} sessions in database {DB_NAME} ...", flush=True)
    url = await prepare(args.streams, args.sessions)
    settings = load_settings({"ALLIGN_ENV": "test", "DATABASE_URL": url, "REDIS_URL": REDIS_URL,
                              "REDIS_PREFIX": f"bench-conn:{uuid.uuid4().hex[:8]}:"})
    db = await asyncpg.connect(url)
    doctors = [r["id"] for r in await db.fetch("SELECT id FROM doctors ORDER BY id")]
    sessions = [(r["id"], r["patient_id"], r["doctor_id"])
                for r in await db.fetch("SELECT id, patient_id, doctor_id FROM connect_sessions ORDER BY id")]
    server = await start_server(settings, env_overrides={"DB_POOL_SIZE": "10"}, ready_timeout=60)
    wake = aioredis.from_url(REDIS_URL)
    wake.prefix = settings.redis_prefix
    client = Client()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as http:
            base = await settle(server.pid)
            fds0 = fd_count(server.pid)
            stream_url = server.api_url + "/connect/sessions/requests/stream"
            took = await open_all(client, http, [(client.stream, http, stream_url,
                                                  access_token(settings, "doctor", d)) for d in doctors])
            after_streams = await settle(server.pid)
            print(f"{len(doctors)} streams opened in {took:.1f} s; errors {client.errors}", flush=True)
            specs = []
            for session_id, patient, doctor in sessions:
                ws_url = f"{server.api_url}/connect/sessions/{session_id}/ws"
                specs.append((client.socket, http, ws_url, access_token(settings, "client", patient)))
                specs.append((client.socket, http, ws_url, access_token(settings, "doctor", doctor)))
            took = await open_all(client, http, specs)
            after_sockets = await settle(server.pid)
            sockets = 2 * len(sessions)
            print(f"{sockets} sockets opened in {took:.1f} s; errors {client.errors}", flush=True)
            per_stream = (after_streams - base) / max(1, len(doctors))
            per_socket = (after_sockets - after_streams) / max(1, sockets)
            print(f"server RSS: {base / 1024:.0f} MB idle → {after_streams / 1024:.0f} MB with streams → "
                  f"{after_sockets / 1024:.0f} MB with sockets: {per_stream:.1f} KB per stream, "
                  f"{per_socket:.1f} KB per socket")
            print(f"file descriptors: {fds0} → {fd_count(server.pid)}")
            cpu0 = cpu_seconds(server.pid)
            await asyncio.sleep(10)
            print(f"idle CPU holding {len(doctors) + sockets} connections: "
                  f"{(cpu_seconds(server.pid) - cpu0) / 10 * 100:.1f} % of a core", flush=True)

            channels = ([(f"doctor:{d}:requests", "session_requested") for d in doctors]
                        + [(f"session:{s}", "message.new") for s, _, _ in sessions])
            print(f"steady load: {args.rate} events/s for {args.duration} s ...", flush=True)
            with collector_paused():
                client.latencies.clear()
                cpu0, start = cpu_seconds(server.pid), time.perf_counter()
                sent = expected = 0
                while (elapsed := time.perf_counter() - start) < args.duration:
                    due = int(elapsed * args.rate) - sent
                    if due > 0:
                        picks = [channels[(sent + i) * 7919 % len(channels)] for i in range(due)]
                        await emit(db, wake, picks)
                        sent += due
                        # a session's event reaches both of its sockets
                        expected += sum(2 if kind == "message.new" else 1 for _, kind in picks)
                    await asyncio.sleep(0.01)
                deadline = time.perf_counter() + 15
                while len(client.latencies) < expected and time.perf_counter() < deadline:
                    await asyncio.sleep(0.05)
                cpu = cpu_seconds(server.pid) - cpu0
            lat = client.latencies
            print(f"events sent {sent} (deliveries due {expected}), delivered {len(lat)}; delivery p50 {pct(lat, 50):.1f} ms, "
                  f"p99 {pct(lat, 99):.1f} ms, max {pct(lat, 100):.1f} ms; "
                  f"server CPU {cpu / max(1, sent) * 1000:.2f} ms per event")

            burst = [(f"doctor:{d}:requests", "session_requested") for d in doctors[:1000]]
            await asyncio.sleep(1)  # stragglers of the steady phase
            client.latencies.clear()
            await emit(db, wake, burst)
            deadline = time.perf_counter() + 15
            while len(client.latencies) < len(burst) and time.perf_counter() < deadline:
                await asyncio.sleep(0.02)
            lat = client.latencies
            print(f"burst of {len(burst)} events in one commit: delivered {len(lat)}; "
                  f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, last {pct(lat, 100):.1f} ms")
            print(f"server RSS at the end: {rss_kb(server.pid) / 1024:.0f} MB; connection errors {client.errors}")
            for task in client.tasks:
                task.cancel()
    finally:
        await server.stop(timeout=30)
        await wake.aclose()
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=2500, help="sockets held: two per session")
    parser.add_argument("--rate", type=int, default=500, help="events per second in the steady phase")
    parser.add_argument("--duration", type=float, default=10.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
