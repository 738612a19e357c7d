"""Per-series features for a forecasting domain (demand), built from the contract's roles only.

Silver columns in lakeloop's own names, so models and monitoring name no team column:
``series_id`` (the series key columns joined), ``target`` (the day's value, kept for training),
``t`` (the open-day index of the domain's calendar), calendar features (``weekday``, ``month``,
``day_of_year``, ``is_holiday`` from the calendar's one holiday source), lags and rolling
statistics of the target, ``price_ratio`` (when the contract has a price) and the contract's
known / unknown covariates under their own names.

Look-backs count *open periods*: lag 1 of a Monday after a closed Sunday is Saturday, and the
season is the calendar's open days per week. Point in time: the target of day D is kept for
training, but every feature of day D uses targets up to the previous open day (lags >= 1,
windows closed on the left). Known covariates of day D are planned, so they are used as they
are; unknown ones only through their lag 1.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from lakeloop.contracts import Contract
from lakeloop.contracts.calendar import BusinessCalendar
from lakeloop.names import PARTITION_COLUMN, SERIES_ID

TARGET = "target"
TIME_INDEX = "t"
PRICE_RATIO = "price_ratio"
CALENDAR_FEATURES = ("weekday", "month", "day_of_year", "holiday")


def lags(season: int) -> tuple[int, ...]:
    return tuple(sorted({1, season, 2 * season, 4 * season}))


def windows(season: int) -> tuple[int, ...]:
    return (season, 4 * season)


def lookback_periods(season: int) -> int:
    """Open periods of history the features of one day need."""
    return max(*lags(season), *windows(season))


def lookback_days(calendar: BusinessCalendar, day: dt.date) -> dt.date:
    """The first calendar day of the look-back of ``day``'s features."""
    return calendar.shift(day, -lookback_periods(calendar.periods_per_week))


def series_key(cols: list[str]) -> pl.Expr:
    if len(cols) == 1:
        return pl.col(cols[0]).cast(pl.String)
    return pl.concat_str([pl.col(c).cast(pl.String) for c in cols], separator="_")


def covariate_columns(contract: Contract) -> list[str]:
    r = contract.roles
    return [c for c in dict.fromkeys([*r.known, *r.unknown]) if c not in (r.target, r.price)]


def _complete(base: pl.DataFrame, start: dt.date, day: dt.date, contract: Contract,
              calendar: BusinessCalendar) -> pl.DataFrame:
    """Every series seen in the history gets a row on every open day from ``start`` (the
    look-back's first day, whatever the first row: a nightly and a backfill then average the
    same zeros) up to ``day``: a missing row is a target of zero (the contract says so), its
    covariates and price carried forward from the series' previous row. Which series get a
    row *on a day* is ``_alive``'s rule."""
    r = contract.roles
    if base.is_empty():
        return base
    days = pl.Series(PARTITION_COLUMN, calendar.open_days(start, day), dtype=pl.Date)
    grid = base.select(SERIES_ID, *[c for c in r.series if c != SERIES_ID]) \
        .unique(subset=SERIES_ID).join(
            pl.DataFrame([days, calendar.index_series(days).alias(TIME_INDEX)]), how="cross")
    carried = [c for c in dict.fromkeys([*r.known, *r.unknown, *([r.price] if r.price else [])])
               if c in base.columns]
    return (grid.join(base.select(SERIES_ID, PARTITION_COLUMN, TARGET, *carried),
                      on=[SERIES_ID, PARTITION_COLUMN], how="left")
            .sort(SERIES_ID, TIME_INDEX)
            .with_columns(pl.col(TARGET).fill_null(0.0),
                          *[pl.col(c).forward_fill().backward_fill().over(SERIES_ID)
                            for c in carried]))


def _alive(rows: pl.DataFrame, real: pl.DataFrame, lookback: int) -> pl.DataFrame:
    """The completed rows of series that have a real row in their day's own look-back (the
    ``lookback`` open days up to it): the series a nightly run of that day sees. Why: a
    backfill completes every series of its whole range on every day of it, a nightly only
    those of its look-back, so the same day got 450 series one way and 444 the other; by
    this rule a series absent for longer than the look-back leaves both, and one not yet
    seen joins neither."""
    last_seen = rows.select(SERIES_ID, TIME_INDEX).unique().sort(TIME_INDEX).join_asof(
        real.unique().sort(TIME_INDEX).with_columns(pl.col(TIME_INDEX).alias("_seen")),
        on=TIME_INDEX, by=SERIES_ID, strategy="backward", check_sortedness=False)
    alive = last_seen.filter(pl.col(TIME_INDEX) - pl.col("_seen") <= lookback) \
        .select(SERIES_ID, TIME_INDEX)
    return rows.join(alive, on=[SERIES_ID, TIME_INDEX], how="semi")


