"""Catalog search benchmark: p50/p99 of the typeahead endpoints at 250,000 medicines, over HTTP.

    .venv/bin/python bench/catalog_search.py                  # build allign_bench, load, measure
    .venv/bin/python bench/catalog_search.py --reuse          # measure against the existing data
    .venv/bin/python bench/catalog_search.py --reuse --explain  # also EXPLAIN ANALYZE each phase

Builds a dedicated database (allign_bench), loads the real 1mg file (MEDICINES_CSV, default
../shared/data/medicines_india.csv) plus generated brand variants up to --rows through the real
importer, the Lal PathLabs file, and ~2,000 doctors; starts `python run.py` on a free port and
times sequential requests to /api/v2/medicines/search, /api/v2/lab-tests/catalog/search and
/api/v2/doctors/search (if that route exists) over a mixed query set: prefixes, substrings, typos.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from config import load_settings  # noqa: E402
from domain import tokens  # noqa: E402
from storage.catalogs import (  # noqa: E402
    LAB_TEST_STEPS, MEDICINE_STEPS, search_params,
)
from storage.doctor_search import SEARCH_SQL as DOCTOR_SEARCH_SQL  # noqa: E402

from catalog_data import ADMIN_DSN, DB_NAME, build_database  # noqa: E402


MEDICINE_QUERIES = {
    "prefix": ["do", "dol", "dolo 6", "amox", "azi", "pan", "crocin", "para", "metf", "amlo", "cet",
               "augmentin", "telma", "ator", "mo", "zi", "rosu", "pantop", "levo", "ome"],
    "substring": ["cetamol", "clav", "prazole", "mycin", "statin", "sartan", "650", "floxacin",
                  "cillin", "gliptin", "mab", "duo tab", "forte", "xr", "olol", "dipine"],
    "typo": ["amoxyclv", "paracetmol", "azithromicin", "metformn", "pantoprazol", "cetrizine",
             "augmntin", "atorvastatn", "amlodipin", "ibuprofn", "montelucast", "omeprazol",
             "dolo65o", "telmisartn", "zzqxv", "levocetrizine"],
}
LAB_TEST_QUERIES = {
    "prefix": ["cbc", "thyr", "glu", "hba", "lipid", "vitamin d", "kft", "li", "urine", "tsh"],
    "substring": ["profile", "panel", "serum", "antibod", "igm", "pcr", "culture", "b12"],
    "typo": ["thyriod", "hemoglobn", "cholestrol", "creatinin", "vitmin d", "glucoze"],
}
DOCTOR_QUERIES = {
    "prefix": ["sh", "dr a", "priya", "cardio", "derm", "raj", "gyn", "ortho"],
    "substring": ["sharma", "kumar", "medicine", "logy", "patel", "reddy"],
    "typo": ["cardiolgy", "dermatolgy", "sharmaa", "pediatrcs", "neurolgy", "gupat"],
    # one letter, a title alone, a title before a surname, a typo after a title
    "short/title": ["a", "dr", "Dr. Sharma", "dr nehaa"],
}

# ---------------------------------------------------------------- data

# ---------------------------------------------------------------- measurement

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_ready(base: str, proc: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit("the server exited during start")
            try:
                async with session.get(base + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start")


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def measure(base: str, path: str, queries: dict[str, list[str]], rounds: int,
                  headers: dict[str, str] | None = None) -> dict | None:
    """{(kind, q): [ms, ...]} over `rounds` rounds of every query, after two warm-up rounds."""
    timings: dict[tuple[str, str], list[float]] = {}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{base}{path}?q=ab") as probe:
            if probe.status == 404:  # the route is not there (yet)
                return None
        for round_number in range(rounds + 2):
            for kind, items in queries.items():
                for q in items:
                    url = f"{base}{path}?q={urllib.parse.quote(q)}&limit=10"
                    started = time.perf_counter()
                    async with session.get(url) as resp:
                        await resp.read()
                    elapsed = (time.perf_counter() - started) * 1000
                    if resp.status != 200:
                        raise SystemExit(f"{url} → {resp.status}")
                    if round_number >= 2:
                        timings.setdefault((kind, q), []).append(elapsed)
    return timings


async def measure_floor(base: str, count: int) -> list[float]:
    """The cheapest database-backed request (a medicine detail that is not there: one primary-key
    probe), for the machine's own latency floor at the time of the run."""
    timings = []
    async with aiohttp.ClientSession() as session:
        for n in range(count + 20):
            started = time.perf_counter()
            async with session.get(f"{base}/api/v2/medicines/00000000-0000-0000-0000-{n:012d}") as resp:
                await resp.read()
            if n >= 20:
                timings.append((time.perf_counter() - started) * 1000)
    return timings


