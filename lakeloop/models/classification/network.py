"""The classifier's shared parts, and the first torch network (categorical embeddings +
periodic numeric embeddings -> MLP), which versions registered before TabM still use.

New torch candidates train TabM (``tabm``), which builds on the pieces
here: ``FraudConfig``, ``FraudModel`` (score / meta / state), the learning-rate schedule, Platt
calibration and ``TrainResult``. What holds for both:

- imbalance: weighted BCE (``pos_weight``), no resampling, so the validation/test splits keep
  the real fraud rate;
- early stopping on validation PR-AUC, cosine learning-rate schedule with warm-up;
- calibration: Platt scaling of the logit on the validation split;
- everything needed to rebuild the model (vocabularies, scaling, calibration, config) is JSON;
  the weights are a plain ``state_dict``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np
import polars as pl
import torch
from torch import nn

from lakeloop.models.classification.config import FraudConfig
from lakeloop.models.compute import Compute

UNKNOWN = "<unk>"
CLIP = 6.0  # standardised values beyond this many deviations are outliers, not signal
LOG_SKEW = 1.0  # a non-negative column more right-skewed than this is log-scaled (counts, amounts)


@dataclass
class Preprocessor:
    """Frame -> (categorical codes, scaled numerics); fitted on the training split only.

    The column lists come from the contract (``lakeloop.features.event_schema``). Which
    numerics are log-scaled is decided by their training distribution (non-negative and
    right-skewed), not by their names."""

    categorical: list[str]
    numeric: list[str]
    vocab: dict[str, list[str]] = field(default_factory=dict)
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    log_scaled: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # columns that get a missing indicator

    @property
    def width(self) -> int:
        """Numeric inputs of the network: the scaled columns and the missing indicators."""
        return len(self.numeric) + len(self.missing)

    @classmethod
    def fit(cls, frame: pl.DataFrame, categorical: list[str], numeric: list[str],
            max_vocab: int) -> Preprocessor:
        pre = cls(categorical=list(categorical), numeric=list(numeric))
        for c in pre.categorical:
            counts = frame[c].cast(pl.String).value_counts(sort=True).drop_nulls(c)
            pre.vocab[c] = [UNKNOWN, *counts[c].head(max_vocab).to_list()]
        for c in pre.numeric:
            col = frame[c].cast(pl.Float64).fill_nan(None).drop_nulls()
            if col.len() and cast(float, col.min()) >= 0 and float(col.skew() or 0.0) > LOG_SKEW:
                pre.log_scaled.append(c)
            if col.len() < frame.height:  # missing in training: "missing" is information
                pre.missing.append(c)
        scaled = pre._numeric_frame(frame)
        for c in pre.numeric:
            col = scaled[c]
            pre.mean[c] = float(cast(float, col.mean()) or 0.0)
            pre.std[c] = float(cast(float, col.std()) or 1.0) or 1.0
        return pre

    def _numeric_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        logged = set(self.log_scaled)

        def expr(c: str) -> pl.Expr:
            e = pl.col(c).cast(pl.Float64).fill_nan(None)
            if c in logged:
                e = e.clip(lower_bound=0).log1p()  # heavy tails -> log scale
            return e.alias(c)

        return frame.select([expr(c) for c in self.numeric])

    def transform(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        codes = np.stack([
            frame[c].cast(pl.String).replace_strict(
                {v: i for i, v in enumerate(self.vocab[c])}, default=0, return_dtype=pl.Int64,
            ).to_numpy()
            for c in self.categorical
        ], axis=1) if self.categorical else np.zeros((frame.height, 0), dtype=np.int64)
        numeric = self._numeric_frame(frame)
        num = numeric.select(
            [((pl.col(c) - self.mean[c]) / self.std[c]).clip(-CLIP, CLIP).fill_null(0.0)
             .fill_nan(0.0) for c in self.numeric]
            + [pl.col(c).is_null().cast(pl.Float32).alias(f"{c}__missing") for c in self.missing]
        ).to_numpy().astype(np.float32)
        return codes, num

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        return cls(**d)


class FraudNet(nn.Module):
    """Categorical embeddings + periodic numeric embeddings (Gorishniy et al., "On Embeddings
    for Numerical Features in Tabular Deep Learning", from ``rtdl_num_embeddings``) -> MLP.

    Why numeric embeddings: a plain MLP on standardised numbers learns the step-like,
    threshold-rich functions of tabular data badly; boosted trees find them easily. Periodic
    embeddings give each number a learnt multi-frequency encoding first."""

    def __init__(self, cardinalities: list[int], n_numeric: int, cfg: FraudConfig) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, min(16, (n + 1) // 2 + 1)) for n in cardinalities
        )
        self.numeric = None
        numeric_width = n_numeric
        if cfg.numeric_embedding and n_numeric:
            from rtdl_num_embeddings import PeriodicEmbeddings

            self.numeric = PeriodicEmbeddings(n_numeric, cfg.numeric_embedding, lite=True)
            numeric_width = n_numeric * cfg.numeric_embedding
        width = sum(cast(nn.Embedding, e).embedding_dim for e in self.embeddings) + numeric_width
        layers: list[nn.Module] = []
        for h in cfg.hidden:
            layers += [nn.Linear(width, h), nn.LayerNorm(h), nn.GELU(), nn.Dropout(cfg.dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, codes: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        parts = [emb(codes[:, i]) for i, emb in enumerate(self.embeddings)]
        if self.numeric is not None:
            numeric = self.numeric(numeric).flatten(1)
        return self.mlp(torch.cat([*parts, numeric], dim=1)).squeeze(1)


@dataclass
class FraudModel:
    """Preprocessor + network + Platt calibration: everything ``score`` needs."""

    config: FraudConfig
    pre: Preprocessor
    net: FraudNet
    calibration: tuple[float, float] = (1.0, 0.0)

    @torch.no_grad()
    def logits(self, frame: pl.DataFrame, compute: Compute, batch: int = 65_536) -> np.ndarray:
        codes, num = self.pre.transform(frame)
        self.net.eval().to(compute.device)
        out = []
        for start in range(0, len(codes), batch):
            c = torch.from_numpy(codes[start:start + batch]).to(compute.device)
            n = torch.from_numpy(num[start:start + batch]).to(compute.device)
            with compute.autocast():
                out.append(self.net(c, n).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def score(self, frame: pl.DataFrame, compute: Compute) -> np.ndarray:
        a, b = self.calibration
        return 1.0 / (1.0 + np.exp(-(a * self.logits(frame, compute) + b)))

    def state(self) -> dict[str, torch.Tensor]:
        return self.net.state_dict()

    def meta(self) -> dict[str, Any]:
        return {"family": "torch", "config": self.config.to_dict(),
                "preprocessor": self.pre.to_dict(), "calibration": list(self.calibration),
                "feature_schema": {"categorical": self.pre.categorical,
                                   "numeric": self.pre.numeric}}

    @classmethod
    def rebuild(cls, meta: dict[str, Any], state: dict[str, torch.Tensor]) -> FraudModel:
        cfg = FraudConfig.from_dict(meta["config"])
        pre = Preprocessor.from_dict(meta["preprocessor"])
        net = FraudNet([len(pre.vocab[c]) for c in pre.categorical], pre.width, cfg)
        net.load_state_dict(state)
        a, b = meta["calibration"]
        return cls(cfg, pre, net, (float(a), float(b)))


def _platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit sigmoid(a * logit + b) to validation labels (Platt scaling)."""
    if y.sum() == 0 or y.sum() == len(y):
        return 1.0, 0.0
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6, max_iter=1000).fit(logits.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _lr_factor(epoch_progress: float, cfg: FraudConfig) -> float:
    """Linear warm-up, then cosine decay to 5% (a pure function of progress in epochs)."""
    if epoch_progress < cfg.warmup_epochs:
        return max(epoch_progress / cfg.warmup_epochs, 0.05)
    span = max(cfg.max_epochs - cfg.warmup_epochs, 1)
    t = min((epoch_progress - cfg.warmup_epochs) / span, 1.0)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))


@dataclass
class TrainResult:
    model: FraudModel
    epochs: int
    best_epoch: int
    val_metrics: dict[str, float]
    history: list[dict[str, float]]
    seconds: float
    samples_per_s: float