def series_features(history: pl.DataFrame, day: dt.date, contract: Contract,
                    calendar: BusinessCalendar, until: dt.date | None = None) -> pl.DataFrame:
    """Features for the rows of ``day`` (to ``until``, inclusive: a backfill's range in one
    pass); ``history`` holds bronze rows of the look-back before ``day`` up to ``until``
    (``lookback_days``). Rows of closed days, if any landed, are left out."""
    until = until or day
    r = contract.roles
    assert r.target is not None
    season = calendar.periods_per_week
    base = history.with_columns(
        series_key(r.series).alias(SERIES_ID),
        pl.col(r.target).cast(pl.Float64).alias(TARGET),
        calendar.index_series(history[PARTITION_COLUMN]).alias(TIME_INDEX),
    ).filter(pl.col(TIME_INDEX).is_not_null())
    real = base.select(SERIES_ID, TIME_INDEX)
    if r.missing_rows == "zero":
        base = _complete(base, lookback_days(calendar, day), until, contract, calendar)
    price = [] if r.price is None else [
        pl.col(r.price).cast(pl.Float64).rolling_mean_by(TIME_INDEX, f"{4 * season}i",
                                                         closed="left")
        .over(SERIES_ID).alias("_price_mean")]
    rolled = base.sort(TIME_INDEX).with_columns(
        *[pl.col(TARGET).rolling_mean_by(TIME_INDEX, f"{w}i", closed="left").over(SERIES_ID)
          .alias(f"target_mean_{w}") for w in windows(season)],
        *[pl.col(TARGET).rolling_std_by(TIME_INDEX, f"{w}i", closed="left").over(SERIES_ID)
          .alias(f"target_std_{w}") for w in windows(season)],
        *price,
    )
    today = rolled.filter(pl.col(PARTITION_COLUMN).is_between(day, until))
    if r.missing_rows == "zero":
        today = _alive(today, real, lookback_periods(season))
    for lag in lags(season):  # joins on the open-day index: a missing day is a null
        lagged = base.select(SERIES_ID, (pl.col(TIME_INDEX) + lag).alias(TIME_INDEX),
                             pl.col(TARGET).alias(f"target_lag_{lag}"))
        today = today.join(lagged, on=[SERIES_ID, TIME_INDEX], how="left")
    unknown = [c for c in r.unknown if c not in (r.target, r.price)]
    for c in unknown:  # observed only: yesterday's value
        lagged = base.select(SERIES_ID, (pl.col(TIME_INDEX) + 1).alias(TIME_INDEX),
                             pl.col(c).alias(f"{c}_lag_1"))
        today = today.join(lagged, on=[SERIES_ID, TIME_INDEX], how="left")
    ratio = [] if r.price is None else [
        pl.when(pl.col("_price_mean") > 0)
        .then(pl.col(r.price).cast(pl.Float64) / pl.col("_price_mean"))
        .otherwise(1.0).fill_null(1.0).fill_nan(1.0).alias(PRICE_RATIO)]
    known = [c for c in r.known if c not in (r.target, r.price)]
    return (
        today.with_columns(
            *ratio,
            pl.col(PARTITION_COLUMN).dt.weekday().alias("weekday"),
            pl.col(PARTITION_COLUMN).dt.month().alias("month"),
            pl.col(PARTITION_COLUMN).dt.ordinal_day().alias("day_of_year"),
            calendar.holiday_flags(today[PARTITION_COLUMN]).alias("holiday"),
        )
        .select(PARTITION_COLUMN, SERIES_ID, TIME_INDEX, TARGET,
                *[c for c in r.series if c != SERIES_ID],
                *[c for c in known if c not in r.series],
                *[f"{c}_lag_1" for c in unknown],
                *([PRICE_RATIO] if r.price else []), *CALENDAR_FEATURES,
                *[f"target_lag_{lag}" for lag in lags(season)],
                *[f"target_{s}_{w}" for s in ("mean", "std") for w in windows(season)])
        .sort(PARTITION_COLUMN, SERIES_ID)
    )


def reindex_open_days(frame: pl.DataFrame, calendar: BusinessCalendar) -> pl.DataFrame:
    """``frame`` with its open-day index ``t`` recomputed from the dates by today's calendar,
    and rows on days that calendar now closes dropped.

    Why: ``t`` is written with the features, by the calendar of that day. If the contract's
    calendar changes later (a new closing weekday, a holiday list fixed), stored ``t`` values
    would count open days by two different calendars inside one training set or forecast
    history - horizons and seasons off by a day, silently. Reading recomputes them."""
    t = calendar.index_series(frame[PARTITION_COLUMN])
    return frame.with_columns(t.alias(TIME_INDEX)).filter(pl.col(TIME_INDEX).is_not_null())
