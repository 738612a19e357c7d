"""What each domain's drift is measured on: the newest days the champion was trained on.

Plain functions over the lake and registry; the Dagster assets only call these and store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

import numpy as np
import polars as pl

from lakeloop import names
from lakeloop.contracts.domains import Domain
from lakeloop.monitoring.calibration import (
    Budget,
    Calibration,
    age_days,
    calibrate_days,
    day_rate,
    prediction_null,
)
from lakeloop.monitoring.drift import DriftResult, compute_drift
from lakeloop.monitoring.measure import DriftConfig
from lakeloop.names import PARTITION_COLUMN, SERIES_ID, drift_table, performance_table
from lakeloop.registry.model_registry import ModelRegistry, ModelVersion
from lakeloop.storage import Lake, ObjectStore
from lakeloop.storage.objects import is_s3, split_s3

if TYPE_CHECKING:
    from lakeloop.monitoring.evidently_workspace import MonitoringWorkspace, StoredSnapshot
    from lakeloop.monitoring.performance_decay import DecayVerdict

# Demand is monitored on per-series *indices* of regular-price days: the target divided by the
# series' earlier mean on that weekday (``demand_levels``). Raw targets mix series of very
# different sizes and weekdays, and on a 300-row day their PSI moved as much on quiet days
# (0.03-0.25) as under a level shift. Planned covariates (price, promotions) are the plan,
# not drift. Lags and rolling means are delayed copies of the target: they drift a week
# after it and stay drifted a week after the reference has moved on, so they are left out.
SERIES_MONITORED = ["target_index"]
# price ratio of a "regular price" day: within 10 % of the series' 28-day mean price (a
# promotion's -20 % is out; the +5 % a past promotion leaves in the mean is in)
REGULAR_PRICE_BAND = (0.9, 1.1)
# One day against a reference *week* differs in these by construction, never by drift.
CALENDAR_INPUTS = ("weekday",)
FIRST_WEEK_DAYS = 7  # a champion's first days of predictions: the prediction-drift reference
FIRST_WEEK_SEARCH_DAYS = 14  # days of predictions read at a time while finding that week
# Days of history before the reference week that demand levels are the mean of: enough for a
# dozen of each weekday; bounded, so a night's cost does not grow with the champion's history.
LEVEL_HISTORY_DAYS = 84


def model_inputs(champion: ModelVersion) -> dict[str, list[str]]:
    """The champion's categorical and numeric inputs, whatever its family (``feature_schema``;
    versions registered before families recorded them in the preprocessor only)."""
    schema = champion.meta.get("feature_schema") or champion.meta["preprocessor"]
    return {"categorical": list(schema["categorical"]), "numeric": list(schema["numeric"])}


def monitored_columns(domain: Domain, champion: ModelVersion) -> tuple[list[str], set[str]]:
    """The champion's inputs, narrowed by the contract's ``monitoring`` include/exclude, and
    which of them are categorical. Include (patterns) restricts; exclude removes; calendar
    inputs are left out (see ``unmonitored``)."""
    from lakeloop.contracts import matches

    pre = model_inputs(champion)
    inputs = [*pre["categorical"], *pre["numeric"]]
    m = domain.main.roles.monitoring
    cols = [c for c in inputs if (not m.include or matches(c, m.include))
            and not matches(c, m.exclude) and c not in CALENDAR_INPUTS]
    return cols, set(pre["categorical"])


def unmonitored(domain: Domain, champion: ModelVersion) -> dict[str, str]:
    """Model inputs the drift monitor does not watch, each with its reason (for the UI)."""
    pre = model_inputs(champion)
    watched = set(monitored_columns(domain, champion)[0])
    out = {}
    for c in [*pre["categorical"], *pre["numeric"]]:
        if c in watched:
            continue
        out[c] = ("calendar input: one day vs a reference week differs by construction"
                  if c in CALENDAR_INPUTS else "left out by the contract's roles.monitoring")
    return out


@dataclass
class DayDrift:
    domain: str
    day: dt.date
    champion: str
    result: DriftResult
    # what the day was measured against: the champion version, or its re-baseline
    # ("v0002+baseline:2026-03-01"); a change of it ends an open episode
    # (``lakeloop.alerting.policy``)
    reference: str | None = None
    calibration: Calibration | None = None
    calibration_note: str = ""  # why the thresholds are fixed, when they are

    def row(self) -> pl.DataFrame:
        """One row for the drift history table the sensors read."""
        f = self.result.figures()
        return pl.DataFrame({
            PARTITION_COLUMN: [self.day], "domain": [self.domain], "champion": [self.champion],
            "dataset_drift": [f["dataset_drift"]], "drift_share": [f["drift_share"]],
            "drifted_columns": [",".join(self.result.drifted_columns)],
            "max_column_drift": [f["max_column_drift"]],
            "prediction_drift_score": [f.get("prediction_drift_score")],
            "prediction_drift": [f.get("prediction_drift")],
            "reference": [self.reference or self.champion],
            "drift_score": [f.get("drift_score")],
            "drift_score_threshold": [f.get("drift_score_threshold")],
            "drift_evidence": [f.get("drift_evidence")],
            "drift_evidence_threshold": [f.get("drift_evidence_threshold")],
        }, schema_overrides={"prediction_drift_score": pl.Float64, "prediction_drift": pl.Boolean,
                             "drift_score": pl.Float64, "drift_score_threshold": pl.Float64,
                             "drift_evidence": pl.Float64,
                             "drift_evidence_threshold": pl.Float64})


def as_of(champion: ModelVersion) -> dt.date:
    """The newest day the champion's training set saw: it serves the days after it."""
    return dt.date.fromisoformat(champion.meta["training_set"]["as_of"])


