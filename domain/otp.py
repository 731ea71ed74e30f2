"""Pure OTP rules: how codes are made, and the configured fixed codes of test numbers."""
from __future__ import annotations

import hmac
import secrets
from typing import Callable, Mapping

CODE_DIGITS = 6


def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def fixed_test_code(test_numbers: Mapping[str, str], phone: str,
                    normalize: Callable[[str], str | None]) -> str | None:
    """The fixed code when `phone` (E.164) is a configured test number, else None."""
    for listed, code in test_numbers.items():
        if listed == phone or normalize(listed) == phone:
            return code
    return None


def codes_match(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())
