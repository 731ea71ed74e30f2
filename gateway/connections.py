"""Long-lived client connections (SSE streams, websockets) of this process.

The registry counts them (metrics), closes them all at shutdown, and notices clients that went
away: aiohttp (without handler cancellation, as in production) does not wake a handler that is
waiting for events when its client disconnects, so a reaper checks every second whose transport
is gone and closes those connections (which ends their subscriptions and handlers).

Usage in a handler:

    with request.app[keys.STREAMS].track(request, "sse") as conn:
        conn.on_close(lambda reason: sub.close(reason))   # stop waiting for events
        sub.add_close_callback(lambda reason: conn.abort())  # slow consumer: unblock a stuck write

The per-connection bounded send queue is the subscription's queue (gateway.bus_subscription):
a consumer that does not drain it is cut off with reason "slow_consumer".
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Callable

from aiohttp import web

log = logging.getLogger(__name__)

REAP_INTERVAL = 1.0
CLIENT_GONE = "client_gone"


class Connection:
    """A tracked connection; `with registry.track(...) as conn:` registers it for the block."""

    __slots__ = ("kind", "subject", "_request", "_registry", "close_reason", "_callbacks")

    def __init__(self, registry: "ConnectionRegistry", request: web.Request, kind: str, subject: Any) -> None:
        self.kind = kind
        self.subject = subject
        self._request = request
        self._registry = registry
        self.close_reason: str | None = None
        self._callbacks: list[Callable[[str], Any]] = []

    def __enter__(self) -> "Connection":
        self._registry._add(self)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._registry._remove(self)
        self._callbacks = []

    def on_close(self, callback: Callable[[str], Any]) -> None:
        """`callback(reason)` runs once when the server closes this connection."""
        if self.close_reason is not None:
            callback(self.close_reason)
        else:
            self._callbacks.append(callback)

    def close(self, reason: str) -> None:
        if self.close_reason is not None:
            return
        self.close_reason = reason
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(reason)
            except Exception:
                log.exception("connection close callback failed")

    def abort(self) -> None:
        """Drop the TCP connection now (a writer blocked on a client that does not read)."""
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    @property
    def client_gone(self) -> bool:
        transport = self._request.transport
        return transport is None or transport.is_closing()


class ConnectionRegistry:
    def __init__(self, metrics: Any) -> None:
        self._open: set[Connection] = set()
        self._gauges = {"sse": metrics.sse_open, "ws": metrics.ws_open}
        self._task: asyncio.Task | None = None
        self.closing = False

    def track(self, request: web.Request, kind: str, subject: Any = None) -> Connection:
        """`with registry.track(request, "sse", subject=doctor_id) as conn:`"""
        return Connection(self, request, kind, subject)

    def _add(self, conn: Connection) -> None:
        self._open.add(conn)
        gauge = self._gauges.get(conn.kind)
        if gauge is not None:
            gauge.inc()
        if self.closing:
            conn.close("shutdown")

    def _remove(self, conn: Connection) -> None:
        if conn in self._open:
            self._open.discard(conn)
            gauge = self._gauges.get(conn.kind)
            if gauge is not None:
                gauge.dec()

    def count(self, kind: str | None = None) -> int:
        return sum(1 for c in self._open if kind is None or c.kind == kind)

    def close_all(self, reason: str = "shutdown") -> None:
        self.closing = True
        for conn in list(self._open):
            conn.close(reason)

    def reap(self) -> int:
        gone = [c for c in self._open if c.close_reason is None and c.client_gone]
        for conn in gone:
            conn.close(CLIENT_GONE)
        return len(gone)

    def start(self) -> None:
        self._task = asyncio.create_task(self._reaper(), name="connection-reaper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _reaper(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            try:
                self.reap()
            except Exception:
                log.exception("connection reaper failed")
