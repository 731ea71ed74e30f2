"""Push notifications: outbox rows (`notifications`) sent by a worker through FCM.

Rows are written by every domain with storage.events.push_after_commit. The worker leases due
PENDING rows with FOR UPDATE SKIP LOCKED in one short statement (attempts+1, next_attempt_at = now +
lease), so several processes never send one row twice and a process that dies mid-send only delays
its rows until the lease runs out. Sending happens outside any transaction. The worker's statements
(storage.push_queue) run on a connection of its own, not the request pool's.

Outcome per row: SENT (devices = tokens that accepted it), NO_DEVICES, FAILED (after max attempts,
or a permanent error), or PENDING again with exponential backoff. Without FCM credentials (local
mode) rows are marked LOGGED and only the event type and recipient id are logged.

A row counts as SENT once any device took it; devices that failed with a retryable error in the
same round are not retried (a retry would repeat the push on the devices that already have it).

A row with a `topic` (community pushes) is one FCM topic message: FCM fans it out to the devices
subscribed to the topic, which each pass also keeps in step with the device tokens (gateway.push_topics).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, AsyncIterator

import asyncpg
from aiohttp import web

from domain.push_payloads import fcm_data
from gateway import keys, push_topics
from common.tasks import Wakeup, stop_task
from integrations import fcm
from storage import driver, push_queue
from storage.pool import is_unavailable

log = logging.getLogger(__name__)


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Delay before attempt `attempts + 1`: base, 2·base, 4·base ... capped."""
    return min(cap, base * (2 ** max(0, attempts - 1)))


