"""One-time login codes (SQL text on the driver): stored as an HMAC (domain.otp.code_hash), one live
code per phone, single use, attempt-limited. services.auth decides what a check means.

A check takes the matching code with a conditional DELETE, so of two concurrent checks only one gets
the row; a wrong code bumps the attempt count with a conditional UPDATE.
"""
from __future__ import annotations

import datetime as dt

from storage.pool import Connection

from storage import driver

# A new code replaces the phone's previous one and starts with a clean attempt count.
_SAVE = """INSERT INTO otp_codes (phone, code_hash, expires_at, attempts, created_at) VALUES ($1, $2, $3, 0, $4)
ON CONFLICT (phone) DO UPDATE SET code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at,
                                  attempts = 0, created_at = EXCLUDED.created_at"""
# The same, unless the phone's current code is younger than $5 (created after it): no row then.
_SAVE_SPACED = _SAVE + "\nWHERE otp_codes.created_at <= $5 RETURNING phone"
_CREATED_AT = "SELECT created_at FROM otp_codes WHERE phone = $1"
_DISCARD = "DELETE FROM otp_codes WHERE phone = $1 AND code_hash = $2"
# $1 phone, $2 now, $3 the code's hash / the attempt limit.
_TAKE = ("DELETE FROM otp_codes WHERE phone = $1 AND expires_at > $2 AND code_hash = $3 AND attempts < $4 "
         "RETURNING phone")
_WRONG_TRY = ("UPDATE otp_codes SET attempts = attempts + 1 WHERE phone = $1 AND expires_at > $2 AND attempts < $3 "
              "RETURNING attempts")
_BURNT_UNTIL = "SELECT expires_at FROM otp_codes WHERE phone = $1 AND expires_at > $2 AND attempts >= $3"
_DELETE_EXPIRED = "DELETE FROM otp_codes WHERE phone = $1 AND expires_at <= $2"


async def save_code(conn: Connection, phone: str, hashed: str, *, now: dt.datetime,
                    expires_at: dt.datetime) -> None:
    await driver.execute(conn, _SAVE, phone, hashed, expires_at, now)


async def save_code_spaced(conn: Connection, phone: str, hashed: str, *, now: dt.datetime,
                           expires_at: dt.datetime, not_after: dt.datetime) -> dt.datetime | None:
    """Save the code unless the phone's current one was created after `not_after` (one statement, so
    concurrent requests on any process cannot both pass); None if saved, else when the current one
    was created."""
    if await driver.fetchval(conn, _SAVE_SPACED, phone, hashed, expires_at, now, not_after) is not None:
        return None
    return await driver.fetchval(conn, _CREATED_AT, phone) or now


async def discard_code(conn: Connection, phone: str, hashed: str) -> None:
    """Only this code: a newer one requested meanwhile stays usable."""
    await driver.execute(conn, _DISCARD, phone, hashed)


async def take_code(conn: Connection, phone: str, hashed: str, *, now: dt.datetime, max_attempts: int) -> bool:
    """Delete the phone's live, not yet burnt code if it is this one; whether it was."""
    return await driver.fetchval(conn, _TAKE, phone, now, hashed, max_attempts, begin=True) is not None


async def count_wrong_try(conn: Connection, phone: str, *, now: dt.datetime, max_attempts: int) -> bool:
    """Count a wrong try against the phone's live, not yet burnt code; whether there was one."""
    return await driver.fetchval(conn, _WRONG_TRY, phone, now, max_attempts, begin=True) is not None


async def burnt_until(conn: Connection, phone: str, *, now: dt.datetime, max_attempts: int) -> dt.datetime | None:
    """When the phone's live code burnt by too many wrong tries expires; None if it has none."""
    return await driver.fetchval(conn, _BURNT_UNTIL, phone, now, max_attempts)


async def delete_expired(conn: Connection, phone: str, *, now: dt.datetime) -> None:
    await driver.execute(conn, _DELETE_EXPIRED, phone, now, begin=True)
