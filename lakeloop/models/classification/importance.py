"""What a classification model relies on, per input column, stored with every registered
version so the drift monitor can weight a column's drift by how much the champion uses it
(issue 25: a shifted column the model ignores is not worth an alert; a shifted column it leans
on is).

Two measures, one per family, both mapped back to the *input columns* of the contract (what
drift is measured on), never to the model's internal matrix columns:

- trees (LightGBM): total split gain per column - free, exact, and what the booster itself
  optimised;
- the network (torch): permutation importance - the network has no gain, and gradients or
  weights of embeddings are not comparable across columns of different kinds.

Weights are normalised to sum to 1 (``normalised``), so the two measures read on one scale.

Pure: numpy and Polars only (no Dagster, no torch import) - it runs from an asset, a notebook
or a benchmark alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from lakeloop.models.classification.trees import TreeModel

ROWS = 5_000  # validation rows permuted: enough for a stable mean, cheap to score
BUDGET_ROWS = 300_000  # permuted rows scored at most, all columns together (see below)
MIN_ROWS = 1_000  # ... but never fewer rows a column than this
CHUNK_ROWS = 100_000  # permuted rows scored at once: bounds memory, amortises the per-call cost
EPS = 1e-7  # probability clip before taking a logit


def tree_gain_importance(model: TreeModel) -> dict[str, float]:
    """LightGBM total gain per input column (zero for columns no split used).

    The booster names its features ``f0..fN`` in ``TreeInputs.columns`` order (column names
    may be anything, LightGBM's may not), so each is mapped back by position; should one input
    ever become several matrix columns, their gains add up."""
    columns = model.inputs.columns
    by_name = {f"f{i}": c for i, c in enumerate(columns)}
    gains = model.booster.feature_importance(importance_type="gain")
    out = dict.fromkeys(columns, 0.0)
    for name, gain in zip(model.booster.feature_name(), gains, strict=True):
        column = by_name.get(name, name)
        out[column] = out.get(column, 0.0) + float(gain)
    return out


def _logit(model: Any, frame: pl.DataFrame, compute: Any) -> np.ndarray:
    """The model's raw output: its logits where it has them (the network, before Platt
    scaling - a positive affine map, so it scales every column alike and the normalised
    weights do not change), else the logit of its probabilities. Differences of logits do
    not saturate the way differences of probabilities near 0 (most fraud scores) do."""
    logits = getattr(model, "logits", None)
    if callable(logits):
        return np.asarray(logits(frame, compute), dtype=np.float64)
    p = np.clip(np.asarray(model.score(frame, compute), dtype=np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def permutation_importance(model: Any, frame: pl.DataFrame, columns: list[str], compute: Any,
                           rows: int = ROWS, seed: int = 0, budget_rows: int = BUDGET_ROWS,
                           chunk_rows: int = CHUNK_ROWS) -> dict[str, float]:
    """Label-free permutation importance ("model reliance"): the mean absolute change of the
    model's logit when one column is shuffled, on a seeded sample of at most ``rows`` rows
    of ``frame`` (the validation split).

    Breiman (2001, random forests) permuted a column and measured the loss of accuracy;
    Fisher, Rudin & Dominici (2019, "All models are wrong, but many are useful") call it model
    reliance; scikit-learn's ``permutation_importance`` measures a score drop. Here the change
    of the *output* is measured, not of a metric, because validation days hold few positives:
    a PR-AUC drop over a few dozen positives is mostly noise, and can be negative for a
    column the model uses. What the drift monitor needs is how much the output moves when a
    column's values move - exactly this, and it needs no labels.

    Speed: the permuted copies are concatenated and scored together, ``chunk_rows`` rows at a
    time (one preprocessing and one forward pass per chunk, not per column); a column with a
    single value in the sample cannot move the output and is not scored. The cost is the
    network's forward pass over (columns x rows) rows - the default TabM on a 2-core CPU
    scores about 15-20k rows a second, so 150 columns x 5,000 rows (750k rows) would take
    40-50 s. Hence ``budget_rows``: with many columns every column gets the same, smaller
    sample (``budget_rows / columns`` rows, at least ``MIN_ROWS``); a mean absolute change over
    2,000 rows is still stable to a few per cent, far finer than a drift weight needs."""
    out = dict.fromkeys(columns, 0.0)
    rows = min(rows, max(MIN_ROWS, budget_rows // max(len(columns), 1)))
    sample = frame.sample(n=rows, seed=seed) if frame.height > rows else frame
    varying = [(j, c) for j, c in enumerate(columns) if sample[c].n_unique() > 1]
    if not varying:
        return out
    base = _logit(model, sample, compute)
    per_chunk = max(1, chunk_rows // sample.height)
    for start in range(0, len(varying), per_chunk):
        chunk = varying[start:start + per_chunk]
        copies = pl.concat([sample.with_columns(pl.col(c).shuffle(seed + 1 + j))
                            for j, c in chunk])
        moved = _logit(model, copies, compute).reshape(len(chunk), sample.height)
        for (_, c), row in zip(chunk, moved, strict=True):
            out[c] = float(np.mean(np.abs(row - base)))
    return out


def normalised(values: dict[str, float]) -> dict[str, float]:
    """Weights that sum to 1 (up to rounding): negatives clipped to 0 (a column cannot matter
    less than not at all), all zero -> equal weights (nothing is known, so no column is
    favoured), rounded to 6 decimals (JSON, not float noise)."""
    if not values:
        return {}
    clipped = {c: max(float(v), 0.0) if np.isfinite(v) else 0.0 for c, v in values.items()}
    total = sum(clipped.values())
    if total <= 0:
        return {c: round(1.0 / len(clipped), 6) for c in clipped}
    return {c: round(v / total, 6) for c, v in clipped.items()}


def model_importance(family: str, model: Any, val: pl.DataFrame, categorical: list[str],
                     numeric: list[str], compute: Any) -> dict[str, Any]:
    """``{"method": "gain" | "permutation", "values": {column: weight}}`` over every input
    column (categorical, then numeric; columns the model never used get 0.0), weights
    summing to 1: what the registered meta stores under ``feature_importance``."""
    columns = [*categorical, *numeric]
    if family == "lightgbm":
        method, raw = "gain", tree_gain_importance(model)
    else:
        method, raw = "permutation", permutation_importance(model, val, columns, compute)
    return {"method": method,
            "values": normalised({c: raw.get(c, 0.0) for c in columns})}


def top(values: dict[str, float], n: int = 10) -> list[tuple[str, float]]:
    """The ``n`` largest weights, largest first (ties by name, so the order is stable)."""
    return sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
