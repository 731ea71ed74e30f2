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
from gateway.bus_relay import LOOKUPS_ONLY
from integrations import fcm
from storage import devices
from storage.tables import notifications

log = logging.getLogger(__name__)
N = notifications


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
            try:
                async with asyncio.timeout(self.poll_interval):  # not wait_for: see bus_relay._lead
                    await self._wakeup.wait()
            except TimeoutError:
                continue
            # Woken by a commit: let a busy moment's pushes gather into one batch.
            await asyncio.sleep(self.coalesce_seconds)

    async def settle(self) -> int:
        """Process batches until nothing is due; the number of rows handled."""
        handled = 0
        async with self._lock:
            while True:
                count = await self._process_batch()
                handled += count
                if count < self.batch_size:
                    return handled

    # --- one batch --------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.app[keys.CLOCK].now()

    async def _claim(self) -> list[dict[str, Any]]:
        async with self.app[keys.DB].begin() as conn:
            await conn.exec_driver_sql(_LOOKUPS_ONLY_HERE)  # see LOOKUPS_ONLY: same table shape, same reasons
            rows = await conn.execute(claim_statement(self._now(), self.batch_size, self.lease_seconds))
            return [dict(r) for r in rows.mappings()]

    async def _process_batch(self) -> int:
        rows = await self._claim()
        if not rows:
            return 0
        async with self.app[keys.DB].connect() as conn:
            tokens = await devices.active_tokens_for(conn, {(r["recipient_role"], r["recipient_id"]) for r in rows})
        if self.sender is None:
            outcomes = [self._logged(row, tokens.get((row["recipient_role"], row["recipient_id"]), []))
                        for row in rows]
            dead: list[fcm.TokenResult] = []
        else:
            sent = await asyncio.gather(*(
                self._send_safely(row, tokens.get((row["recipient_role"], row["recipient_id"]), []))
                for row in rows))
            outcomes = [values for values, _ in sent]
            dead = [result for _, results in sent for result in results if result.outcome == fcm.UNREGISTERED]
        await self._write(outcomes, dead)
        return len(rows)

    # --- outcomes: computed per row, written per batch ------------------------------------------

    def _logged(self, row: dict[str, Any], tokens: list[str]) -> dict[str, Any]:
        log.info("push (local mode, not sent) type=%s recipient=%s:%s devices=%d",
                 row["event_type"], row["recipient_role"], row["recipient_id"], len(tokens))
        return self._final(row, "LOGGED", devices=len(tokens))

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

    async def _write(self, outcomes: list[dict[str, Any]], dead: list[fcm.TokenResult]) -> None:
        """One transaction per batch: the rows' outcomes, and the tokens FCM no longer knows."""
        async with self.app[keys.DB].begin() as conn:
            if dead:
                await devices.deactivate_rejected(conn, sorted({r.token for r in dead}),
                                                  dead[0].error or "unregistered", self._now())
            if outcomes:
                await conn.execute(_FINISH, outcomes)


# In the SQL text, not a parameter: only then can a generic plan use the partial due index
# (`WHERE status = 'PENDING'`), which a bound `status = $1` does not prove.
_PENDING = sa.literal_column("'PENDING'")


def claim_statement(now: dt.datetime, batch_size: int, lease_seconds: float):
    """Lease up to `batch_size` due PENDING rows (attempts + 1, due again when the lease ends)."""
    # A fresh row (attempts = 0) is due at once whatever its clock; retries follow next_attempt_at.
    due = (sa.select(N.c.id)
           .where(N.c.status == _PENDING, sa.or_(N.c.next_attempt_at <= now, N.c.attempts == 0))
           .order_by(N.c.next_attempt_at).limit(batch_size).with_for_update(skip_locked=True))
    # id = ANY(ARRAY(...)): a key lookup in every plan (an IN semi-join's generic plan, settled
    # while the table was small, read the whole table on every claim).
    return (sa.update(N).where(N.c.id == sa.any_(sa.func.array(due.scalar_subquery())), N.c.status == _PENDING)
            .values(attempts=N.c.attempts + 1, next_attempt_at=now + dt.timedelta(seconds=lease_seconds))
            .returning(N))


# SET LOCAL of each setting, in one statement.
_LOOKUPS_ONLY_HERE = "SELECT " + ", ".join(f"set_config('{name}', '{value}', true)"
                                           for name, value in LOOKUPS_ONLY.items())

# Only while our lease holds: a row re-claimed after an expired lease belongs to that claim.
_FINISH = (
    sa.update(N)
    .where(N.c.id == sa.bindparam("row_id"), N.c.status == "PENDING", N.c.attempts == sa.bindparam("row_attempts"))
    .values(status=sa.bindparam("new_status"), devices=sa.bindparam("new_devices"),
            last_error=sa.bindparam("new_error"), sent_at=sa.bindparam("new_sent_at"),
            next_attempt_at=sa.bindparam("new_next_at"))
)


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
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if sender is not None:
        await sender.aclose()

