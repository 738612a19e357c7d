"""A domain's business calendar: which days it is open, and how to count in open days.

A contract's ``calendar`` (:class:`CalendarSpec`) says when a domain is
open: closed weekdays, closed dates, and public holidays (from the ``holidays`` package and/or
recurring month-days) that either close the domain or are merely a known-in-advance feature.

Why count in *open* days: a shop closed on Sundays has no Sunday sales, so a "7-day look-back",
a "14-day horizon", a weekly season and the MASE scaling all have to step over closed days,
otherwise every Monday looks like a two-day gap and every season is misaligned. Everything that
counts periods (look-backs, horizons, seasonality, MASE) therefore uses :meth:`index`,
:meth:`shift` and :attr:`periods_per_week` from here rather than calendar-day arithmetic.

The same :class:`BusinessCalendar` (and so the same holiday source, language and years) feeds
training features and forecasting features: holidays are known in advance, and a feature that
is computed one way at training time and another at serving time is a silent skew.

Open-day indices are counted from a fixed :data:`EPOCH`, so an index never depends on which
range of dates was asked for; open day ``N`` and the next open day are ``N + 1``. The counting
is vectorised with ``numpy.busday_count`` / ``busday_offset`` over a ``numpy.busdaycalendar``
built from the weekmask and the closing dates, whose holiday years are generated lazily
(O(years), cached) as wider ranges are asked for.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from typing import Literal, cast

import holidays as holidays_pkg
import numpy as np
import polars as pl
from pydantic import Field, model_validator

from lakeloop.contracts.base import StrictModel as _Strict

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class HolidaySource(_Strict):
    """Public holidays from the ``holidays`` package, and/or recurring month-days."""

    country: str | None = Field(None, description="ISO country code, e.g. DE")
    subdiv: str | None = Field(None, description="subdivision, e.g. BY")
    recurring: list[str] = Field(default_factory=list, description='month-days, e.g. "12-25"')


class CalendarSpec(_Strict):
    """When a domain is open. A closed day is neither a failure nor an alert; look-backs,
    horizons and seasons count open days."""

    closed_weekdays: list[Weekday] = Field(default_factory=list)
    closed_dates: list[str] = Field(default_factory=list, description="YYYY-MM-DD")
    open_dates: list[str] = Field(default_factory=list, description="YYYY-MM-DD days open "
                                  "although a closed weekday or a holiday would close them "
                                  "(a trading Saturday)")
    holidays: HolidaySource | None = None
    closed_on_holidays: bool = False
    no_files_means_closed: bool = Field(
        False, description="a day with no landing files is a closed day, not a failure")

    @model_validator(mode="after")
    def _open_or_closed(self) -> CalendarSpec:
        both = sorted(set(self.open_dates) & set(self.closed_dates))
        if both:
            raise ValueError(f"calendar: {both} in both open_dates and closed_dates; keep "
                             "each date in one")
        return self


EPOCH = dt.date(2000, 1, 1)
"""Origin of the open-day index: the first open day on or after it has index 0."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_PLURAL = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays",
                   "Sundays")
_HOLIDAY_LANGUAGE = "en_US"  # stable names whatever the country's default language
_PAD_YEARS = 5  # extra holiday years generated on each side when the coverage grows


def _parse_date(text: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"calendar.{where}: {text!r} is not a YYYY-MM-DD date") from exc


def _parse_month_day(text: str) -> tuple[int, int]:
    try:
        month, day = (int(p) for p in text.split("-"))
        dt.date(2000, month, day)  # 2000 is a leap year: "02-29" is accepted
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"calendar.holidays.recurring: {text!r} is not a MM-DD month-day (e.g. \"12-25\")"
        ) from exc
    return month, day


def _to_datetime64(days: Iterable[dt.date]) -> np.ndarray:
    return np.array(sorted(days), dtype="datetime64[D]")


