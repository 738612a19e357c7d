"""Data and prediction drift of one day against a reference window, with Evidently 0.7.

Why PSI with a fixed sample size and not Evidently's default p-value tests: on samples of
thousands of rows KS/chi-squared flag nearly every column (evidently #50, DEPENDENCIES.md #17).
A population-stability index per column on a fixed-size, seeded sample gives a distance whose
quiet-day level does not grow with traffic; thresholds are configuration, tuned on quiet days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

DEFAULT_SAMPLE = 5_000


@dataclass(frozen=True)
class DriftConfig:
    column_threshold: float = 0.2  # PSI above this: the column drifted
    drift_share: float = 0.3  # share of drifted columns that makes the dataset drifted
    prediction_threshold: float = 0.2  # PSI of the prediction distribution
    sample_size: int = DEFAULT_SAMPLE
    seed: int = 7


@dataclass
class DriftResult:
    dataset_drift: bool
    drift_share: float
    drifted_columns: list[str]
    column_psi: dict[str, float]
    prediction_psi: float | None
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
            "max_column_psi": round(max(self.column_psi.values(), default=0.0), 4),
            "reference_sample": self.reference_rows,
            "current_sample": self.current_rows,
        }
        if self.prediction_psi is not None:
            out["prediction_psi"] = round(self.prediction_psi, 4)
            out["prediction_drift"] = bool(self.prediction_drift)
        return out


def sample(frame: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """A fixed-size, seeded sample (the whole frame when it is smaller)."""
    return frame if frame.height <= n else frame.sample(n, seed=seed, shuffle=False)


def _to_pandas(frame: pl.DataFrame, columns: list[str]) -> Any:
    out = frame.select(columns)
    # Evidently infers column types from pandas dtypes: booleans as categories, not numbers
    return out.with_columns(pl.col(pl.Boolean).cast(pl.String)).to_pandas()


def prediction_psi(reference: pl.Series, current: pl.Series, cfg: DriftConfig) -> float:
    """PSI of a prediction distribution whose reference is not the feature reference."""
    from evidently import Report
    from evidently.metrics import ValueDrift

    ref = sample(reference.to_frame("prediction"), cfg.sample_size, cfg.seed)
    cur = sample(current.to_frame("prediction"), cfg.sample_size, cfg.seed)
    snapshot = Report([ValueDrift(column="prediction", method="psi",
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
    metrics: list[Any] = [DataDriftPreset(columns=cols, method="psi",
                                          threshold=cfg.column_threshold,
                                          drift_share=cfg.drift_share)]
    if pred:
        metrics.append(ValueDrift(column=pred[0], method="psi",
                                  threshold=cfg.prediction_threshold))
    snapshot = Report(metrics).run(current_data=_to_pandas(cur, cols + pred),
                                   reference_data=_to_pandas(ref, cols + pred))
    column_psi: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            column_psi[config["column"]] = float(metric["value"])
    prediction_psi = column_psi.pop(pred[0], None) if pred else None
    drifted = sorted(c for c, v in column_psi.items() if v >= cfg.column_threshold)
    share = len(drifted) / len(column_psi) if column_psi else 0.0
    return DriftResult(
        dataset_drift=share >= cfg.drift_share,
        drift_share=share,
        drifted_columns=drifted,
        column_psi=column_psi,
        prediction_psi=prediction_psi,
        prediction_drift=None if prediction_psi is None
        else prediction_psi >= cfg.prediction_threshold,
        reference_rows=ref.height,
        current_rows=cur.height,
        html=_html(snapshot),
        json=snapshot.json(),
    )


def _html(snapshot: Any) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        snapshot.save_html(str(path))
        return path.read_text()
