"""The analytics rules (pure): ranges and buckets cut in a time zone."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from domain import analytics as rules
from domain.analytics import DateRange, Period
from domain.errors import ValidationFailed

UTC = dt.timezone.utc
UTC_ZONE = ZoneInfo("UTC")
IST = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")
# Wednesday 2025-12-31 20:00 in UTC is already Thursday 2026-01-01 01:30 in Kolkata.
NOW = dt.datetime(2025, 12, 31, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(("date_range", "zone", "start", "end"), [
    (DateRange.TODAY, UTC_ZONE, dt.datetime(2025, 12, 31, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)),
    (DateRange.TODAY, IST, dt.datetime(2025, 12, 31, 18, 30, tzinfo=UTC), dt.datetime(2026, 1, 1, 18, 30, tzinfo=UTC)),
    (DateRange.WEEK, IST, dt.datetime(2025, 12, 28, 18, 30, tzinfo=UTC), dt.datetime(2026, 1, 4, 18, 30, tzinfo=UTC)),
    (DateRange.MONTH, UTC_ZONE, dt.datetime(2025, 12, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)),
    (DateRange.MONTH, IST, dt.datetime(2025, 12, 31, 18, 30, tzinfo=UTC), dt.datetime(2026, 1, 31, 18, 30, tzinfo=UTC)),
    (DateRange.YEAR, UTC_ZONE, dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)),
    (DateRange.YEAR, IST, dt.datetime(2025, 12, 31, 18, 30, tzinfo=UTC), dt.datetime(2026, 12, 31, 18, 30, tzinfo=UTC)),
])
def test_ranges_are_local_calendar_periods(date_range, zone, start, end):
    assert rules.range_bounds(NOW, zone, date_range) == (start, end)


def test_all_time_has_no_bounds():
    assert rules.range_bounds(NOW, IST, DateRange.ALL_TIME) == (None, None)


def test_a_day_across_a_dst_change_is_23_hours():
    start, end = rules.range_bounds(dt.datetime(2026, 3, 8, 16, 0, tzinfo=UTC), NEW_YORK, DateRange.TODAY)
    assert (start, end) == (dt.datetime(2026, 3, 8, 5, 0, tzinfo=UTC), dt.datetime(2026, 3, 9, 4, 0, tzinfo=UTC))


def test_bounds_from_dates_and_instants():
    assert rules.bounds(dt.date(2026, 2, 1), dt.date(2026, 2, 28), IST) == (
        dt.datetime(2026, 1, 31, 18, 30, tzinfo=UTC), dt.datetime(2026, 2, 28, 18, 30, tzinfo=UTC))
    naive = dt.datetime(2026, 2, 1, 9, 0)  # local to the zone
    assert rules.bounds(naive, None, IST) == (dt.datetime(2026, 2, 1, 3, 30, tzinfo=UTC), None)
    end = dt.datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    assert rules.bounds(None, end, IST) == (None, end + dt.timedelta(microseconds=1))
    with pytest.raises(ValidationFailed):
        rules.bounds(dt.date(2026, 2, 2), dt.date(2026, 2, 1), IST)


def test_week_buckets_start_on_monday_across_a_month_end():
    starts, start, end = rules.trend_window(NOW, UTC_ZONE, Period.WEEK, dt.date(2026, 1, 28), dt.date(2026, 2, 3))
    assert starts == [dt.date(2026, 1, 26), dt.date(2026, 2, 2)]
    assert (start, end) == (dt.datetime(2026, 1, 28, tzinfo=UTC), dt.datetime(2026, 2, 4, tzinfo=UTC))
    items = rules.trend_buckets(starts, Period.WEEK, {dt.date(2026, 2, 2): (3, 4.166666)})
    assert items == [
        {"period_start": dt.date(2026, 1, 26), "period_end": dt.date(2026, 2, 1), "count": 0, "average_rating": None},
        {"period_start": dt.date(2026, 2, 2), "period_end": dt.date(2026, 2, 8), "count": 3, "average_rating": 4.17}]



def test_default_windows_end_today_in_the_zone():
    days, _, _ = rules.trend_window(NOW, IST, Period.DAY, None, None)
    assert (len(days), days[-1]) == (30, dt.date(2026, 1, 1))  # already the 1st in Kolkata
    months, start, _ = rules.trend_window(NOW, UTC_ZONE, Period.MONTH, None, None)
    assert (len(months), months[0], months[-1]) == (12, dt.date(2025, 1, 1), dt.date(2025, 12, 1))
    assert start == dt.datetime(2025, 1, 1, tzinfo=UTC)
    weeks, _, _ = rules.trend_window(NOW, UTC_ZONE, Period.WEEK, None, None)
    assert (len(weeks), weeks[-1]) == (12, dt.date(2025, 12, 29))


def test_too_many_buckets_is_422():
    with pytest.raises(ValidationFailed):
        rules.trend_window(NOW, UTC_ZONE, Period.DAY, dt.date(2024, 1, 1), dt.date(2025, 12, 31))
    assert len(rules.trend_window(NOW, UTC_ZONE, Period.DAY, dt.date(2025, 1, 1), dt.date(2025, 12, 31))[0]) == 365


def test_distribution_always_has_five_stars():
    assert rules.distribution({4: 2}) == {"1": 0, "2": 0, "3": 0, "4": 2, "5": 0}
    assert rules.percent(1, 3) == 33.3 and rules.percent(0, 0) == 0.0
