"""Which days a training set trains, validates and tests on: rolling back from a day, or over
explicit date ranges.

Its own module, free of the lake: the monitor and the assets name a split without importing
the training-set builder (``training_sets``), which reads the lake. Its defaults are in
``lakeloop.settings`` with every other default."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lakeloop.contracts.calendar import BusinessCalendar
from lakeloop.settings import (
    LABEL_WINDOW_DAYS,
    SPLIT_TEST_DAYS,
    SPLIT_VAL_DAYS,
    SPLIT_WINDOW_DAYS,
)


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


@dataclass(frozen=True)
class SplitWindow:
    """Which days train, validate and test. Rolling (default): the ``window_days`` newest
    matured days, the last ``test_days`` for test, the ``val_days`` before them (and
    ``gap_days`` between) for validation. Explicit: ``train_start``..``test_end`` ISO dates."""

    window_days: int = SPLIT_WINDOW_DAYS
    label_window_days: int = LABEL_WINDOW_DAYS
    val_days: int = SPLIT_VAL_DAYS
    test_days: int = SPLIT_TEST_DAYS
    gap_days: int = 0
    train_start: str | None = None
    train_end: str | None = None
    val_start: str | None = None
    val_end: str | None = None
    test_start: str | None = None
    test_end: str | None = None
    min_test_positives: int = 0  # rolling: the test window grows back until it holds these

    @property
    def explicit(self) -> bool:
        return self.test_start is not None

    def ranges(self, as_of: dt.date, calendar: BusinessCalendar | None = None
               ) -> dict[str, tuple[dt.date, dt.date]]:
        """split name -> (first, last) day, inclusive. Rolling windows count the calendar's
        open days (a test window of 2 days on a Monday is Friday and Monday when weekends
        are closed); the label window counts calendar days (labels mature in time)."""
        if self.explicit:
            got = {"train": (_day(self.train_start), _day(self.train_end)),
                   "validation": (_day(self.val_start), _day(self.val_end)),
                   "test": (_day(self.test_start), _day(self.test_end))}
            missing = [k for k, (a, b) in got.items() if a is None or b is None]
            if missing:
                raise ValueError(f"explicit split: give start and end of {missing}")
            out = {k: (a, b) for k, (a, b) in got.items() if a is not None and b is not None}
            latest = as_of - dt.timedelta(days=self.label_window_days)
            if out["test"][1] > latest:
                raise ValueError(f"explicit split: test ends {out['test'][1]}, after the newest "
                                 f"matured day {latest} (as of {as_of}, label window "
                                 f"{self.label_window_days} days)")
            order = [out["train"], out["validation"], out["test"]]
            if any(a > b for a, b in order) or order[0][1] >= order[1][0] \
                    or order[1][1] >= order[2][0]:
                raise ValueError(f"explicit split: ranges must be ordered and disjoint: {out}")
            return out
        cal = calendar or BusinessCalendar(None)
        last = cal.day_at(cal.index_or_previous(as_of - dt.timedelta(days=self.label_window_days)))
        test_from = cal.shift(last, -(self.test_days - 1))
        val_last = cal.shift(test_from, -(self.gap_days + 1))
        val_from = cal.shift(val_last, -(self.val_days - 1))
        first = cal.shift(last, -(self.window_days - 1))
        return {"train": (first, val_from - dt.timedelta(days=1)),
                "validation": (val_from, val_last), "test": (test_from, last)}

    def dates(self, as_of: dt.date, calendar: BusinessCalendar | None = None
              ) -> tuple[dt.date, dt.date]:
        """First and last day of the whole set."""
        r = self.ranges(as_of, calendar)
        return r["train"][0], r["test"][1]
