"""The payment reconciliation job: orders still PENDING `payment_reconcile_after` (10 min) after
creation are asked about at the gateway and settled, so a lost webhook and an app that never calls
verify still end in a credit or a failure; orders long past their expiry become FAILED.

Safe with several server processes: each pass claims due orders with SKIP LOCKED and moves their
next check forward in one committed statement (services.payments.reconcile_due), so one process at a
time asks about a given order; the settlement itself is exactly-once whoever runs it. Runs on the
app clock.
"""
from __future__ import annotations


from aiohttp import web

from gateway import keys
from gateway.jobs import every
from gateway.tx import services
from services import payments


async def reconcile_once(app: web.Application) -> int:
    """One pass over every due order (in batches); how many orders it settled."""
    settled = 0
    while True:
        claimed, changed = await payments.reconcile_due(services(app), app[keys.PAYMENTS])
        settled += changed
        if claimed < payments.RECONCILE_BATCH:
            return settled


async def payment_reconciler(app: web.Application) -> None:
    await every(app[keys.SETTINGS].payment_reconcile_interval, lambda: reconcile_once(app),
                "payment orders settled by reconciliation")
