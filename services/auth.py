"""Authentication use cases: a patient's OTP login (request a code, verify it), the password logins of
doctors and admins, refresh-token rotation and logout. Each owns its transaction; the rules come
from domain.otp and domain.tokens, the rows from storage.otp, storage.users, storage.credentials,
storage.accounts and storage.auth_tokens.

A token pair comes from domain.tokens.new_pair (a new family per login, `_issue`; the same family on
rotation, `refresh`), its refresh token stored as its fingerprint. A revocation is written to the
revocation log in the transaction that makes it; the process that made it must make it effective
before answering: logout's caller does that after the use case returns (gateway.auth.sync), refresh
awaits the `revoked` it is given when a reused token revoked its login (the 401 then follows).

What comes from outside is passed in: the SMS provider, the revocation view's sync, the fixed code
of a configured test number (the handler recognises those, before any rate limit).
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from typing import Any, Awaitable, Callable

from storage.pool import Connection

from common.passwords import verify_password
from config import Settings
from domain import otp as otp_rules
from domain import tokens
from domain.errors import NotFound, ServiceUnavailable, TooManyRequests, Unauthorized
from domain.otp import Outcome
from domain.roles import Role
from integrations.sms import SmsError, SmsProvider, mask_phone
from services.context import Context, reading, statements, transaction
from storage import accounts, credentials, users, wallet
from storage import auth_tokens as store
from storage import otp as otp_store

log = logging.getLogger(__name__)
Row = dict[str, Any]
Revoked = Callable[[], Awaitable[None]]


def _inactive() -> Unauthorized:
    return Unauthorized("Account inactive", code="ACCOUNT_INACTIVE")


# --- OTP login (patients) -----------------------------------------------------------------

async def request_otp(ctx: Context, sms: SmsProvider, phone: str, *, platform: str | None,
                      min_interval: float | None = None) -> None:
    """A new code for the phone (replacing its previous one), sent by SMS. A code the provider did not
    take is discarded again (never left usable undelivered) and the answer is 503 SMS_UNAVAILABLE.
    The code is stored before sending, in a statement of its own: no connection is held meanwhile.
    `min_interval` (seconds; the rate limits are degraded, Redis being down): no new code while the
    phone's current one is younger than that, on any process (429 with Retry-After), so the paid
    SMS channel stays limited across every server."""
    settings, now = ctx.settings, ctx.now()
    code = otp_rules.new_code()
    hashed = otp_rules.code_hash(settings.jwt_secret, phone, code)
    expires = otp_rules.expires_at(now, settings.otp_ttl)
    async with statements(ctx) as conn:
        if min_interval is None:
            await otp_store.save_code(conn, phone, hashed, now=now, expires_at=expires)
        else:
            spacing = dt.timedelta(seconds=min_interval)
            current = await otp_store.save_code_spaced(conn, phone, hashed, now=now, expires_at=expires,
                                                       not_after=now - spacing)
            if current is not None:
                wait = (current + spacing - now).total_seconds()
                raise TooManyRequests("Too many OTP requests; try again later", retry_after=max(1, math.ceil(wait)))
    try:
        await sms.send_otp(phone, code, platform=platform)
    except SmsError as exc:
        log.error("OTP SMS to %s failed: %s", mask_phone(phone), exc)
        async with statements(ctx) as conn:
            await otp_store.discard_code(conn, phone, hashed)
        raise ServiceUnavailable("SMS could not be sent; try again shortly", code="SMS_UNAVAILABLE") from None
    log.info("OTP sent to %s", mask_phone(phone))


async def verify_otp(ctx: Context, phone: str, code: str, *, name: str | None,
                     test_code: str | None = None) -> tokens.TokenPair:
    """The patient's token pair for a right code (`test_code`: the fixed code of a configured test
    number, nothing stored). The patient is created at their first login, and a patient without a
    name takes `name`. A wrong try counts against the code and commits before the 401; too many
    burn it (429 OTP_LOCKED until it expires)."""
    settings, now = ctx.settings, ctx.now()
    pair = None
    # Errors are raised after the block: a wrong try must commit its attempt count.
    async with transaction(ctx) as conn:
        if test_code is not None:
            outcome, retry_after = (Outcome.ACCEPTED if otp_rules.codes_match(test_code, code) else Outcome.INVALID), 0
        else:
            outcome, retry_after = await _check_code(conn, phone, otp_rules.code_hash(settings.jwt_secret, phone, code),
                                                     now=now, max_attempts=settings.otp_max_attempts)
        if outcome is Outcome.ACCEPTED:
            user, created = await users.login_user(conn, phone, name, now)
            if user["is_active"]:
                pair = await _issue(conn, settings, Role.CLIENT, user["id"], now)
                if created:
                    log.info("new patient %s registered from %s", user["id"], mask_phone(phone))
                    if test_code is not None and not settings.is_production:
                        await wallet.apply_change(conn, user["id"], otp_rules.DEMO_WALLET_BALANCE, "bonus",
                                                  description="Demo balance", reference_type="demo_seed",
                                                  reference_id=str(user["id"]))
    if outcome is Outcome.LOCKED:
        raise TooManyRequests("Too many wrong codes; request a new code", retry_after=retry_after, code="OTP_LOCKED")
    if outcome is Outcome.INVALID:
        raise Unauthorized("Invalid or expired code", code="INVALID_OTP")
    if pair is None:
        raise _inactive()
    return pair


async def _check_code(conn: Connection, phone: str, hashed: str, *, now: dt.datetime,
                      max_attempts: int) -> tuple[Outcome, int]:
    """The outcome of a code, and when LOCKED the seconds until the burnt code expires."""
    if await otp_store.take_code(conn, phone, hashed, now=now, max_attempts=max_attempts):
        return Outcome.ACCEPTED, 0
    if await otp_store.count_wrong_try(conn, phone, now=now, max_attempts=max_attempts):
        return Outcome.INVALID, 0
    burnt_until = await otp_store.burnt_until(conn, phone, now=now, max_attempts=max_attempts)
    if burnt_until is not None:
        return Outcome.LOCKED, otp_rules.retry_after(burnt_until, now)
    await otp_store.delete_expired(conn, phone, now=now)
    return Outcome.INVALID, 0


# --- password logins (doctors, admins) ----------------------------------------------------

async def doctor_login(ctx: Context, email: str, password: str) -> tokens.TokenPair:
    async with reading(ctx) as conn:
        doctor = await credentials.doctor_by_email(conn, email)
    return await _password_login(ctx, Role.DOCTOR, doctor, password, "Incorrect email or password")


async def admin_login(ctx: Context, login: str, password: str) -> tokens.TokenPair:
    """An admin signs in with the username or the email."""
    async with reading(ctx) as conn:
        admin = await credentials.admin_by_login(conn, login)
    return await _password_login(ctx, Role.ADMIN, admin, password, "Incorrect username or password")


async def _password_login(ctx: Context, role: Role, account: Row | None, password: str,
                          refusal: str) -> tokens.TokenPair:
    """Same answer, and the same argon2 cost, for an unknown login and a wrong password. The
    password is checked with no connection held; the pair is one statement."""
    if not await verify_password(account["password_hash"] if account else None, password):
        raise Unauthorized(refusal, code="INVALID_CREDENTIALS")
    assert account is not None  # verify_password is False without a hash
    if not account["is_active"]:
        raise _inactive()
    async with statements(ctx) as conn:
        return await _issue(conn, ctx.settings, role, account["id"], ctx.now())


async def admin_profile(ctx: Context, admin_id: uuid.UUID) -> Row:
    async with reading(ctx) as conn:
        admin = await credentials.admin_profile(conn, admin_id)
    if admin is None:
        raise NotFound("Admin not found")
    return admin


# --- refresh and logout -------------------------------------------------------------------

async def refresh(ctx: Context, refresh_token: str, *, revoked: Revoked) -> tokens.TokenPair:
    """Exchange an unexpired refresh token for a new pair in the same login (family).

    Presenting a token that was already exchanged (stolen, or replayed) revokes its whole login: its
    refresh tokens and every access token issued in it; `revoked` is awaited after that commits and
    before the 401 TOKEN_REVOKED. Of concurrent exchanges of one token one wins, and the others
    count as replays. A token of an inactive account is refused without being used up."""
    settings, now = ctx.settings, ctx.now()
    claims = tokens.decode(settings.jwt_secret, refresh_token, expected_type="refresh", now=now)
    pair: tokens.TokenPair | None = None
    failure: Unauthorized | None = None
    reused = False
    # Failures are raised after the block: a replay's revocation must commit before the 401.
    async with transaction(ctx) as conn:
        row = await store.refresh_token(conn, claims.jti)
        if row is None or not tokens.is_issued(row["token_hash"], row["subject_id"], row["role"], claims, refresh_token):
            failure = Unauthorized("Invalid refresh token", code="INVALID_TOKEN")
        elif not await accounts.active_for_exchange(conn, row["role"], row["subject_id"]):
            failure = _inactive()
        else:
            pair = _new_pair(settings, row["role"], row["subject_id"], now, family=row["family_id"])
            if await store.rotate(conn, claims.jti, now, replaced_by=pair.refresh.jti):
                await store.insert_refresh_token(conn, pair.refresh, tokens.fingerprint(pair.refresh_token))
            else:
                await store.record_revocations(conn, await _revoke_family(conn, row["family_id"], now, settings))
                failure = Unauthorized("Refresh token already used; please log in again", code="TOKEN_REVOKED")
                reused = True
    if reused:
        await revoked()  # the login's access tokens die here before the client hears of it
    if failure is not None:
        raise failure
    assert pair is not None
    return pair


async def logout(ctx: Context, claims: tokens.Claims) -> None:
    """This access token and, when it has one, its whole login (its refresh tokens, the login's other
    access tokens, issued before or after a refresh). The caller makes it effective in its own
    process before answering (gateway.auth.sync)."""
    now = ctx.now()
    async with transaction(ctx) as conn:
        revocations = []
        if claims.family is not None:
            revocations = await _revoke_family(conn, claims.family, now, ctx.settings)
        await store.record_revocations(conn, revocations + [tokens.token_revocation(claims)])


# --- steps inside a use case's transaction ------------------------------------------------

def _new_pair(settings: Settings, role: str, subject_id: uuid.UUID, now: dt.datetime,
              family: uuid.UUID | None = None) -> tokens.TokenPair:
    return tokens.new_pair(settings.jwt_secret, role=role, subject=subject_id, now=now,
                           access_ttl=settings.access_token_ttl, refresh_ttl=settings.refresh_token_ttl, family=family)


async def _issue(conn: Connection, settings: Settings, role: str, subject_id: uuid.UUID,
                 now: dt.datetime) -> tokens.TokenPair:
    """A new login: a token pair in a new family, its refresh token stored (as its fingerprint)."""
    pair = _new_pair(settings, role, subject_id, now)
    await store.insert_refresh_token(conn, pair.refresh, tokens.fingerprint(pair.refresh_token))
    return pair


async def _revoke_family(conn: Connection, family: uuid.UUID, now: dt.datetime,
                         settings: Settings) -> list[tokens.Revocation]:
    """Revoke a login's live refresh tokens; the log entry refusing its access tokens, to be recorded
    last in the transaction (none when no token was live: it was revoked before, and is logged)."""
    if await store.revoke_family(conn, family, now):
        return [tokens.family_revocation(family, now, settings.access_token_ttl)]
    return []
