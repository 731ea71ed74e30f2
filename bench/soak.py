"""Soak with faults: mixed load on two server processes, a fault every minute, and the books checked.

    .venv/bin/python bench/soak.py                  # 10 minutes
    .venv/bin/python bench/soak.py --minutes 3      # one fault of each kind
    .venv/bin/python bench/soak.py --pairs 20       # more concurrent consultations

Everything runs on private servers this script starts and stops itself: a PostgreSQL cluster under
./var/test-pg (tests/private_pg.py), a redis-server in a temp dir, and two `python run.py` processes
(A and B) on them. Loopback only; the machine's own PostgreSQL and Redis are never touched.

Load (`--pairs` doctor/patient pairs, each a loop of consultations): the doctor holds the request
stream (SSE) all along; the patient requests a session, the doctor accepts it from the stream, both
open the session websocket, each side posts a message about once a second over REST (retrying a
503 or a lost connection with the same client_message_id), the patient polls the session, and
ends it after 10-20 s; then the next one. Every client reconnects where it can (any live process)
with its Last-Event-ID / last_event_id.

Faults, one per minute at mm:30, in turn: Redis killed and restarted empty after 5 s; PostgreSQL
stopped (fast shutdown) and started again after 5 s; process A (the relay leader at first) killed
with SIGKILL and started again after 3 s. The first 25 s are the warm-up.

Checked and printed (exit status 1 if any check fails):
- messages: every message acknowledged (201/200) reached the other party's socket (lost = 0;
  duplicates, which the at-least-once guarantee allows and clients drop by id, are counted);
- events: every session request created (201) reached the doctor's stream (lost = 0);
- billing: each ended session has exactly one debit, no session is left ONGOING, every wallet's
  balance equals its start minus its debits;
- responses: no 500; 503 only inside a PostgreSQL outage (from the stop to 3 s after the start);
- memory: RSS of process B (never killed) grows < 5 % from the end of the warm-up to the end;
- latency: p50/p99 of REST calls and of message delivery per phase (steady, each fault window
  including 3 s of recovery).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from config import load_settings  # noqa: E402
from gateway.bus_relay import RELAY_LOCK  # noqa: E402
from tests.factories import access_token  # noqa: E402
from tests.private_pg import start_postgres  # noqa: E402
from tests.servers import SseReader, start_redis, start_server  # noqa: E402

from procstat import rss_kb  # noqa: E402

WARMUP = 25.0
RECOVERY = 3.0  # seconds after a fault's end still counted in its phase
OUTAGE = {"redis": 5.0, "postgres": 5.0, "process": 3.0}
FAULTS = ("redis", "postgres", "process")
ENV = {"SWEEPER_INTERVAL": "1", "SHUTDOWN_TIMEOUT": "5"}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000 if ordered else float("nan")


class Soak:
    def __init__(self, pairs: int, seconds: float) -> None:
        self.pairs = pairs
        self.seconds = seconds
        self.started = time.monotonic()
        self.stopping = False
        self.servers: dict[str, object] = {}
        self.windows: list[tuple[str, float, float]] = []  # (fault, start, end), monotonic
        self.calls: list[tuple[float, float, int]] = []     # (start, seconds, status)
        self.conn_errors: list[float] = []
        self.deliveries: list[tuple[float, float]] = []     # (sent at, seconds until received)
        self.sent: dict[str, tuple[str, float]] = {}        # message id → (receiver party key, sent at)
        self.received: dict[str, Counter] = defaultdict(Counter)  # party key → message id → times
        self.requests_created: dict[str, str] = {}          # session id → doctor id
        self.requests_seen: set[str] = set()
        self.sessions: list[str] = []
        self.rss: list[tuple[float, int]] = []
        self.errors: Counter = Counter()
        self.reconnects: list[float] = []  # a stream or socket opened again after it was cut
        self.takeovers: list[float] = []   # seconds from a SIGKILL of the relay leader to the next leader

    # --- plumbing ------------------------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self.started

    def live(self) -> list:
        return [s for s in self.servers.values() if s.proc.poll() is None]

    def pick(self):
        return random.choice(self.live() or list(self.servers.values()))

    async def call(self, http: aiohttp.ClientSession, method: str, path: str, token: str, body=None,
                   ok=(200, 201), tolerated=()) -> tuple[int, dict | list | None]:
        """One API call, retried on a lost connection or a 503 until it answers `ok` or `tolerated`."""
        while True:
            server = self.pick()
            start = time.monotonic()
            try:
                async with http.request(method, server.api_url + path, json=body,
                                        headers={"Authorization": "Bearer " + token},
                                        timeout=aiohttp.ClientTimeout(total=30)) as resp:
                    data = await resp.json(content_type=None)
                    status = resp.status
            except (aiohttp.ClientError, asyncio.TimeoutError):
                self.conn_errors.append(start - self.started)
                await asyncio.sleep(0.2)
                continue
            self.calls.append((start - self.started, time.monotonic() - start, status))
            if status in ok or status in tolerated:
                return status, data
            if status == 503:
                await asyncio.sleep(0.2)
                continue
            self.errors[f"{method} {path.split('/')[-1]} {status} {str(data)[:80]}"] += 1
            return status, data

    # --- the clients -----------------------------------------------------------------------------

    async def doctor_console(self, http, doctor_id: str, token: str, inbox: asyncio.Queue) -> None:
        last: str | None = None
        while not self.stopping:
            server = self.pick()
            headers = {"Authorization": "Bearer " + token, **({"Last-Event-ID": last} if last else {})}
            try:
                resp = await http.get(server.api_url + "/connect/sessions/requests/stream", headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=None, sock_read=60))
                if resp.status != 200:
                    resp.release()
                    await asyncio.sleep(0.3)
                    continue
                if last:
                    self.reconnects.append(self.now())
                reader = SseReader(resp)
                while not self.stopping:
                    msg = await reader.next(timeout=60)
                    if msg.id:
                        last = msg.id
                    if msg.event == "session_requested" and msg.raw_data:
                        session_id = msg.data["session_id"]
                        if session_id not in self.requests_seen:
                            self.requests_seen.add(session_id)
                            inbox.put_nowait(session_id)
            except (aiohttp.ClientError, asyncio.TimeoutError, EOFError, ConnectionError):
                await asyncio.sleep(0.1)

    async def socket(self, http, session_id: str, token: str, party: str, done: asyncio.Event,
                     opened: asyncio.Event) -> None:
        """A participant's websocket for the session: reconnects with last_event_id until the end.
        Events before its first open are the app's history screen's (GET messages), not the socket's:
        `opened` tells the talk to begin."""
        last: str | None = None
        while not done.is_set():
            server = self.pick()
            query = f"?last_event_id={last}" if last else ""
            try:
                ws = await http.ws_connect(f"{server.api_url}/connect/sessions/{session_id}/ws{query}",
                                           headers={"Authorization": "Bearer " + token}, heartbeat=None)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                await asyncio.sleep(0.3)
                continue
            if opened.is_set():
                self.reconnects.append(self.now())
            opened.set()
            try:
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    frame = msg.json()
                    if frame.get("id"):
                        last = frame["id"]
                    if frame["type"] == "message.new":
                        message_id = frame["data"]["id"]
                        self.received[party][message_id] += 1
                        sent = self.sent.get(message_id)
                        if sent and self.received[party][message_id] == 1:
                            self.deliveries.append((sent[1] - self.started, time.monotonic() - sent[1]))
                    elif frame["type"] == "session.ended":
                        done.set()
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError):
                pass
            finally:
                await ws.close()
            if ws.close_code == 1000:
                done.set()
            elif not done.is_set():
                await asyncio.sleep(0.1)

    async def talk(self, http, session_id: str, token: str, me: str, peer: str, until: float) -> None:
        while time.monotonic() < until:
            body = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": f"from {me}"}
            at = time.monotonic()
            status, data = await self.call(http, "POST", f"/connect/sessions/{session_id}/messages", token, body)
            if status in (200, 201):
                self.sent.setdefault(data["id"], (peer, at))
            await asyncio.sleep(random.uniform(0.6, 1.4))

    async def pair(self, http, db: asyncpg.Pool, doctor: dict, patient: dict) -> None:
        inbox: asyncio.Queue = asyncio.Queue()
        console = asyncio.create_task(self.doctor_console(http, doctor["id"], doctor["token"], inbox))
        try:
            while not self.stopping:
                await self.consultation(http, db, doctor, patient, inbox)
        finally:
            console.cancel()

    async def consultation(self, http, db, doctor: dict, patient: dict, inbox: asyncio.Queue) -> None:
        status, data = await self.call(http, "POST", "/connect/sessions", patient["token"],
                                       {"target_doctor_id": doctor["id"], "symptoms": ["fever"]}, tolerated=(409,))
        if status == 409:  # an earlier try went through before its connection was lost
            session_id = str(await db.fetchval("SELECT id FROM connect_sessions WHERE patient_id = $1 "
                                               "AND status IN ('REQUESTED', 'ONGOING')", uuid.UUID(patient["id"])))
        elif status == 201:
            session_id = data["session_id"]
        else:
            await asyncio.sleep(1)
            return
        self.requests_created[session_id] = doctor["id"]
        self.sessions.append(session_id)
        # The doctor answers what the stream brings (a stream may also bring an older one again).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                seen = await asyncio.wait_for(inbox.get(), timeout=max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if seen == session_id:
                break
        await self.call(http, "POST", f"/connect/sessions/{session_id}/accept", doctor["token"], tolerated=(409,))
        done = asyncio.Event()
        keys = {"patient": f"{session_id}:patient", "doctor": f"{session_id}:doctor"}
        opened = [asyncio.Event(), asyncio.Event()]
        sockets = [asyncio.create_task(self.socket(http, session_id, patient["token"], keys["patient"], done,
                                                   opened[0])),
                   asyncio.create_task(self.socket(http, session_id, doctor["token"], keys["doctor"], done,
                                                   opened[1]))]
        await asyncio.gather(*(event.wait() for event in opened))
        until = time.monotonic() + random.uniform(10, 20)
        await asyncio.gather(self.talk(http, session_id, patient["token"], "patient", keys["doctor"], until),
                             self.talk(http, session_id, doctor["token"], "doctor", keys["patient"], until),
                             self.poll(http, session_id, patient["token"], until))
        # Before ending: what was sent reaches the other side (or counts as lost after 30 s).
        pending = [m for m, (party, _) in self.sent.items() if party in keys.values()]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
                not self.received[self.sent[m][0]][m] for m in pending):
            await asyncio.sleep(0.1)
        await self.call(http, "POST", f"/connect/sessions/{session_id}/end", patient["token"], {},
                        tolerated=(409,))
        try:
            await asyncio.wait_for(done.wait(), timeout=30)
        except asyncio.TimeoutError:
            self.errors["session.ended not delivered within 30 s"] += 1
        done.set()
        for task in sockets:
            task.cancel()
        await asyncio.gather(*sockets, return_exceptions=True)

    async def poll(self, http, session_id: str, token: str, until: float) -> None:
        while time.monotonic() < until:
            await self.call(http, "GET", f"/connect/sessions/{session_id}", token)
            await asyncio.sleep(random.uniform(1, 2))

    # --- faults and sampling --------------------------------------------------------------------

    async def faults(self, pg, redis, settings, db: asyncpg.Pool) -> None:
        n = 0
        while not self.stopping:
            at = 30.0 + 60.0 * n
            if at + OUTAGE["redis"] + RECOVERY > self.seconds:
                return
            await asyncio.sleep(max(0.0, at - self.now()))
            kind = FAULTS[n % len(FAULTS)]
            start = time.monotonic()
            print(f"  {self.now():6.1f} s  fault: {kind}", flush=True)
            if kind == "redis":
                await redis.stop()
                await asyncio.sleep(OUTAGE[kind])
                await redis.start()
            elif kind == "postgres":
                await pg.stop()
                await asyncio.sleep(OUTAGE[kind])
                await pg.start()
            else:
                victim = self.servers["A"]
                leader = await relay_leader(db)
                port = await db.fetchval("SELECT client_port FROM pg_stat_activity WHERE pid = $1", leader)
                led = port in local_ports(victim.pid)
                victim.proc.kill()
                await asyncio.to_thread(victim.proc.wait)
                killed = time.monotonic()
                while led and await relay_leader(db) in (None, leader) and time.monotonic() - killed < 10:
                    await asyncio.sleep(0.01)
                if led:  # the relay leader died with it: how long until another process led
                    self.takeovers.append(time.monotonic() - killed)
                self.errors_from_log(victim, "A (killed)")
                await victim.stop()  # already dead: removes its log
                await asyncio.sleep(OUTAGE[kind])
                self.servers["A"] = await start_server(settings, env_overrides=ENV, ready_timeout=60)
            self.windows.append((kind, start - self.started, time.monotonic() - self.started))
            print(f"  {self.now():6.1f} s  recovered from {kind}", flush=True)
            n += 1

    async def sample_rss(self) -> None:
        while not self.stopping:
            b = self.servers["B"]
            if b.proc.poll() is None:
                self.rss.append((self.now(), rss_kb(b.pid)))
            await asyncio.sleep(2)

    def errors_from_log(self, server, name: str) -> None:
        output = server.output()
        for marker in ("Traceback", " ERROR "):
            count = output.count(marker)
            if count:
                self.errors[f"server {name} log: {marker.strip()} x{count}"] += 1

    def phase(self, t: float) -> str:
        for kind, start, end in self.windows:
            if start <= t <= end + RECOVERY:
                return {"redis": "Redis down", "postgres": "PostgreSQL down", "process": "process killed"}[kind]
        return "warm-up" if t < WARMUP else "steady"

    def in_postgres_outage(self, t: float) -> bool:
        return any(kind == "postgres" and start <= t <= end + RECOVERY for kind, start, end in self.windows)


def local_ports(pid: int) -> set[int]:
    """Local TCP ports of a process's sockets (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def relay_leader(db: asyncpg.Pool) -> int | None:
    """The backend holding the event relay's advisory lock (gateway.bus_relay.RELAY_LOCK)."""
    return await db.fetchval("""SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
        AND classid::bigint = $1 AND objid::bigint = $2""", RELAY_LOCK >> 32, RELAY_LOCK & 0xFFFFFFFF)


