"""One truth for a forecasting domain's features: a day built by a nightly run (its own
look-back) and by a backfill of a range in one pass hold the same series and the same
target features, on a sparse contract (``missing_rows: zero``) whose series come and go."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from lakeloop.contracts import CalendarSpec, load_contract
from lakeloop.contracts.calendar import BusinessCalendar
from lakeloop.features.series import lookback_days, series_features

START = dt.date(2026, 1, 5)


def _bronze(days: int = 150, series: int = 30, seed: int = 5) -> pl.DataFrame:
    """Intermittent sales: each series sells on ~25 % of open days, some series stop for
    weeks (longer than the look-back) and come back, some start late; closed Sundays."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(series):
        start = int(rng.integers(0, 60)) if s % 3 == 0 else 0
        pause = (int(rng.integers(40, 70)), int(rng.integers(40, 70)) + 45) if s % 4 == 0 \
            else (days, days)
        for i in range(start, days):
            day = START + dt.timedelta(days=i)
            if day.weekday() == 6 or pause[0] <= i < pause[1] or rng.random() > 0.25:
                continue
            rows.append({"date": day, "store_id": f"s{s % 3}", "item_id": f"i{s:02d}",
                         "units": float(rng.poisson(3) + 1), "price": 2.0, "on_promo": False,
                         "is_holiday": False})
    return pl.DataFrame(rows)


def test_a_nightly_day_and_a_backfilled_day_hold_the_same_features() -> None:
    contract = load_contract("sales")
    contract = contract.model_copy(update={
        "roles": contract.roles.model_copy(update={"missing_rows": "zero"}),
        "calendar": CalendarSpec(closed_weekdays=["sun"])})
    calendar = BusinessCalendar(contract.calendar)
    bronze = _bronze()
    first, last = START + dt.timedelta(days=70), START + dt.timedelta(days=140)
    history = bronze.filter(pl.col("date").is_between(lookback_days(calendar, first), last))
    backfill = series_features(history, first, contract, calendar, until=last)
    target = [c for c in backfill.columns if c.startswith("target") or c in
              ("date", "series_id", "t")]
    for day in calendar.open_days(first, last):
        own = bronze.filter(pl.col("date").is_between(lookback_days(calendar, day), day))
        nightly = series_features(own, day, contract, calendar)
        assert_frame_equal(nightly.select(target),
                           backfill.filter(pl.col("date") == day).select(target),
                           check_row_order=False)
    seen = backfill.group_by("date").agg(pl.col("series_id").n_unique())["series_id"]
    assert seen.min() < seen.max()  # series came and went within the range: a real test