class BusinessCalendar:
    """Open/closed days, holidays and open-day arithmetic for one domain.

    Built from a contract's :class:`CalendarSpec`; ``None`` means open
    every day with no holidays (then open-day indices are plain day counts from :data:`EPOCH`).

    A day is closed when its weekday is in ``closed_weekdays``, it is in ``closed_dates``, or
    it is a holiday and ``closed_on_holidays`` is set - unless it is in ``open_dates`` (a
    trading Saturday, a shop open on a holiday). Holidays that do not close the domain are
    still reported by :meth:`is_holiday` / :meth:`holiday_flags`, as a forecasting feature.
    """

    def __init__(self, spec: CalendarSpec | None = None) -> None:
        self.spec = spec
        closed = set(spec.closed_weekdays) if spec else set()
        self._closed_weekdays = tuple(i for i, name in enumerate(WEEKDAYS) if name in closed)
        if len(self._closed_weekdays) == 7:
            raise ValueError("calendar.closed_weekdays closes every weekday: the domain would "
                             "never be open; remove at least one")
        self._weekmask = [i not in self._closed_weekdays for i in range(7)]
        self._closed_dates = frozenset(
            _parse_date(d, "closed_dates") for d in (spec.closed_dates if spec else []))
        self._open_dates = frozenset(
            _parse_date(d, "open_dates") for d in (spec.open_dates if spec else []))
        source = spec.holidays if spec else None
        self._country = source.country if source else None
        self._subdiv = source.subdiv if source else None
        recurring = source.recurring if source else []
        self._recurring = {_parse_month_day(md): md for md in recurring}
        self._closed_on_holidays = bool(spec and spec.closed_on_holidays)
        if self._subdiv and not self._country:
            raise ValueError("calendar.holidays.subdiv is set without a country; add "
                             "`country` (e.g. DE for subdiv BY)")
        self._country_label = (f"{self._country}-{self._subdiv}" if self._subdiv
                               else self._country)

        self._lock = threading.RLock()
        self._names: dict[dt.date, str] = {}  # holiday -> name, for the covered years
        self._public: set[dt.date] = set()  # the country's public holidays among them
        self._years: tuple[int, int] | None = None  # covered holiday years, inclusive
        self._holiday_array = np.array([], dtype="datetime64[D]")
        self._busdaycal: np.busdaycalendar
        today = dt.date.today()
        self._ensure_years(min(EPOCH.year, today.year), today.year + 10)

    # ---- holiday generation and coverage -------------------------------------------------

    def _country_holidays(self, years: range) -> dict[dt.date, str]:
        if not self._country or not len(years):
            return {}
        try:
            hols = holidays_pkg.country_holidays(
                self._country, subdiv=self._subdiv, years=list(years),
                language=_HOLIDAY_LANGUAGE)
        except NotImplementedError as exc:
            raise ValueError(f"calendar.holidays: {exc}; use an ISO country code (and "
                             "subdivision) the `holidays` package knows") from exc
        return {day: str(name) for day, name in hols.items()}

    def _recurring_holidays(self, years: range) -> dict[dt.date, str]:
        out: dict[dt.date, str] = {}
        for year in years:
            for (month, day), text in self._recurring.items():
                try:
                    out[dt.date(year, month, day)] = f"recurring holiday {text}"
                except ValueError:  # 02-29 outside leap years
                    continue
        return out

    def _add_years(self, years: range) -> None:
        recurring = self._recurring_holidays(years)
        for day, name in self._country_holidays(years).items():
            self._names[day] = name
            self._public.add(day)
        for day, name in recurring.items():
            self._names[day] = f"{self._names[day]}; {name}" if day in self._names else name

    def _ensure_years(self, lo: int, hi: int) -> None:
        """Make sure holidays of years ``lo..hi`` are generated and in the busday calendar."""
        lo, hi = max(lo, dt.MINYEAR), min(hi, dt.MAXYEAR)
        with self._lock:
            if self._years is not None and self._years[0] <= lo and hi <= self._years[1]:
                return
            if self._years is None:
                self._add_years(range(lo, hi + 1))
                self._years = (lo, hi)
            else:
                old_lo, old_hi = self._years
                new_lo = min(lo - _PAD_YEARS, old_lo) if lo < old_lo else old_lo
                new_hi = max(hi + _PAD_YEARS, old_hi) if hi > old_hi else old_hi
                new_lo, new_hi = max(new_lo, dt.MINYEAR), min(new_hi, dt.MAXYEAR)
                self._add_years(range(new_lo, old_lo))
                self._add_years(range(old_hi + 1, new_hi + 1))
                self._years = (new_lo, new_hi)
            self._holiday_array = _to_datetime64(self._names)
            closing = set(self._closed_dates)
            if self._closed_on_holidays:
                closing.update(self._names)
            weekmask = self._weekmask
            if self._open_dates:
                # numpy's calendar has no "open on a closed weekday": every weekday is open
                # and the closed weekdays' dates of the covered years are closing dates
                weekmask = [True] * 7
                first, last = dt.date(self._years[0], 1, 1), dt.date(self._years[1], 12, 31)
                span = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)
                closed_weekday = ~np.isin((span.astype("int64") + 3) % 7,  # 1970-01-01: Thu
                                          np.array(self._weekmask).nonzero()[0])
                closing.update(d.item() for d in span[closed_weekday])
                closing -= self._open_dates
            self._busdaycal = np.busdaycalendar(weekmask=weekmask,
                                                holidays=_to_datetime64(closing))

    def _count(self, days: np.ndarray) -> np.ndarray:
        """Signed open days in ``[EPOCH, day)`` (``-`` open days in ``[day, EPOCH)`` before it).

        ``numpy.busday_count`` counts ``(end, begin]`` when ``end < begin``, which is off by one
        for our purpose, so days before EPOCH are counted forwards and negated."""
        epoch = np.datetime64(EPOCH, "D")
        after = np.busday_count(epoch, np.maximum(days, epoch), busdaycal=self._busdaycal)
        before = np.busday_count(np.minimum(days, epoch), epoch, busdaycal=self._busdaycal)
        return np.where(days >= epoch, after, -before).astype(np.int64)

    def _cover(self, *days: dt.date) -> None:
        """Cover every year between :data:`EPOCH` and ``days`` (counts span that range)."""
        years = [EPOCH.year, *(d.year for d in days)]
        self._ensure_years(min(years), max(years))

    # ---- single days ---------------------------------------------------------------------

    def is_holiday(self, day: dt.date) -> bool:
        """Whether ``day`` is a holiday (public or recurring), closing or not."""
        return self.holiday_name(day) is not None

    def holiday_name(self, day: dt.date) -> str | None:
        """The holiday's name (several joined by ``"; "``), or None."""
        self._ensure_years(day.year, day.year)
        return self._names.get(day)

    def closed_reason(self, day: dt.date) -> str | None:
        """None when ``day`` is open, else a human reason why it is closed (for logs/UIs)."""
        if day in self._open_dates:  # open although its weekday or a holiday would close it
            return None
        if day.weekday() in self._closed_weekdays:
            return f"closed on {_WEEKDAY_PLURAL[day.weekday()]}"
        if day in self._closed_dates:
            return f"closed date {day.isoformat()} (contract)"
        if self._closed_on_holidays:
            name = self.holiday_name(day)
            if name is not None and day in self._public:
                return f"closed: public holiday {name} ({self._country_label})"
            if name is not None:
                return f"closed: {name} (contract)"
        return None

    def is_open(self, day: dt.date) -> bool:
        """Whether the domain is open on ``day``."""
        self._cover(day)
        return bool(np.is_busday(np.datetime64(day, "D"), busdaycal=self._busdaycal))

    # ---- open-day arithmetic -------------------------------------------------------------

    @property
    def periods_per_week(self) -> int:
        """Open weekdays per week: the weekly seasonal period counted in open days."""
        return 7 - len(self._closed_weekdays)

    def index(self, day: dt.date) -> int:
        """Open-day ordinal of ``day`` counted from :data:`EPOCH` (the first open day on or
        after EPOCH is 0; open days before EPOCH are negative).

        Stable whatever range is asked for, and consecutive open days differ by exactly 1, so
        look-backs/horizons/seasonal lags are plain integer differences.

        Raises ValueError for a closed day (it has no open-day index); use
        :meth:`index_or_previous` to map it onto the previous open day.
        """
        if not self.is_open(day):
            raise ValueError(f"{day.isoformat()} has no open-day index "
                             f"({self.closed_reason(day)}); use index_or_previous() to map a "
                             "closed day onto the previous open day")
        return self.index_or_previous(day)

    def index_or_previous(self, day: dt.date) -> int:
        """:meth:`index` of ``day`` if open, else of the last open day before it."""
        self._cover(day)
        return int(self._count(np.array([day + dt.timedelta(days=1)], "datetime64[D]"))[0]) - 1

    def day_at(self, index: int) -> dt.date:
        """The open day whose :meth:`index` is ``index`` (inverse of :meth:`index`)."""
        # Generous span of years to cover: no calendar closes more than half its open weekdays.
        span = abs(int(index)) * 14 // (self.periods_per_week * 365) + 2
        while True:
            lo, hi = (EPOCH.year - span, EPOCH.year + 1) if index < 0 \
                else (EPOCH.year, EPOCH.year + span)
            self._ensure_years(lo, hi)
            out = cast(dt.date, np.busday_offset(np.datetime64(EPOCH, "D"), int(index),
                                                 roll="forward",
                                                 busdaycal=self._busdaycal).item())
            # Exact once every year between EPOCH and the answer has its holidays generated.
            assert self._years is not None
            if self._years[0] <= out.year <= self._years[1]:
                return out
            span *= 2

    def shift(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th open day after (``n > 0``) or before (``n < 0``) ``day``; ``day`` itself
        may be closed. ``n == 0`` gives ``day`` if open, else the next open day."""
        base = self.index_or_previous(day)  # of day itself, or of the open day before it
        if n > 0 or self.is_open(day):
            return self.day_at(base + n)
        return self.day_at(base + 1 + n)  # count back from the open day after the closed day

    def next_open_days(self, day: dt.date, n: int) -> list[dt.date]:
        """The next ``n`` open days strictly after ``day`` (a forecast horizon's days)."""
        if n <= 0:
            return []
        first = self.index_or_previous(day) + 1
        return [self.day_at(first + k) for k in range(n)]

    def open_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """The open days of ``start..end`` (inclusive), in order."""
        if end < start:
            return []
        self._cover(start, end)
        days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
        return [d.item() for d in days[np.is_busday(days, busdaycal=self._busdaycal)]]

    def holidays_between(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """The holidays (closing or not) of ``start..end`` (inclusive), in order."""
        if end < start:
            return []
        self._ensure_years(start.year, end.year)
        arr = self._holiday_array
        sel = arr[(arr >= np.datetime64(start, "D")) & (arr <= np.datetime64(end, "D"))]
        return [d.item() for d in sel]

    # ---- vectorised Polars helpers -------------------------------------------------------

    def _as_days(self, dates: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """(datetime64[D] array with nulls filled by EPOCH, null mask), with the holiday years
        between EPOCH and the dates covered."""
        if dates.dtype != pl.Date:
            dates = dates.cast(pl.Date)
        nulls = dates.is_null().to_numpy()
        filled = dates.fill_null(EPOCH)
        arr = filled.to_numpy().astype("datetime64[D]")
        if len(arr):
            lo, hi = arr.min().item(), arr.max().item()
            self._cover(lo, hi)
        return arr, nulls

    def holiday_flags(self, dates: pl.Series) -> pl.Series:
        """Boolean "is a holiday" per date (null for null dates): the same holiday feature in
        training and forecasting."""
        arr, nulls = self._as_days(dates)
        flags = np.isin(arr, self._holiday_array)
        out = pl.Series(dates.name, flags, dtype=pl.Boolean)
        return out.scatter(np.flatnonzero(nulls), None) if nulls.any() else out

    def index_series(self, dates: pl.Series) -> pl.Series:
        """Int64 open-day :meth:`index` per date; null for closed days and null dates."""
        arr, nulls = self._as_days(dates)
        counts = self._count(arr)
        closed = ~np.is_busday(arr, busdaycal=self._busdaycal) | nulls
        out = pl.Series(dates.name, counts, dtype=pl.Int64)
        return out.scatter(np.flatnonzero(closed), None) if closed.any() else out

    def __repr__(self) -> str:
        closed = [WEEKDAYS[i] for i in self._closed_weekdays]
        return (f"BusinessCalendar(closed_weekdays={closed}, closed_dates="
                f"{len(self._closed_dates)}, holidays={self._country_label or '-'}"
                f"{' +recurring' if self._recurring else ''}, "
                f"closed_on_holidays={self._closed_on_holidays})")
