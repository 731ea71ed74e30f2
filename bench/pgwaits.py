"""What PostgreSQL's backends wait on during a benchmark, sampled from pg_stat_activity.

A latency outlier with the machine far from busy is usually every commit waiting on one slow WAL
flush (the disk, not the code). The sampler reads the wait events of the benchmark database's
backends 20 times a second and reports the moments when several waited on the WAL at once
(`IO:WALSync`, `IO:WALWrite` or `LWLock:WALWrite`), and the longest of them.
"""
from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg

WAL_WAITS = ("IO:WALSync", "IO:WALWrite", "LWLock:WALWrite")
SAMPLE_EVERY = 0.05
_SAMPLE = """
SELECT count(*) FILTER (WHERE wait_event_type || ':' || wait_event = ANY($1::text[]))
FROM pg_stat_activity WHERE datname = $2 AND backend_type = 'client backend' AND pid <> pg_backend_pid()
"""


class WalWaits:
    """`async with WalWaits(dsn, db) as waits:` … then `waits.summary()`."""

    def __init__(self, dsn: str, database: str, crowd: int = 5) -> None:
        self.dsn, self.database, self.crowd = dsn, database, crowd
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "WalWaits":
        self._conn = await asyncpg.connect(self.dsn)
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._conn.close()

    async def _run(self) -> None:
        while True:
            waiting = await self._conn.fetchval(_SAMPLE, list(WAL_WAITS), self.database)
            self.samples.append((time.perf_counter(), waiting))
            await asyncio.sleep(SAMPLE_EVERY)

    def crowded_spells(self) -> list[tuple[float, float, int]]:
        """(start, seconds, peak) of each run of samples with at least `crowd` backends on the WAL."""
        spells, start, peak, last = [], None, 0, 0.0
        for at, waiting in self.samples + [(float("inf"), 0)]:
            if waiting >= self.crowd:
                start, peak, last = (start if start is not None else at), max(peak, waiting), at
            elif start is not None:
                spells.append((start, last - start + SAMPLE_EVERY, peak))
                start, peak = None, 0
        return spells

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        peak = max(waiting for _, waiting in self.samples)
        spells = self.crowded_spells()
        if not spells:
            return f"at most {peak} backends waiting on the WAL at once (sampled every {SAMPLE_EVERY * 1000:.0f} ms)"
        longest = max(spells, key=lambda s: s[1])
        return (f"{len(spells)} moments with ≥ {self.crowd} backends waiting on the WAL flush (peak {peak}); "
                f"the longest lasted ~{longest[1] * 1000:.0f} ms")
