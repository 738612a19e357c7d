"""A day's drift verdict and its Evidently report: measured (``measure``), then judged by the
calibration learnt from the champion's history (``calibration``) or by fixed thresholds.

Its own module so that the calibration can use the measurements without importing the
verdict: measure <- calibration <- drift, no circle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lakeloop.monitoring.calibration import Calibration, DayScore
from lakeloop.monitoring.measure import MISSING, DriftConfig, Plan, measure


@dataclass
class DriftResult:
    dataset_drift: bool
    drift_share: float  # columns drifted on any signal / columns measured on any signal
    drifted_columns: list[str]  # distribution drift: "<col>"; missingness: "<col> (missing)"
    column_drift: dict[str, float]
    prediction_drift_score: float | None
    prediction_drift: bool | None
    reference_rows: int
    current_rows: int
    current_days: int = 1  # days pooled into the current side (see DriftConfig.min_current_rows)
    # the Evidently run (for the workspace: ``evidently_workspace``) and its small
    # JSON; no HTML: it embeds Evidently's JS bundle, ~4 MB a day (``evidently ui`` renders)
    snapshot: Any = field(repr=False, default=None)
    json: str = field(repr=False, default="")
    column_methods: dict[str, str] = field(default_factory=dict)  # how each column was measured
    missing_drift: dict[str, float] = field(default_factory=dict)  # |null share cur - ref|
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it was not compared
    score: DayScore | None = None  # the calibrated verdict (``lakeloop.monitoring.calibration``)

    def figures(self) -> dict[str, Any]:
        """Plain numbers for asset metadata (Dagster plots numeric metadata over time)."""
        out: dict[str, Any] = {
            "dataset_drift": self.dataset_drift,
            "drift_share": round(self.drift_share, 4),
            "drifted_columns": len(self.drifted_columns),
            "max_column_drift": round(max(self.column_drift.values(), default=0.0), 4),
            "reference_sample": self.reference_rows,
            "current_sample": self.current_rows,
            "current_days": self.current_days,
            "skipped_columns": len(self.skipped),
            "missing_drifted": sum(c.endswith(MISSING) for c in self.drifted_columns),
        }
        if self.score is not None:
            out["drift_score"] = round(self.score.value, 4)
            out["drift_score_threshold"] = round(self.score.threshold, 4)
            if self.score.evidence is not None:
                out["drift_evidence"] = round(self.score.evidence, 4)
                out["drift_evidence_threshold"] = round(self.score.evidence_threshold or 0, 4)
        if self.prediction_drift_score is not None:
            out["prediction_drift_score"] = round(self.prediction_drift_score, 4)
            out["prediction_drift"] = bool(self.prediction_drift)
        return out




def compute_drift(reference: pl.DataFrame, current: pl.DataFrame, columns: list[str],
                  cfg: DriftConfig, prediction: str | None = None,
                  categorical: set[str] | None = None,
                  calibration: Calibration | None = None,
                  age_days: float | None = None) -> DriftResult:
    """Drift of ``current`` vs ``reference`` on ``columns`` (+ the ``prediction`` column).

    Two signals per column: its distribution (``column_drift``, on fixed-size seeded samples,
    method by type and cardinality, see the module docstring; ``column_methods`` says which)
    and its share of missing values (``missing_drift``, on the whole frames). ``categorical``
    names numeric columns that are codes, not quantities (ids, zip codes, ...).

    With a ``calibration`` (``lakeloop.monitoring.calibration``: learnt from the champion's own
    history), each statistic is judged against its own quiet-day variation and the day
    against the importance-weighted score's calibrated threshold; the report shows the
    calibrated per-column thresholds. Without one, the fixed thresholds of ``cfg``.
    ``age_days``: days from the reference's middle to the current side's (``age_days``);
    a statistic that wanders on quiet data is allowed the wander of that lag.

    Why a column counts once in ``drift_share``, drifted on either signal (listed as
    ``"<col>"`` and/or ``"<col> (missing)"`` in ``drifted_columns``): the share stays a share of
    *columns* within [0, 1]. Columns absent from a side, or without enough rows, are in neither
    numerator nor denominator; they and every other column whose distribution is not compared
    are in ``skipped`` with the reason."""
    m = measure(reference, current, columns, cfg, categorical, prediction,
                calibration.current_rows if calibration else None)
    plan = m.plan
    pred = [prediction] if prediction and prediction in plan.methods else []
    cols = [c for c in plan.methods if c not in pred]
    column_drift = {c: v for c, v in m.column_drift.items() if c not in pred}
    prediction_drift_score = m.column_drift[pred[0]] if pred else None
    cat_threshold = (cfg.column_threshold if cfg.categorical_threshold is None
                     else cfg.categorical_threshold)

    def fixed(c: str) -> float:
        return cat_threshold if plan.kinds[c] == "categorical" else cfg.column_threshold

    thresholds = {c: fixed(c) for c in cols}
    score = None
    if calibration is not None:
        score = calibration.assess(m, age_days)
        thresholds.update({c: t for c, t in score.thresholds.items() if c in thresholds})
        by_distribution = set(score.drifted)
        by_missingness = set(score.missing_drifted)
    else:
        by_distribution = {c for c, v in column_drift.items() if v >= thresholds[c]}
        by_missingness = {c for c, v in plan.missing.items() if v >= cfg.missing_threshold}
    snapshot, json = _report(plan, cols, pred, thresholds, cfg)
    drifted = sorted([*by_distribution, *(c + MISSING for c in by_missingness)])
    share = (len(by_distribution | by_missingness) / len(plan.compared)
             if plan.compared else 0.0)
    if score is not None:
        dataset_drift = score.drifted_day
    else:
        dataset_drift = share >= cfg.drift_share or (
            cfg.min_drifted_columns is not None
            and len(by_distribution | by_missingness) >= cfg.min_drifted_columns)
    return DriftResult(
        dataset_drift=dataset_drift,
        drift_share=share,
        drifted_columns=drifted,
        column_drift=column_drift,
        prediction_drift_score=prediction_drift_score,
        prediction_drift=None if prediction_drift_score is None
        else prediction_drift_score >= cfg.prediction_threshold,
        reference_rows=m.reference_rows,
        current_rows=m.current_rows,
        snapshot=snapshot,
        json=json,
        column_methods={c: plan.labels[c] for c in plan.methods},
        missing_drift=plan.missing,
        skipped=plan.skipped,
        score=score,
    )


def _report(plan: Plan, cols: list[str], pred: list[str], thresholds: dict[str, float],
            cfg: DriftConfig) -> tuple[Any, str]:
    """The Evidently report of the day (what people open), with the thresholds in force."""
    from evidently import Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    metrics: list[Any] = []
    if cols:
        metrics.append(DataDriftPreset(
            columns=cols, per_column_method={c: plan.methods[c] for c in cols},
            per_column_threshold={c: thresholds[c] for c in cols}, drift_share=cfg.drift_share))
    if pred:
        metrics.append(ValueDrift(column=pred[0], method=plan.methods[pred[0]],
                                  threshold=cfg.prediction_threshold))
    if not metrics:
        return None, ""
    snapshot = Report(metrics).run(current_data=_dataset(plan.current, plan),
                                   reference_data=_dataset(plan.reference, plan))
    return snapshot, snapshot.json()


def _dataset(series: dict[str, pl.Series], plan: Plan) -> Any:
    """An Evidently dataset with the column types stated, not inferred: Evidently would read a
    small-range integer as a category and a many-valued string as free text."""
    from evidently import DataDefinition, Dataset

    kinds = plan.kinds
    return Dataset.from_pandas(
        pl.DataFrame(list(series.values())).to_pandas(),
        data_definition=DataDefinition(
            numerical_columns=[c for c in series if kinds[c] == "numeric"],
            categorical_columns=[c for c in series if kinds[c] == "categorical"]))
