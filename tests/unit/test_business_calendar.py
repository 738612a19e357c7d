"""The business calendar: open days, holidays and open-day arithmetic."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from lakeloop.contracts.calendar import EPOCH, BusinessCalendar, CalendarSpec, HolidaySource

D = dt.date


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def test_default_is_open_every_day() -> None:
    cal = BusinessCalendar(None)
    assert cal.periods_per_week == 7
    for day in (D(1999, 12, 31), EPOCH, D(2026, 5, 1), D(2026, 12, 25), D(2060, 2, 29)):
        assert cal.is_open(day) and cal.closed_reason(day) is None
        assert not cal.is_holiday(day) and cal.holiday_name(day) is None
        assert cal.index(day) == (day - EPOCH).days
        assert cal.day_at(cal.index(day)) == day
    assert cal.shift(D(2026, 1, 1), 10) == D(2026, 1, 11)
    assert cal.holidays_between(D(2026, 1, 1), D(2026, 12, 31)) == []
    assert BusinessCalendar(CalendarSpec()).index(D(2026, 1, 1)) == (D(2026, 1, 1) - EPOCH).days


def test_sunday_closed() -> None:
    cal = BusinessCalendar(CalendarSpec(closed_weekdays=["sun"]))
    sat, sun, mon = D(2026, 3, 7), D(2026, 3, 8), D(2026, 3, 9)
    assert cal.periods_per_week == 6
    assert not cal.is_open(sun) and cal.closed_reason(sun) == "closed on Sundays"
    assert cal.index(mon) - cal.index(sat) == 1
    with pytest.raises(ValueError, match="no open-day index"):
        cal.index(sun)
    assert cal.index_or_previous(sun) == cal.index(sat)
    assert cal.shift(sat, 1) == mon
    assert cal.shift(mon, -1) == sat
    assert cal.shift(sun, 1) == mon and cal.shift(sun, -1) == sat
    assert cal.shift(sun, 0) == mon and cal.shift(sat, 0) == sat
    assert cal.shift(sat, 6) == D(2026, 3, 14)  # a week of open days later, same weekday
    for day in _days(D(1999, 12, 20), D(2000, 1, 20)) + _days(D(2026, 1, 1), D(2026, 2, 1)):
        if cal.is_open(day):
            assert cal.day_at(cal.index(day)) == day
    # Indices are consecutive over open days, across the epoch too.
    opened = cal.open_days(D(1999, 12, 1), D(2000, 2, 1))
    assert [cal.index(d) for d in opened] == list(range(cal.index(opened[0]),
                                                        cal.index(opened[0]) + len(opened)))
    assert cal.index(EPOCH) == 0  # 2000-01-01 is a Saturday


def test_french_public_holidays_close() -> None:
    cal = BusinessCalendar(CalendarSpec(holidays=HolidaySource(country="FR"),
                                        closed_on_holidays=True))
    for day in (D(2026, 5, 1), D(2026, 7, 14)):
        name = cal.holiday_name(day)
        assert name and cal.is_holiday(day) and not cal.is_open(day)
        assert cal.closed_reason(day) == f"closed: public holiday {name} (FR)"
    assert cal.is_open(D(2026, 5, 2)) and not cal.is_holiday(D(2026, 5, 2))
    assert "Easter Monday" in (cal.closed_reason(D(2026, 4, 6)) or "")
    assert cal.shift(D(2026, 4, 30), 1) == D(2026, 5, 2)
    assert cal.index(D(2026, 5, 2)) - cal.index(D(2026, 4, 30)) == 1
    assert D(2026, 7, 14) in cal.holidays_between(D(2026, 7, 1), D(2026, 7, 31))


def test_recurring_holidays_without_closing() -> None:
    cal = BusinessCalendar(CalendarSpec(holidays=HolidaySource(recurring=["12-25", "02-29"])))
    assert cal.is_holiday(D(2026, 12, 25)) and cal.is_open(D(2026, 12, 25))
    assert cal.holiday_name(D(2031, 12, 25)) == "recurring holiday 12-25"
    assert cal.is_holiday(D(2028, 2, 29)) and not cal.is_holiday(D(2026, 3, 1))
    assert cal.index(D(2026, 12, 26)) - cal.index(D(2026, 12, 24)) == 2
    assert cal.holidays_between(D(2026, 1, 1), D(2028, 12, 31)) == [
        D(2026, 12, 25), D(2027, 12, 25), D(2028, 2, 29), D(2028, 12, 25)]
    flags = cal.holiday_flags(pl.Series("d", [D(2026, 12, 24), D(2026, 12, 25), None]))
    assert flags.to_list() == [False, True, None]

    closing = BusinessCalendar(CalendarSpec(holidays=HolidaySource(recurring=["12-25"]),
                                            closed_on_holidays=True))
    assert closing.closed_reason(D(2026, 12, 25)) == "closed: recurring holiday 12-25 (contract)"

    with pytest.raises(ValueError, match="MM-DD"):
        BusinessCalendar(CalendarSpec(holidays=HolidaySource(recurring=["13-01"])))


def test_closed_dates() -> None:
    cal = BusinessCalendar(CalendarSpec(closed_dates=["2026-12-24"]))
    assert not cal.is_open(D(2026, 12, 24))
    assert cal.closed_reason(D(2026, 12, 24)) == "closed date 2026-12-24 (contract)"
    assert not cal.is_holiday(D(2026, 12, 24))
    assert cal.shift(D(2026, 12, 23), 1) == D(2026, 12, 25)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        BusinessCalendar(CalendarSpec(closed_dates=["24/12/2026"]))


def test_subdivision_holidays() -> None:
    by = BusinessCalendar(CalendarSpec(holidays=HolidaySource(country="DE", subdiv="BY"),
                                       closed_on_holidays=True))
    de = BusinessCalendar(CalendarSpec(holidays=HolidaySource(country="DE"),
                                       closed_on_holidays=True))
    epiphany = D(2026, 1, 6)
    assert by.holiday_name(epiphany) == "Epiphany" and not by.is_open(epiphany)
    assert by.closed_reason(epiphany) == "closed: public holiday Epiphany (DE-BY)"
    assert not de.is_holiday(epiphany) and de.is_open(epiphany)
    with pytest.raises(ValueError, match="holidays"):
        BusinessCalendar(CalendarSpec(holidays=HolidaySource(country="XX")))


def test_next_open_days_and_open_days_consistent() -> None:
    cal = BusinessCalendar(CalendarSpec(closed_weekdays=["sat", "sun"], closed_dates=["2026-05-04"],
                                        holidays=HolidaySource(country="FR"),
                                        closed_on_holidays=True))
    start, end = D(2026, 4, 1), D(2026, 6, 30)
    opened = cal.open_days(start, end)
    assert opened == [d for d in _days(start, end) if cal.is_open(d)]
    assert all(cal.closed_reason(d) is None for d in opened)
    assert cal.next_open_days(start - dt.timedelta(days=1), len(opened)) == opened
    assert cal.next_open_days(D(2026, 4, 30), 2) == [D(2026, 5, 5), D(2026, 5, 6)]
    assert cal.next_open_days(D(2026, 4, 30), 0) == []
    assert cal.shift(D(2026, 4, 30), 1) == D(2026, 5, 5)
    assert cal.shift(D(2026, 5, 5), -1) == D(2026, 4, 30)
    assert cal.periods_per_week == 5


def test_index_series_matches_index() -> None:
    cal = BusinessCalendar(CalendarSpec(closed_weekdays=["sun"],
                                        holidays=HolidaySource(country="FR"),
                                        closed_on_holidays=True))
    days = _days(D(1999, 12, 1), D(2000, 1, 31)) + _days(D(2026, 4, 1), D(2026, 8, 1))
    series = pl.Series("day", [*days, None], dtype=pl.Date)
    got = cal.index_series(series)
    assert got.dtype == pl.Int64 and got.name == "day"
    want = [cal.index(d) if cal.is_open(d) else None for d in days] + [None]
    assert got.to_list() == want
    flags = cal.holiday_flags(series)
    assert flags.to_list() == [cal.is_holiday(d) for d in days] + [None]
    # Datetimes are taken by their date.
    stamps = pl.Series("ts", [dt.datetime(2026, 5, 2, 13, 30)])
    assert cal.index_series(stamps).to_list() == [cal.index(D(2026, 5, 2))]


def test_far_ranges_extend_lazily() -> None:
    cal = BusinessCalendar(CalendarSpec(closed_weekdays=["sun"],
                                        holidays=HolidaySource(country="FR"),
                                        closed_on_holidays=True))
    for day in (D(1960, 3, 1), D(2080, 3, 1)):
        assert cal.is_open(day)
        assert cal.day_at(cal.index(day)) == day
    assert not cal.is_open(D(2080, 7, 14))
    far = cal.index(D(2080, 3, 1))
    assert cal.day_at(far + 1) == cal.shift(D(2080, 3, 1), 1)


def test_reading_recomputes_the_open_day_index_when_the_calendar_changed() -> None:
    from lakeloop.features.series import reindex_open_days

    days = [dt.date(2026, 3, 2) + dt.timedelta(days=i) for i in range(14)]  # Mon .. Sun
    every_day = BusinessCalendar(None)
    stored = pl.DataFrame({"date": days, "t": every_day.index_series(pl.Series(days))})
    sundays = BusinessCalendar(CalendarSpec(closed_weekdays=["sun"]))
    fresh = reindex_open_days(stored, sundays)
    assert fresh.height == 12 and dt.date(2026, 3, 8) not in fresh["date"].to_list()
    assert fresh["t"].diff().drop_nulls().to_list() == [1] * 11  # consecutive open days
    assert fresh["t"].to_list() == [sundays.index(d) for d in fresh["date"].to_list()]


def test_an_open_date_opens_a_closed_weekday_and_counts_as_an_open_day() -> None:
    """A shop closed at weekends trades one Saturday: that day is open (no closed reason),
    the open-day count steps through it (Friday, Saturday, Monday are consecutive), nothing
    else moves, and a date cannot be both open and closed."""
    saturday = dt.date(2026, 3, 14)
    cal = BusinessCalendar(CalendarSpec(closed_weekdays=["sat", "sun"],
                                        open_dates=[saturday.isoformat()]))
    plain = BusinessCalendar(CalendarSpec(closed_weekdays=["sat", "sun"]))
    friday, monday = saturday - dt.timedelta(days=1), saturday + dt.timedelta(days=2)
    assert cal.is_open(saturday) and cal.closed_reason(saturday) is None
    assert not cal.is_open(saturday + dt.timedelta(days=7))  # the next Saturday: closed
    assert cal.closed_reason(saturday + dt.timedelta(days=7)) == "closed on Saturdays"
    assert cal.index(saturday) == cal.index(friday) + 1 == cal.index(monday) - 1
    assert cal.index(friday) == plain.index(friday)  # before it: the same count
    assert cal.index(monday) == plain.index(monday) + 1  # after it: one more open day
    assert cal.shift(friday, 1) == saturday and cal.shift(monday, -1) == saturday
    assert saturday in cal.open_days(friday, monday)
    assert cal.index_series(pl.Series([saturday]))[0] == cal.index(saturday)
    with pytest.raises(ValueError, match="in both open_dates and closed_dates"):
        CalendarSpec(closed_dates=["2026-03-14"], open_dates=["2026-03-14"])
