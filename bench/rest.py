"""REST throughput against an anchor: the API's hot read and write paths ÷ a minimal aiohttp + asyncpg
server doing the same database work, driven by the same load in the same run.

    .venv/bin/python bench/rest.py                 # ~2 min: database allign_bench_rest, both servers, wrk
    .venv/bin/python bench/rest.py --duration 5    # shorter rounds

Needs wrk (Debian's `wrk`; installed here with apt-get when missing and running as root). Prints, per
endpoint: requests/s, server CPU per request (ms), and the ratio to its anchor.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from config import load_settings  # noqa: E402
from procstat import cpu_seconds  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.factories import access_token  # noqa: E402
from tests.servers import free_port, start_server  # noqa: E402

ADMIN_DSN = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_REST_DB", "allign_bench_rest")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PATCH_LUA = """wrk.method = "PATCH"
wrk.body = '{"full_name": "Bench Patient"}'
wrk.headers["Content-Type"] = "application/json"
"""


def _dsn(name: str) -> str:
    return ADMIN_DSN.rpartition("/")[0] + "/" + name


async def prepare_database() -> tuple[str, uuid.UUID]:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await admin.close()
    url = _dsn(DB_NAME)
    await asyncio.get_running_loop().run_in_executor(None, upgrade, url)
    conn = await asyncpg.connect(url)
    try:
        user_id = await conn.fetchval("""INSERT INTO users (phone, full_name, age, sex, height_cm, weight_kg)
                                         VALUES ('+917000000001', 'Bench Patient', 30, 'male', 172, 70) RETURNING id""")
    finally:
        await conn.close()
    return url, user_id


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk ...", flush=True)
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk",
                       shell=True, check=True, stdout=subprocess.DEVNULL)
        wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("bench/rest.py needs wrk (apt-get install wrk)")
    return wrk


@dataclasses.dataclass
class Figure:
    rps: float
    cpu_ms: float  # server CPU per request


def run_wrk(wrk: str, url: str, pid: int, *, duration: int, connections: int, headers: dict[str, str],
            script: str | None = None) -> Figure:
    args = [wrk, "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if script:
        args += ["-s", script]
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(args + [url], check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(pid) - cpu_before
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        sys.exit(f"{url}: {non2xx.group(1)} non-2xx responses:\n{out}")
    return Figure(rps, cpu / max(1, total) * 1000)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    wrk = ensure_wrk()
    print(f"preparing database {DB_NAME} ...", flush=True)
    url, user_id = await prepare_database()
    settings = dataclasses.replace(load_settings({"ALLIGN_ENV": "test"}), database_url=url, redis_url=REDIS_URL,
                                   redis_prefix=f"bench-rest:{os.getpid()}:")
    server = await start_server(settings, env_overrides={"SEED_DEMO_DATA": "true"}, ready_timeout=60)
    anchor_port = free_port()
    anchor = subprocess.Popen([sys.executable, str(ROOT / "bench" / "anchor_server.py"), url, str(anchor_port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert anchor.stdout is not None and "ready" in anchor.stdout.readline()
        token = access_token(settings, "client", user_id, ttl=3600)
        auth = {"Authorization": f"Bearer {token}"}
        anchor_base = f"http://127.0.0.1:{anchor_port}/anchor"
        async with aiohttp.ClientSession() as http:  # warm both: imports, pools, prepared statements
            for _ in range(50):
                async with http.get(server.api_url + "/users/me", headers=auth) as resp:
                    assert resp.status == 200, await resp.text()
                async with http.get(f"{anchor_base}/users/{user_id}") as resp:
                    assert resp.status == 200
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
            lua.write(PATCH_LUA)
        measure = dict(duration=args.duration, connections=args.connections)
        rows = []

        def pair(label: str, app_url: str, anchor_url: str, **kw) -> None:
            app = run_wrk(wrk, app_url, server.pid, headers=kw.get("headers", {}), script=kw.get("script"), **measure)
            base = run_wrk(wrk, anchor_url, anchor.pid, headers={}, script=kw.get("script"), **measure)
            rows.append((label, app, base))
            print(f"{label:<32} app {app.rps:8.0f} req/s {app.cpu_ms:6.3f} ms CPU | anchor {base.rps:8.0f} req/s "
                  f"{base.cpu_ms:6.3f} ms CPU | ratio {app.rps / base.rps:.2f}×", flush=True)

        pair("GET /users/me", server.api_url + "/users/me", f"{anchor_base}/users/{user_id}", headers=auth)
        pair("GET /doctors/search?q=ankit", server.api_url + "/doctors/search?q=ankit", f"{anchor_base}/users/{user_id}")
        pair("GET /medicines/search?q=dolo", server.api_url + "/medicines/search?q=dolo",
             f"{anchor_base}/users/{user_id}")
        pair("PATCH /users/me", server.api_url + "/users/me", f"{anchor_base}/users/{user_id}", headers=auth,
             script=lua.name)
        os.unlink(lua.name)
        print("\nratios (throughput ÷ anchor, same load, same run):")
        for label, app, base in rows:
            print(f"  {label:<32} {app.rps / base.rps:.2f}×   server CPU {app.cpu_ms:.3f} vs {base.cpu_ms:.3f} ms/request")
    finally:
        anchor.terminate()
        anchor.wait()
        await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
