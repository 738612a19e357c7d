"""Train the candidates of a classification domain, pick one, judge it against the champion
honestly, register it, decide.

Candidates (each servable, each stored in a safe format): the torch network
(``tabm``, TabM on numeric embeddings: state_dict) and gradient-boosted trees
(``trees``: LightGBM's text format). Logistic regression is fitted too,
as a reference floor, but never served.

1. every candidate trains on the train split, early-stopped on validation;
2. the challenger is the candidate with the best validation PR-AUC (choosing on the test window
   and then judging on it would flatter the winner);
3. on the test window - matured labels, grown back until it holds ``min_test_positives``
   (``lakeloop.training.training_sets``) - the challenger is compared with the champion on the same
   rows, with a paired bootstrap interval of the difference (``promotion.decide_paired``);
4. the challenger is registered with every candidate's metrics, the interval, the window and
   its feature importance (``importance``: what drift is weighted by once it
   serves); it serves when the rule says so. With no champion the challenger always serves.

Plain Python (no Dagster) so the same steps run from an asset, a notebook or a benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import polars as pl

from lakeloop.models.classification.baselines import fraud_baselines
from lakeloop.models.classification.config import TabMConfig
from lakeloop.models.classification.importance import model_importance, top
from lakeloop.models.classification.network import FraudModel
from lakeloop.models.classification.tabm import TabMModel, train_tabm
from lakeloop.models.classification.trees import MODEL_FILE, TreeConfig, TreeModel, train_trees
from lakeloop.models.compute import Compute
from lakeloop.models.metrics import bootstrap_interval, classification_metrics
from lakeloop.names import PARTITION_COLUMN
from lakeloop.registry.model_registry import ModelRegistry, ModelVersion
from lakeloop.registry.promotion import Decision, decide_paired, register_and_apply, training_meta
from lakeloop.training.training_sets import LABEL, TrainingSet

PROMOTION_METRIC = "pr_auc"
FAMILIES = ("torch", "lightgbm")


class Classifier(Protocol):
    def score(self, frame: pl.DataFrame, compute: Compute) -> np.ndarray: ...


@dataclass
class Candidate:
    family: str
    model: Any  # FraudModel | TreeModel
    result: Any  # TrainResult | TreeTrainResult
    val_metrics: dict[str, float]
    test_metrics: dict[str, float] = field(default_factory=dict)
    test_scores: np.ndarray | None = None


@dataclass
class FraudRun:
    version: ModelVersion
    decision: Decision
    challenger: Candidate
    candidates: dict[str, Candidate]
    test_metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    champion_version: str | None
    champion_metrics: dict[str, float] | None

    @property
    def result(self) -> Any:
        return self.challenger.result


def load_classifier(registry: ModelRegistry, mv: ModelVersion) -> Classifier:
    """The registered model of any family, rebuilt from its own safe format."""
    if mv.family == "lightgbm":
        return TreeModel.rebuild(mv.meta, registry.load_file(mv, MODEL_FILE))
    if mv.meta.get("architecture") == "tabm":
        return TabMModel.rebuild(mv.meta, registry.load_weights(mv))
    return FraudModel.rebuild(mv.meta, registry.load_weights(mv))  # the MLP, before TabM


load_fraud_model = load_classifier  # the name older callers use


def train_candidates(train: pl.DataFrame, val: pl.DataFrame, categorical: list[str],
                     numeric: list[str], compute: Compute, cfg: TabMConfig,
                     trees: TreeConfig | None = None, families: tuple[str, ...] = FAMILIES,
                     log: Callable[[str], None] = print) -> dict[str, Candidate]:
    """Every family trained on the same split, early-stopped on the same validation days."""
    out: dict[str, Candidate] = {}
    if "torch" in families:
        r = train_tabm(train, val, categorical, numeric, compute, cfg, log=log)
        out["torch"] = Candidate("torch", r.model, r, r.val_metrics)
    if "lightgbm" in families:
        t = train_trees(train, val, categorical, numeric,
                        trees or TreeConfig(seed=cfg.seed), log=log)
        out["lightgbm"] = Candidate("lightgbm", t.model, t, t.val_metrics)
    return out


def _val_score(c: Candidate) -> float:
    return float(np.nan_to_num(c.val_metrics[PROMOTION_METRIC], nan=-1.0))


def challenger_importance(challenger: Candidate, val: pl.DataFrame, categorical: list[str],
                          numeric: list[str], compute: Compute,
                          log: Callable[[str], None] = print) -> dict[str, Any]:
    """What the challenger relies on, per input column (``importance``),
    measured on the validation split: the drift monitor weights each column's drift by it once
    this version serves. Only the challenger's: it is the one version registered."""
    started = time.perf_counter()
    importance = model_importance(challenger.family, challenger.model, val, categorical,
                                  numeric, compute)
    log(f"{challenger.family} feature importance ({importance['method']}, "
        f"{time.perf_counter() - started:.1f}s): "
        + ", ".join(f"{c} {w:.3f}" for c, w in top(importance["values"], 5)))
    return importance