def report(label: str, timings: dict | None, worst: int = 0) -> None:
    if timings is None:
        print(f"{label}: endpoint not present, skipped")
        return
    kinds: dict[str, list[float]] = {}
    for (kind, _), values in timings.items():
        kinds.setdefault(kind, []).extend(values)
    kinds["all"] = [t for values in timings.values() for t in values]
    for kind, values in kinds.items():
        print(f"{label:<34} {kind:<10} n={len(values):<5} p50={statistics.median(values):6.2f} ms  "
              f"p99={_percentile(values, 99):6.2f} ms  max={max(values):6.2f} ms")
    slowest = sorted(timings.items(), key=lambda item: -statistics.median(item[1]))[:worst]
    for (kind, q), values in slowest:
        print(f"    slowest: {q!r:<16} ({kind}) p50={statistics.median(values):6.2f} ms  max={max(values):6.2f} ms")


async def _patient_token(url: str, jwt_secret: str) -> str:
    """An access token of a bench patient (created once) who has favourited a few doctors."""
    conn = await asyncpg.connect(url)
    try:
        user_id = await conn.fetchval(
            "INSERT INTO users (phone, full_name) VALUES ('+910000000001', 'Bench Patient') "
            "ON CONFLICT DO NOTHING RETURNING id") or await conn.fetchval(
            "SELECT id FROM users WHERE phone = '+910000000001'")
        await conn.execute("INSERT INTO doctor_favourites (user_id, doctor_id) "
                           "SELECT $1, id FROM doctors ORDER BY id LIMIT 20 ON CONFLICT DO NOTHING", user_id)
    finally:
        await conn.close()
    token, _ = tokens.encode(jwt_secret, subject=user_id, role="client", type_="access", ttl=3600,
                             now=datetime.datetime.now(datetime.timezone.utc))
    return token


