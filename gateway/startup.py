"""Start-up steps that need the database (migrations, the bootstrap admin, demo data), and a server
that starts while PostgreSQL is down.

Each step runs at start if it can. If PostgreSQL cannot be reached (refused, reset, starting up,
the database not there yet), the server starts anyway and answers 503 DATABASE_UNAVAILABLE while a
background task retries the steps that did not run, in their order, every RETRY_INTERVAL (doubling
up to RETRY_MAX) until each has run once. A step that `holds` the database (the migrations) keeps
every request's connection checkout refusing with DatabaseUnavailable until it has run: no request
reaches a schema that is not there yet. Any other failure of a step is a real error: at start it
stops the server, as before; in the background it is logged and retried.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from aiohttp import web

from common.tasks import stop_task
from gateway import keys
from storage.pool import DatabaseUnavailable, PoolTimeout, is_unavailable

log = logging.getLogger(__name__)
RETRY_INTERVAL = 0.5
RETRY_MAX = 5.0


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[], Awaitable[None]]
    holds: bool = False  # requests may not use the database until it has run


def database_unreachable(exc: BaseException) -> bool:
    """Whether an error (or what it wraps: SQLAlchemy's `orig`, a cause) means PostgreSQL cannot be reached."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (DatabaseUnavailable, PoolTimeout)) or is_unavailable(current):
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
    return False


class DeferredStartup:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.pending: list[Step] = []
        self._task: asyncio.Task | None = None

    @property
    def done(self) -> bool:
        return not self.pending

    async def run(self, step: Step) -> None:
        """Run `step` now, or after the steps still waiting for the database (module docstring)."""
        if not self.pending:
            try:
                await step.run()
                return
            except Exception as exc:
                if not database_unreachable(exc):
                    raise
                log.warning("start-up step %r deferred: the database is unreachable (%s); answering 503 "
                            "until it is back", step.name, type(exc).__name__)
        self.pending.append(step)
        self._hold()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._retry(), name="deferred-startup")

    def _hold(self) -> None:
        waiting = next((s.name for s in self.pending if s.holds), None)
        self.app[keys.DB].held = None if waiting is None else f"database not ready ({waiting} pending)"

    async def _retry(self) -> None:
        delay = RETRY_INTERVAL
        while self.pending:
            await asyncio.sleep(delay)
            step = self.pending[0]
            try:
                await step.run()
            except Exception as exc:
                if not database_unreachable(exc):
                    log.exception("start-up step %r failed; retrying", step.name)
                delay = min(delay * 2, RETRY_MAX)
                continue
            log.warning("start-up step %r done: the database is back", step.name)
            self.pending.pop(0)
            self._hold()
            delay = RETRY_INTERVAL

    async def stop(self) -> None:
        await stop_task(self._task)


STARTUP = web.AppKey("deferred_startup", DeferredStartup)