def reference_window(champion: ModelVersion, days: int) -> tuple[dt.date, dt.date]:
    """The newest ``days`` days of the data the champion was trained and selected on.

    Why the newest days and not its whole training window: after a drift retrain the
    champion has learnt the new normal from those days, and only they describe it; a reference
    that is mostly pre-drift would keep a fixed drift episode open forever."""
    lineage = champion.meta["training_set"]
    if "window" in lineage:  # classification: the feature days of the training set
        from lakeloop.training.split import SplitWindow

        first, last = SplitWindow(**lineage["window"]).dates(
            dt.date.fromisoformat(lineage["as_of"]))
        return max(first, last - dt.timedelta(days=days - 1)), last
    last = dt.date.fromisoformat(lineage["as_of"])  # demand: the history up to its as-of day
    return last - dt.timedelta(days=days - 1), last


@dataclass
class Realised:
    """Realised quality of one day: the figures (one row of the monitoring table) and the
    rows they were computed on (for the Evidently report)."""

    figures: dict
    rows: pl.DataFrame


@dataclass(frozen=True)
class Reference:
    """What a day is measured against: the reference days (read at ``version`` when the
    champion's training set recorded one: time travel), the day after which the champion's
    first week of predictions starts, and the id the drift rows carry."""

    first: dt.date
    last: dt.date
    version: int | None
    predictions_after: dt.date
    id: str


def reference_for(registry: ModelRegistry, domain: Domain, champion: ModelVersion,
                  cfg: DriftConfig, table_version: int | None) -> Reference:
    """The champion's newest training week, or - after ``lakeloop monitoring accept`` - the
    ``reference_days`` from the re-baseline's first day (read at the lake's newest version:
    the team accepted the data as it is now), with the prediction reference moved with it."""
    from lakeloop.monitoring.rebaseline import active_baseline

    baseline = active_baseline(registry, domain.name)
    if baseline is not None and baseline.champion == champion.version:
        last = baseline.start + dt.timedelta(days=cfg.reference_days - 1)
        return Reference(baseline.start, last, None, last, baseline.reference_id)
    first, last = reference_window(champion, cfg.reference_days)
    return Reference(first, last, table_version, as_of(champion), champion.version)


def event_reference(lake: Lake, domain: Domain, champion: ModelVersion, cfg: DriftConfig,
                    reference: Reference | None = None) -> pl.DataFrame:
    """The features of the reference days, read at the Delta version the champion's training
    set recorded (time travel): what the model saw, even if a partition was re-run since."""
    if reference is None:
        first, last = reference_window(champion, cfg.reference_days)
        version = champion.meta["training_set"]["source_versions"][domain.features_table]
    else:
        first, last, version = reference.first, reference.last, reference.version
    return lake.scan(domain.features_table, first, last, version=version).collect()


def _policy_rule() -> tuple[int, int]:
    from lakeloop.alerting.policy import RetrainPolicy

    policy = RetrainPolicy()
    return policy.k, policy.n


def budget_for(domain: Domain, cfg: DriftConfig) -> Budget:
    """The contract's ``roles.monitoring.false_alarm_budget``, else the monitor's config."""
    declared = domain.main.roles.monitoring.false_alarm_budget
    if declared is not None:
        return Budget(declared.false_episodes, declared.per_days)
    return Budget(cfg.false_episodes, cfg.budget_days)


# what a stored calibration holds; a new format is learnt anew, not read from an old file
# (2: signed missing effects, the values' views, the age-dependent spread, 3 signals)
# (3: the null score's law and the sequential rule's threshold)
CALIBRATION_FORMAT = 3


