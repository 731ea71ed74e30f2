"""The audit log's one writer: every admin write, and every admin read of a patient's data, runs in
`audited(...)`, which writes the audit row in the use case's own transaction (so a write and its
record commit or roll back together; a read is recorded before its response is sent).

    async with audited(ctx, actor, "user.status.update", "user", user_id) as (conn, entry):
        row = await users.set_active(conn, user_id, is_active)
        entry.changed_fields = ["is_active"]

The row holds who (actor id and role), what (action, target type and id, names of the fields
changed: never their values, so no PHI), and from where (request id, client IP). A use case that
raises writes nothing, its audit row included. `entry.target_id` may be set inside the block (a
create learns its id there).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable

from storage.pool import Connection

from services.context import Context, reading, transaction
from storage import audit as store


@dataclass(frozen=True, slots=True)
class Actor:
    """An admin acting through the API: their token's subject and role, the request id and client IP."""
    id: uuid.UUID
    role: str
    request_id: str | None = None
    ip: str | None = None


@dataclass(slots=True)
class Entry:
    action: str
    target_type: str
    target_id: str | None = None
    changed_fields: list[str] = field(default_factory=list)


def _inet(ip: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        return None


async def record(conn: Connection, ctx: Context, actor: Actor, entry: Entry) -> None:
    """Write one audit row on `conn` (inside the caller's transaction)."""
    await store.append(conn, actor_id=actor.id, actor_role=str(actor.role), action=entry.action,
                       target_type=entry.target_type, target_id=entry.target_id, request_id=actor.request_id,
                       ip=_inet(actor.ip), changed_fields=entry.changed_fields, at=ctx.now())


@contextlib.asynccontextmanager
async def audited(ctx: Context, actor: Actor, action: str, target_type: str,
                  target_id: uuid.UUID | str | None = None,
                  changed_fields: Iterable[str] = ()) -> AsyncIterator[tuple[Connection, Entry]]:
    """A transaction whose audit row is written at its end, if the block completes."""
    entry = Entry(action, target_type, str(target_id) if target_id is not None else None, list(changed_fields))
    async with transaction(ctx) as conn:
        yield conn, entry
        if entry.target_id is not None and not isinstance(entry.target_id, str):
            entry.target_id = str(entry.target_id)
        await record(conn, ctx, actor, entry)


async def page(ctx: Context, *, actor_id: uuid.UUID | None, target_type: str | None, target_id: str | None,
               action: str | None, date_from: dt.datetime | None, date_to: dt.datetime | None, limit: int,
               offset: int) -> tuple[list[dict[str, Any]], int]:
    """Audit rows matching every filter given, newest first."""
    async with reading(ctx) as conn:
        return await store.page(conn, actor_id=actor_id, target_type=target_type, target_id=target_id,
                                action=action, date_from=date_from, date_to=date_to, limit=limit, offset=offset)
