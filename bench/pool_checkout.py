"""What a pooled connection costs per request before its first statement: SQLAlchemy's AsyncEngine
checkout (as every handler does today, then a statement on storage.driver) against asyncpg's own
pool, each running the same one-row statement, sequentially, CPU time of this process.

    .venv/bin/python bench/pool_checkout.py [DSN]
"""
from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from storage import driver  # noqa: E402
from storage.sa_engine import create_engine  # noqa: E402

N = 5000
SQL = "SELECT 1"


async def main(dsn: str) -> None:
    engine = create_engine(dsn, pool_size=2)
    pool = await asyncpg.create_pool(driver.plain_dsn(dsn), min_size=2, max_size=2)

    async def via_engine() -> None:
        async with engine.connect() as conn:
            await driver.fetchval(conn, SQL)

    async def via_pool() -> None:
        async with pool.acquire() as conn:
            await conn.fetchval(SQL)

    results = {}
    for name, one in (("sqlalchemy engine + driver", via_engine), ("asyncpg pool", via_pool)) * 2:
        for _ in range(200):
            await one()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(N):
            await one()
        results[name] = ((time.process_time() - cpu) / N * 1e6, (time.perf_counter() - wall) / N * 1e6)
    for name, (cpu, wall) in results.items():
        print(f"{name:<28} {cpu:6.1f} µs CPU, {wall:6.1f} µs wall per checkout + statement")
    engine_cpu, pool_cpu = results["sqlalchemy engine + driver"][0], results["asyncpg pool"][0]
    print(f"checkout overhead of the engine: {engine_cpu - pool_cpu:.1f} µs CPU per request")
    await engine.dispose()
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/postgres"))
