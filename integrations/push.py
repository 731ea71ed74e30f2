"""Push notifications: outbox rows (`notifications`) sent by a worker through FCM.

Rows are written by every domain with storage.events.push_after_commit. The worker claims due
PENDING rows with FOR UPDATE SKIP LOCKED and, in the same short statement, leases them (attempts+1,
next_attempt_at = now + lease), so several processes never send one row twice and a process that
dies mid-send only delays its rows until the lease runs out. Sending happens outside any transaction.

Outcome per row: SENT (devices = tokens that accepted it), NO_DEVICES, FAILED (after max attempts,
or a permanent error), or PENDING again with exponential backoff. Without FCM credentials (local
mode) rows are marked LOGGED and only the event type and recipient id are logged.

A row counts as SENT once any device took it; devices that failed with a retryable error in the
same round are not retried (a retry would repeat the push on the devices that already have it).
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any, AsyncIterator

import sqlalchemy as sa
from aiohttp import web

from domain.push_payloads import fcm_data
from gateway import keys
from integrations import fcm
from storage import devices
from storage.tables import notifications

log = logging.getLogger(__name__)
N = notifications


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Delay before attempt `attempts + 1`: base, 2·base, 4·base ... capped."""
    return min(cap, base * (2 ** max(0, attempts - 1)))


class PushWorker:
    def __init__(self, app: web.Application, sender: fcm.FcmClient | None, *, batch_size: int = 50,
                 max_attempts: int = 6, base_delay: float = 5.0, max_delay: float = 900.0,
                 lease_seconds: float = 120.0, poll_interval: float = 5.0) -> None:
        self.app = app
        self.sender = sender
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()  # one batch at a time per process; settle() waits for it

    # --- control ----------------------------------------------------------------------------

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                await self.settle()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("push worker pass failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.poll_interval)

    async def settle(self) -> int:
        """Process batches until nothing is due; the number of rows handled."""
        handled = 0
        async with self._lock:
            while count := await self._process_batch():
                handled += count
        return handled

    # --- one batch --------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.app[keys.CLOCK].now()

    async def _claim(self) -> list[dict[str, Any]]:
        now = self._now()
        # A fresh row (attempts = 0) is due at once whatever its clock; retries follow next_attempt_at.
        due = (sa.select(N.c.id)
               .where(N.c.status == "PENDING", sa.or_(N.c.next_attempt_at <= now, N.c.attempts == 0))
               .order_by(N.c.next_attempt_at).limit(self.batch_size).with_for_update(skip_locked=True))
        async with self.app[keys.DB].begin() as conn:
            rows = await conn.execute(
                sa.update(N).where(N.c.id.in_(due.scalar_subquery()), N.c.status == "PENDING")
                .values(attempts=N.c.attempts + 1,
                        next_attempt_at=now + dt.timedelta(seconds=self.lease_seconds))
                .returning(N))
            return [dict(r) for r in rows.mappings()]

    async def _process_batch(self) -> int:
        rows = await self._claim()
        if rows:
            await asyncio.gather(*(self._deliver_safely(row) for row in rows))
        return len(rows)

    async def _deliver_safely(self, row: dict[str, Any]) -> None:
        try:
            await self._deliver(row)
        except Exception as exc:
            log.exception("push %s failed unexpectedly", row["id"])
            await self._reschedule_or_fail(row, f"worker: {type(exc).__name__}")

    async def _deliver(self, row: dict[str, Any]) -> None:
        role, recipient = row["recipient_role"], row["recipient_id"]
        async with self.app[keys.DB].connect() as conn:
            tokens = await devices.active_tokens(conn, role, recipient)
        if self.sender is None:
            log.info("push (local mode, not sent) type=%s recipient=%s:%s devices=%d",
                     row["event_type"], role, recipient, len(tokens))
            await self._finish(row, "LOGGED", devices=len(tokens))
            return
        if not tokens:
            await self._finish(row, "NO_DEVICES")
            return
        results = await self.sender.send(tokens, title=row["title"], body=row["body"],
                                         data=fcm_data(row["event_type"], row["data"], row["id"]))
        await self._record(row, results)

    async def _record(self, row: dict[str, Any], results: list[fcm.TokenResult]) -> None:
        by_outcome: dict[str, list[fcm.TokenResult]] = {}
        for result in results:
            by_outcome.setdefault(result.outcome, []).append(result)
        gone = by_outcome.get(fcm.UNREGISTERED, [])
        if gone:
            async with self.app[keys.DB].begin() as conn:
                await devices.deactivate_rejected(conn, [r.token for r in gone], gone[0].error or "unregistered",
                                                  self._now())
        sent = len(by_outcome.get(fcm.SENT, []))
        errors = [r.error for r in results if r.outcome != fcm.SENT and r.error]
        last_error = errors[0] if errors else None
        if sent:
            await self._finish(row, "SENT", devices=sent, last_error=last_error)
        elif by_outcome.get(fcm.RETRY):
            await self._reschedule_or_fail(row, last_error or "retryable error")
        elif by_outcome.get(fcm.FAILED):
            await self._finish(row, "FAILED", last_error=last_error)
        else:  # every token turned out to be unregistered
            await self._finish(row, "NO_DEVICES", last_error=last_error)

    async def _reschedule_or_fail(self, row: dict[str, Any], error: str) -> None:
        if row["attempts"] >= self.max_attempts:
            await self._finish(row, "FAILED", last_error=error)
            return
        retry_at = self._now() + dt.timedelta(
            seconds=backoff_seconds(row["attempts"], self.base_delay, self.max_delay))
        await self._update(row, status="PENDING", next_attempt_at=retry_at, last_error=error[:500])

    async def _finish(self, row: dict[str, Any], status: str, *, devices: int = 0,
                      last_error: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "devices": devices, "last_error": last_error}
        if status in ("SENT", "LOGGED"):
            values["sent_at"] = self._now()
        await self._update(row, **values)

    async def _update(self, row: dict[str, Any], **values: Any) -> None:
        # Only while our lease holds: a row re-claimed after an expired lease belongs to that claim.
        async with self.app[keys.DB].begin() as conn:
            await conn.execute(sa.update(N).where(N.c.id == row["id"], N.c.status == "PENDING",
                                                  N.c.attempts == row["attempts"]).values(**values))


async def push_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    sender = None
    if settings.fcm_credentials_file:
        sender = fcm.FcmClient(settings.fcm_credentials_file, send_url=settings.fcm_send_url)
    else:
        log.info("FCM_CREDENTIALS_FILE not set: pushes are logged, not sent")
    worker = PushWorker(app, sender)
    app[keys.PUSH] = worker
    task = asyncio.create_task(worker.run(), name="push-worker")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if sender is not None:
        await sender.aclose()

