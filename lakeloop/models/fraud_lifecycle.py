"""Train a fraud challenger, evaluate it against baselines and the champion, register, decide.

Plain Python (no Dagster) so the same steps run from an asset, a notebook or a benchmark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from lakeloop.compute import Compute
from lakeloop.models.baselines import fraud_baselines
from lakeloop.models.fraud import FraudConfig, FraudModel, TrainResult, train_fraud
from lakeloop.models.metrics import classification_metrics
from lakeloop.promotion import Decision, decide, register_and_apply, training_meta
from lakeloop.registry import ModelRegistry, ModelVersion
from lakeloop.training_sets import LABEL, TrainingSet

PROMOTION_METRIC = "pr_auc"


@dataclass
class FraudRun:
    version: ModelVersion
    decision: Decision
    result: TrainResult
    test_metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    champion_version: str | None
    champion_metrics: dict[str, float] | None


def load_fraud_model(registry: ModelRegistry, mv: ModelVersion) -> FraudModel:
    return FraudModel.rebuild(mv.meta, registry.load_weights(mv))


def train_and_promote(
    ts: TrainingSet,
    registry: ModelRegistry,
    compute: Compute,
    categorical: list[str],
    numeric: list[str],
    cfg: FraudConfig,
    margin: float,
    lineage: dict[str, Any],
    log: Callable[[str], None] = print,
    model_name: str = "fraud",
) -> FraudRun:
    """Train a challenger on ``ts`` (inputs: the contract's ``categorical`` / ``numeric``
    columns), judge it against the baselines and the champion of ``model_name`` on the same
    test window, register it and promote it if it wins."""
    train, val, test = ts.part("train"), ts.part("validation"), ts.part("test")
    result = train_fraud(train, val, categorical, numeric, compute, cfg, log=log)
    y_test = test[LABEL].cast(pl.Int32).to_numpy()
    test_metrics = classification_metrics(y_test, result.model.score(test, compute))
    baselines = fraud_baselines(train, test, result.model.pre, seed=cfg.seed)
    best_baseline = max(np.nan_to_num(m[PROMOTION_METRIC]) for m in baselines.values())

    champion = registry.champion(model_name)
    champion_metrics = None
    if champion is not None:  # same, newest test window for both
        champ_model = load_fraud_model(registry, champion)
        champion_metrics = classification_metrics(y_test, champ_model.score(test, compute))
    decision = decide(PROMOTION_METRIC, test_metrics[PROMOTION_METRIC], best_baseline,
                      None if champion_metrics is None else champion_metrics[PROMOTION_METRIC],
                      margin)
    version = register_and_apply(registry, model_name, result.model.state(), {
        **result.model.meta(),
        "metrics": test_metrics,
        "val_metrics": result.val_metrics,
        "baselines": baselines,
        "training_set": lineage,
        **training_meta(cfg.seed, compute.describe(), result),
        "best_epoch": result.best_epoch,
        "feature_schema": {"categorical": result.model.pre.categorical,
                           "numeric": result.model.pre.numeric},
        "champion_metrics_on_test": champion_metrics,
    }, decision, champion, log)
    return FraudRun(version, decision, result, test_metrics, baselines,
                    None if champion is None else champion.version, champion_metrics)
