"""Point-in-time training sets, rebuilt exactly from the Delta versions they record.

Fraud: transactions whose labels have *matured* by ``as_of`` (older than the label window),
labelled fraudulent if a chargeback was reported on or before ``as_of``. Split by date:
train, then validation, then test - never at random across time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import polars as pl

from lakeloop.models.fraud import LABEL
from lakeloop.storage import Lake

FRAUD_FEATURES = "silver/transaction_features"
FRAUD_LABELS = "bronze/fraud_labels"
SPLIT = "split"


@dataclass(frozen=True)
class FraudWindow:
    window_days: int = 28
    label_window_days: int = 30
    val_days: int = 4
    test_days: int = 5

    def dates(self, as_of: dt.date) -> tuple[dt.date, dt.date]:
        last = as_of - dt.timedelta(days=self.label_window_days)
        return last - dt.timedelta(days=self.window_days - 1), last


@dataclass
class TrainingSet:
    frame: pl.DataFrame
    as_of: dt.date
    window: FraudWindow
    source_versions: dict[str, int]

    def part(self, name: str) -> pl.DataFrame:
        return self.frame.filter(pl.col(SPLIT) == name).drop(SPLIT)

    def lineage(self) -> dict[str, object]:
        return {"as_of": self.as_of.isoformat(), "window": asdict(self.window),
                "source_versions": self.source_versions}


def fraud_training_set(lake: Lake, as_of: dt.date, window: FraudWindow,
                       versions: dict[str, int] | None = None) -> TrainingSet:
    """Build the set as of ``as_of``; pass ``versions`` to rebuild a past one exactly."""
    if versions is None:
        versions = {t: lake.version(t) for t in (FRAUD_FEATURES, FRAUD_LABELS)}
        missing = [t for t, v in versions.items() if v is None]
        if missing:
            raise ValueError(f"cannot build a fraud training set: no table {missing} yet")
    first, last = window.dates(as_of)
    features = lake.scan(FRAUD_FEATURES, first, last, version=versions[FRAUD_FEATURES])
    fraud_ids = (lake.scan(FRAUD_LABELS, None, as_of, version=versions[FRAUD_LABELS])
                 .select("transaction_id").unique().with_columns(pl.lit(1).alias(LABEL)))
    test_from = last - dt.timedelta(days=window.test_days - 1)
    val_from = test_from - dt.timedelta(days=window.val_days)
    frame = (
        features.join(fraud_ids, on="transaction_id", how="left")
        .with_columns(
            pl.col(LABEL).fill_null(0).cast(pl.Int8),
            pl.when(pl.col("date") >= test_from).then(pl.lit("test"))
            .when(pl.col("date") >= val_from).then(pl.lit("validation"))
            .otherwise(pl.lit("train")).alias(SPLIT),
        )
        .sort("ts", "transaction_id")
        .collect()
    )
    days = frame["date"].n_unique()
    if days < window.val_days + window.test_days + 1:
        raise ValueError(f"fraud training set as of {as_of}: only {days} days of features in "
                         f"{first}..{last}; need more than validation + test days")
    return TrainingSet(frame, as_of, window, versions)
