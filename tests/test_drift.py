"""Drift maths with Evidently on real frames: quiet vs shifted data, sampling, reports."""

from __future__ import annotations

import numpy as np
import polars as pl

from lakeloop.drift import DriftConfig, compute_drift


def _frame(n: int, seed: int, amount_scale: float = 1.0, ecom: float = 0.2) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "amount": rng.lognormal(3.0, 0.8, n) * amount_scale,
        "hour": rng.integers(0, 24, n),
        "count_24h": rng.poisson(2.0, n),
        "channel": rng.choice(["pos", "ecom"], n, p=[1 - ecom, ecom]),
        "is_night": rng.random(n) < 0.1,
        "score": rng.beta(1, 30, n) * amount_scale,
    })


COLUMNS = ["amount", "hour", "count_24h", "channel", "is_night"]


def test_quiet_day_is_not_drift_and_a_shift_is() -> None:
    cfg = DriftConfig(sample_size=3_000)
    reference = _frame(20_000, 1)
    quiet = compute_drift(reference, _frame(6_000, 2), COLUMNS, cfg, prediction="score")
    assert not quiet.dataset_drift and quiet.drifted_columns == []
    assert quiet.prediction_drift is False
    assert quiet.reference_rows == quiet.current_rows == 3_000  # fixed-size samples

    shifted = compute_drift(reference, _frame(6_000, 3, amount_scale=2.5, ecom=0.7), COLUMNS,
                            cfg, prediction="score")
    assert shifted.dataset_drift
    assert set(shifted.drifted_columns) == {"amount", "channel"}
    assert shifted.column_drift["amount"] > 10 * quiet.column_drift["amount"]
    assert shifted.prediction_drift is True
    figures = shifted.figures()
    assert figures["drifted_columns"] == 2 and figures["drift_share"] == 0.4
    assert "<html" in shifted.html.lower() and '"metrics"' in shifted.json


def test_columns_empty_on_one_side_are_left_out() -> None:
    reference = _frame(2_000, 1).with_columns(pl.lit(None, dtype=pl.Float64).alias("lag_7"))
    current = _frame(2_000, 2).with_columns(pl.lit(1.0).alias("lag_7"))
    result = compute_drift(reference, current, [*COLUMNS, "lag_7"], DriftConfig())
    assert set(result.column_drift) == set(COLUMNS)  # measured what can be measured
