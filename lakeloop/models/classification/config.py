"""Configuration of the classification networks, in a module without torch: Dagster's asset
config reads its defaults from here (every default in one place) and loading the definitions
must not import torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Self


@dataclass
class FraudConfig:
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    batch_size: int = 1024
    max_epochs: int = 30
    patience: int = 4
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 1
    max_vocab: int = 50
    numeric_embedding: int = 8  # periodic embedding size per numeric input (0: plain MLP)
    seed: int = 7
    # wall-clock seconds of training after which the best epoch so far is kept (None: none):
    # a retrain on a large table on a small machine ends, and says so, instead of running on
    time_budget_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Tolerant of metas from other versions: keys this class does not know (``compile``,
        dropped with the MLP's training) are ignored, missing ones take the defaults."""
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["hidden"] = tuple(d.get("hidden", cls.hidden))
        return cls(**d)


@dataclass
class TabMConfig(FraudConfig):
    """``FraudConfig`` plus what this network needs; defaults chosen on the generated shapes
    and both simulator profiles (``bench/bench_fraud.py``), never on one data set. ``hidden``
    is unused; fields not listed here keep ``FraudConfig``'s defaults."""

    # preprocessing
    transform: str = "quantile"  # quantile | standard (log if skewed, standardise, clip)
    n_quantiles: int = 256
    missing: str = "embedding"  # embedding (learnt vector per column) | indicator (0/1 columns)
    max_vocab: int = 1000
    min_count: int = 10  # categorical values seen fewer times in training -> unknown
    target_encoding_min_values: int = 30  # more distinct values: add a target encoding column
    target_encoding_smoothing: float = 20.0
    # numeric embeddings
    numeric_kind: str = "ple"  # ple | periodic | none
    numeric_embedding: int = 4  # embedding size per numeric column
    n_bins: int = 16  # ple: at most this many bins per column
    bins_from_target: bool = False  # ple: decision-tree bins (compute_bins with y)
    periodic_sigma: float = 0.1  # periodic: frequency_init_scale
    # fewer training positives: train with each numeric embedding, keep the best on validation
    choose_embedding_below: int = 2_000
    cat_embedding: int = 8  # at most this many dimensions per categorical column
    # backbone
    k: int = 8  # ensemble members (1: a plain MLP)
    d_block: int = 128
    n_blocks: int = 2
    share_first: bool = False  # True: first layer shared by the members (cheaper, worse)
    # optimisation (batch size, dropout and warm-up as FraudConfig)
    lr: float = 2e-3
    weight_decay: float = 3e-4
    max_epochs: int = 20
    patience: int = 3
    epoch_rows: int = 100_000  # rows an epoch sees at most: all positives + sampled negatives
