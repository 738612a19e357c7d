"""What each domain's drift is measured on: the newest days the champion was trained on.

Plain functions over the lake and registry; the Dagster assets only call these and store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import polars as pl

from lakeloop.domains import Domain
from lakeloop.drift import DriftConfig, DriftResult, compute_drift
from lakeloop.registry import ModelRegistry, ModelVersion
from lakeloop.storage import Lake, ObjectStore
from lakeloop.storage.objects import is_s3, split_s3

if TYPE_CHECKING:
    from lakeloop.evidently_workspace import MonitoringWorkspace, StoredSnapshot

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


def drift_table(domain: str) -> str:
    return f"monitoring/{domain}_drift"


def performance_table(domain: str) -> str:
    return f"monitoring/{domain}_performance"


def accuracy_table(domain: str) -> str:
    return f"monitoring/{domain}_accuracy"


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

    def row(self) -> pl.DataFrame:
        """One row for the drift history table the sensors read."""
        f = self.result.figures()
        return pl.DataFrame({
            "date": [self.day], "domain": [self.domain], "champion": [self.champion],
            "dataset_drift": [f["dataset_drift"]], "drift_share": [f["drift_share"]],
            "drifted_columns": [",".join(self.result.drifted_columns)],
            "max_column_drift": [f["max_column_drift"]],
            "prediction_drift_score": [f.get("prediction_drift_score")],
            "prediction_drift": [f.get("prediction_drift")],
        }, schema_overrides={"prediction_drift_score": pl.Float64, "prediction_drift": pl.Boolean})


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
        from lakeloop.training_sets import SplitWindow

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


def event_reference(lake: Lake, domain: Domain, champion: ModelVersion, cfg: DriftConfig
                    ) -> pl.DataFrame:
    """The features of the champion's reference days, read at the Delta version its training
    set recorded (time travel): what the model saw, even if a partition was re-run since."""
    first, last = reference_window(champion, cfg.reference_days)
    version = champion.meta["training_set"]["source_versions"][domain.features_table]
    return lake.scan(domain.features_table, first, last, version=version).collect()


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
    counts = scan.group_by("date").agg(pl.len()).collect().sort("date", descending=True)
    first, total = day, 0
    for d, n in counts.iter_rows():
        first, total = min(first, d), total + n
        if total >= cfg.min_current_rows:
            break
    return first


def first_week(values: Callable[[dt.date, dt.date], pl.LazyFrame], version: str,
               after: dt.date, day: dt.date, since: dt.date | None = None
               ) -> tuple[pl.Series, pl.Series] | None:
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
            .select(pl.col("date").unique()).collect()["date"]
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
    reference = values(days[0], days[-1]).filter(mine & pl.col("date").is_in(days)) \
        .select("v").collect()["v"]
    return reference, current


def _set_prediction_drift(result: DriftResult, predictions: tuple[pl.Series, pl.Series] | None,
                          cfg: DriftConfig) -> None:
    """Prediction drift of (first week, day), when the first week is complete."""
    from lakeloop.drift import prediction_drift_score

    if predictions is not None:
        result.prediction_drift_score = prediction_drift_score(*predictions, cfg)
        result.prediction_drift = result.prediction_drift_score >= cfg.prediction_threshold


def event_day_drift(lake: Lake, registry: ModelRegistry, domain: Domain, day: dt.date,
                    cfg: DriftConfig) -> DayDrift | None:
    """Drift of the champion's inputs on the day vs its newest training week; prediction
    drift: the day's scores vs the champion's first week of scores."""
    champion = registry.champion(domain.name)
    if champion is None:
        return None
    reference = event_reference(lake, domain, champion, cfg)
    since = current_since(lake, domain.features_table, day, cfg,
                          reference_window(champion, cfg.reference_days)[1])
    current = lake.scan(domain.features_table, since, day).collect()
    columns, categorical = monitored_columns(domain, champion)
    result = compute_drift(reference, current, columns, cfg, categorical=categorical)
    result.current_days = (day - since).days + 1
    result.skipped = {**unmonitored(domain, champion), **result.skipped}
    table = domain.predictions_table
    scores = first_week(
        lambda start, end: lake.scan(table, start, end)
        .select("date", "model_version", pl.col("score").alias("v")),
        champion.version, as_of(champion), day, since) if lake.exists(table) else None
    _set_prediction_drift(result, scores, cfg)
    return DayDrift(domain.name, day, champion.version, result)


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
    past = history.filter(pl.col("date") < before)
    return past.group_by("series_id", "weekday").agg(
        pl.col("target").cast(pl.Float64).abs().mean().clip(lower_bound=1.0).alias("_level"))


def _indices(frame: pl.DataFrame, levels: pl.DataFrame) -> pl.DataFrame:
    """Target over the series' weekday level; rows without a level (a series or weekday with
    no earlier regular day) have no index and are left out: their count is no signal."""
    return frame.join(levels, on=["series_id", "weekday"], how="inner").with_columns(
        (pl.col("target") / pl.col("_level")).alias("target_index"))


def series_day_drift(lake: Lake, registry: ModelRegistry, domain: Domain, day: dt.date,
                     cfg: DriftConfig) -> DayDrift | None:
    """Drift of the day's series vs the newest week of the champion's history, both as
    indices over the series' earlier weekday levels; prediction drift: the day's next-step
    forecasts vs the champion's first week of them."""
    champion = registry.champion(domain.name)
    if champion is None:
        return None
    lineage = champion.meta["training_set"]
    first, last = reference_window(champion, cfg.reference_days)
    history = lake.scan(lineage["table"], first - dt.timedelta(days=LEVEL_HISTORY_DAYS), last,
                        version=lineage["version"]).collect()
    history = history.filter(_regular(history.columns))
    levels = demand_levels(history, first)
    reference = _indices(history.filter(pl.col("date").is_between(first, last)), levels)
    since = current_since(lake, domain.features_table, day, cfg, last,
                          _regular(history.columns))
    today = lake.scan(domain.features_table, since, day).collect()
    current = _indices(today.filter(_regular(today.columns)), levels)
    result = compute_drift(reference, current, SERIES_MONITORED, cfg)
    result.current_days = (day - since).days + 1
    _forecast_drift(lake, domain, champion.version, last, day, levels, cfg, result, since)
    return DayDrift(domain.name, day, champion.version, result)