def _calibration_file(cfg: DriftConfig, budget: Budget) -> str:
    import hashlib
    import json

    key = json.dumps([dataclasses.asdict(cfg), dataclasses.asdict(budget), _policy_rule(),
                      CALIBRATION_FORMAT], sort_keys=True, default=str)
    return f"drift_calibration-{hashlib.sha256(key.encode()).hexdigest()[:10]}.json"


class NotCalibrated(Exception):
    """The champion's history cannot say what quiet looks like (the message says why)."""


def stored_calibration(registry: ModelRegistry, champion: ModelVersion, cfg: DriftConfig,
                       budget: Budget, learn: Callable[[], Calibration]
                       ) -> tuple[Calibration | None, str]:
    """The champion's calibration, stored beside its version in the registry (JSON), learnt
    once with ``learn`` on the first day it is needed; a change of config or budget learns
    anew (the file name carries their fingerprint). None and the reason when it cannot be
    learnt (``NotCalibrated``): the fixed thresholds decide meanwhile."""
    import json

    parts = ("registry", champion.model, "versions", champion.version,
             _calibration_file(cfg, budget))
    uri = registry.store.uri(*parts)
    try:
        return Calibration.from_dict(json.loads(registry.store.read_bytes(uri))), ""
    except FileNotFoundError:
        pass
    try:
        calibration = learn()
    except NotCalibrated as exc:
        return None, str(exc)
    registry.store.write_bytes(json.dumps(calibration.to_dict(), indent=1).encode(), *parts)
    return calibration, ""


def importance_weights(champion: ModelVersion) -> tuple[dict[str, float] | None, str]:
    """The champion's feature importance stored at training (``feature_importance``)."""
    stored = champion.meta.get("feature_importance") or {}
    return stored.get("values"), stored.get("method", "equal")


def event_calibration(lake: Lake, domain: Domain, champion: ModelVersion, cfg: DriftConfig,
                      reference: pl.DataFrame, columns: list[str], categorical: set[str]
                      ) -> Calibration:
    """Null days: the champion's training days before its reference week, read at the
    version its training set recorded, pooled like a thin production day."""
    lineage = champion.meta["training_set"]
    if "window" not in lineage:
        raise NotCalibrated("the champion's training set recorded no window")
    from lakeloop.training.split import SplitWindow

    window_first, _ = SplitWindow(**lineage["window"]).dates(as_of(champion))
    ref_first, _ = reference_window(champion, cfg.reference_days)
    version = lineage["source_versions"][domain.features_table]
    history = lake.scan(domain.features_table, window_first,
                        ref_first - dt.timedelta(days=1), version=version).collect()
    weights, method = importance_weights(champion)
    return _calibrate_days(history, reference, columns, categorical, cfg,
                           budget_for(domain, cfg), weights, method,
                           signals=CLASSIFICATION_SIGNALS)


def _calibrate_days(history: pl.DataFrame, reference: pl.DataFrame, columns: list[str],
                    categorical: set[str], cfg: DriftConfig, budget: Budget,
                    weights: dict[str, float] | None, method: str, signals: int = 2
                    ) -> Calibration:
    """``calibrate_days`` under the episode policy's rule; ``NotCalibrated`` says why not.
    ``signals``: how many signals share the budget (``CLASSIFICATION_SIGNALS``; forecasts:
    data and prediction drift)."""
    k, n = _policy_rule()
    calibration, why = calibrate_days(history, reference, columns, cfg, categorical, weights,
                                      method, budget, k, n, signals)
    if calibration is None:
        raise NotCalibrated(why)
    return calibration


def calibrated(cfg: DriftConfig, calibration: Calibration | None) -> DriftConfig:
    """``cfg`` with the current side pooled to the calibration's fixed sample size."""
    if calibration is None:
        return cfg
    return dataclasses.replace(cfg, min_current_rows=calibration.current_rows)


def current_since(lake: Lake, table: str, day: dt.date, cfg: DriftConfig, after: dt.date,
                  where: pl.Expr | None = None) -> dt.date:
    """First day of the current side of ``day``'s drift: ``day`` itself, or - while it holds
    fewer than ``cfg.min_current_rows`` rows (``where`` applied) - grown back one day at a time,
    at most ``cfg.max_current_days`` days and never onto ``after`` (the reference's last day)
    or before it. Counting reads the date column only."""
    if not cfg.min_current_rows:
        return day
    oldest = max(day - dt.timedelta(days=cfg.max_current_days - 1), after + dt.timedelta(days=1))
    scan = lake.scan(table, oldest, day)
    if where is not None:
        scan = scan.filter(where)
    counts = scan.group_by(PARTITION_COLUMN).agg(pl.len()).collect() \
        .sort(PARTITION_COLUMN, descending=True)
    first, total = day, 0
    for d, n in counts.iter_rows():
        first, total = min(first, d), total + n
        if total >= cfg.min_current_rows:
            break
    return first


