"""Pure OTP rules: how codes are made and stored (an HMAC, never the code), the outcome of a check,
and the configured fixed codes of test numbers."""
from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import secrets
from typing import Callable, Mapping

CODE_DIGITS = 6


def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


DEMO_WALLET_BALANCE = 100_000  # paise (₹1000): a test number's patient starts with it (never in production)


def fixed_test_code(test_numbers: Mapping[str, str], phone: str, normalize: Callable[[str], str | None],
                    prefix: str = "", prefix_code: str = "") -> str | None:
    """The fixed code when `phone` (E.164) is a configured test number or has the test prefix
    (OTP_TEST_PREFIX, for load tests), else None."""
    for listed, code in test_numbers.items():
        if listed == phone or normalize(listed) == phone:
            return code
    if prefix and prefix_code and phone.startswith(prefix):
        return prefix_code
    return None


def codes_match(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def code_hash(secret: str, phone: str, code: str) -> str:
    """HMAC-SHA256 under a key derived from the JWT secret: a leaked table does not yield codes."""
    key = hashlib.sha256(b"allign-otp-v1:" + secret.encode()).digest()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def expires_at(now: dt.datetime, ttl: int) -> dt.datetime:
    return now + dt.timedelta(seconds=ttl)


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    INVALID = "invalid"    # wrong, expired or never requested
    LOCKED = "locked"      # burnt by too many wrong tries


def retry_after(burnt_until: dt.datetime, now: dt.datetime) -> int:
    """Seconds until a code burnt by too many wrong tries expires (a new one can be asked before)."""
    return max(1, int((burnt_until - now).total_seconds()) + 1)