def train_and_promote(
    ts: TrainingSet,
    registry: ModelRegistry,
    compute: Compute,
    categorical: list[str],
    numeric: list[str],
    cfg: TabMConfig,
    margin: float,
    lineage: dict[str, Any],
    log: Callable[[str], None] = print,
    model_name: str = "fraud",
    trees: TreeConfig | None = None,
    families: tuple[str, ...] = FAMILIES,
    min_test_positives: int = 0,
    resamples: int = 200,
) -> FraudRun:
    """Train the candidates on ``ts`` (inputs: the contract's ``categorical`` / ``numeric``
    columns), pick the challenger on validation, judge it against the champion of
    ``model_name`` on the test window, register it and promote it if it wins."""
    train, val, test = ts.part("train"), ts.part("validation"), ts.part("test")
    candidates = train_candidates(train, val, categorical, numeric, compute, cfg, trees,
                                  families, log)
    y_test = test[LABEL].cast(pl.Int32).to_numpy()
    for c in candidates.values():
        c.test_scores = np.asarray(c.model.score(test, compute), dtype=float)
        c.test_metrics = classification_metrics(y_test, c.test_scores)
    challenger = max(candidates.values(), key=_val_score)
    log(f"challenger: {challenger.family} (validation PR-AUC "
        + ", ".join(f"{c.family} {c.val_metrics[PROMOTION_METRIC]:.4f}"
                    for c in candidates.values()) + ")")
    baselines = fraud_baselines(train, test, categorical, numeric)
    assert challenger.test_scores is not None
    interval = bootstrap_interval(y_test, challenger.test_scores, resamples=resamples)

    champion = registry.champion(model_name)
    champion_metrics, difference = None, None
    if champion is not None:  # same, newest test window for both
        champ_scores = np.asarray(load_classifier(registry, champion).score(test, compute),
                                  dtype=float)
        champion_metrics = classification_metrics(y_test, champ_scores)
        difference = bootstrap_interval(y_test, challenger.test_scores, champ_scores,
                                        resamples=resamples)
    decision = decide_paired(
        PROMOTION_METRIC, challenger.family, challenger.test_metrics[PROMOTION_METRIC],
        interval, baselines["logistic_regression"][PROMOTION_METRIC],
        None if champion_metrics is None else champion_metrics[PROMOTION_METRIC],
        difference, margin, int(y_test.sum()), min_test_positives)
    model = challenger.model
    importance = challenger_importance(challenger, val, categorical, numeric, compute, log)
    state = model.state() if challenger.family == "torch" else None
    files = None if challenger.family == "torch" else model.files()
    test_days = test[PARTITION_COLUMN] if PARTITION_COLUMN in test.columns else None
    version = register_and_apply(registry, model_name, state, {
        **model.meta(),
        "family": challenger.family,
        "metrics": challenger.test_metrics,
        "metric_interval": interval,
        "val_metrics": challenger.val_metrics,
        "candidates": {f: {"validation": c.val_metrics, "test": c.test_metrics}
                       for f, c in candidates.items()},
        "baselines": baselines,
        "test_window": {
            "first": None if test_days is None else str(test_days.min()),
            "last": None if test_days is None else str(test_days.max()),
            "rows": test.height, "positives": int(y_test.sum()),
            "min_positives": min_test_positives},
        "training_set": lineage,
        **training_meta(cfg.seed, compute.describe(), challenger.result),
        "champion_metrics_on_test": champion_metrics,
        "champion_family": None if champion is None else champion.family,
        "feature_importance": importance,
    }, decision, champion, log, files=files)
    return FraudRun(version, decision, challenger, candidates, challenger.test_metrics,
                    baselines, None if champion is None else champion.version,
                    champion_metrics)