@dataclass
class FirstWeek:
    """The champion's first week of predictions, by day, and the current side's."""

    days: dict[dt.date, pl.Series]
    current: pl.Series

    @property
    def reference(self) -> pl.Series:
        return pl.concat(list(self.days.values()))

    def __iter__(self):  # noqa: ANN204 - unpacks as (reference, current)
        return iter((self.reference, self.current))


def first_week(values: Callable[[dt.date, dt.date], pl.LazyFrame], version: str,
               after: dt.date, day: dt.date, since: dt.date | None = None
               ) -> FirstWeek | None:
    """The champion's first ``FIRST_WEEK_DAYS`` days of predictions after ``after`` (its
    training as-of day) and the day's: ``values(start, end)`` gives ``date``,
    ``model_version`` and the value ``v`` of the days ``start..end``.

    Why its own first week in production and not its predictions on its training days: on
    days it was fitted on, a model is surer than it can be on new ones (in the demo a
    retrained champion's scores moved by PSI 0.08-0.14 between the two on quiet days).
    ``since``: the current side spans ``since`` .. ``day`` (pooled days; never the first week).

    The first week is searched forward from ``after`` a window of ``FIRST_WEEK_SEARCH_DAYS``
    at a time, so a night reads the same few weeks whatever the champion's age or the
    history's length (a look-back from ``day`` loses a champion's first week once it is older
    than the look-back, and the reference would then slide)."""
    days: list[dt.date] = []
    start = after + dt.timedelta(days=1)
    while len(days) < FIRST_WEEK_DAYS and start <= day:
        end = min(day, start + dt.timedelta(days=FIRST_WEEK_SEARCH_DAYS - 1))
        found = values(start, end).filter(pl.col("model_version") == version) \
            .select(pl.col(PARTITION_COLUMN).unique()).collect()[PARTITION_COLUMN]
        days += sorted(found.to_list())
        start = end + dt.timedelta(days=1)
    days = days[:FIRST_WEEK_DAYS]
    if len(days) < FIRST_WEEK_DAYS or day <= days[-1]:
        return None  # the champion's reference week is still being written
    first = max(since or day, days[-1] + dt.timedelta(days=1))
    mine = pl.col("model_version") == version
    current = values(first, day).filter(mine).select("v").collect()["v"]
    if not len(current):
        return None
    week = values(days[0], days[-1]).filter(mine & pl.col(PARTITION_COLUMN).is_in(days)) \
        .select(PARTITION_COLUMN, "v").collect()
    return FirstWeek({d: week.filter(pl.col(PARTITION_COLUMN) == d)["v"] for d in days}, current)


def _set_prediction_drift(result: DriftResult, predictions: FirstWeek | None,
                          cfg: DriftConfig, calibration: Calibration | None = None) -> None:
    """Prediction drift of (first week, day), when the first week is complete. Calibrated:
    the day's distance against the first week's own day-to-day variation (each day of it vs
    the others, ``drift_calibration.prediction_null``) at the calibration's per-day rate."""
    from lakeloop.monitoring.measure import prediction_drift_score

    if predictions is None:
        return
    score = prediction_drift_score(predictions.reference, predictions.current, cfg)
    result.prediction_drift_score = score
    result.prediction_drift = score >= cfg.prediction_threshold
    if calibration is not None:
        null = prediction_null(predictions.days, cfg)
        if null is not None:
            calibration.prediction = null
            threshold = calibration.prediction_threshold()
            result.prediction_drift = threshold is not None and score >= threshold