async def run_server_and_measure(url: str, rounds: int, worst: int) -> None:
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url, PORT=str(port), HOST="127.0.0.1", ALLIGN_ENV="test",
               SEED_DEMO_DATA="false", LOG_LEVEL="WARNING", DB_POOL_SIZE="10")
    log = tempfile.NamedTemporaryFile(prefix="allign-bench-server-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            await _wait_ready(base, proc)
        except SystemExit:
            print(Path(log.name).read_text()[-3000:], file=sys.stderr)
            raise
        conn = await asyncpg.connect(url)
        counts = await conn.fetchrow("SELECT (SELECT count(*) FROM medicines) AS m, "
                                     "(SELECT count(*) FROM lab_tests) AS l, (SELECT count(*) FROM doctors) AS d")
        await conn.close()
        print(f"data: {counts['m']} medicines, {counts['l']} lab tests, {counts['d']} doctors; "
              f"{rounds} rounds of sequential requests, limit=10; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")
        floor = await measure_floor(base, 500)
        print(f"{'floor: GET /api/v2/medicines/{id} (404)':<45} n={len(floor):<5} "
              f"p50={statistics.median(floor):6.2f} ms  p99={_percentile(floor, 99):6.2f} ms")
        for path, queries in (("/api/v2/medicines/search", MEDICINE_QUERIES),
                              ("/api/v2/lab-tests/catalog/search", LAB_TEST_QUERIES),
                              ("/api/v2/doctors/search", DOCTOR_QUERIES)):
            report(path, await measure(base, path, queries, rounds), worst)
        # The same with a patient's token: optional auth checks it (denylist, account) and the
        # search fills is_favourite.
        token = await _patient_token(url, load_settings(env).jwt_secret)
        report("/api/v2/doctors/search (patient)", await measure(
            base, "/api/v2/doctors/search", DOCTOR_QUERIES, rounds, {"Authorization": f"Bearer {token}"}), worst)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
        os.unlink(log.name)


# ---------------------------------------------------------------- plans

STEP_LABELS = {
    "medicines": ["1a name prefix", "1b salt prefix", "2a name contains", "2b salt contains", "3a fuzzy name",
                  "3b fuzzy salt"],
    "lab-tests": ["1 prefix (name, code, alias)", "2 name contains", "3 fuzzy name"],
}
# One representative query per step (the worst realistic case where there is one).
EXPLAINED = [
    ("medicines", 0, "do"), ("medicines", 1, "para"), ("medicines", 2, "forte"), ("medicines", 2, "duo tab"),
    ("medicines", 3, "cetamol"), ("medicines", 4, "amoxyclv"), ("medicines", 5, "paracetmol"),
    ("lab-tests", 0, "cbc"), ("lab-tests", 1, "panel"), ("lab-tests", 2, "thyriod"),
]


# The bodies of the fuzzy functions of migration 0004, with the settings those functions carry.
EXPLAINED_FUNCTIONS = [
    ("medicine_names_similar('amoxyclv', 500)", "SET LOCAL pg_trgm.word_similarity_threshold = 0.5",
     "SELECT n.id, n.name_normalized, word_similarity($1, n.name_normalized) FROM medicine_names n "
     "WHERE $1 <% n.name_normalized LIMIT 500", "amoxyclv"),
    ("medicine_salt_names_similar('paracetmol')",
     "SET LOCAL pg_trgm.word_similarity_threshold = 0.5; SET LOCAL enable_seqscan = off; "
     "SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off",
     "SELECT n.salt_normalized, word_similarity($1, n.salt_normalized) FROM medicine_salt_names n "
     "WHERE $1 <% n.salt_normalized", "paracetmol"),
    ("the same without the function's planner settings", "SET LOCAL pg_trgm.word_similarity_threshold = 0.5",
     "SELECT n.salt_normalized, word_similarity($1, n.salt_normalized) FROM medicine_salt_names n "
     "WHERE $1 <% n.salt_normalized", "paracetmol"),
]


# Doctor search: one query per phase of doctor_search_ids (migration 0003) that reaches that phase.
EXPLAINED_DOCTORS = [("dr a", "1 prefix"), ("logy", "2 contains"), ("cardiolgy", "3 fuzzy")]
_COSTS = re.compile(r"  \(cost=[^)]*\)")


async def explain_doctors(conn: asyncpg.Connection) -> None:
    """The plans of the statements inside doctor_search_ids (auto_explain with nested statements,
    reported back as notices), then EXPLAIN ANALYZE of the endpoint's query around it."""
    notices: list[str] = []
    conn.add_log_listener(lambda _conn, message: notices.append(message.message))
    await conn.execute("LOAD 'auto_explain'; SET auto_explain.log_analyze = on; "
                       "SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice")
    for q, phase in EXPLAINED_DOCTORS:
        args = (q, 10, None, 0)
        await conn.execute("SET auto_explain.log_min_duration = -1")
        for _ in range(3):  # warm, and past the plan cache's first executions
            await conn.fetch(DOCTOR_SEARCH_SQL, *args)
        await conn.execute("SET auto_explain.log_min_duration = 0")
        notices.clear()
        await conn.fetch("SELECT count(*) FROM doctor_search_ids($1, $2)", q, 10)
        await conn.execute("SET auto_explain.log_min_duration = -1")
        print(f"\n--- doctors, q={q!r} (reaches phase {phase}): statements inside doctor_search_ids")
        for notice in notices[:-1]:  # the last one is the calling SELECT
            print(_COSTS.sub("", notice))
        plan = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + DOCTOR_SEARCH_SQL, *args)
        print(f"\n--- doctors, q={q!r}: the endpoint's query")
        print("\n".join(row[0] for row in plan))


async def explain(url: str) -> None:
    """EXPLAIN ANALYZE of each search step as the app runs it (nothing found by earlier steps)."""
    conn = await asyncpg.connect(url)
    try:
        for label, settings, sql, q in EXPLAINED_FUNCTIONS:
            async with conn.transaction():
                await conn.execute(settings)
                for _ in range(3):
                    await conn.fetch(sql, q)
                plan = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + sql, q)
            print(f"\n--- inside {label}")
            print("\n".join(row[0] for row in plan))
        for catalog, index, q in EXPLAINED:
            step = (MEDICINE_STEPS if catalog == "medicines" else LAB_TEST_STEPS)[index]
            params = search_params(q) | {"found": [], "limit": 10}
            args = [params[name] for name in step.params]
            for _ in range(3):  # warm, as the benchmark's repeated queries are
                await conn.fetch(step.sql, *args)
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + step.sql, *args)
            print(f"\n--- {catalog} step {STEP_LABELS[catalog][index]}, q={q!r}")
            print("\n".join(row[0] for row in plan))
        await explain_doctors(conn)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="skip building the database")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each phase")
    parser.add_argument("--worst", type=int, default=3, help="list the N slowest queries per endpoint")
    args = parser.parse_args()
    url = ADMIN_DSN.rpartition("/")[0] + "/" + DB_NAME
    if not args.reuse:
        url = asyncio.run(build_database(args.rows))
    if args.explain:
        asyncio.run(explain(url))
    asyncio.run(run_server_and_measure(url, args.rounds, args.worst))


if __name__ == "__main__":
    main()
