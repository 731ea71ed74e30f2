"""Health category use cases: the admin's create, update and delete (one statement each, audited in
its transaction), and the patients' list, which needs a complete profile."""
from __future__ import annotations

import uuid
from typing import Any

from domain.errors import Conflict, NotFound
from domain.profile import is_profile_completed
from services.audit import Actor, audited
from services.context import Context, reading
from storage import categories as store
from storage import users

Row = dict[str, Any]
CATEGORY = "category"  # the audit log's target type


def not_found() -> NotFound:
    return NotFound("Category not found", code="CATEGORY_NOT_FOUND")


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A category named {name!r} already exists", code="CATEGORY_EXISTS")


async def create(ctx: Context, actor: Actor, values: dict[str, Any]) -> Row:
    """A new category; a name already taken (in any letter case) is 409."""
    async with audited(ctx, actor, "category.create", CATEGORY, changed_fields=values) as (conn, entry):
        try:
            row = await store.create_category(conn, values)
        except store.NameTaken:
            raise _name_taken(values["name"]) from None
        entry.target_id = str(row["id"])
    return row


async def update(ctx: Context, actor: Actor, category_id: uuid.UUID, changes: dict[str, Any]) -> Row:
    """Partial update (nothing to change reads it); a name already taken is 409."""
    async with audited(ctx, actor, "category.update", CATEGORY, category_id, changed_fields=changes) as (conn, _):
        try:
            row = (await store.update_category(conn, category_id, changes) if changes
                   else await store.get_category(conn, category_id))
        except store.NameTaken:
            raise _name_taken(changes.get("name", "")) from None
        if row is None:
            raise not_found()
    return row


async def delete(ctx: Context, actor: Actor, category_id: uuid.UUID) -> None:
    async with audited(ctx, actor, "category.delete", CATEGORY, category_id) as (conn, _):
        if not await store.delete_category(conn, category_id):
            raise not_found()


async def for_patient(ctx: Context, user_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[Row], int]:
    """The active categories, for a patient whose profile has sex and age (409 PROFILE_INCOMPLETE
    otherwise)."""
    async with reading(ctx) as conn:
        user = await users.get_user(conn, user_id)
        if user is None:
            raise NotFound("User not found", code="USER_NOT_FOUND")
        if not is_profile_completed(user):
            raise Conflict("Complete your profile (sex and age) to see health categories",
                           code="PROFILE_INCOMPLETE")
        return await store.categories_page(conn, limit=limit, offset=offset, is_active=True)