def event_day_drift(lake: Lake, registry: ModelRegistry, domain: Domain, day: dt.date,
                    cfg: DriftConfig) -> DayDrift | None:
    """Drift of the champion's inputs on the day vs its newest training week (or its
    re-baseline), judged against thresholds learnt from its own training days
    (``lakeloop.monitoring.calibration``); prediction drift: the day's scores vs the champion's
    first week of scores."""
    champion = registry.champion(domain.name)
    if champion is None:
        return None
    ref = reference_for(registry, domain, champion, cfg,
                        champion.meta["training_set"]["source_versions"][domain.features_table])
    if day <= ref.last:
        return None
    reference = event_reference(lake, domain, champion, cfg, ref)
    columns, categorical = monitored_columns(domain, champion)
    calibration, note = None, "calibrate=false"
    if cfg.calibrate:
        calibration, note = stored_calibration(
            registry, champion, cfg, budget_for(domain, cfg),
            lambda: event_calibration(lake, domain, champion, cfg,
                                      event_reference(lake, domain, champion, cfg),
                                      columns, categorical))
    since = current_since(lake, domain.features_table, day, calibrated(cfg, calibration),
                          ref.last)
    current = lake.scan(domain.features_table, since, day).collect()
    result = compute_drift(reference, current, columns, cfg, categorical=categorical,
                           calibration=calibration,
                           age_days=age_days(ref.first, ref.last, since, day))
    result.current_days = (day - since).days + 1
    result.skipped = {**unmonitored(domain, champion), **result.skipped}
    table = domain.predictions_table
    scores = first_week(
        lambda start, end: lake.scan(table, start, end)
        .select(PARTITION_COLUMN, "model_version", pl.col("score").alias("v")),
        champion.version, ref.predictions_after, day, since) if lake.exists(table) else None
    _set_prediction_drift(result, scores, cfg, calibration)
    return DayDrift(domain.name, day, champion.version, result, ref.id, calibration, note)


def _regular(frame_columns: list[str]) -> pl.Expr:
    """Regular-price days (price ratio near 1) when the domain has prices, else every day."""
    if "price_ratio" not in frame_columns:
        return pl.lit(True)
    return pl.col("price_ratio").is_between(*REGULAR_PRICE_BAND)


def demand_levels(history: pl.DataFrame, before: dt.date) -> pl.DataFrame:
    """Per series and weekday, the expected target: the mean of the history before ``before``.

    Levels come from days *before* the reference window, so reference days and the day
    measured are both out of sample: levels fitted on the reference days themselves make
    the reference look tighter than any new day can be (tried: quiet days then alarmed)."""
    past = history.filter(pl.col(PARTITION_COLUMN) < before)
    return past.group_by(SERIES_ID, "weekday").agg(
        pl.col("target").cast(pl.Float64).abs().mean().clip(lower_bound=1.0).alias("_level"))


def _indices(frame: pl.DataFrame, levels: pl.DataFrame) -> pl.DataFrame:
    """Target over the series' weekday level; rows without a level (a series or weekday with
    no earlier regular day) have no index and are left out: their count is no signal."""
    return frame.join(levels, on=[SERIES_ID, "weekday"], how="inner").with_columns(
        (pl.col("target") / pl.col("_level")).alias("target_index"))


def leave_one_out_indices(past: pl.DataFrame) -> pl.DataFrame:
    """Each past day's target over its series' weekday level computed *without that day*:
    the null days of demand calibration are then out of sample, as a production day is
    (a level fitted on the day itself pulls its index towards 1 and the null looks tighter
    than any new day can be)."""
    keys = [SERIES_ID, "weekday"]
    return past.with_columns(
        pl.col("target").cast(pl.Float64).abs().sum().over(keys).alias("_sum"),
        pl.len().over(keys).alias("_n"),
    ).filter(pl.col("_n") > 1).with_columns(
        ((pl.col("_sum") - pl.col("target").cast(pl.Float64).abs()) / (pl.col("_n") - 1))
        .clip(lower_bound=1.0).alias("_level"),
    ).with_columns((pl.col("target") / pl.col("_level")).alias("target_index")) \
        .drop("_sum", "_n")


