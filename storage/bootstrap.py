"""Start-up data: the bootstrap admin (only when no admin exists yet)."""
from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from config import Settings
from common.passwords import hash_password
from storage.tables import admins

log = logging.getLogger(__name__)


async def ensure_bootstrap_admin(engine: AsyncEngine, settings: Settings) -> None:
    username, password = settings.admin_bootstrap_username, settings.admin_bootstrap_password
    if not username or not password:
        return
    async with engine.begin() as conn:
        if await conn.scalar(sa.select(sa.func.count()).select_from(admins)):
            return
        await conn.execute(insert(admins).values(
            username=username, email=username if "@" in username else None,
            full_name="Administrator", password_hash=await hash_password(password),
        ).on_conflict_do_nothing())
    log.info("bootstrap admin %r created", username)