def _forecast_drift(lake: Lake, domain: Domain, version: str, after: dt.date, day: dt.date,
                    levels: pl.DataFrame, cfg: DriftConfig, result: DriftResult,
                    since: dt.date) -> None:
    """Prediction drift: today's next-step forecasts vs the champion's first week of them,
    as indices over the series' weekday levels. (Forecasts are smooth and actuals are noisy,
    so actuals are no reference.)"""
    table = domain.predictions_table
    if not lake.exists(table):
        return

    def index(start: dt.date, end: dt.date) -> pl.LazyFrame:
        features = lake.scan(domain.features_table, start, end)
        regular = features.filter(_regular(features.collect_schema().names())) \
            .select("series_id", "date")
        return (lake.scan(table, start, end).filter(pl.col("horizon") == 1)
                .join(regular, on=["series_id", "date"], how="semi")
                .with_columns(pl.col("target_date").dt.weekday().alias("weekday"))
                .join(levels.lazy(), on=["series_id", "weekday"], how="left")
                .select("date", "model_version", (pl.col("p50") / pl.col("_level")).alias("v")))

    _set_prediction_drift(result, first_week(index, version, after, day, since), cfg)


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
    return store_report(store, workspace, f"{drift.domain}_drift", drift.day,
                        drift.result.snapshot, drift.result.json,
                        {"domain": drift.domain, "champion": drift.champion})


def history(lake: Lake, table: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The daily rows of a monitoring table in ``start..end`` (empty before its first day)."""
    if not lake.exists(table):
        return pl.DataFrame()
    return lake.scan(table, start, end).sort("date").collect()


def drift_history(lake: Lake, domain: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    return history(lake, drift_table(domain), start, end)


def classification_performance(lake: Lake, registry: ModelRegistry, domain: Domain, day: dt.date,
                      maturity_days: int | None = None, pool_days: int = 7,
                      decay_margin: float = 0.3, min_maturity_days: int = 14
                      ) -> Realised | None:
    """The champion's realised quality on the scores whose labels have just matured.

    Maturity: the champion's label window, and at least ``min_maturity_days``. Scores of
    ``day - maturity`` (and, pooled, of the ``pool_days`` days up to it: one day holds a few
    dozen frauds, too few for a stable PR-AUC) are joined with the chargebacks known on
    ``day``. ``decayed``: the pooled PR-AUC fell more than ``decay_margin`` (relative) below
    the champion's PR-AUC on its own test window - what it promised when promoted. Only the
    champion's own scores count, so a model retired since does not decay the new one.
    Returns None when there is nothing to evaluate yet."""
    from lakeloop.models.metrics import classification_metrics
    from lakeloop.training_sets import LABEL, known_positive_ids

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
    if scores.filter(pl.col("date") == evaluated).is_empty():
        return None
    known = known_positive_ids(lake, domain, day, None, pool_first) \
        .rename({LABEL: "y"}).collect()
    joined = scores.join(known, on=domain.main.roles.id, how="left").with_columns(
        pl.col("y").fill_null(0))
    one = joined.filter(pl.col("date") == evaluated)
    m = classification_metrics(one["y"].to_numpy(), one["score"].to_numpy())
    pooled = classification_metrics(joined["y"].to_numpy(), joined["score"].to_numpy())
    promised = champion.metrics.get("pr_auc")
    decayed = promised is not None and pooled["pr_auc"] < (1 - decay_margin) * promised
    return Realised({
        "date": day, "evaluated_day": evaluated, "model_version": champion.version,
        "maturity_days": maturity,
        **{k: m[k] for k in ("pr_auc", "roc_auc", "recall_at_1pct", "recall_at_5pct",
                             "positives", "rows")},
        "pr_auc_pooled": pooled["pr_auc"], "pooled_days": joined["date"].n_unique(),
        "pooled_positives": pooled["positives"],
        "validation_pr_auc": champion.meta.get("val_metrics", {}).get("pr_auc"),
        "test_pr_auc": promised, "decayed": decayed}, joined)


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
        "series_id", pl.col("target").alias("actual")).collect()
    joined = forecasts.join(actual, on="series_id", how="inner")
    if joined.is_empty():
        return None
    err = (joined["p50"] - joined["actual"]).abs()
    actual, p50 = joined["actual"].to_numpy(), joined["p50"].to_numpy()
    by_h = joined.with_columns(err.alias("e")).group_by("horizon").agg(
        pl.col("e").mean()).sort("horizon")
    inside = ((joined["actual"] >= joined["p10"]) & (joined["actual"] <= joined["p90"])).mean()
    return Realised({"date": day, "forecasts": joined.height,
            "mae": float(err.mean()),
            "smape": smape(actual, p50), "wape": wape(actual, p50),
            "coverage_p10_p90": float(inside),
            "mae_by_horizon": dict(zip(by_h["horizon"].to_list(), by_h["e"].to_list(),
                                       strict=True)),
            "model_version": ",".join(sorted(joined["model_version"].unique().to_list()))},
        joined)
