"""Data and prediction drift of one day against a reference window, with Evidently 0.7.

Why distances (PSI, normed Wasserstein) on a fixed-size sample and not Evidently's default
p-value tests: on samples of thousands of rows KS/chi-squared flag nearly every column
(evidently #50, DEPENDENCIES.md #17). A distance on a fixed-size, seeded sample has a quiet-day
level that does not grow with traffic; method and thresholds are configuration, tuned on quiet
days (fraud: PSI over 5,000 rows; demand: Wasserstein over ~270 series indices, where PSI's ten
bins are too noisy to see a level shift in half the stores).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

DEFAULT_SAMPLE = 5_000


@dataclass(frozen=True)
class DriftConfig:
    column_threshold: float = 0.2  # distance above this: the column drifted
    drift_share: float = 0.3  # share of drifted columns that makes the dataset drifted
    prediction_threshold: float = 0.2  # distance of the prediction distribution
    sample_size: int = DEFAULT_SAMPLE
    seed: int = 7
    reference_days: int = 7  # newest days of the champion's training window (a full week)
    method: str = "psi"  # Evidently's per-column drift method (psi, wasserstein, ...)


@dataclass
class DriftResult:
    dataset_drift: bool
    drift_share: float
    drifted_columns: list[str]
    column_drift: dict[str, float]
    prediction_drift_score: float | None
    prediction_drift: bool | None
    reference_rows: int
    current_rows: int
    html: str = field(repr=False, default="")
    json: str = field(repr=False, default="")

    def figures(self) -> dict[str, Any]:
        """Plain numbers for asset metadata (Dagster plots numeric metadata over time)."""
        out: dict[str, Any] = {
            "dataset_drift": self.dataset_drift,
            "drift_share": round(self.drift_share, 4),
            "drifted_columns": len(self.drifted_columns),
            "max_column_drift": round(max(self.column_drift.values(), default=0.0), 4),
            "reference_sample": self.reference_rows,
            "current_sample": self.current_rows,
        }
        if self.prediction_drift_score is not None:
            out["prediction_drift_score"] = round(self.prediction_drift_score, 4)
            out["prediction_drift"] = bool(self.prediction_drift)
        return out


def sample(frame: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """A fixed-size, seeded sample (the whole frame when it is smaller)."""
    return frame if frame.height <= n else frame.sample(n, seed=seed, shuffle=False)


def _to_pandas(frame: pl.DataFrame, columns: list[str]) -> Any:
    out = frame.select(columns)
    # Evidently infers column types from pandas dtypes: booleans as categories, not numbers
    return out.with_columns(pl.col(pl.Boolean).cast(pl.String)).to_pandas()


def prediction_drift_score(reference: pl.Series, current: pl.Series, cfg: DriftConfig) -> float:
    """Drift distance of predictions whose reference is not the feature reference."""
    from evidently import Report
    from evidently.metrics import ValueDrift

    ref = sample(reference.to_frame("prediction"), cfg.sample_size, cfg.seed)
    cur = sample(current.to_frame("prediction"), cfg.sample_size, cfg.seed)
    snapshot = Report([ValueDrift(column="prediction", method=cfg.method,
                                  threshold=cfg.prediction_threshold)]).run(
        current_data=cur.to_pandas(), reference_data=ref.to_pandas())
    return float(snapshot.dict()["metrics"][0]["value"])


def compute_drift(reference: pl.DataFrame, current: pl.DataFrame, columns: list[str],
                  cfg: DriftConfig, prediction: str | None = None) -> DriftResult:
    """Drift of ``current`` vs ``reference`` on ``columns`` (+ the ``prediction`` column)."""
    from evidently import Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    ref = sample(reference, cfg.sample_size, cfg.seed)
    cur = sample(current, cfg.sample_size, cfg.seed)

    def measurable(c: str) -> bool:  # Evidently refuses a column that is empty on one side
        return c in ref.columns and c in cur.columns and \
            ref[c].drop_nulls().len() > 0 and cur[c].drop_nulls().len() > 0

    cols = [c for c in columns if measurable(c)]
    pred = [prediction] if prediction and measurable(prediction) else []
    metrics: list[Any] = [DataDriftPreset(columns=cols, method=cfg.method,
                                          threshold=cfg.column_threshold,
                                          drift_share=cfg.drift_share)]
    if pred:
        metrics.append(ValueDrift(column=pred[0], method=cfg.method,
                                  threshold=cfg.prediction_threshold))
    snapshot = Report(metrics).run(current_data=_to_pandas(cur, cols + pred),
                                   reference_data=_to_pandas(ref, cols + pred))
    column_drift: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            column_drift[config["column"]] = float(metric["value"])
    prediction_drift_score = column_drift.pop(pred[0], None) if pred else None
    drifted = sorted(c for c, v in column_drift.items() if v >= cfg.column_threshold)
    share = len(drifted) / len(column_drift) if column_drift else 0.0
    return DriftResult(
        dataset_drift=share >= cfg.drift_share,
        drift_share=share,
        drifted_columns=drifted,
        column_drift=column_drift,
        prediction_drift_score=prediction_drift_score,
        prediction_drift=None if prediction_drift_score is None
        else prediction_drift_score >= cfg.prediction_threshold,
        reference_rows=ref.height,
        current_rows=cur.height,
        html=html_of(snapshot),
        json=snapshot.json(),
    )


def html_of(snapshot: Any) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        snapshot.save_html(str(path))
        return path.read_text()
