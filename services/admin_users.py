"""The admin console's account use cases: find, read, edit, switch on and off. Patients and doctors;
every one of them audited (the reads too: an account's detail is personal data).

Deactivation ends every login of the account in the same transaction (its refresh tokens, the
access tokens issued with them, and those issued before this second without one: the revocation
log), so a later reactivation lets the owner log in again while their old tokens stay dead. The
caller makes it effective in its own process before answering (gateway.auth.sync); every other
process follows the log within the revocation view's bound.
"""
from __future__ import annotations

import uuid
from typing import Any

from domain import doctors as doctor_rules
from domain import tokens as token_rules
from domain.admin_users import phone_digits
from domain.errors import NotFound
from domain.roles import Role
from services.audit import Actor, audited
from services.context import Context, reading
from storage import accounts, auth_tokens, doctors, users
from storage import admin_users as store
from storage.pool import Connection

Row = dict[str, Any]
# The audit log's target type per role.
TARGET = {Role.CLIENT: "user", Role.DOCTOR: "doctor"}


def not_found() -> NotFound:
    return NotFound("User not found", code="USER_NOT_FOUND")


async def _load(conn: Connection, role: str, account_id: uuid.UUID) -> Row | None:
    if role == Role.CLIENT:
        return await users.get_user(conn, account_id)
    return await doctors.get_doctor(conn, account_id, include_inactive=True)


async def _role(conn: Connection, account_id: uuid.UUID) -> Role:
    role = await store.role_of(conn, account_id)
    if role is None:
        raise not_found()
    return Role(role)


async def accounts_page(ctx: Context, actor: Actor, *, role: str | None, is_active: bool | None, q: str | None,
                        limit: int, offset: int) -> tuple[list[Row], int]:
    """Newest first; `q` finds a name or email anywhere, or a phone by its digits in any format."""
    async with audited(ctx, actor, "user.list", "user") as (conn, _):
        return await store.accounts_page(conn, role=role, is_active=is_active, q=q,
                                         phone_digits=phone_digits(q) if q else None, limit=limit, offset=offset)


async def role_of(ctx: Context, account_id: uuid.UUID) -> Role:
    async with reading(ctx) as conn:
        return await _role(conn, account_id)


async def account(ctx: Context, actor: Actor, account_id: uuid.UUID) -> tuple[Role, Row]:
    async with audited(ctx, actor, "user.read", "user", account_id) as (conn, entry):
        role = await _role(conn, account_id)
        entry.target_type = TARGET[role]
        row = await _load(conn, role, account_id)
        if row is None:
            raise not_found()
    return role, row


async def update(ctx: Context, actor: Actor, account_id: uuid.UUID, role: Role, changes: dict[str, Any]) -> Row:
    """The fields of the account's own PATCH (validated for `role` by the caller)."""
    async with audited(ctx, actor, "user.update", TARGET[role], account_id, changed_fields=changes) as (conn, _):
        if not changes:
            row = await _load(conn, role, account_id)
        elif role == Role.CLIENT:
            row = await users.update_profile(conn, account_id, changes, ctx.now())
        else:
            row = await doctors.update_doctor(conn, account_id, changes, include_inactive=True)
        if row is None:
            raise not_found()
    return row


async def set_active(ctx: Context, actor: Actor, account_id: uuid.UUID, is_active: bool) -> tuple[Role, Row]:
    """Switch an account on or off; off also ends its logins (module docstring). A doctor switched
    off goes OFFLINE (takes no requests)."""
    now = ctx.now()
    async with audited(ctx, actor, "user.status.update", "user", account_id, ["is_active"]) as (conn, entry):
        role = await _role(conn, account_id)
        entry.target_type = TARGET[role]
        # The order of every transaction that revokes an account's tokens (storage.accounts.
        # lock_account): the account row, its refresh tokens, the row's update, the log last.
        if not await accounts.lock_account(conn, role, account_id):
            raise not_found()
        families = None if is_active else await auth_tokens.revoke_subject(conn, role, account_id, now)
        if role == Role.CLIENT:
            row = await store.set_user_active(conn, account_id, is_active, now)
        else:
            row = await doctors.update_doctor(conn, account_id, doctor_rules.admin_changes({"is_active": is_active}),
                                              include_inactive=True)
        if row is None:
            raise not_found()
        if families is not None:
            await auth_tokens.record_revocations(conn, token_rules.subject_revocations(
                role, account_id, families, now, ctx.settings.access_token_ttl))
    return role, row
