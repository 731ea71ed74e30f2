"""Session sweeper: expires lapsed requests and ends sessions whose wallet ran out.

Safe with several server processes: expiry claims rows with SKIP LOCKED inside a conditional
UPDATE, and each balance-exhausted session is re-checked under its row lock before it is ended,
so every session changes state exactly once. Runs on the app clock.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from domain import billing
from gateway import keys
from gateway.tx import services
from services import sessions
from storage import sessions as store
from storage.pool import DatabaseUnavailable, PoolTimeout

log = logging.getLogger(__name__)
EXPIRY_BATCH = 100


async def expire_lapsed_requests(app: web.Application) -> int:
    count = 0
    while True:
        expired = await sessions.expire_due(services(app), EXPIRY_BATCH)
        count += expired
        if expired < EXPIRY_BATCH:
            return count


async def end_exhausted_sessions(app: web.Application) -> int:
    clock, count = app[keys.CLOCK], 0
    async with app[keys.DB].connect() as conn:
        candidates = await store.ongoing_with_balances(conn)
    for candidate in candidates:
        # An unlocked snapshot picks the candidates; the use case decides under the row locks.
        if not billing.balance_exhausted(candidate["started_at"], clock.now(), candidate["rate_per_minute"],
                                         candidate["balance"]):
            continue
        try:
            if await sessions.end_if_exhausted(services(app), candidate["id"]):
                count += 1
        except (DatabaseUnavailable, PoolTimeout):
            raise
        except Exception:
            log.exception("could not end balance-exhausted session %s", candidate["id"])
    return count


async def sweep_once(app: web.Application) -> int:
    """One pass: expire lapsed requests, end exhausted sessions. Returns how many sessions changed.
    PostgreSQL unreachable: raises DatabaseUnavailable (each change is its own transaction, so a
    pass cut short leaves nothing half-done; the next pass goes on)."""
    changed = 0
    for step in (expire_lapsed_requests, end_exhausted_sessions):
        try:
            changed += await step(app)
        except (DatabaseUnavailable, PoolTimeout):
            raise
        except Exception:
            log.exception("session sweeper step %s failed", step.__name__)
    return changed


async def session_sweeper(app: web.Application) -> None:
    interval = app[keys.SETTINGS].sweeper_interval
    unavailable = False
    while True:
        # Sleep first: a pass at start-up would race whatever the process is still setting up.
        await asyncio.sleep(interval)
        try:
            changed = await sweep_once(app)
            if changed:
                log.info("session sweeper changed %d sessions", changed)
            if unavailable:
                log.warning("session sweeper: the database is back")
                unavailable = False
        except (DatabaseUnavailable, PoolTimeout) as exc:
            if not unavailable:  # once per outage; the next pass tries again
                log.warning("session sweeper: database unavailable (%s); retrying every %.1f s", exc, interval)
                unavailable = True
        except Exception:  # sweep_once already logs per step; this guards the loop itself
            log.exception("session sweeper pass failed")