def series_day_drift(lake: Lake, registry: ModelRegistry, domain: Domain, day: dt.date,
                     cfg: DriftConfig) -> DayDrift | None:
    """Drift of the day's series vs the newest week of the champion's history (or its
    re-baseline), both as indices over the series' earlier weekday levels, judged against the
    indices' own day-to-day variation over that history (leave-one-out levels; calibrated
    to the budget); prediction drift: the day's next-step forecasts vs the champion's first
    week of them."""
    champion = registry.champion(domain.name)
    if champion is None:
        return None
    lineage = champion.meta["training_set"]
    ref = reference_for(registry, domain, champion, cfg, lineage["version"])
    if day <= ref.last:
        return None
    first, last = reference_window(champion, cfg.reference_days)
    history = lake.scan(lineage["table"], first - dt.timedelta(days=LEVEL_HISTORY_DAYS), last,
                        version=lineage["version"]).collect()
    history = history.filter(_regular(history.columns))
    levels = demand_levels(history, first)
    reference = _indices(history.filter(pl.col(PARTITION_COLUMN).is_between(first, last)), levels)
    if ref.id != champion.version:  # re-baselined: the accepted days, on the same levels
        accepted = lake.scan(domain.features_table, ref.first, ref.last).collect()
        reference = _indices(accepted.filter(_regular(accepted.columns)), levels)
    calibration, note = None, "calibrate=false"
    if cfg.calibrate:
        calibration, note = stored_calibration(
            registry, champion, cfg, budget_for(domain, cfg),
            lambda: _calibrate_days(
                leave_one_out_indices(history.filter(pl.col(PARTITION_COLUMN) < first)),
                _indices(history.filter(pl.col(PARTITION_COLUMN).is_between(first, last)), levels),
                SERIES_MONITORED, set(), cfg, budget_for(domain, cfg), None, "equal"))
    since = current_since(lake, domain.features_table, day, calibrated(cfg, calibration),
                          ref.last, _regular(history.columns))
    today = lake.scan(domain.features_table, since, day).collect()
    current = _indices(today.filter(_regular(today.columns)), levels)
    result = compute_drift(reference, current, SERIES_MONITORED, cfg, calibration=calibration,
                           age_days=age_days(ref.first, ref.last, since, day))
    result.current_days = (day - since).days + 1
    _forecast_drift(lake, domain, champion.version, ref.predictions_after, day, levels, cfg,
                    result, since, calibration)
    return DayDrift(domain.name, day, champion.version, result, ref.id, calibration, note)


def _forecast_drift(lake: Lake, domain: Domain, version: str, after: dt.date, day: dt.date,
                    levels: pl.DataFrame, cfg: DriftConfig, result: DriftResult,
                    since: dt.date, calibration: Calibration | None = None) -> None:
    """Prediction drift: today's next-step forecasts vs the champion's first week of them,
    as indices over the series' weekday levels. (Forecasts are smooth and actuals are noisy,
    so actuals are no reference.)"""
    table = domain.predictions_table
    if not lake.exists(table):
        return

    def index(start: dt.date, end: dt.date) -> pl.LazyFrame:
        features = lake.scan(domain.features_table, start, end)
        regular = features.filter(_regular(features.collect_schema().names())) \
            .select(SERIES_ID, PARTITION_COLUMN)
        return (lake.scan(table, start, end).filter(pl.col("horizon") == 1)
                .join(regular, on=[SERIES_ID, PARTITION_COLUMN], how="semi")
                .with_columns(pl.col("target_date").dt.weekday().alias("weekday"))
                .join(levels.lazy(), on=[SERIES_ID, "weekday"], how="left")
                .select(PARTITION_COLUMN, "model_version",
                        (pl.col("p50") / pl.col("_level")).alias("v")))

    _set_prediction_drift(result, first_week(index, version, after, day, since), cfg,
                          calibration)


@dataclass(frozen=True)
class StoredReport:
    """A day's report: the small JSON on the lake and its snapshot in the Evidently workspace."""

    json_uri: str  # reports/<kind>/date=D/report.json (local path or s3:// URI)
    json_url: str | None  # the same as a link a browser opens; None where there is none
    snapshot: StoredSnapshot | None  # None when Evidently ran nothing (no columns to compare)

    @property
    def size_bytes(self) -> int:
        """Bytes the day keeps locally (the JSON on a local lake, plus the snapshot)."""
        local = 0 if is_s3(self.json_uri) else Path(self.json_uri).stat().st_size
        return local + (self.snapshot.size_bytes if self.snapshot else 0)


def browser_url(store: ObjectStore, uri: str) -> str | None:
    """A link to ``uri`` that a browser opens: ``file://`` for a local file; the AWS console
    page of an S3 object; None for S3-compatible stores (a custom endpoint has no console
    lakeloop knows), never the bare ``s3://`` string, which a browser cannot open."""
    if not is_s3(uri):
        return Path(uri).absolute().as_uri()
    if store.s3.endpoint_url:
        return None
    bucket, key = split_s3(uri)
    return (f"https://s3.console.aws.amazon.com/s3/object/{bucket}?"
            + urlencode({"region": store.s3.region, "prefix": key}))


def store_report(store: ObjectStore, workspace: MonitoringWorkspace | None, kind: str,
                 day: dt.date, snapshot: Any, json: str,
                 metadata: dict[str, str] | None = None) -> StoredReport:
    """The JSON under ``reports/<kind>/date=D/report.json`` (small: what notebooks and tables
    read) and the Evidently snapshot as the day of ``kind``'s project in ``workspace`` (what
    people open in ``evidently ui``; a re-run replaces the day). No HTML: Evidently's HTML
    embeds its JS bundle, ~4 MB a day and monitor."""
    uri = store.write_bytes(json.encode(), f"reports/{kind}", f"date={day.isoformat()}",
                            "report.json")
    stored = None if workspace is None or snapshot is None else workspace.add_day(
        kind, day, snapshot, metadata)
    return StoredReport(uri, browser_url(store, uri), stored)


