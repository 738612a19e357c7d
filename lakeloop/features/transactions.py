"""Per-card and per-merchant windowed features for card transactions.

Point in time: every window is ``closed="left"`` on the transaction timestamp, so a row sees
only transactions strictly before it; chargebacks count only if reported before the row's day.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

TRANSACTION_LOOKBACK_DAYS = 7  # longest transaction window
LABEL_LOOKBACK_DAYS = 30  # chargeback history window
WEEK_SECONDS = 7 * 24 * 3600
CHARGEBACK_SCHEMA = {"card_id": pl.String, "merchant_id": pl.String, "reported_date": pl.Date}
KEYS = ["transaction_id", "ts", "card_id", "merchant_id", "date"]


def _window(entity: str, prefix: str, period: str, stats: tuple[str, ...]) -> list[pl.Expr]:
    def roll(expr: pl.Expr, fn: str) -> pl.Expr:
        return getattr(expr, f"rolling_{fn}_by")("ts", window_size=period, closed="left")

    out = [roll(pl.col("ts").is_not_null().cast(pl.Int32), "sum").over(entity).fill_null(0)
           .alias(f"{prefix}_count_{period}")]
    for stat in stats:
        out.append(roll(pl.col("amount"), stat).over(entity)
                   .alias(f"{prefix}_amount_{stat}_{period}"))
    return out


def transaction_features(
    history: pl.LazyFrame,
    chargebacks: pl.LazyFrame | None,
    day: dt.date,
    categorical: list[str],
) -> pl.LazyFrame:
    """Features for ``day``'s transactions.

    ``history``: bronze transactions for ``day - 7 .. day``; ``chargebacks``: labels reported
    ``day - 30 .. day - 1`` (None before any exist); ``categorical``: contract columns passed
    through as categories.
    """
    tx = history.sort("ts", "transaction_id").with_columns(
        *_window("card_id", "card", "1h", ("sum",)),
        *_window("card_id", "card", "24h", ("sum", "mean", "max")),
        *_window("card_id", "card", "7d", ("mean", "std")),
        *_window("merchant_id", "merchant", "1h", ()),
        *_window("merchant_id", "merchant", "24h", ("mean",)),
        *_window("merchant_id", "merchant", "7d", ("mean",)),
        (pl.col("ts") - pl.col("ts").shift(1).over("card_id")).dt.total_seconds()
        .alias("card_seconds_since_prev"),
        pl.col("merchant_id").shift(1).over("card_id").alias("_prev_merchant"),
    ).filter(pl.col("date") == day)

    if chargebacks is None:
        chargebacks = pl.LazyFrame(schema=CHARGEBACK_SCHEMA)
    merchant_cb = chargebacks.group_by("merchant_id").agg(
        pl.len().alias("merchant_chargebacks_30d"),
        pl.col("reported_date").max().alias("_last_cb"),
    )
    card_cb = chargebacks.group_by("card_id").agg(pl.len().alias("card_chargebacks_30d"))

    return (
        tx.join(merchant_cb, on="merchant_id", how="left")
        .join(card_cb, on="card_id", how="left")
        .with_columns(
            pl.col("card_seconds_since_prev").is_null().alias("card_first_seen_7d"),
            pl.col("card_seconds_since_prev").fill_null(WEEK_SECONDS),
            (pl.col("amount") / pl.col("card_amount_mean_7d")).fill_null(1.0)
            .alias("amount_vs_card_mean_7d"),
            (pl.col("_prev_merchant") == pl.col("merchant_id")).fill_null(False)
            .alias("card_same_merchant_as_prev"),
            pl.col("merchant_chargebacks_30d").fill_null(0),
            pl.col("card_chargebacks_30d").fill_null(0),
            (pl.lit(day) - pl.col("_last_cb")).dt.total_days()
            .fill_null(LABEL_LOOKBACK_DAYS + 1).alias("merchant_days_since_chargeback"),
            pl.col("amount").log1p().alias("log_amount"),
            pl.col("ts").dt.hour().alias("hour"),
            pl.col("ts").dt.weekday().alias("weekday"),
            (pl.col("ts").dt.hour() < 6).alias("is_night"),
        )
        .drop("_last_cb", "_prev_merchant")
        .select(
            *KEYS, "amount", *categorical,
            pl.exclude(*KEYS, "amount", *categorical, "_source_file"),
        )
        .sort("ts", "transaction_id")
    )
