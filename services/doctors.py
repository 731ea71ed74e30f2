"""Doctor use cases: the admin's create and update, the doctor's own presence, availability and
profile, and patients' favourites. Each owns its transaction; the rules come from domain.doctors
(and domain.tokens for the logins a password change ends), the rows from storage.doctors.
"""
from __future__ import annotations

import uuid
from typing import Any

from common.passwords import hash_password
from domain import doctors as rules
from domain import tokens as token_rules
from domain.errors import Conflict, NotFound
from domain.roles import Role
from services.audit import Actor, audited
from services.context import Context, reading, statements, transaction
from storage import accounts, auth_tokens
from storage import doctors as store

Row = dict[str, Any]
DOCTOR = "doctor"  # the audit log's target type


def not_found() -> NotFound:
    return NotFound("Doctor not found", code="DOCTOR_NOT_FOUND")


def _email_taken() -> Conflict:
    return Conflict("A doctor with this email already exists", code="EMAIL_ALREADY_REGISTERED")


# --- admin --------------------------------------------------------------------------------

async def create(ctx: Context, actor: Actor, profile: dict[str, Any]) -> Row:
    """A new doctor (password hashed) with a unique slug from name + speciality
    ("dr-ankit-shah-urology", then -2, -3...). Race-safe: a slug a concurrent create took is skipped
    for the next. A duplicate email is 409. Audited (the field names, never the password)."""
    values = dict(profile)
    values["password_hash"] = await hash_password(values.pop("password"))
    base = rules.slug_base(values["full_name"], values["speciality_category"])
    async with audited(ctx, actor, "doctor.create", DOCTOR, changed_fields=profile) as (conn, entry):
        attempt = rules.next_slug_attempt(base, await store.taken_slugs(conn, base))
        while True:
            try:
                row = await store.insert_doctor(conn, rules.slug_candidate(base, attempt), values)
            except store.EmailTaken:
                raise _email_taken() from None
            if row is not None:
                entry.target_id = str(row["id"])
                return row
            attempt += 1


async def admin_update(ctx: Context, actor: Actor, doctor_id: uuid.UUID, changes: dict[str, Any]) -> Row:
    """The admin's partial update of a doctor (active or not), in one transaction. A deactivated
    doctor goes OFFLINE; a duplicate email is 409; an unknown doctor 404 (nothing changed or revoked).
    Nothing to change reads the row as it is.

    A new `password` (hashed here, before any connection is taken) ends every login of the doctor in
    the same transaction: its refresh tokens, the access tokens issued with them, and those issued
    before this second without one (domain.tokens.subject_revocations). The caller makes the
    revocations, and a change of `is_active` (logged by a trigger), effective in its own process
    before answering (gateway.auth.sync). Audited: `doctor.password.update` when the password is
    among the changes, else `doctor.update` (the field names, never the values)."""
    values = rules.admin_changes(changes)
    password = values.pop("password", None)
    action = "doctor.update" if password is None else "doctor.password.update"
    if password is not None:
        values["password_hash"] = await hash_password(password)
    now = ctx.now()
    async with audited(ctx, actor, action, DOCTOR, doctor_id, changed_fields=changes) as (conn, _):
        if not values:
            row = await store.get_doctor(conn, doctor_id, include_inactive=True)
            if row is None:
                raise not_found()
            return row
        families = None
        if password is not None:
            # The order of every transaction that revokes an account's tokens (storage.accounts.
            # lock_account): the account row, its refresh tokens, the row's update, the log last.
            if not await accounts.lock_account(conn, Role.DOCTOR, doctor_id):
                raise not_found()
            families = await auth_tokens.revoke_subject(conn, Role.DOCTOR, doctor_id, now)
        try:
            row = await store.update_doctor(conn, doctor_id, values, include_inactive=True)
        except store.EmailTaken:
            raise _email_taken() from None
        if row is None:
            raise not_found()
        if families is not None:
            await auth_tokens.record_revocations(conn, token_rules.subject_revocations(
                Role.DOCTOR, doctor_id, families, now, ctx.settings.access_token_ttl))
    return row


# --- the doctor's own settings ------------------------------------------------------------

async def set_presence(ctx: Context, doctor_id: uuid.UUID, wanted: str) -> Row:
    """The doctor asks for ONLINE or OFFLINE (domain.doctors.next_presence: OFFLINE always works;
    ONLINE while BUSY, or while a session of theirs is ONGOING, is BUSY). Applied under the row lock
    the server's BUSY steps take too. Returns presence_status, chat_enabled, call_enabled."""
    async with transaction(ctx) as conn:
        doctor = await store.lock_presence(conn, doctor_id)
        if doctor is None:
            raise not_found()
        target = rules.next_presence(doctor["presence_status"], wanted,
                                     has_ongoing_session=await store.has_ongoing_session(conn, doctor_id))
        if target != doctor["presence_status"]:
            doctor = await store.set_presence(conn, doctor_id, target)
    return doctor


async def set_availability(ctx: Context, doctor_id: uuid.UUID, changes: dict[str, Any]) -> Row:
    """Switch chat and/or call on or off (one statement). Returns at least presence_status,
    chat_enabled, call_enabled."""
    if not changes:
        return await _active(ctx, doctor_id)
    async with statements(ctx) as conn:
        doctor = await store.set_availability(conn, doctor_id, chat_enabled=changes.get("chat_enabled"),
                                              call_enabled=changes.get("call_enabled"))
    if doctor is None:
        raise not_found()
    return doctor


async def update_profile(ctx: Context, doctor_id: uuid.UUID, changes: dict[str, Any]) -> Row:
    """The doctor edits their own profile (the fields of schemas.doctors.ProfileUpdate; price,
    featuring and login email are the admin's). One statement."""
    if not changes:
        return await _active(ctx, doctor_id)
    async with statements(ctx) as conn:
        doctor = await store.update_doctor(conn, doctor_id, changes, include_inactive=False)
    if doctor is None:
        raise not_found()
    return doctor


async def _active(ctx: Context, doctor_id: uuid.UUID) -> Row:
    async with reading(ctx) as conn:
        doctor = await store.get_doctor(conn, doctor_id)
    if doctor is None:
        raise not_found()
    return doctor


# --- favourites (patients) ----------------------------------------------------------------

async def set_favourite(ctx: Context, user_id: uuid.UUID, doctor_id: uuid.UUID, *, add: bool) -> None:
    """Idempotent add or remove. Only active doctors can be added; a deactivated one can still be
    removed."""
    async with transaction(ctx) as conn:
        if not await store.doctor_exists(conn, doctor_id, include_inactive=not add):
            raise not_found()
        if add:
            await store.add_favourite(conn, user_id, doctor_id)
        else:
            await store.remove_favourite(conn, user_id, doctor_id)
