"""Per-series demand features: lags, rolling statistics, calendar, price and promotion.

Point in time: the target ``units`` of day D is kept for training, but every feature of day D
uses units up to D-1 only (lags >= 1, windows ``closed="left"``). Price, promotion and holiday
flags of day D are known in advance (planned), so they may be used as they are.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

LAGS = (1, 7, 14, 28)
WINDOWS = (7, 28)
DEMAND_LOOKBACK_DAYS = max(*LAGS, *WINDOWS)
SERIES = ["store_id", "item_id"]


def demand_features(history: pl.LazyFrame, day: dt.date) -> pl.LazyFrame:
    """Features for ``day``'s rows; ``history`` holds bronze sales for ``day - 28 .. day``."""
    base = history.select("date", *SERIES, "units", "price", "on_promo", "is_holiday")
    rolled = base.sort("date").with_columns(
        *[pl.col("units").rolling_mean_by("date", f"{w}d", closed="left").over(SERIES)
          .alias(f"units_mean_{w}d") for w in WINDOWS],
        *[pl.col("units").rolling_std_by("date", f"{w}d", closed="left").over(SERIES)
          .alias(f"units_std_{w}d") for w in WINDOWS],
        pl.col("price").rolling_mean_by("date", "28d", closed="left").over(SERIES)
        .alias("_price_mean_28d"),
    )
    today = rolled.filter(pl.col("date") == day)
    for lag in LAGS:  # joins on the calendar, so a missing day gives a null, not a wrong lag
        lagged = base.select(*SERIES, (pl.col("date") + pl.duration(days=lag)).alias("date"),
                             pl.col("units").alias(f"units_lag_{lag}"))
        today = today.join(lagged, on=[*SERIES, "date"], how="left")
    return (
        today.with_columns(
            (pl.col("store_id") + "_" + pl.col("item_id")).alias("series_id"),
            (pl.col("price") / pl.col("_price_mean_28d")).fill_null(1.0).alias("price_ratio_28d"),
            pl.col("date").dt.weekday().alias("weekday"),
            pl.col("date").dt.month().alias("month"),
            pl.col("date").dt.ordinal_day().alias("day_of_year"),
            (pl.col("date").dt.weekday() >= 6).alias("is_weekend"),
        )
        .drop("_price_mean_28d")
        .select("date", "series_id", *SERIES, "units", pl.exclude("date", "series_id", *SERIES,
                                                                  "units"))
        .sort(SERIES)
    )
