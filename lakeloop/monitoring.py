"""What each domain's drift is measured on: the champion's own training window as reference.

Plain functions over the lake and registry; the Dagster assets only call these and store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from lakeloop.compute import Compute
from lakeloop.drift import DriftConfig, DriftResult, compute_drift, sample
from lakeloop.registry import ModelRegistry, ModelVersion
from lakeloop.storage import Lake, ObjectStore

FRAUD_MONITORED = ["amount", "amount_vs_card_mean_7d", "card_count_1h", "card_count_24h",
                   "card_amount_mean_7d", "card_seconds_since_prev", "merchant_count_24h",
                   "hour", "is_night", "channel", "device", "merchant_category", "country"]
# Not monitored: weekday and promotion flags. A single day holds one weekday and one week's
# promotion plan, so their distribution differs from any multi-week reference by design.
DEMAND_MONITORED = ["units", "price_ratio_28d", "units_lag_7", "units_mean_7d", "units_mean_28d"]
DRIFT_TABLES = {"fraud": "monitoring/fraud_drift", "demand": "monitoring/demand_drift"}


@dataclass
class DayDrift:
    domain: str
    day: dt.date
    champion: str
    result: DriftResult

    def row(self) -> pl.DataFrame:
        """One row for the drift history table the sensors read."""
        f = self.result.figures()
        return pl.DataFrame({
            "date": [self.day], "domain": [self.domain], "champion": [self.champion],
            "dataset_drift": [f["dataset_drift"]], "drift_share": [f["drift_share"]],
            "drifted_columns": [",".join(self.result.drifted_columns)],
            "max_column_psi": [f["max_column_psi"]],
            "prediction_psi": [f.get("prediction_psi")],
            "prediction_drift": [f.get("prediction_drift")],
        }, schema_overrides={"prediction_psi": pl.Float64, "prediction_drift": pl.Boolean})


def fraud_reference(lake: Lake, champion: ModelVersion) -> pl.DataFrame:
    lineage = champion.meta["training_set"]
    frame = lake.scan(lineage["table"], version=lineage["version"]) \
        .filter(pl.col("split") == "train").collect()
    return frame


def fraud_day_drift(lake: Lake, registry: ModelRegistry, compute: Compute, day: dt.date,
                    cfg: DriftConfig) -> DayDrift | None:
    from lakeloop.models.fraud_lifecycle import MODEL_NAME, load_fraud_model

    champion = registry.champion(MODEL_NAME)
    if champion is None:
        return None
    model = load_fraud_model(registry, champion)
    reference = sample(fraud_reference(lake, champion), cfg.sample_size, cfg.seed)
    current = sample(lake.scan("silver/transaction_features", day, day).collect(),
                     cfg.sample_size, cfg.seed)
    reference = reference.with_columns(pl.Series("fraud_score", model.score(reference, compute)))
    current = current.with_columns(pl.Series("fraud_score", model.score(current, compute)))
    result = compute_drift(reference, current, FRAUD_MONITORED, cfg, prediction="fraud_score")
    return DayDrift("fraud", day, champion.version, result)


def demand_day_drift(lake: Lake, registry: ModelRegistry, day: dt.date, cfg: DriftConfig
                     ) -> DayDrift | None:
    """Feature drift of the day's series vs the champion's training history; prediction drift:
    the day's next-day forecasts vs the demand the champion was trained on."""
    from lakeloop.calendar import from_time_index
    from lakeloop.models.demand_lifecycle import MODEL_NAME

    champion = registry.champion(MODEL_NAME)
    if champion is None:
        return None
    lineage = champion.meta["training_set"]
    train_end = from_time_index(lineage["val_from"])
    reference = lake.scan(lineage["table"], version=lineage["version"]) \
        .filter(pl.col("date") < train_end).collect()
    current = lake.scan("silver/demand_features", day, day).collect()
    forecasts = lake.scan("gold/demand_forecasts", day, day) \
        .filter(pl.col("horizon") == 1).select("series_id", pl.col("p50").alias("forecast")) \
        .collect() if lake.exists("gold/demand_forecasts") else None
    reference = reference.with_columns(pl.col("units").cast(pl.Float64).alias("forecast"))
    if forecasts is not None and forecasts.height:
        current = current.join(forecasts, on="series_id", how="left")
    result = compute_drift(reference, current, DEMAND_MONITORED, cfg,
                           prediction="forecast" if "forecast" in current.columns else None)
    return DayDrift("demand", day, champion.version, result)


def store_reports(store: ObjectStore, drift: DayDrift) -> dict[str, str]:
    """HTML + JSON report under ``reports/<domain>_drift/date=D/``; returns their URIs."""
    folder = (f"reports/{drift.domain}_drift", f"date={drift.day.isoformat()}")
    return {
        "html": store.write_bytes(drift.result.html.encode(), *folder, "report.html"),
        "json": store.write_bytes(drift.result.json.encode(), *folder, "report.json"),
    }


def drift_history(lake: Lake, domain: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    table = DRIFT_TABLES[domain]
    if not lake.exists(table):
        return pl.DataFrame()
    return lake.scan(table, start, end).sort("date").collect()
