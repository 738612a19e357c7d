"""The gradient-boosted-trees candidate of a classification domain (LightGBM).

Why a tree model is a candidate, not only a baseline: on wide tabular data (hundreds of
anonymous numeric columns, missingness that means something) boosted trees are often the best
model there is. If the promotion rule may pick them, they must be servable: the booster is
stored in LightGBM's own text format (``Booster.model_to_string``) with its input schema and
category vocabularies in JSON - nothing is pickled.

Inputs: categorical columns as integer codes (LightGBM's native categorical splits; values
outside the training vocabulary -> code 0, "unknown"), numeric columns as they are, with
missing values left missing (LightGBM learns which way they go).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from lakeloop.models.metrics import classification_metrics
from lakeloop.training.columns import LABEL

FAMILY = "lightgbm"
MODEL_FILE = "model.txt"
UNKNOWN = "<unk>"


@dataclass
class TreeConfig:
    """Defaults tuned once on generated shapes (bench/bench_fraud.py), not on one dataset."""

    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 40
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    max_rounds: int = 1000
    early_stopping: int = 50
    max_vocab: int = 200  # more categories than the network's embeddings: trees split on them
    seed: int = 7
    threads: int = 0  # 0: every core
    # wall-clock seconds after which the best round so far is kept (None: none), and how
    # often a round's validation PR-AUC is logged: LightGBM itself says nothing while it runs
    time_budget_s: float | None = None
    log_every: int = 50

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TreeInputs:
    """Frame -> LightGBM matrix; the vocabularies are fitted on the training split."""

    categorical: list[str]
    numeric: list[str]
    vocab: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pl.DataFrame, categorical: list[str], numeric: list[str],
            max_vocab: int) -> TreeInputs:
        inputs = cls(list(categorical), list(numeric))
        for c in inputs.categorical:
            counts = frame[c].cast(pl.String).value_counts(sort=True).drop_nulls(c)
            inputs.vocab[c] = [UNKNOWN, *counts[c].head(max_vocab).to_list()]
        return inputs

    @property
    def columns(self) -> list[str]:
        return [*self.categorical, *self.numeric]

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        exprs = [pl.col(c).cast(pl.String).replace_strict(
                     {v: i for i, v in enumerate(self.vocab[c])}, default=0,
                     return_dtype=pl.Float64).alias(c) for c in self.categorical]
        exprs += [pl.col(c).cast(pl.Float64).fill_nan(None).alias(c) for c in self.numeric]
        if not exprs:
            return np.zeros((frame.height, 0))
        return frame.select(exprs).to_numpy().astype(np.float64)


@dataclass
class TreeModel:
    config: TreeConfig
    inputs: TreeInputs
    booster: Any  # lightgbm.Booster

    family = FAMILY

    def score(self, frame: pl.DataFrame, compute: Any = None) -> np.ndarray:
        """Probabilities (LightGBM's binary objective is a calibrated log-loss fit)."""
        return np.asarray(self.booster.predict(self.inputs.matrix(frame)), dtype=float)

    def files(self) -> dict[str, bytes]:
        return {MODEL_FILE: self.booster.model_to_string().encode()}

    def meta(self) -> dict[str, Any]:
        return {"family": FAMILY, "config": self.config.to_dict(),
                "inputs": asdict(self.inputs),
                "feature_schema": {"categorical": self.inputs.categorical,
                                   "numeric": self.inputs.numeric}}

    @classmethod
    def rebuild(cls, meta: dict[str, Any], model_text: bytes) -> TreeModel:
        import lightgbm as lgb

        booster = lgb.Booster(model_str=model_text.decode())
        return cls(TreeConfig(**meta["config"]), TreeInputs(**meta["inputs"]), booster)


@dataclass
class TreeTrainResult:
    model: TreeModel
    rounds: int
    val_metrics: dict[str, float]
    seconds: float
    samples_per_s: float
    epochs: int = 1


class _Progress:
    """A LightGBM callback: the validation PR-AUC every ``cfg.log_every`` rounds, and at
    ``cfg.time_budget_s`` a stop that keeps the best round so far (``EarlyStopException``,
    LightGBM's own way to end training at a chosen round)."""

    order = 30  # LightGBM's early-stopping callback's order: run beside it, each round

    def __init__(self, cfg: TreeConfig, log: Callable[[str], None], start: float) -> None:
        self.cfg, self.log, self.start = cfg, log, start
        self.best: tuple[float, int, list] = (-1.0, 0, [])

    def __call__(self, env: Any) -> None:
        import lightgbm as lgb

        results = env.evaluation_result_list or []
        score = float(results[0][2]) if results else float("nan")
        if results and score > self.best[0]:
            self.best = (score, env.iteration, results)
        rounds, spent = env.iteration + 1, time.perf_counter() - self.start
        if rounds % self.cfg.log_every == 0:
            self.log(f"{FAMILY}: round {rounds}/{env.end_iteration}, val PR-AUC {score:.4f} "
                     f"(best {self.best[0]:.4f} at round {self.best[1] + 1}), {spent:.0f}s")
        budget = self.cfg.time_budget_s
        if budget is not None and spent >= budget:
            self.log(f"{FAMILY}: time budget {budget:.0f}s spent after {rounds} rounds; "
                     f"keeping round {self.best[1] + 1}")
            raise lgb.callback.EarlyStopException(self.best[1], self.best[2])


def train_trees(train: pl.DataFrame, val: pl.DataFrame, categorical: list[str],
                numeric: list[str], cfg: TreeConfig | None = None,
                log: Callable[[str], None] = print) -> TreeTrainResult:
    """Fit on ``train``, early-stopped on validation average precision (PR-AUC)."""
    import lightgbm as lgb

    cfg = cfg or TreeConfig()
    start = time.perf_counter()
    inputs = TreeInputs.fit(train, categorical, numeric, cfg.max_vocab)
    y = train[LABEL].cast(pl.Int32).to_numpy()
    y_val = val[LABEL].cast(pl.Int32).to_numpy()
    cats = list(range(len(inputs.categorical)))
    names = [f"f{i}" for i in range(len(inputs.columns))]  # column names may be anything
    params = {
        "objective": "binary", "metric": "average_precision", "verbosity": -1,
        "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
        "min_child_samples": cfg.min_child_samples, "feature_fraction": cfg.feature_fraction,
        "bagging_fraction": cfg.bagging_fraction, "bagging_freq": 1,
        "lambda_l2": cfg.lambda_l2, "seed": cfg.seed, "deterministic": True,
        "num_threads": cfg.threads or os.cpu_count() or 1, "max_cat_to_onehot": 8,
    }
    dtrain = lgb.Dataset(inputs.matrix(train), y, feature_name=names,
                         categorical_feature=cats or "auto", free_raw_data=True)
    dval = lgb.Dataset(inputs.matrix(val), y_val, reference=dtrain)
    callbacks: list[Callable[..., None]] = [_Progress(cfg, log, start)]
    if 0 < y_val.sum() < len(y_val):  # early stopping needs a defined validation PR-AUC
        callbacks.append(lgb.early_stopping(cfg.early_stopping, verbose=False))
    booster = lgb.train(params, dtrain, num_boost_round=cfg.max_rounds, valid_sets=[dval],
                        callbacks=callbacks)
    if booster.best_iteration > 0:  # keep only the rounds early stopping chose
        booster = lgb.Booster(model_str=booster.model_to_string(
            num_iteration=booster.best_iteration))
    seconds = time.perf_counter() - start
    model = TreeModel(cfg, inputs, booster)
    val_metrics = classification_metrics(y_val, model.score(val))
    rounds = booster.current_iteration()
    log(f"{FAMILY}: {rounds} rounds in {seconds:.1f}s, val PR-AUC {val_metrics['pr_auc']:.4f}")
    return TreeTrainResult(model, rounds, val_metrics, seconds,
                           len(y) * rounds / seconds if seconds else 0.0)
