"""Feature importance stored with every registered classification version (issue 25: drift is
weighted by what the champion relies on). Real training on a tiny synthetic frame whose label
depends on one column only, so the right answer is known."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lakeloop.models.classification.config import TabMConfig
from lakeloop.models.classification.importance import (
    normalised,
    permutation_importance,
    top,
    tree_gain_importance,
)
from lakeloop.models.classification.lifecycle import train_and_promote
from lakeloop.models.classification.trees import TreeConfig, train_trees
from lakeloop.models.compute import compute
from lakeloop.registry.model_registry import ModelRegistry
from lakeloop.storage import ObjectStore
from lakeloop.training.columns import LABEL, SPLIT
from lakeloop.training.split import SplitWindow
from lakeloop.training.training_sets import TrainingSet

CATEGORICAL = ["k"]
NUMERIC = ["a", "b", "c"]
TREES = TreeConfig(max_rounds=60, early_stopping=20, num_leaves=7, min_child_samples=20,
                   threads=2)
NET = TabMConfig(max_epochs=6, batch_size=512, patience=3, k=4, d_block=32, lr=5e-3,
                 choose_embedding_below=0)
QUIET = {"log": lambda _m: None}


def synthetic(rows: int, seed: int) -> pl.DataFrame:
    """``label`` depends on ``a`` only; ``b`` and ``k`` are noise; ``c`` is constant but for
    three rows (too few for any split: a model cannot use it)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    c = np.ones(rows)
    c[:3] = 2.0
    return pl.DataFrame({
        "a": a, "b": rng.normal(size=rows), "c": c,
        "k": rng.choice(["x", "y", "z"], size=rows),
        LABEL: (a + 0.3 * rng.normal(size=rows) > 1.2).astype(np.int32),
    })


@pytest.fixture(scope="module")
def training_set() -> TrainingSet:
    parts = {"train": synthetic(4_000, 1), "validation": synthetic(2_000, 2),
             "test": synthetic(2_000, 3)}
    frame = pl.concat([f.with_columns(pl.lit(s).alias(SPLIT)) for s, f in parts.items()])
    return TrainingSet(frame, dt.date(2026, 1, 31), SplitWindow(), {})


def registered(ts: TrainingSet, tmp_path: Path, family: str) -> dict:
    registry = ModelRegistry(ObjectStore(str(tmp_path / "lake")))
    run = train_and_promote(ts, registry, compute("cpu"), CATEGORICAL, NUMERIC, NET, 0.0,
                            {"t": 1}, trees=TREES, families=(family,), **QUIET)
    return registry.get("fraud", run.version.version).meta  # as stored: through JSON


def test_normalised_weights_sum_to_one() -> None:
    assert normalised({"x": 3.0, "y": 1.0, "z": -2.0}) == {"x": 0.75, "y": 0.25, "z": 0.0}
    assert normalised({"x": 0.0, "y": -1.0}) == {"x": 0.5, "y": 0.5}  # nothing known: equal
    assert normalised({"x": 1.0, "y": 2.0}) == {"x": 0.333333, "y": 0.666667}
    assert normalised({}) == {}
    assert top({"x": 0.2, "y": 0.5, "z": 0.2, "w": 0.1}, 3) == [
        ("y", 0.5), ("x", 0.2), ("z", 0.2)]


def test_tree_gain_is_per_input_column(training_set: TrainingSet) -> None:
    result = train_trees(training_set.part("train"), training_set.part("validation"),
                         CATEGORICAL, NUMERIC, TREES, **QUIET)
    gains = tree_gain_importance(result.model)
    assert list(gains) == [*CATEGORICAL, *NUMERIC]  # input names, not LightGBM's f0..fN
    assert gains["c"] == 0.0  # never split on
    assert gains["a"] > 10 * max(gains["b"], gains["k"])


def test_registered_tree_version_stores_gain_importance(training_set: TrainingSet,
                                                        tmp_path: Path) -> None:
    importance = registered(training_set, tmp_path, "lightgbm")["feature_importance"]
    weights = importance["values"]
    assert importance["method"] == "gain"
    assert set(weights) == {*CATEGORICAL, *NUMERIC}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert weights["a"] > 0.8 and weights["c"] == pytest.approx(0.0, abs=1e-9)


def test_registered_network_version_stores_permutation_importance(
        training_set: TrainingSet, tmp_path: Path) -> None:
    importance = registered(training_set, tmp_path, "torch")["feature_importance"]
    weights = importance["values"]
    assert importance["method"] == "permutation"
    assert set(weights) == {*CATEGORICAL, *NUMERIC}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert weights["a"] > 0.6 and weights["a"] > 4 * max(weights["b"], weights["k"])
    assert weights["c"] < 0.05  # three rows of 2,000 differ: permuting barely moves anything


def test_permutation_importance_is_seeded_and_batched(training_set: TrainingSet) -> None:
    """Chunking the permuted copies changes memory, not the answer; a column with one value
    in the sample cannot move the output and is 0 without being scored."""
    result = train_trees(training_set.part("train"), training_set.part("validation"),
                         CATEGORICAL, NUMERIC, TREES, **QUIET)
    val = training_set.part("validation").with_columns(pl.lit(5.0).alias("c"))
    cpu = compute("cpu")
    whole = permutation_importance(result.model, val, [*CATEGORICAL, *NUMERIC], cpu, rows=500)
    chunked = permutation_importance(result.model, val, [*CATEGORICAL, *NUMERIC], cpu,
                                     rows=500, chunk_rows=500)
    assert whole == pytest.approx(chunked, rel=1e-9)
    assert whole["c"] == 0.0 and whole["a"] > 10 * max(whole["b"], whole["k"])
    assert permutation_importance(result.model, val.head(0), ["a"], cpu) == {"a": 0.0}


def test_model_metadata_shows_the_ten_largest_weights() -> None:
    from assets.classification_training import top_inputs

    weights = normalised({f"col{i}": float(i) for i in range(15)})
    table = top_inputs(weights).value.splitlines()
    assert table[:2] == ["| input | weight |", "|---|---|"] and len(table) == 12
    assert table[2] == f"| col14 | {weights['col14']:.4f} |"  # largest first, 4 decimals