def store_reports(store: ObjectStore, workspace: MonitoringWorkspace | None, drift: DayDrift
                  ) -> StoredReport:
    tags = {"domain": drift.domain, "champion": drift.champion,
            "reference": drift.reference or drift.champion}
    if drift.calibration is not None and drift.result.score is not None:
        cal, score = drift.calibration, drift.result.score
        tags.update({"thresholds": f"calibrated: {cal.budget.describe()}, "
                                   f"{len(cal.null_days)} quiet days",
                     "drift_score": f"{score.value:.3f} (threshold {score.threshold:.3f})"})
    return store_report(store, workspace, names.drift_asset(drift.domain), drift.day,
                        drift.result.snapshot, drift.result.json, tags)


def history(lake: Lake, table: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The daily rows of a monitoring table in ``start..end`` (empty before its first day)."""
    if not lake.exists(table):
        return pl.DataFrame()
    return lake.scan(table, start, end).sort(PARTITION_COLUMN).collect()


def drift_history(lake: Lake, domain: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    return history(lake, drift_table(domain), start, end)


@dataclass(frozen=True)
class JudgedDay:
    """A measured day as the episode policy sees it: its drift row and, where the champion's
    realised performance decayed that day, the performance row."""

    day: dt.date
    row: dict[str, Any]
    decay: dict[str, Any] | None

    @property
    def drifted(self) -> bool:
        return bool(self.row["dataset_drift"]) or bool(self.row["prediction_drift"]) \
            or self.decay is not None

    @property
    def reference(self) -> str:
        """What the day was measured against (a re-baseline names itself; else the
        champion's version)."""
        return self.row.get("reference") or self.row["champion"]

    @property
    def evidence(self) -> tuple[float | None, float | None]:
        """The day's evidence for the sequential rule and its threshold
        (``lakeloop.alerting.sequential``); None in rows measured before it."""
        return self.row.get("drift_evidence"), self.row.get("drift_evidence_threshold")


def judged_days(lake: Lake, domain: str, start: dt.date, end: dt.date,
                with_performance: bool) -> list[JudgedDay]:
    """The measured days in ``start..end``, in order. ``with_performance`` (classification):
    a day whose realised performance decayed (labels matured) counts as drifted too."""
    drift = drift_history(lake, domain, start, end)
    perf = history(lake, performance_table(domain), start, end) if with_performance \
        else pl.DataFrame()
    decayed = {} if perf.is_empty() else {
        r[PARTITION_COLUMN]: r for r in perf.filter(pl.col("decayed")).iter_rows(named=True)}
    return [JudgedDay(r[PARTITION_COLUMN], r, decayed.get(r[PARTITION_COLUMN]))
            for r in drift.iter_rows(named=True)]


def classification_performance(lake: Lake, registry: ModelRegistry, domain: Domain, day: dt.date,
                      maturity_days: int | None = None, pool_days: int = 7,
                      budget: Budget | None = None, min_maturity_days: int = 14
                      ) -> Realised | None:
    """The champion's realised quality on the scores whose labels have just matured.

    Maturity: the champion's label window, and at least ``min_maturity_days``. Scores of
    ``day - maturity`` (and, pooled, of the ``pool_days`` days up to it: one day holds a few
    dozen frauds, too few for a stable PR-AUC) are joined with the chargebacks known on
    ``day``. ``decayed``: the pooled PR-AUC fell below the champion's PR-AUC on its own test
    window - what it promised when promoted - by more than its own sampling and
    period-to-period variation allow at the false-alarm ``budget``'s rate
    (``lakeloop.monitoring.performance_decay``; default: the domain's drift budget). Only the
    champion's own scores count, so a model retired since does not decay the new one.
    Returns None when there is nothing to evaluate yet."""
    from lakeloop.models.metrics import classification_metrics
    from lakeloop.training.training_sets import LABEL, known_positive_ids

    champion = registry.champion(domain.name)
    if champion is None or not lake.exists(domain.predictions_table):
        return None
    # a drift retrain learns from 4-day-old labels, but judging it on them would call it
    # decayed (seen in the demo: 0.42-0.58 on labels 4 days old): at least two weeks
    maturity = maturity_days or max(
        champion.meta["training_set"]["window"]["label_window_days"], min_maturity_days)
    evaluated = day - dt.timedelta(days=maturity)
    pool_first = evaluated - dt.timedelta(days=pool_days - 1)
    scores = lake.scan(domain.predictions_table, pool_first, evaluated) \
        .filter(pl.col("model_version") == champion.version).collect()
    if scores.filter(pl.col(PARTITION_COLUMN) == evaluated).is_empty():
        return None
    known = known_positive_ids(lake, domain, day, None, pool_first) \
        .rename({LABEL: "y"}).collect()
    joined = scores.join(known, on=domain.main.roles.id, how="left").with_columns(
        pl.col("y").fill_null(0))
    one = joined.filter(pl.col(PARTITION_COLUMN) == evaluated)
    m = classification_metrics(one["y"].to_numpy(), one["score"].to_numpy())
    pooled = classification_metrics(joined["y"].to_numpy(), joined["score"].to_numpy())
    promised = champion.metrics.get("pr_auc")
    verdict = _decay(champion, pooled, budget or budget_for(domain, DriftConfig()))
    return Realised({
        PARTITION_COLUMN: day, "evaluated_day": evaluated, "model_version": champion.version,
        "maturity_days": maturity,
        **{k: m[k] for k in ("pr_auc", "roc_auc", "recall_at_1pct", "recall_at_5pct",
                             "positives", "rows")},
        "pr_auc_pooled": pooled["pr_auc"], "pooled_days": joined[PARTITION_COLUMN].n_unique(),
        "pooled_positives": pooled["positives"],
        "validation_pr_auc": champion.meta.get("val_metrics", {}).get("pr_auc"),
        "test_pr_auc": promised,
        **(verdict.figures() if verdict is not None else NOT_JUDGED)}, joined)


# a week without a verdict (no test PR-AUC, or no positive in the week): the same columns
NOT_JUDGED = {"decayed": False, "decay_z": float("nan"), "decay_z_threshold": float("nan"),
              "decay_floor": float("nan"), "decay_tau": float("nan")}
# the signals an episode is opened on, each given an equal share of the false-alarm budget:
# data drift and prediction drift (both calibrated), and - for classification - realised
# performance decay (``performance_decay``)
CLASSIFICATION_SIGNALS = 3


def _decay(champion: ModelVersion, pooled: dict[str, Any], budget: Budget
           ) -> DecayVerdict | None:
    """The pooled week judged against the champion's test PR-AUC (None: either is unknown)."""
    from lakeloop.monitoring.performance_decay import judge_decay

    promised, val = champion.metrics, champion.meta.get("val_metrics") or {}
    if not (promised.get("pr_auc") is not None and promised.get("positives")
            and pooled["positives"] and np.isfinite(pooled["pr_auc"])):
        return None
    # consecutive pooled weeks share most rows: each decayed day budgeted as an episode
    rate = day_rate(budget, 1, 1, CLASSIFICATION_SIGNALS)
    return judge_decay(pooled["pr_auc"], pooled["positives"], promised["pr_auc"],
                       int(promised["positives"]), rate, val.get("pr_auc"),
                       None if val.get("positives") is None else int(val["positives"]))


def forecast_accuracy(lake: Lake, domain: Domain, day: dt.date) -> Realised | None:
    """Realised error of every forecast whose target was ``day``, now that its actuals landed.

    sMAPE and WAPE are ``lakeloop.models.metrics``' (the backtest's own functions and zero
    rules), so the error a champion was promoted on and the error it realises are comparable."""
    from lakeloop.models.metrics import smape, wape

    if not lake.exists(domain.predictions_table):
        return None
    forecasts = lake.scan(domain.predictions_table, day - dt.timedelta(days=60), day) \
        .filter(pl.col("target_date") == day).collect()
    actual = lake.scan(domain.features_table, day, day).select(
        SERIES_ID, pl.col("target").alias("actual")).collect()
    joined = forecasts.join(actual, on=SERIES_ID, how="inner")
    if joined.is_empty():
        return None
    err = (joined["p50"] - joined["actual"]).abs()
    truth, p50 = joined["actual"].to_numpy(), joined["p50"].to_numpy()
    by_h = joined.with_columns(err.alias("e")).group_by("horizon").agg(
        pl.col("e").mean()).sort("horizon")
    inside = ((joined["actual"] >= joined["p10"]) & (joined["actual"] <= joined["p90"])).mean()
    return Realised({PARTITION_COLUMN: day, "forecasts": joined.height,
            "mae": float(cast(float, err.mean())),
            "smape": smape(truth, p50), "wape": wape(truth, p50),
            "coverage_p10_p90": float(cast(float, inside)),
            "mae_by_horizon": dict(zip(by_h["horizon"].to_list(), by_h["e"].to_list(),
                                       strict=True)),
            "model_version": ",".join(sorted(joined["model_version"].unique().to_list()))},
        joined)
