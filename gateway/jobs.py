"""Background jobs: long-running coroutines started with the app and cancelled at shutdown.

A job is `async def job(app)`; it must be safe with several server processes (claim work with
row locks / SKIP LOCKED or conditional updates) and must survive its own errors (log and go on).
"""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web

from common.tasks import stop_task
from storage.pool import DatabaseUnavailable, PoolTimeout

log = logging.getLogger(__name__)
Job = Callable[[web.Application], Awaitable[None]]


def registered_jobs() -> list[Job]:
    # Each domain adds its job here. (The event relay and the push worker belong to their
    # cleanup contexts, gateway.bus and gateway.push_worker.)
    from gateway.followup_reminders import followup_reminder
    from gateway.payments_jobs import payment_reconciler
    from gateway.sweeper import session_sweeper

    return [session_sweeper, payment_reconciler, followup_reminder]


async def every(interval: float, one_pass: Callable[[], Awaitable[int]], what: str) -> None:
    """Run `one_pass` every `interval` seconds (the first after one interval: start-up is busy
    enough) and log how many it handled. It survives its own errors; a database outage is logged
    once when it starts and once when it ends, not as a traceback on every pass."""
    outage = False
    while True:
        await asyncio.sleep(interval)
        try:
            handled = await one_pass()
        except (DatabaseUnavailable, PoolTimeout) as exc:
            if not outage:
                log.warning("%s: database unavailable (%s); retrying every %g s", what, exc, interval)
            outage = True
            continue
        except Exception:
            log.exception("%s: pass failed", what)
            continue
        if outage:
            log.info("%s: database available again", what)
            outage = False
        if handled:
            log.info("%s: %d", what, handled)


async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(job(app), name=f"job:{job.__name__}") for job in registered_jobs()]
    yield
    await asyncio.gather(*(stop_task(task) for task in tasks))
