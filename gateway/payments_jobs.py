"""The payment reconciliation job: orders still PENDING `payment_reconcile_after` (10 min) after
creation are asked about at the gateway and settled, so a lost webhook and an app that never calls
verify still end in a credit or a failure; orders long past their expiry become FAILED.

Safe with several server processes: each pass claims due orders with SKIP LOCKED and moves their
next check forward in one committed statement (services.payments.reconcile_due), so one process at a
time asks about a given order; the settlement itself is exactly-once whoever runs it. Runs on the
app clock.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from gateway import keys
from gateway.tx import services
from services import payments

log = logging.getLogger(__name__)


async def reconcile_once(app: web.Application) -> int:
    """One pass over every due order (in batches); how many orders it settled."""
    settled = 0
    while True:
        claimed, changed = await payments.reconcile_due(services(app), app[keys.PAYMENTS])
        settled += changed
        if claimed < payments.RECONCILE_BATCH:
            return settled


async def payment_reconciler(app: web.Application) -> None:
    interval = app[keys.SETTINGS].payment_reconcile_interval
    while True:
        await asyncio.sleep(interval)  # first pass after one interval: start-up is busy enough
        try:
            settled = await reconcile_once(app)
            if settled:
                log.info("payment reconciliation settled %d orders", settled)
        except Exception:
            log.exception("payment reconciliation pass failed")
