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

log = logging.getLogger(__name__)
Job = Callable[[web.Application], Awaitable[None]]


def registered_jobs() -> list[Job]:
    # Each domain adds its job here. (The event relay and the push worker belong to their
    # cleanup contexts, gateway.bus and gateway.push_worker.)
    from gateway.followup_reminders import followup_reminder
    from gateway.payments_jobs import payment_reconciler
    from gateway.sweeper import session_sweeper

    return [session_sweeper, payment_reconciler, followup_reminder]


async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(job(app), name=f"job:{job.__name__}") for job in registered_jobs()]
    yield
    await asyncio.gather(*(stop_task(task) for task in tasks))
