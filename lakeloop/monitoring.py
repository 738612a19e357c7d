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

# Not monitored: merchant_count_24h. Merchant popularity and compromised-merchant spells
# move it on quiet days (PSI 0.2-0.7 over 14 quiet demo days), so it would always alarm.
FRAUD_MONITORED = ["amount", "amount_vs_card_mean_7d", "card_count_1h", "card_count_24h",
                   "card_amount_mean_7d", "card_seconds_since_prev", "hour", "is_night",
                   "channel", "device", "merchant_category", "country"]
# Demand is monitored on per-series *indices*: units divided by the series' reference mean on
# the same weekday. Raw units mix series of very different sizes and weekdays, and on a
# 300-row day their PSI moved as much on quiet days (0.03-0.25) as under a level shift.
# Not monitored: weekday, promotion and price ratio - they are the plan, known in advance.
DEMAND_MONITORED = ["units_index", "units_lag_7_index", "units_mean_7d_index"]
FORECAST_REFERENCE_DAYS = 7
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
    history = lake.scan(lineage["table"], version=lineage["version"]) \
        .filter(pl.col("date") < train_end).collect()
    level = history.group_by("series_id", "weekday").agg(
        pl.col("units").cast(pl.Float64).mean().clip(lower_bound=1.0).alias("_level"))
    reference = history.filter(pl.col("weekday") == day.isoweekday())
    current = lake.scan("silver/demand_features", day, day).collect()
    frames = []
    for frame in (reference, current):
        frame = frame.join(level, on=["series_id", "weekday"], how="left").with_columns(
            (pl.col("units") / pl.col("_level")).alias("units_index"),
            (pl.col("units_lag_7") / pl.col("_level")).alias("units_lag_7_index"),
            (pl.col("units_mean_7d") / pl.col("_level")).alias("units_mean_7d_index"))
        frames.append(frame)
    reference, current = frames
    result = compute_drift(reference, current, DEMAND_MONITORED, cfg)
    _forecast_drift(lake, champion.version, day, level, cfg, result)
    return DayDrift("demand", day, champion.version, result)


def _forecast_index(lake: Lake, version: str, start: dt.date, end: dt.date,
                    level: pl.DataFrame) -> pl.DataFrame:
    """Next-day p50 forecasts of ``version`` divided by the series' weekday level."""
    return (lake.scan("gold/demand_forecasts", start, end)
            .filter(pl.col("horizon") == 1, pl.col("model_version") == version).collect()
            .with_columns(pl.col("target_date").dt.weekday().alias("weekday"))
            .join(level, on=["series_id", "weekday"], how="left")
            .select("date", (pl.col("p50") / pl.col("_level")).alias("forecast_index")))


def _forecast_drift(lake: Lake, version: str, day: dt.date, level: pl.DataFrame,
                    cfg: DriftConfig, result: DriftResult) -> None:
    """Prediction drift for demand: today's forecasts vs the champion's first week of
    forecasts. (Forecasts are smooth and actuals are noisy, so actuals are no reference.)"""
    from lakeloop.drift import prediction_psi

    if not lake.exists("gold/demand_forecasts"):
        return
    past = _forecast_index(lake, version, day - dt.timedelta(days=60), day, level)
    first_days = sorted(past["date"].unique().to_list())[:FORECAST_REFERENCE_DAYS]
    if len(first_days) < FORECAST_REFERENCE_DAYS or day <= first_days[-1]:
        return  # the champion's reference week is still being written
    reference = past.filter(pl.col("date").is_in(first_days))["forecast_index"]
    current = past.filter(pl.col("date") == day)["forecast_index"]
    if current.is_empty():
        return
    result.prediction_psi = prediction_psi(reference, current, cfg)
    result.prediction_drift = result.prediction_psi >= cfg.prediction_threshold


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


def fraud_performance(lake: Lake, registry: ModelRegistry, day: dt.date,
                      maturity_days: int | None = None) -> dict | None:
    """Realised quality of the scores of ``day - maturity`` with the labels known on ``day``.

    The maturity defaults to the label window the champion was trained with. Returns None
    when there is nothing to evaluate yet (no champion, or no scores for that day)."""
    from lakeloop.models.fraud_lifecycle import MODEL_NAME
    from lakeloop.models.metrics import classification_metrics

    champion = registry.champion(MODEL_NAME)
    if champion is None or not lake.exists("gold/fraud_scores"):
        return None
    maturity = maturity_days or champion.meta["training_set"]["window"]["label_window_days"]
    evaluated = day - dt.timedelta(days=maturity)
    scores = lake.scan("gold/fraud_scores", evaluated, evaluated).collect()
    if scores.is_empty():
        return None
    fraud = lake.scan("bronze/fraud_labels", None, day).select("transaction_id").unique() \
        .with_columns(pl.lit(1).alias("y")).collect()
    joined = scores.join(fraud, on="transaction_id", how="left").with_columns(
        pl.col("y").fill_null(0))
    m = classification_metrics(joined["y"].to_numpy(), joined["fraud_score"].to_numpy())
    versions = joined["model_version"].unique().to_list()
    reference = registry.get(MODEL_NAME, versions[0]).meta.get("val_metrics", {})
    return {"date": day, "evaluated_day": evaluated, "model_version": ",".join(versions),
            "maturity_days": maturity, **{k: m[k] for k in ("pr_auc", "roc_auc",
                                                            "recall_at_1pct", "recall_at_5pct",
                                                            "positives", "rows")},
            "validation_pr_auc": reference.get("pr_auc")}


def forecast_accuracy(lake: Lake, day: dt.date) -> dict | None:
    """Realised error of every forecast whose target was ``day``, now that its actuals landed."""
    if not lake.exists("gold/demand_forecasts"):
        return None
    forecasts = lake.scan("gold/demand_forecasts", day - dt.timedelta(days=60), day) \
        .filter(pl.col("target_date") == day).collect()
    actual = lake.scan("silver/demand_features", day, day).select("series_id", "units").collect()
    joined = forecasts.join(actual, on="series_id", how="inner")
    if joined.is_empty():
        return None
    err = (joined["p50"] - joined["units"]).abs()
    denom = joined["p50"].abs() + joined["units"].abs()
    by_h = joined.with_columns(err.alias("e")).group_by("horizon").agg(
        pl.col("e").mean()).sort("horizon")
    inside = ((joined["units"] >= joined["p10"]) & (joined["units"] <= joined["p90"])).mean()
    return {"date": day, "forecasts": joined.height,
            "mae": float(err.mean()),
            "smape": float((2 * err / denom.clip(lower_bound=1e-9)).mean()),
            "wape": float(err.sum() / max(float(joined["units"].sum()), 1e-9)),
            "coverage_p10_p90": float(inside),
            "mae_by_horizon": dict(zip(by_h["horizon"].to_list(), by_h["e"].to_list(),
                                       strict=True)),
            "model_version": ",".join(sorted(joined["model_version"].unique().to_list()))}