class PushWorker:
    def __init__(self, app: web.Application, sender: fcm.FcmClient | None, *, batch_size: int = 100,
                 max_attempts: int = 6, base_delay: float = 5.0, max_delay: float = 900.0,
                 lease_seconds: float = 120.0, poll_interval: float = 5.0, coalesce_seconds: float = 0.05) -> None:
        self.app = app
        self.sender = sender
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.coalesce_seconds = coalesce_seconds
        self._wakeup = Wakeup()
        self._lock = asyncio.Lock()  # one batch at a time per process; settle() waits for it
        self._conn: asyncpg.Connection | None = None

    # --- control ----------------------------------------------------------------------------

    def wake(self) -> None:
        self._wakeup.set()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close(timeout=2.0)  # then terminated

    async def run(self) -> None:
        unavailable = False
        while True:
            self._wakeup.clear()
            try:
                await self.settle()
                if unavailable:
                    log.warning("push worker: the database is back")
                    unavailable = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_unavailable(exc):
                    log.exception("push worker pass failed")
                elif not unavailable:  # once per outage; rows wait (leased ones until their lease ends)
                    log.warning("push worker: database unavailable (%s); retrying every %.0f s",
                                type(exc).__name__, self.poll_interval)
                    unavailable = True
            if not await self._wakeup.wait(self.poll_interval):
                continue
            # Woken by a commit: let a busy moment's pushes gather into one batch.
            await asyncio.sleep(self.coalesce_seconds)

    async def settle(self) -> int:
        """Process batches until nothing is due; the number of rows handled."""
        handled = 0
        async with self._lock:
            try:
                while True:
                    count = await self._process_batch(await self._connection())
                    handled += count
                    if count < self.batch_size:
                        break
                while True:
                    count = await push_topics.sync_subscriptions(await self._connection(), self.sender, self._now,
                                                                 batch_size=self.batch_size,
                                                                 lease_seconds=self.lease_seconds)
                    handled += count
                    if count < self.batch_size:
                        return handled
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
                await self._drop_connection()  # the next pass connects again
                raise

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await driver.queue_connection(self.app[keys.SETTINGS].database_url, "allign-push-worker")
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    # --- one batch --------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.app[keys.CLOCK].now()

    async def _process_batch(self, conn: asyncpg.Connection) -> int:
        now = self._now()
        rows = await push_queue.lease(conn, now=now, until=now + dt.timedelta(seconds=self.lease_seconds),
                                      limit=self.batch_size)
        if not rows:
            return 0
        tokens = await push_queue.devices(conn, {(r["recipient_role"], r["recipient_id"]) for r in rows
                                                 if r["topic"] is None})
        if self.sender is None:
            outcomes = [self._logged(row, tokens.get((row["recipient_role"], row["recipient_id"]), []))
                        for row in rows]
            dead: list[fcm.TokenResult] = []
        else:
            sent = await asyncio.gather(*(
                self._send_topic_safely(row) if row["topic"] is not None
                else self._send_safely(row, tokens.get((row["recipient_role"], row["recipient_id"]), []))
                for row in rows))
            outcomes = [values for values, _ in sent]
            dead = [result for _, results in sent for result in results if result.outcome == fcm.UNREGISTERED]
        await push_queue.record(conn, outcomes, rejected_tokens=sorted({r.token for r in dead}),
                                reason=(dead[0].error if dead else None) or "unregistered", now=self._now())
        return len(rows)

    # --- outcomes: computed per row, written per batch ------------------------------------------

    def _logged(self, row: dict[str, Any], tokens: list[str]) -> dict[str, Any]:
        if row["topic"] is not None:
            log.info("push (local mode, not sent) type=%s topic=%s", row["event_type"], row["topic"])
        else:
            log.info("push (local mode, not sent) type=%s recipient=%s:%s devices=%d",
                     row["event_type"], row["recipient_role"], row["recipient_id"], len(tokens))
        return self._final(row, "LOGGED", devices=len(tokens))

    async def _send_topic_safely(self, row: dict[str, Any]) -> tuple[dict[str, Any], list[fcm.TokenResult]]:
        """One topic message; `devices` stays 0 (FCM does not say how many devices it reached)."""
        try:
            result = await self.sender.send_topic(row["topic"], title=row["title"], body=row["body"],
                                                  data=fcm_data(row["event_type"], row["data"], row["id"]))
        except Exception as exc:
            log.exception("push %s failed unexpectedly", row["id"])
            return self._retry_or_fail(row, f"worker: {type(exc).__name__}"), []
        if result.outcome == fcm.SENT:
            return self._final(row, "SENT"), []
        if result.outcome == fcm.RETRY:
            return self._retry_or_fail(row, result.error or "retryable error"), []
        return self._final(row, "FAILED", last_error=result.error), []

    async def _send_safely(self, row: dict[str, Any], tokens: list[str]
                           ) -> tuple[dict[str, Any], list[fcm.TokenResult]]:
        if not tokens:
            return self._final(row, "NO_DEVICES"), []
        try:
            results = await self.sender.send(tokens, title=row["title"], body=row["body"],
                                             data=fcm_data(row["event_type"], row["data"], row["id"]))
        except Exception as exc:
            log.exception("push %s failed unexpectedly", row["id"])
            return self._retry_or_fail(row, f"worker: {type(exc).__name__}"), []
        return self._judge(row, results), results

    def _judge(self, row: dict[str, Any], results: list[fcm.TokenResult]) -> dict[str, Any]:
        outcomes = {r.outcome for r in results}
        sent = sum(1 for r in results if r.outcome == fcm.SENT)
        errors = [r.error for r in results if r.outcome != fcm.SENT and r.error]
        last_error = errors[0] if errors else None
        if sent:
            return self._final(row, "SENT", devices=sent, last_error=last_error)
        if fcm.RETRY in outcomes:
            return self._retry_or_fail(row, last_error or "retryable error")
        if fcm.FAILED in outcomes:
            return self._final(row, "FAILED", last_error=last_error)
        return self._final(row, "NO_DEVICES", last_error=last_error)  # every token was unregistered

    def _retry_or_fail(self, row: dict[str, Any], error: str) -> dict[str, Any]:
        if row["attempts"] >= self.max_attempts:
            return self._final(row, "FAILED", last_error=error)
        retry_at = self._now() + dt.timedelta(
            seconds=backoff_seconds(row["attempts"], self.base_delay, self.max_delay))
        return self._values(row, "PENDING", devices=0, last_error=error[:500], sent_at=None, next_at=retry_at)

    def _final(self, row: dict[str, Any], status: str, *, devices: int = 0,
               last_error: str | None = None) -> dict[str, Any]:
        now = self._now()
        return self._values(row, status, devices=devices, last_error=last_error,
                            sent_at=now if status in ("SENT", "LOGGED") else None, next_at=now)

    @staticmethod
    def _values(row: dict[str, Any], status: str, *, devices: int, last_error: str | None,
                sent_at: dt.datetime | None, next_at: dt.datetime) -> dict[str, Any]:
        return {"row_id": row["id"], "row_attempts": row["attempts"], "new_status": status,
                "new_devices": devices, "new_error": last_error, "new_sent_at": sent_at, "new_next_at": next_at}

async def push_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    sender = None
    if settings.fcm_credentials_file:
        sender = fcm.FcmClient(settings.fcm_credentials_file, send_url=settings.fcm_send_url)
    else:
        level = logging.WARNING if settings.is_production else logging.INFO
        log.log(level, "FCM_CREDENTIALS_FILE not set: pushes are logged, not sent")
    worker = PushWorker(app, sender)
    app[keys.PUSH] = worker
    task = asyncio.create_task(worker.run(), name="push-worker")
    yield
    await stop_task(task)
    await worker.close()
    if sender is not None:
        await sender.aclose()

