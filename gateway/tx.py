"""The app's use-case context (services.context) and its transactions, for gateway code and tests
that hold the app: `transaction(app)`, `statements(app)` as in services.context."""
from __future__ import annotations

from typing import AsyncContextManager

from aiohttp import web
from storage.pool import Connection

from gateway import keys
from services import context
from services.context import Context, Database


def wake_relays(app: web.Application) -> context.Wake:
    def wake(events: bool, pushes: bool) -> None:
        if events and keys.BUS in app:
            app[keys.BUS].wake()
        if pushes and keys.PUSH in app:
            app[keys.PUSH].wake()
    return wake


def services(app: web.Application) -> Context:
    return app[keys.CONTEXT]


def _database(app: web.Application) -> Context | Database:
    # An app without a Context (a test's bare outbox writer) still gets transactions on its pool.
    return app[keys.CONTEXT] if keys.CONTEXT in app else Database(app[keys.DB], wake_relays(app))


def transaction(app: web.Application) -> AsyncContextManager[Connection]:
    return context.transaction(_database(app))


def statements(app: web.Application) -> AsyncContextManager[Connection]:
    return context.statements(_database(app))
