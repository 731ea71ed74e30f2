"""Analytics benchmark: the doctor's performance (all time, this month) and review trends (a month by
day) over HTTP, with 1,000,000 sessions and 100,000 reviews spread over 2,000 doctors.

    .venv/bin/python bench/analytics.py              # build, measure, explain, drop (~2-3 min)
    .venv/bin/python bench/analytics.py --keep       # keep the database afterwards
    .venv/bin/python bench/analytics.py --reuse      # measure against a kept database

Builds its own database (allign_bench_analytics: created, migrated, dropped at the end unless --keep),
generates every row inside PostgreSQL with generate_series (doctors skewed: the busiest has ~15x the
median's sessions), VACUUM ANALYZE (index-only scans need the visibility map), then starts
`python run.py` on a free port and sends sequential requests as many doctors, the busiest among them.
Prints p50/p99/max per endpoint and the plans (EXPLAIN ANALYZE of the generic plans the app's prepared
statements settle on) of the statements behind them, for the busiest doctor.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from domain import tokens  # noqa: E402
from storage import analytics as sql  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

ADMIN_DSN = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "allign_bench_analytics"
URL = ADMIN_DSN.rpartition("/")[0] + "/" + DB_NAME
JWT_SECRET = "bench-analytics-secret-at-least-32-characters"
DOCTORS, PATIENTS, SESSIONS, REVIEWS = 2_000, 100_000, 1_000_000, 100_000
ZONE = "Asia/Kolkata"

# Doctor n (1-based) is chosen with weight ~ n^(-1/3): power(random(), 1.5) bunches draws near 0.
GENERATE = [
    ("doctors", f"""
INSERT INTO doctors (email, password_hash, full_name, slug, speciality_category, rate_per_minute)
SELECT 'bench' || g || '@allign.test', '!', 'Dr. Bench ' || g, 'dr-bench-' || g, 'General Medicine',
       500 + (g % 20) * 100
FROM generate_series(1, {DOCTORS}) g"""),
    ("patients", f"""
INSERT INTO users (phone, full_name, age, sex)
SELECT '+917' || lpad(g::text, 9, '0'), 'Patient ' || g, 18 + g % 60, CASE WHEN g % 2 = 0 THEN 'male' ELSE 'female' END
FROM generate_series(1, {PATIENTS}) g"""),
    ("sessions", f"""
WITH d AS (SELECT array_agg(id ORDER BY email) AS ids FROM doctors),
     u AS (SELECT array_agg(id) AS ids FROM users)
INSERT INTO connect_sessions (id, patient_id, doctor_id, status, rate_per_minute, room_name, requested_at,
                              expires_at, started_at, ended_at, ended_by, duration_seconds, billed_minutes,
                              billed_amount)
SELECT x.id, u.ids[1 + (g % {PATIENTS})], d.ids[1 + least({DOCTORS} - 1, floor({DOCTORS} * power(x.r1, 1.5))::int)],
       x.status, 500, 'cn-' || x.id, x.at - interval '1 minute', x.at + interval '29 minutes',
       CASE WHEN x.status = 'ENDED' THEN x.at END,
       CASE WHEN x.status = 'ENDED' THEN x.at + x.seconds * interval '1 second' END,
       CASE WHEN x.status = 'ENDED' THEN 'doctor' END,
       CASE WHEN x.status = 'ENDED' THEN x.seconds END,
       CASE WHEN x.status = 'ENDED' THEN ceil(x.seconds / 60)::int END,
       CASE WHEN x.status = 'ENDED' THEN ceil(x.seconds / 60)::int * 500 END
FROM generate_series(1, {SESSIONS}) g
CROSS JOIN LATERAL (
    SELECT gen_random_uuid() AS id, random() + 0 * g AS r1,
           now() - random() * interval '730 days' AS at, 30 + random() * 2400 AS seconds,
           CASE WHEN random() < 0.9 THEN 'ENDED' WHEN random() < 0.5 THEN 'EXPIRED' ELSE 'CANCELLED' END AS status
) x, d, u"""),
    ("reviews", f"""
