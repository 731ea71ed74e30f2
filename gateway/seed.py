"""Local-mode demo data (doctors, categories, catalog, offers), seeded once, idempotently."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web

from config import Settings


async def demo_seed_ctx(app: web.Application) -> AsyncIterator[None]:
    yield


def login_help(settings: Settings) -> list[str]:
    """Lines printed at start in local mode: how to log in."""
    lines = []
    if settings.otp_test_numbers:
        phone, code = next(iter(settings.otp_test_numbers.items()))
        lines.append(f"patient login: POST /api/v2/auth/verify-otp with phone {phone} and code {code}")
    else:
        lines.append("patient login: POST /api/v2/auth/request-otp; the code is written to this log")
    if settings.admin_bootstrap_username:
        lines.append(f"admin login: {settings.admin_bootstrap_username} / (ADMIN_BOOTSTRAP_PASSWORD)")
    return lines
