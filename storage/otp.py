"""One-time login codes: stored as an HMAC, one live code per phone, single use, attempt-limited."""
from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import otp_codes


def code_hash(secret: str, phone: str, code: str) -> str:
    """HMAC-SHA256 under a key derived from the JWT secret: a leaked table does not yield codes."""
    key = hashlib.sha256(b"allign-otp-v1:" + secret.encode()).digest()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    INVALID = "invalid"    # wrong, expired or never requested
    LOCKED = "locked"      # burnt by too many wrong tries


async def save_code(conn: AsyncConnection, phone: str, hashed: str, *, now: dt.datetime, ttl: int) -> None:
    """A new code replaces the phone's previous one and starts with a clean attempt count."""
    values = {"code_hash": hashed, "expires_at": now + dt.timedelta(seconds=ttl), "attempts": 0, "created_at": now}
    await conn.execute(insert(otp_codes).values(phone=phone, **values)
                       .on_conflict_do_update(index_elements=[otp_codes.c.phone], set_=values))


async def discard_code(conn: AsyncConnection, phone: str, hashed: str) -> None:
    """Only this code: a newer one requested meanwhile stays usable."""
    await conn.execute(sa.delete(otp_codes).where(otp_codes.c.phone == phone, otp_codes.c.code_hash == hashed))


async def consume_code(conn: AsyncConnection, phone: str, hashed: str, *, now: dt.datetime,
                       max_attempts: int) -> tuple[Outcome, int]:
    """Check a code; returns the outcome and, when LOCKED, seconds until the burnt code expires.

    The matching code is taken with a conditional DELETE, so of two concurrent checks only one
    gets the row; a wrong code bumps the attempt count with a conditional UPDATE.
    """
    live = sa.and_(otp_codes.c.phone == phone, otp_codes.c.expires_at > now)
    taken = await conn.scalar(
        sa.delete(otp_codes)
        .where(live, otp_codes.c.code_hash == hashed, otp_codes.c.attempts < max_attempts)
        .returning(otp_codes.c.phone))
    if taken is not None:
        return Outcome.ACCEPTED, 0
    bumped = await conn.scalar(
        sa.update(otp_codes).where(live, otp_codes.c.attempts < max_attempts)
        .values(attempts=otp_codes.c.attempts + 1).returning(otp_codes.c.attempts))
    if bumped is not None:
        return Outcome.INVALID, 0
    burnt_until = await conn.scalar(
        sa.select(otp_codes.c.expires_at).where(live, otp_codes.c.attempts >= max_attempts))
    if burnt_until is not None:
        return Outcome.LOCKED, max(1, int((burnt_until - now).total_seconds()) + 1)
    await conn.execute(sa.delete(otp_codes).where(otp_codes.c.phone == phone, otp_codes.c.expires_at <= now))
    return Outcome.INVALID, 0
