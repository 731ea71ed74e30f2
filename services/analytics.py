"""Analytics use cases (reads): the patient's overview and history, the doctor's performance and
review figures, and the admin's view of a patient (audited: an admin reading a patient's data is
recorded in the audit log in the same transaction as the read).

Ranges and buckets are cut in the caller's zone (domain.analytics); the figures come from
storage.analytics.
"""
from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from domain import analytics as rules
from domain.analytics import DateBound, DateRange, Period
from domain.errors import NotFound
from domain.profile import bmi
from services.audit import Actor, audited
from services.context import Context, reading
from storage import analytics, users

Row = dict[str, Any]
USER = "user"  # the audit log's target type


def _user_not_found() -> NotFound:
    return NotFound("User not found", code="USER_NOT_FOUND")


def _overview(row: Row | None) -> Row:
    if row is None:
        raise _user_not_found()
    return {"sessions_count": row["sessions_count"], "followups_count": row["followups_count"],
            "bmi": bmi(row["height_cm"], row["weight_kg"]), "doctors_consulted_count": row["doctors_consulted_count"]}


async def user_overview(ctx: Context, user_id: uuid.UUID) -> Row:
    async with reading(ctx) as conn:
        return _overview(await analytics.patient_overview(conn, user_id))


async def user_sessions(ctx: Context, user_id: uuid.UUID, limit: int, offset: int) -> tuple[list[Row], int]:
    async with reading(ctx) as conn:
        return await analytics.patient_sessions(conn, user_id, limit, offset)


async def admin_user_overview(ctx: Context, actor: Actor, user_id: uuid.UUID) -> Row:
    async with audited(ctx, actor, "user.analytics.overview.read", USER, user_id) as (conn, _):
        return _overview(await analytics.patient_overview(conn, user_id))


async def admin_user_sessions(ctx: Context, actor: Actor, user_id: uuid.UUID, limit: int,
                              offset: int) -> tuple[list[Row], int]:
    async with audited(ctx, actor, "user.analytics.sessions.read", USER, user_id) as (conn, _):
        if not await users.user_exists(conn, user_id):
            raise _user_not_found()
        return await analytics.patient_sessions(conn, user_id, limit, offset)


async def doctor_performance(ctx: Context, doctor_id: uuid.UUID, date_range: DateRange, zone: ZoneInfo) -> Row:
    """Ended sessions (by end time), their billed minutes and earnings, and the reviews written in
    the range: today / this week / this month / this year in `zone`, or all time."""
    start, end = rules.range_bounds(ctx.now(), zone, date_range)
    async with reading(ctx) as conn:
        sessions = await analytics.doctor_sessions(conn, doctor_id, start, end)
        figures = await analytics.doctor_reviews(conn, doctor_id, start, end)
    return {"date_range": date_range.value, "timezone": zone.key, "start": start, "end": end,
            "total_sessions": sessions["sessions"], "total_minutes": sessions["minutes"],
            "total_earnings": sessions["earnings"], "average_rating": rules.average(figures["average_rating"]),
            "total_reviews": figures["reviews"]}


async def review_metrics(ctx: Context, doctor_id: uuid.UUID, date_from: DateBound | None, date_to: DateBound | None,
                         zone: ZoneInfo) -> Row:
    start, end = rules.bounds(date_from, date_to, zone)
    async with reading(ctx) as conn:
        figures = await analytics.doctor_reviews(conn, doctor_id, start, end)
    total, replied = figures["reviews"], figures["replied"]
    return {"start": start, "end": end, "total_reviews": total, "average_rating": rules.average(figures["average_rating"]),
            "replied_count": replied, "unreplied_count": total - replied, "reply_rate": rules.percent(replied, total)}


async def review_trends(ctx: Context, doctor_id: uuid.UUID, period: Period, date_from: DateBound | None,
                        date_to: DateBound | None, zone: ZoneInfo) -> Row:
    """Reviews per day / week (from Monday) / month of `zone`, every bucket of the window present."""
    starts, start, end = rules.trend_window(ctx.now(), zone, period, date_from, date_to)
    async with reading(ctx) as conn:
        found = await analytics.review_trends(conn, doctor_id, start, end, period.value, zone.key)
    return {"period": period.value, "timezone": zone.key, "start": start, "end": end,
            "buckets": rules.trend_buckets(starts, period, found)}


async def rating_distribution(ctx: Context, doctor_id: uuid.UUID) -> Row:
    async with reading(ctx) as conn:
        counts = await analytics.rating_distribution(conn, doctor_id)
    return {"distribution": rules.distribution(counts), "total_reviews": sum(counts.values())}