INSERT INTO reviews (connect_session_id, doctor_id, patient_id, rating, comment, created_at, reply_text, replied_at)
SELECT s.id, s.doctor_id, s.patient_id, r.rating, 'Generated review', r.at,
       CASE WHEN r.replied THEN 'Thank you' END, CASE WHEN r.replied THEN r.at + interval '1 day' END
FROM (SELECT id, doctor_id, patient_id, ended_at FROM connect_sessions WHERE status = 'ENDED'
      ORDER BY random() LIMIT {REVIEWS}) s
CROSS JOIN LATERAL (
    SELECT least(5.0, 1 + floor(power(random() + 0 * extract(epoch FROM s.ended_at), 0.5) * 9) / 2.0) AS rating,
           s.ended_at + random() * interval '2 days' AS at, random() < 0.3 AS replied
) r"""),
    ("doctor figures", """
UPDATE doctors d SET rating = a.mean, total_reviews = a.n
FROM (SELECT doctor_id, avg(rating)::float8 AS mean, count(*) AS n FROM reviews GROUP BY doctor_id) a
WHERE d.id = a.doctor_id"""),
]


async def build() -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await admin.close()
    await asyncio.get_running_loop().run_in_executor(None, upgrade, URL)
    conn = await asyncpg.connect(URL, timeout=60, command_timeout=3600)
    try:
        for label, statement in GENERATE:
            started = time.monotonic()
            status = await conn.execute(statement)
            print(f"generated {label}: {status} in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        await conn.execute("VACUUM (ANALYZE)")
        print(f"VACUUM (ANALYZE) in {time.monotonic() - started:.1f} s")
    finally:
        await conn.close()


async def drop() -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    finally:
        await admin.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def _token(doctor_id: uuid.UUID) -> str:
    token, _ = tokens.encode(JWT_SECRET, subject=doctor_id, role="doctor", type_="access", ttl=3600,
                             now=dt.datetime.now(dt.timezone.utc))
    return token


def endpoints(today: dt.date) -> dict[str, str]:
    month_ago = today - dt.timedelta(days=30)
    return {
        "performance all_time": "/api/v2/analytics/doctor/performance?date_range=all_time",
        "performance month": f"/api/v2/analytics/doctor/performance?date_range=month&timezone={ZONE}",
        "trends month by day": (f"/api/v2/analytics/doctor/reviews/trends?period=day&date_from={month_ago}"
                                f"&date_to={today}&timezone={ZONE}"),
    }


async def _wait_ready(base: str, proc: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit("the server exited during start")
            try:
                async with http.get(base + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start")


async def measure(rounds: int) -> None:
    conn = await asyncpg.connect(URL)
    try:
        ranked = [r["doctor_id"] for r in await conn.fetch(
            "SELECT doctor_id, count(*) FROM connect_sessions WHERE status = 'ENDED' GROUP BY 1 ORDER BY 2 DESC")]
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM connect_sessions) AS s, (SELECT count(*) FROM reviews) AS r, "
            "(SELECT count(*) FROM doctors) AS d, (SELECT max(c) FROM (SELECT count(*) c FROM connect_sessions "
            "GROUP BY doctor_id) x) AS busiest, (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY c) FROM "
            "(SELECT count(*) c FROM connect_sessions GROUP BY doctor_id) x) AS median")
    finally:
        await conn.close()
    print(f"data: {counts['s']:,} sessions, {counts['r']:,} reviews, {counts['d']:,} doctors; sessions per doctor: "
          f"median {counts['median']}, busiest {counts['busiest']}")
    rng = random.Random(13)
    doctors = ranked[:20] + rng.sample(ranked[20:], 180)  # the 20 busiest and 180 others, each every round
    headers = {d: {"Authorization": f"Bearer {_token(d)}"} for d in doctors}
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=URL, PORT=str(port), HOST="127.0.0.1", ALLIGN_ENV="test",
               SEED_DEMO_DATA="false", APPLY_MIGRATIONS="false", LOG_LEVEL="WARNING", JWT_SECRET=JWT_SECRET,
               REDIS_PREFIX=f"bench-analytics-{os.getpid()}:")
    log = tempfile.NamedTemporaryFile(prefix="allign-bench-analytics-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            await _wait_ready(base, proc)
        except SystemExit:
            print(Path(log.name).read_text()[-3000:], file=sys.stderr)
            raise
        paths = endpoints(dt.datetime.now(dt.timezone.utc).date())
        timings: dict[str, list[float]] = {label: [] for label in paths}
        busiest: dict[str, list[float]] = {label: [] for label in paths}
        async with aiohttp.ClientSession() as http:
            for round_number in range(rounds + 1):  # the first round warms up
                for doctor in doctors:
                    for label, path in paths.items():
                        started = time.perf_counter()
                        async with http.get(base + path, headers=headers[doctor]) as resp:
                            await resp.read()
                        elapsed = (time.perf_counter() - started) * 1000
                        if resp.status != 200:
                            raise SystemExit(f"{path} → {resp.status}")
                        if round_number:
                            timings[label].append(elapsed)
                            if doctor in doctors[:20]:
                                busiest[label].append(elapsed)
        print(f"{rounds} rounds x {len(doctors)} doctors, sequential; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")
        for label, values in timings.items():
            top = busiest[label]
            print(f"  {label:<22} n={len(values):<5} p50={statistics.median(values):6.2f} ms  "
                  f"p99={_percentile(values, 99):6.2f} ms  max={max(values):6.2f} ms   "
                  f"(20 busiest: p99={_percentile(top, 99):6.2f} ms)")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
        os.unlink(log.name)


async def explain() -> None:
    """EXPLAIN ANALYZE of each statement for the busiest doctor, as the generic plan a prepared
    statement settles on (the app's statements are prepared once per connection by asyncpg)."""
    conn = await asyncpg.connect(URL)
    try:
        doctor = await conn.fetchval("SELECT doctor_id FROM connect_sessions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        now = dt.datetime.now(dt.timezone.utc)
        start, end = now - dt.timedelta(days=30), now
        cases = [
            ("performance all_time: sessions", sql.SESSIONS_ALL_TIME, (doctor,), "uuid"),
            ("performance all_time: reviews", sql.REVIEWS_ALL_TIME, (doctor,), "uuid"),
            ("performance month: sessions", sql.SESSIONS_IN_RANGE, (doctor, start, end), "uuid, timestamptz, timestamptz"),
            ("performance month: reviews", sql.REVIEWS_IN_RANGE, (doctor, start, end), "uuid, timestamptz, timestamptz"),
            ("trends month by day", sql.TRENDS, (doctor, start, end, "day", ZONE),
             "uuid, timestamptz, timestamptz, text, text"),
        ]
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        for n, (label, statement, args, types) in enumerate(cases):
            await conn.execute(f"PREPARE bench_{n} ({types}) AS {statement}")
            values = ", ".join(f"'{value.isoformat() if isinstance(value, dt.datetime) else value}'" for value in args)
            await conn.fetch(f"EXECUTE bench_{n} ({values})")  # warm
            plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE bench_{n} ({values})")
            print(f"\n--- {label} (busiest doctor)")
            print("\n".join(row[0] for row in plan))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="measure the kept database, do not build it")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()
    if not args.reuse:
        asyncio.run(build())
    try:
        asyncio.run(measure(args.rounds))
        asyncio.run(explain())
    finally:
        if not args.keep:
            asyncio.run(drop())
            print(f"\ndropped {DB_NAME}")


if __name__ == "__main__":
    main()