async def seed(db: asyncpg.Pool, settings, pairs: int) -> list[tuple[dict, dict]]:
    out = []
    for n in range(pairs):
        doctor_id = await db.fetchval("""
            INSERT INTO doctors (email, password_hash, full_name, slug, speciality_category, rate_per_minute,
                                 presence_status, degrees, languages)
            VALUES ($1, 'x', $2, $3, 'General Medicine', 100, 'ONLINE', '{MBBS}', '{English}') RETURNING id""",
                                      f"soak{n}@allign.test", f"Dr. Soak {n}", f"dr-soak-{n}")
        patient_id = await db.fetchval("""INSERT INTO users (phone, full_name, age, sex)
            VALUES ($1, $2, 30, 'female') RETURNING id""", f"+9197{n:08d}", f"Soak Patient {n}")
        await db.execute("INSERT INTO wallets (user_id, balance) VALUES ($1, 100000000)", patient_id)
        out.append(({"id": str(doctor_id), "token": access_token(settings, "doctor", doctor_id, ttl=86400)},
                    {"id": str(patient_id), "token": access_token(settings, "client", patient_id, ttl=86400)}))
    return out


async def check_books(db: asyncpg.Pool, soak: Soak) -> dict[str, int]:
    rows = await db.fetch("""
        SELECT s.id, s.status, (SELECT count(*) FROM wallet_transactions t WHERE t.kind = 'session'
               AND t.reference_type = 'connect_session' AND t.reference_id = s.id::text) AS debits,
               s.billed_amount
        FROM connect_sessions s""")
    wallets = await db.fetch("""
        SELECT w.user_id, w.balance, coalesce(sum(t.amount), 0) AS moved FROM wallets w
        LEFT JOIN wallet_transactions t ON t.user_id = w.user_id GROUP BY w.user_id, w.balance""")
    return {
        "sessions": len(rows),
        "double bills": sum(1 for r in rows if r["debits"] > 1),
        "ended without a bill": sum(1 for r in rows if r["status"] == "ENDED" and r["debits"] == 0
                                    and (r["billed_amount"] or 0) > 0),
        "left ONGOING": sum(1 for r in rows if r["status"] == "ONGOING"),
        "wallets off their ledger": sum(1 for w in wallets if w["balance"] != 100000000 + w["moved"]),
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--pairs", type=int, default=10)
    args = parser.parse_args()
    pg = await start_postgres()
    redis = await start_redis()
    url = await pg.create_database("allign_soak")
    settings = dataclasses.replace(load_settings({"ALLIGN_ENV": "test"}), database_url=url, redis_url=redis.url,
                                   redis_prefix="soak:", blob_local_dir=tempfile.mkdtemp(prefix="allign-soak-"))
    db = await asyncpg.create_pool(url, min_size=0, max_size=2, ssl=False)
    soak = Soak(args.pairs, args.minutes * 60)
    code = 1
    try:
        people = await seed(db, settings, args.pairs)
        soak.servers["A"] = await start_server(settings, env_overrides=ENV, ready_timeout=60)  # relay leader
        soak.servers["B"] = await start_server(settings, env_overrides=ENV, ready_timeout=60)
        print(f"soak: {args.minutes:g} min, {args.pairs} doctor/patient pairs, processes A (pid "
              f"{soak.servers['A'].pid}) and B (pid {soak.servers['B'].pid})", flush=True)
        soak.started = time.monotonic()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            pairs = [asyncio.create_task(soak.pair(http, db, d, p)) for d, p in people]
            side = [asyncio.create_task(soak.faults(pg, redis, settings, db)), asyncio.create_task(soak.sample_rss())]
            await asyncio.sleep(soak.seconds)
            soak.stopping = True  # no new consultation; the current ones finish
            print(f"  {soak.now():6.1f} s  finishing the consultations in progress", flush=True)
            await asyncio.wait_for(asyncio.gather(*pairs, return_exceptions=True), timeout=180)
            for task in side:
                task.cancel()
        code = await report(soak, db)
    finally:
        for name, server in soak.servers.items():
            soak.errors_from_log(server, name)
            await server.stop()
        await db.close()
        await redis.stop()
        await pg.destroy()
    return code


async def report(soak: Soak, db: asyncpg.Pool) -> int:
    print("\nper phase (REST calls: p50 / p99 ms; message delivery: send → the other socket, p50 / p99 ms)")
    print(f"  {'phase':<16} {'calls':>7} {'p50':>7} {'p99':>8} {'500':>4} {'503':>5} {'conn err':>9} "
          f"{'reconnects':>10} {'deliveries':>10} {'d p50':>7} {'d p99':>8}")
    by_phase: dict[str, list] = defaultdict(list)
    for start, seconds, status in soak.calls:
        by_phase[soak.phase(start)].append((seconds, status))
    deliveries: dict[str, list] = defaultdict(list)
    for sent_at, seconds in soak.deliveries:
        deliveries[soak.phase(sent_at)].append(seconds)
    errors_by_phase = Counter(soak.phase(t) for t in soak.conn_errors)
    reconnects = Counter(soak.phase(t) for t in soak.reconnects)
    for phase in ("warm-up", "steady", "Redis down", "PostgreSQL down", "process killed"):
        calls = by_phase.get(phase, [])
        if not calls and not deliveries.get(phase) and not reconnects.get(phase):
            continue
        times = [s for s, _ in calls]
        print(f"  {phase:<16} {len(calls):>7} {pct(times, 50):>7.1f} {pct(times, 99):>8.1f} "
              f"{sum(1 for _, st in calls if st == 500):>4} {sum(1 for _, st in calls if st == 503):>5} "
              f"{errors_by_phase.get(phase, 0):>9} {reconnects.get(phase, 0):>10} {len(deliveries.get(phase, [])):>10} "
              f"{pct(deliveries.get(phase, []), 50):>7.1f} {pct(deliveries.get(phase, []), 99):>8.1f}")
    lost = [m for m, (party, _) in soak.sent.items() if not soak.received[party][m]]
    for m in lost[:20]:
        party, at = soak.sent[m]
        print(f"  lost: message {m} to {party}, sent at {at - soak.started:.1f} s ({soak.phase(at - soak.started)})")
    duplicates = sum(n - 1 for counts in soak.received.values() for n in counts.values() if n > 1)
    events_lost = [s for s in soak.requests_created if s not in soak.requests_seen]
    status_500 = sum(1 for _, _, st in soak.calls if st >= 500 and st != 503)
    stray_503 = sum(1 for start, _, st in soak.calls if st == 503 and not soak.in_postgres_outage(start))
    books = await check_books(db, soak)
    after_warmup = [kb for t, kb in soak.rss if t >= WARMUP]
    base, end = (after_warmup[0], after_warmup[-1]) if after_warmup else (0, 0)
    growth = (end - base) / base * 100 if base else float("nan")
    checks = [
        ("messages acknowledged", len(soak.sent), None),
        ("messages lost", len(lost), 0),
        ("messages delivered twice (dropped by id)", duplicates, None),
        ("session requests created", len(soak.requests_created), None),
        ("session requests lost on the doctor's stream", len(events_lost), 0),
        ("sessions", books["sessions"], None),
        ("double bills", books["double bills"], 0),
        ("ended sessions without their debit", books["ended without a bill"], 0),
        ("sessions left ONGOING", books["left ONGOING"], 0),
        ("wallets off their ledger", books["wallets off their ledger"], 0),
        ("responses 5xx other than 503", status_500, 0),
        ("responses 503 outside a PostgreSQL outage", stray_503, 0),
    ]
    failed = False
    print()
    for name, value, must in checks:
        bad = must is not None and value != must
        failed |= bad
        print(f"  {name:<48} {value:>8}{'   FAILED' if bad else ''}")
    rss_bad = not growth < 5.0
    failed |= rss_bad
    print(f"  {'RSS of B after warm-up → end (MB)':<48} {base / 1024:>8.1f} → {end / 1024:.1f} "
          f"({growth:+.1f} %, max {max(after_warmup or [0]) / 1024:.1f}){'   FAILED' if rss_bad else ''}")
    if soak.takeovers:
        slow = max(soak.takeovers) >= 1.0
        failed |= slow
        print(f"  {'relay leadership moved after SIGKILL (s)':<48} "
              f"{', '.join(f'{t:.2f}' for t in soak.takeovers):>8}{'   FAILED' if slow else ''}")
    for error, count in soak.errors.most_common(20):
        print(f"  unexpected: {error} ({count})")
    failed |= bool(soak.errors)
    print("\nsoak " + ("FAILED" if failed else "passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
