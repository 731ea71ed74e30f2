"""Start-up data: the bootstrap admin (only when no admin exists yet), SQL text on the driver."""
from __future__ import annotations

import logging

from storage.pool import Pool

from common.passwords import hash_password
from config import Settings
from storage import driver

log = logging.getLogger(__name__)

_ANY_ADMIN = "SELECT EXISTS (SELECT 1 FROM admins)"
_INSERT_ADMIN = """INSERT INTO admins (username, email, full_name, password_hash) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING"""


async def ensure_bootstrap_admin(engine: Pool, settings: Settings) -> None:
    """Create the configured admin when there is no admin at all (the password is hashed only then)."""
    username, password = settings.admin_bootstrap_username, settings.admin_bootstrap_password
    if not username or not password:
        return
    async with engine.begin() as conn:
        if await driver.fetchval(conn, _ANY_ADMIN):
            return
        await driver.execute(conn, _INSERT_ADMIN, username, username if "@" in username else None, "Administrator",
                             await hash_password(password))
    log.info("bootstrap admin %r created", username)
