"""Analytics rules (pure): date ranges and buckets cut in a time zone, and the shapes of the figures.

Every range is [start, end) of local calendar days in the caller's zone, turned into UTC instants
(DST-safe: each bound is a local midnight). Weeks start on Monday (ISO), as PostgreSQL's
date_trunc('week') does, so the buckets computed here and the ones the database groups by agree.
"""
from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

from domain.errors import ValidationFailed
from domain.reviews import STARS

DateBound = dt.date | dt.datetime


class DateRange(StrEnum):
    TODAY = "today"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    ALL_TIME = "all_time"


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


MAX_BUCKETS = 366
# Without date_from, trends cover this many buckets up to date_to (default: today).
DEFAULT_BUCKETS = {Period.DAY: 30, Period.WEEK: 12, Period.MONTH: 12}


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.timezone.utc)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def bucket_start(day: dt.date, period: Period) -> dt.date:
    if period == Period.WEEK:
        return day - dt.timedelta(days=day.weekday())
    if period == Period.MONTH:
        return day.replace(day=1)
    return day


def next_bucket(start: dt.date, period: Period) -> dt.date:
    if period == Period.WEEK:
        return start + dt.timedelta(days=7)
    if period == Period.MONTH:
        return _add_months(start, 1)
    return start + dt.timedelta(days=1)


def range_bounds(now: dt.datetime, zone: ZoneInfo, date_range: DateRange) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end) of today / this week (from Monday) / this month / this year in `zone`; all time: no bounds."""
    if date_range == DateRange.ALL_TIME:
        return None, None
    today = now.astimezone(zone).date()
    if date_range == DateRange.TODAY:
        first, after = today, today + dt.timedelta(days=1)
    elif date_range == DateRange.WEEK:
        first = bucket_start(today, Period.WEEK)
        after = first + dt.timedelta(days=7)
    elif date_range == DateRange.MONTH:
        first = today.replace(day=1)
        after = _add_months(first, 1)
    else:
        first = today.replace(month=1, day=1)
        after = first.replace(year=first.year + 1)
    return local_midnight(first, zone), local_midnight(after, zone)


def _instant(value: DateBound, zone: ZoneInfo, *, end: bool) -> dt.datetime:
    if isinstance(value, dt.datetime):
        instant = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        # A moment given as the end is included.
        return (instant + dt.timedelta(microseconds=1) if end else instant).astimezone(dt.timezone.utc)
    return local_midnight(value + dt.timedelta(days=1) if end else value, zone)


def bounds(date_from: DateBound | None, date_to: DateBound | None,
           zone: ZoneInfo) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end) for optional ISO 8601 bounds: a date is a whole local day (date_to included), a
    datetime an instant (naive: local to `zone`). date_from after date_to: 422."""
    start = _instant(date_from, zone, end=False) if date_from is not None else None
    end = _instant(date_to, zone, end=True) if date_to is not None else None
    if start is not None and end is not None and start >= end:
        raise ValidationFailed.single("query", "date_from", "Must not be after date_to")
    return start, end


def _local_day(value: DateBound, zone: ZoneInfo) -> dt.date:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=zone)).astimezone(zone).date()
    return value


def trend_window(now: dt.datetime, zone: ZoneInfo, period: Period, date_from: DateBound | None,
                 date_to: DateBound | None) -> tuple[list[dt.date], dt.datetime, dt.datetime]:
    """The buckets (their first days, every one, empty or not) and the [start, end) instants of a trend.

    Without date_to the window ends today; without date_from it starts DEFAULT_BUCKETS buckets back.
    More than MAX_BUCKETS buckets: 422."""
    last = _local_day(date_to, zone) if date_to is not None else now.astimezone(zone).date()
    if date_from is not None:
        first = _local_day(date_from, zone)
    else:
        first = bucket_start(last, period)
        for _ in range(DEFAULT_BUCKETS[period] - 1):
            first = bucket_start(first - dt.timedelta(days=1), period)
    start, end = bounds(date_from if date_from is not None else first,
                        date_to if date_to is not None else last, zone)
    assert start is not None and end is not None
    starts: list[dt.date] = []
    current = bucket_start(first, period)
    while current <= last:
        starts.append(current)
        if len(starts) > MAX_BUCKETS:
            raise ValidationFailed.single("query", "date_from", f"At most {MAX_BUCKETS} {period.value} buckets")
        current = next_bucket(current, period)
    return starts, start, end


def trend_buckets(starts: Iterable[dt.date], period: Period,
                  rows: Mapping[dt.date, tuple[int, float | None]]) -> list[dict[str, object]]:
    """One item per bucket, in order, the empty ones included: `rows` maps a bucket's first day to
    (count, average rating)."""
    out: list[dict[str, object]] = []
    for start in starts:
        count, mean = rows.get(start, (0, None))
        out.append({"period_start": start, "period_end": next_bucket(start, period) - dt.timedelta(days=1),
                    "count": count, "average_rating": average(mean)})
    return out


def average(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def distribution(counts: Mapping[int, int]) -> dict[str, int]:
    """Counts per whole star, every star 1–5 present."""
    return {str(s): int(counts.get(s, 0)) for s in STARS}


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0
