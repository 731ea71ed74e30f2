"""gateway.jobs.every: a periodic job survives its errors, and a database outage is logged once when it
starts and once when it ends (not a traceback per pass)."""
from __future__ import annotations

import asyncio
import logging

from gateway.jobs import every
from storage.pool import DatabaseUnavailable


async def test_an_outage_is_logged_once_and_the_job_goes_on(caplog):
    caplog.set_level(logging.INFO, logger="gateway.jobs")
    outcomes = [DatabaseUnavailable("down"), DatabaseUnavailable("down"), DatabaseUnavailable("down"),
                RuntimeError("a bug"), 3, 0]
    passes = 0
    finished = asyncio.Event()

    async def one_pass() -> int:
        nonlocal passes
        outcome = outcomes[min(passes, len(outcomes) - 1)]
        passes += 1
        if passes >= len(outcomes):
            finished.set()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    job = asyncio.create_task(every(0.001, one_pass, "things done"))
    async with asyncio.timeout(10):
        await finished.wait()
    job.cancel()
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [m for m in messages if "unavailable" in m[1]] == [
        ("WARNING", "things done: database unavailable (down); retrying every 0.001 s")]
    assert ("ERROR", "things done: pass failed") in messages  # a bug still shows its traceback
    assert ("INFO", "things done: 3") in messages
    assert sum(1 for _, text in messages if "available again" in text) == 1
