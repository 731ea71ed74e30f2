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

A token is checked when its connection opens; a connection tracked with its principal is closed
once that token expires or stops being valid (logout, revoked login, password change, deactivation:
gateway.auth's in-memory view, so the check costs no round trip), both checked every second.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

from common.tasks import stop_task

log = logging.getLogger(__name__)

REAP_INTERVAL = 1.0
CREDENTIALS_INTERVAL = 1.0  # how often held connections' tokens are checked for revocation
CLIENT_GONE = "client_gone"
TOKEN_EXPIRED = "token_expired"
TOKEN_REVOKED = "token_revoked"


class Connection:
    """A tracked connection; `with registry.track(...) as conn:` registers it for the block."""

    __slots__ = ("kind", "subject", "principal", "_request", "_registry", "close_reason", "_callbacks")

    def __init__(self, registry: "ConnectionRegistry", request: web.Request, kind: str, subject: Any,
                 principal: Any) -> None:
        self.kind = kind
        self.subject = subject
        self.principal = principal  # gateway.auth.Principal: its token must stay valid while held
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
    """`now()` gives the time tokens expire against; `revoked(principals)` answers which of those
    principals' tokens are no longer valid, by jti (gateway.auth.revoked_jtis). A connection opened
    with a principal is closed with TOKEN_EXPIRED or TOKEN_REVOKED once its token stops being valid:
    the token was checked at connect only."""

    def __init__(self, metrics: Any, *, now: Callable[[], dt.datetime] | None = None,
                 revoked: Callable[[set[Any]], Awaitable[set[Any]]] | None = None) -> None:
        self._open: set[Connection] = set()
        self._gauges = {"sse": metrics.sse_open, "ws": metrics.ws_open}
        self._task: asyncio.Task | None = None
        self._now = now
        self._revoked = revoked
        self.closing = False

    def track(self, request: web.Request, kind: str, subject: Any = None, principal: Any = None) -> Connection:
        """`with registry.track(request, "sse", subject=doctor_id, principal=who) as conn:`"""
        return Connection(self, request, kind, subject, principal)

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
        """Close connections whose client went away or whose token expired; how many."""
        now = self._now() if self._now is not None else None
        closing: list[tuple[Connection, str]] = []
        for conn in self._open:
            if conn.close_reason is not None:
                continue
            if conn.client_gone:
                closing.append((conn, CLIENT_GONE))
            elif now is not None and conn.principal is not None and conn.principal.claims.expires_at <= now:
                closing.append((conn, TOKEN_EXPIRED))
        for conn, reason in closing:
            conn.close(reason)
        return len(closing)

    async def close_revoked(self) -> int:
        """Close connections whose token was revoked since they connected; how many."""
        held = [c for c in self._open if c.close_reason is None and c.principal is not None]
        if self._revoked is None or not held:
            return 0
        revoked = await self._revoked({c.principal for c in held})
        closing = [c for c in held if c.principal.jti in revoked]
        for conn in closing:
            conn.close(TOKEN_REVOKED)
        return len(closing)

    def start(self) -> None:
        self._task = asyncio.create_task(self._reaper(), name="connection-reaper")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _reaper(self) -> None:
        loop = asyncio.get_running_loop()
        next_credentials_check = loop.time() + CREDENTIALS_INTERVAL
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            try:
                self.reap()
                if loop.time() >= next_credentials_check:
                    next_credentials_check = loop.time() + CREDENTIALS_INTERVAL
                    await self.close_revoked()
            except Exception:
                log.exception("connection reaper failed")
