"""Constant-time comparison of a presented secret (a signature, a token) with the expected one."""
from __future__ import annotations

import hmac


def same_secret(expected: str, given: str) -> bool:
    """hmac.compare_digest over UTF-8 bytes: on str it raises TypeError for any non-ASCII character, and
    a plain .encode() raises on the surrogates aiohttp decodes undecodable header bytes to; a presented
    value of any characters is simply not equal (never a 500)."""
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass"))
