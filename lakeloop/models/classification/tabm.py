"""A tabular network for the fraud domain: TabM (Gorishniy et al., "TabM: Advancing Tabular
Deep Learning with Parameter-Efficient Ensembling", ICLR 2025; the ``tabm`` package) on
piecewise-linear numeric embeddings (``rtdl_num_embeddings``), with distribution-aware
preprocessing: the network of the ``torch`` family of a classification domain (issue 11: the
plain MLP of ``network`` lost to gradient-boosted trees on real card data).
``bench/bench_fraud.py`` compares it with LightGBM on both simulator profiles and generated
shapes; ``docs/performance.md`` has the table.

What is different from the MLP (``FraudNet``, still loadable for versions registered before)
and why:

- **numeric inputs** go through a per-column quantile transform to a normal distribution
  (reference quantiles fitted on the training split, stored as JSON lists), so heavy tails,
  counts and bimodal columns all arrive on one scale; ``transform="standard"`` keeps the
  current log-if-skewed + standardise + clip;
- **missing values** are not mean-filled: the network learns one embedding vector per column
  for "missing" (``missing="embedding"``), or gets 0/1 indicator columns
  (``missing="indicator"``, what ``Preprocessor`` does);
- **numeric embeddings**: piecewise-linear embeddings ("PLE", version B of
  ``rtdl_num_embeddings``: a linear term plus a learnt piecewise-linear function per column)
  with bin edges from ``rtdl_num_embeddings.compute_bins`` on the training matrix: quantile
  bins, or target-aware (decision-tree) bins. The edges are buffers of the network, so they
  are in its ``state_dict`` and ``load_state_dict`` restores them - nothing else to store.
  A step at a threshold (``amount > q90``) is one bin edge away; periodic embeddings
  (``numeric_kind="periodic"``) must learn it from sines;
- **categoricals**: a vocabulary of every value seen at least ``min_count`` times (up to
  ``max_vocab``), embedded; columns with many values also get an out-of-fold smoothed target
  encoding (the fraud log-odds of the value), stored as a JSON map - how rare but risky values
  of a high-cardinality column (merchants, devices) reach the network;
- **backbone**: TabM, an ensemble of ``k`` MLPs in one network (BatchEnsemble adapters,
  shared weights), trained together: the loss is the mean of the members' losses, the
  prediction the mean of their logits. ``share_first=True`` computes the first (widest)
  layer once for all members and starts the per-member adapters after it: the cost of an
  ensemble is then ``k`` times the small layers only, which is what makes it affordable on a
  2-core CPU;
- **bounded epochs**: an epoch sees every positive and a fresh random sample of the negatives,
  at most ``epoch_rows`` rows in all, so the cost of an epoch does not grow with the table
  (fraud is rare: the negatives are what there is too much of). ``pos_weight`` is computed
  against the negatives an epoch actually sees; ranking metrics do not depend on the sampling
  and Platt scaling on the (unsampled) validation split puts the scores back on the real rate.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, cast

import numpy as np
import polars as pl
import torch
from torch import nn

from lakeloop.models.classification.config import TabMConfig
from lakeloop.models.classification.network import CLIP as STANDARD_CLIP
from lakeloop.models.classification.network import (
    LOG_SKEW,
    UNKNOWN,
    FraudModel,
    TrainResult,
    _lr_factor,
    _platt,
)
from lakeloop.models.compute import Compute, seed_everything
from lakeloop.models.metrics import classification_metrics
from lakeloop.training.columns import LABEL

NULL = "<null>"
QUANTILE_CLIP = 5.0  # the normal-output quantile transform ends here (sklearn: +-5.2)
TE_FOLDS = 5
EMBEDDING_CHOICES = ("ple", "periodic")  # tried when positives are few


# -- preprocessing ---------------------------------------------------------------------------

def _ndtri(u: np.ndarray) -> np.ndarray:
    """The standard normal quantile function (torch's, float64: no scipy import)."""
    return torch.special.ndtri(torch.from_numpy(np.asarray(u, dtype=np.float64))).numpy()


@dataclass
class TabPreprocessor:
    """Frame -> (categorical codes, numeric matrix); fitted on the training split only, every
    fitted value plain JSON (``to_dict`` / ``from_dict``).

    Numeric matrix columns: the numeric columns (transformed), then one target-encoding
    column per high-cardinality categorical, then (``missing="indicator"``) the missing
    indicators. With ``missing="embedding"`` missing values stay NaN: the network replaces them
    with a learnt vector per column."""

    categorical: list[str]
    numeric: list[str]
    transform_kind: str = "quantile"
    missing_kind: str = "embedding"
    vocab: dict[str, list[str]] = field(default_factory=dict)
    quantiles: dict[str, list[float]] = field(default_factory=dict)  # quantile: references
    mean: dict[str, float] = field(default_factory=dict)  # standard
    std: dict[str, float] = field(default_factory=dict)  # standard
    log_scaled: list[str] = field(default_factory=list)  # standard
    missing: list[str] = field(default_factory=list)  # indicator: columns with an indicator
    target_columns: list[str] = field(default_factory=list)
    target_maps: dict[str, dict[str, float]] = field(default_factory=dict)
    target_prior: float = 0.0  # log-odds of fraud in training; unseen values get 0 (= prior)

    @property
    def width(self) -> int:
        return len(self.numeric) + len(self.target_columns) + len(self.missing)

    @property
    def numeric_names(self) -> list[str]:
        return [*self.numeric, *(f"{c}__te" for c in self.target_columns),
                *(f"{c}__missing" for c in self.missing)]

    # fitting ----------------------------------------------------------------------------------
    @classmethod
    def fit(cls, frame: pl.DataFrame, categorical: list[str], numeric: list[str],
            cfg: TabMConfig | None = None) -> TabPreprocessor:
        """Fit on the training split. Use ``fit_transform`` for the training matrix itself
        (its target encodings are out-of-fold)."""
        return cls._fit(frame, categorical, numeric, cfg)[0]

    @classmethod
    def fit_transform(cls, frame: pl.DataFrame, categorical: list[str], numeric: list[str],
                      cfg: TabMConfig | None = None
                      ) -> tuple[TabPreprocessor, np.ndarray, np.ndarray]:
        pre, oof = cls._fit(frame, categorical, numeric, cfg)
        codes, num = pre.transform(frame, target_override=oof)
        return pre, codes, num

    @classmethod
    def _fit(cls, frame: pl.DataFrame, categorical: list[str], numeric: list[str],
             cfg: TabMConfig | None
             ) -> tuple[TabPreprocessor, dict[str, np.ndarray]]:
        cfg = cfg if cfg is not None else TabMConfig()
        pre = cls(list(categorical), list(numeric), cfg.transform,
                  cfg.missing)
        max_vocab, min_count = cfg.max_vocab, cfg.min_count
        for c in pre.categorical:
            counts = _cat(frame, c).value_counts(sort=True)
            counts = counts.filter(pl.col("count") >= min_count).head(max_vocab)
            pre.vocab[c] = [UNKNOWN, *(v for v in counts[c].to_list() if v != UNKNOWN)]
        for c in pre.numeric:
            col = _num(frame, c).drop_nulls()
            if pre.missing_kind == "indicator" and col.len() < frame.height:
                pre.missing.append(c)
            values = col.to_numpy()
            if pre.transform_kind == "quantile":
                probs = np.linspace(0.0, 1.0, cfg.n_quantiles)
                q = np.quantile(values, probs) if len(values) else np.zeros(2)
                pre.quantiles[c] = [float(v) for v in np.maximum.accumulate(q)]
            else:
                if len(values) and values.min() >= 0 and float(col.skew() or 0.0) > LOG_SKEW:
                    pre.log_scaled.append(c)
                    values = np.log1p(values)
                pre.mean[c] = float(values.mean()) if len(values) else 0.0
                std = float(values.std(ddof=1)) if len(values) > 1 else 1.0
                pre.std[c] = std if std > 0 and math.isfinite(std) else 1.0
        oof: dict[str, np.ndarray] = {}
        y = frame[LABEL].cast(pl.Float64).to_numpy() if LABEL in frame.columns else None
        te_min = cfg.target_encoding_min_values
        if y is not None and te_min:
            rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
            pre.target_prior = math.log(rate / (1 - rate))
            m = float(cfg.target_encoding_smoothing)
            fold = np.arange(frame.height) % TE_FOLDS
            for c in pre.categorical:
                values = _cat(frame, c).to_numpy()
                if len(np.unique(values)) <= te_min:
                    continue
                pre.target_columns.append(c)
                full = _te_map(values, y, rate, m)
                pre.target_maps[c] = {k: float(v) for k, v in full.items()}
                out = np.zeros(frame.height)
                for f in range(TE_FOLDS):  # out of fold: a row never sees its own label
                    held = fold == f
                    part = _te_map(values[~held], y[~held], rate, m)
                    out[held] = [part.get(v, 0.0) for v in values[held]]
                oof[c] = out
        return pre, oof

    # transforming -----------------------------------------------------------------------------
    def _transform_numeric(self, c: str, x: np.ndarray) -> np.ndarray:
        if self.transform_kind == "quantile":
            q = np.asarray(self.quantiles[c])
            refs = np.linspace(0.0, 1.0, len(q))
            # sklearn's QuantileTransformer: the mean of the forward and backward
            # interpolation, so repeated quantiles (ties, counts) map to their middle
            u = 0.5 * (np.interp(x, q, refs) - np.interp(-x, -q[::-1], -refs[::-1]))
            eps = 1e-7
            z = _ndtri(np.clip(u, eps, 1 - eps))
            return np.clip(z, -QUANTILE_CLIP, QUANTILE_CLIP)
        if c in self.log_scaled:
            x = np.log1p(np.clip(x, 0, None))
        return np.clip((x - self.mean[c]) / self.std[c], -STANDARD_CLIP, STANDARD_CLIP)

    def transform(self, frame: pl.DataFrame,
                  target_override: dict[str, np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        n = frame.height
        if self.categorical:
            codes = np.stack([
                _cat(frame, c).replace_strict({v: i for i, v in enumerate(self.vocab[c])},
                                              default=0, return_dtype=pl.Int64).to_numpy()
                for c in self.categorical], axis=1)
        else:
            codes = np.zeros((n, 0), dtype=np.int64)
        out = np.empty((n, self.width), dtype=np.float32)
        raw = frame.select([_num(frame, c).alias(c) for c in self.numeric]).to_numpy() \
            if self.numeric else np.zeros((n, 0))
        raw = raw.astype(np.float64)
        isnan = np.isnan(raw)
        for j, c in enumerate(self.numeric):
            col = raw[:, j]
            ok = ~isnan[:, j]
            z = np.full(n, np.nan)
            z[ok] = self._transform_numeric(c, col[ok])
            out[:, j] = z
        j = len(self.numeric)
        for c in self.target_columns:
            if target_override is not None and c in target_override:
                out[:, j] = target_override[c]
            else:
                m = self.target_maps[c]
                out[:, j] = [m.get(v, 0.0) for v in _cat(frame, c).to_list()]
            j += 1
        for c in self.missing:
            out[:, j] = isnan[:, self.numeric.index(c)]
            j += 1
        if self.missing_kind == "indicator":  # filled with the (transformed) mean, 0
            np.nan_to_num(out, copy=False, nan=0.0)
        return codes, out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TabPreprocessor:
        return cls(**d)


def _cat(frame: pl.DataFrame, c: str) -> pl.Series:
    return frame[c].cast(pl.String).fill_null(NULL)


def _num(frame: pl.DataFrame, c: str) -> pl.Series:
    return frame[c].cast(pl.Float64).fill_nan(None)


def _te_map(values: np.ndarray, y: np.ndarray, prior: float, m: float) -> dict[str, float]:
    """value -> smoothed fraud log-odds of the value minus the prior's (0: no evidence)."""
    keys, inverse = np.unique(values, return_inverse=True)
    n = np.bincount(inverse, minlength=len(keys)).astype(float)
    pos = np.bincount(inverse, weights=y, minlength=len(keys))
    rate = (pos + m * prior) / (n + m)
    te = np.log(rate / (1 - rate)) - math.log(prior / (1 - prior))
    return dict(zip(keys.tolist(), te.tolist(), strict=True))


# -- numeric embeddings ----------------------------------------------------------------------

class PiecewiseLinearEmbeddings(nn.Module):
    """``rtdl_num_embeddings.PiecewiseLinearEmbeddings(version="B", activation=False)`` with
    fixed-shape buffers: built before the bins are known (``set_bins`` fills them), so a
    network can be rebuilt from its config and ``state_dict`` alone. Same encoding layout as
    rtdl (leading components, padding, the last component at the end).

    Input ``(b, n)`` (NaN allowed: a learnt "missing" vector per column), output
    ``(b, n, d)``."""

    enc_weight: torch.Tensor  # buffers (``register_buffer``), typed for the checker
    enc_bias: torch.Tensor
    single_bin: torch.Tensor

    def __init__(self, n: int, n_bins: int, d: int) -> None:
        super().__init__()
        from rtdl_num_embeddings import LinearEmbeddings

        self.n, self.n_bins = n, n_bins
        self.register_buffer("enc_weight", torch.zeros(n, n_bins))
        self.register_buffer("enc_bias", torch.zeros(n, n_bins))
        self.register_buffer("single_bin", torch.zeros(n, dtype=torch.bool))
        self.linear0 = LinearEmbeddings(n, d)
        self.weight = nn.Parameter(torch.zeros(n, n_bins, d))  # version B: starts linear
        self.missing = nn.Parameter(torch.zeros(n, d))
        nn.init.normal_(self.missing, std=0.1)
        self.set_bins([torch.linspace(-3, 3, n_bins + 1)] * n)  # placeholder: set_bins later

    @torch.no_grad()
    def set_bins(self, bins: list[torch.Tensor]) -> None:
        """Edges per column, as ``rtdl_num_embeddings.compute_bins`` returns them."""
        assert len(bins) == self.n
        self.enc_weight.zero_()
        self.enc_bias.zero_()
        for i, edges in enumerate(bins):
            edges = torch.as_tensor(edges, dtype=torch.float32)
            count = len(edges) - 1
            assert 1 <= count <= self.n_bins, (count, self.n_bins)
            width = edges.diff()
            w, b = 1.0 / width, -edges[:-1] / width
            self.enc_weight[i, -1], self.enc_bias[i, -1] = w[-1], b[-1]
            self.enc_weight[i, :count - 1] = w[:-1]
            self.enc_bias[i, :count - 1] = b[:-1]
            self.single_bin[i] = count == 1

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.addcmul(self.enc_bias, self.enc_weight, x[..., None])
        if self.n_bins == 1:
            return x
        last = x[..., -1:]
        last = torch.where(self.single_bin[:, None], last, last.clamp_min(0.0))
        return torch.cat([x[..., :1].clamp_max(1.0), x[..., 1:-1].clamp(0.0, 1.0), last], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nan = torch.isnan(x)
        x = torch.where(nan, torch.zeros_like(x), x)
        ple = self.encode(x)  # (b, n, bins)
        out = self.linear0(x) + (ple.transpose(0, 1) @ self.weight).transpose(0, 1)
        return torch.where(nan[..., None], self.missing, out)


class PeriodicNumeric(nn.Module):
    """``rtdl_num_embeddings.PeriodicEmbeddings`` (lite) with a learnt missing vector."""

    def __init__(self, n: int, d: int, sigma: float) -> None:
        super().__init__()
        from rtdl_num_embeddings import PeriodicEmbeddings

        self.periodic = PeriodicEmbeddings(n, d, lite=True, frequency_init_scale=sigma)
        self.missing = nn.Parameter(torch.zeros(n, d))
        nn.init.normal_(self.missing, std=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nan = torch.isnan(x)
        out = self.periodic(torch.where(nan, torch.zeros_like(x), x))
        return torch.where(nan[..., None], self.missing, out)


def compute_ple_bins(num: np.ndarray, n_bins: int, y: np.ndarray | None = None
                     ) -> list[torch.Tensor]:
    """Bin edges per column of the (transformed) training matrix, NaN ignored: quantile bins,
    or with ``y`` target-aware decision-tree bins (``rtdl_num_embeddings.compute_bins``)."""
    from rtdl_num_embeddings import compute_bins

    with warnings.catch_warnings():  # a two-valued column gets one bin, and rtdl says so
        warnings.filterwarnings("ignore", "The 0-th feature has just two bin edges")
        bins = []
        for j in range(num.shape[1]):
            col = num[:, j]
            ok = ~np.isnan(col)
            values = col[ok]
            distinct = np.unique(values)
            if len(distinct) < 2:  # constant (or empty): one bin around it
                v = float(distinct[0]) if len(distinct) else 0.0
                bins.append(torch.tensor([v - 0.5, v + 0.5]))
                continue
            nb = max(2, min(n_bins, len(values) - 1))
            x = torch.as_tensor(values, dtype=torch.float32)[:, None]
            if y is not None:
                tree = {"min_samples_leaf": 64, "min_impurity_decrease": 1e-4}
                edges = compute_bins(x, nb, tree_kwargs=tree,
                                     y=torch.as_tensor(y[ok], dtype=torch.float32),
                                     regression=False)[0]
            else:
                edges = compute_bins(x, nb)[0]
            bins.append(edges.float())
        return bins


# -- the network -----------------------------------------------------------------------------

class TabMFraudNet(nn.Module):
    """Categorical embeddings + numeric embeddings -> TabM (k MLPs, BatchEnsemble) -> logit.

    A drop-in for ``FraudNet``: same constructor arguments, ``forward(codes, numeric)`` gives
    one logit per row (the mean of the members'); ``forward_members`` gives all ``k`` (train
    on the mean of their losses)."""

    def __init__(self, cardinalities: list[int], n_numeric: int, cfg: TabMConfig) -> None:
        super().__init__()
        import tabm

        self.k = int(cfg.k)
        d_emb = int(cfg.numeric_embedding)
        kind = cfg.numeric_kind if n_numeric else "none"
        cat_dim = int(cfg.cat_embedding)
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, min(cat_dim, (n + 1) // 2 + 1)) for n in cardinalities)
        self.numeric: nn.Module | None
        if kind == "ple":
            self.numeric = PiecewiseLinearEmbeddings(n_numeric, int(cfg.n_bins), d_emb)
            numeric_width = n_numeric * d_emb
        elif kind == "periodic":
            self.numeric = PeriodicNumeric(n_numeric, d_emb, float(cfg.periodic_sigma))
            numeric_width = n_numeric * d_emb
        else:  # plain numbers (NaN -> 0: use missing="indicator")
            self.numeric, numeric_width = None, n_numeric
        d_features = [cast(nn.Embedding, e).embedding_dim for e in self.embeddings] \
            + [numeric_width // max(n_numeric, 1)] * n_numeric
        d_in = sum(d_features)
        d_block, n_blocks = int(cfg.d_block), int(cfg.n_blocks)
        dropout = float(cfg.dropout)
        self.share_first = bool(cfg.share_first) and n_blocks >= 2
        self.first: nn.Module | None = None
        if self.share_first:
            # one shared layer over the wide input; the members start after it
            self.first = nn.Sequential(nn.Linear(d_in, d_block), nn.ReLU(), nn.Dropout(dropout))
            self.backbone = tabm.MLPBackboneBatchEnsemble(
                d_in=d_block, n_blocks=n_blocks - 1, d_block=d_block, dropout=dropout,
                k=self.k, tabm_init=True, scaling_init="random-signs",
                start_scaling_init_chunks=None)
        else:
            self.backbone = tabm.make_tabm_backbone(
                d_in=d_in, n_blocks=n_blocks, d_block=d_block, dropout=dropout, k=self.k,
                arch_type="tabm", start_scaling_init="normal" if kind != "none"
                else "random-signs", start_scaling_init_chunks=d_features)
        self.output = tabm.LinearEnsemble(d_block, 1, k=self.k)

    def set_bins(self, bins: list[torch.Tensor]) -> None:
        assert isinstance(self.numeric, PiecewiseLinearEmbeddings)
        self.numeric.set_bins(bins)

    def forward_members(self, codes: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        """Logits of every member, ``(b, k)``."""
        parts = [emb(codes[:, i]) for i, emb in enumerate(self.embeddings)]
        if self.numeric is not None:
            parts.append(self.numeric(numeric).flatten(1))
        elif numeric.shape[1]:
            parts.append(torch.nan_to_num(numeric, nan=0.0))
        x = torch.cat(parts, dim=1)
        if self.first is not None:
            x = self.first(x)
        x = x.unsqueeze(1).expand(-1, self.k, -1)  # (b, k, d): one view per member
        return self.output(self.backbone(x)).squeeze(-1)

    def forward(self, codes: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        return self.forward_members(codes, numeric).mean(dim=1)


# -- model and training ----------------------------------------------------------------------

@dataclass
class TabMModel(FraudModel):
    """``FraudModel`` with this preprocessor and network; the same ``score`` / ``meta`` /
    ``state`` (the bin edges are in the state_dict)."""

    def logits(self, frame: pl.DataFrame, compute: Compute, batch: int = 8192) -> np.ndarray:
        # smaller batches than FraudModel's: the first ensemble layer holds (b, k, inputs)
        return super().logits(frame, compute, batch)

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "architecture": "tabm"}

    @classmethod
    def rebuild(cls, meta: dict[str, Any], state: dict[str, torch.Tensor]) -> TabMModel:
        cfg = TabMConfig.from_dict(meta["config"])
        pre = TabPreprocessor.from_dict(meta["preprocessor"])
        net = TabMFraudNet([len(pre.vocab[c]) for c in pre.categorical], pre.width, cfg)
        net.load_state_dict(state)
        a, b = meta["calibration"]
        return cls(cfg, pre, net, (float(a), float(b)))  # type: ignore[arg-type]


@torch.no_grad()
def _logits(net: nn.Module, codes: torch.Tensor, num: torch.Tensor, compute: Compute,
            batch: int = 8192) -> np.ndarray:
    net.eval()
    out = []
    for start in range(0, len(codes), batch):
        with compute.autocast():
            out.append(net(codes[start:start + batch], num[start:start + batch]).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def train_tabm(
    train: pl.DataFrame,
    val: pl.DataFrame,
    categorical: list[str],
    numeric: list[str],
    compute: Compute,
    cfg: TabMConfig | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train the network; with fewer than ``cfg.choose_embedding_below`` training positives,
    train it once per numeric embedding (``EMBEDDING_CHOICES``) and keep the one with the
    best validation PR-AUC.

    Why: piecewise-linear embeddings give each numeric column a learnt function of its bins,
    which is what wins with enough positives, but with a handful of positives per column
    they fit them in the first epoch and stop learning (generated wide shape: 140 positives
    over 150 columns, validation PR-AUC 0.03 against 0.10 with periodic embeddings). Which
    one a data set needs is not known in advance, so it is chosen on validation, like the
    family. The cost is bounded: an epoch sees at most ``epoch_rows`` rows, and few positives
    is exactly when the epochs are short of positives anyway. The chosen kind is in the
    model's config, so the registered version rebuilds the network it was trained with."""
    cfg = cfg or TabMConfig()
    positives = int(train[LABEL].cast(pl.Int32).sum() or 0)
    if positives >= cfg.choose_embedding_below or not numeric:
        return _train_tabm(train, val, categorical, numeric, compute, cfg, log)
    kinds = [cfg.numeric_kind] + [k for k in EMBEDDING_CHOICES if k != cfg.numeric_kind]
    log(f"{positives} training positives (< {cfg.choose_embedding_below}): numeric "
        f"embedding chosen on validation among {', '.join(kinds)}")
    results = {}
    for kind in kinds:
        results[kind] = _train_tabm(train, val, categorical, numeric, compute,
                                    replace(cfg, numeric_kind=kind), log)
    chosen = max(kinds, key=lambda k: np.nan_to_num(results[k].val_metrics["pr_auc"], nan=-1))
    log("numeric embedding: " + ", ".join(
        f"{k} val PR-AUC {r.val_metrics['pr_auc']:.4f}" for k, r in results.items())
        + f" -> {chosen}")
    best = results[chosen]
    best.seconds = sum(r.seconds for r in results.values())  # what the choice cost
    return best


def _train_tabm(
    train: pl.DataFrame,
    val: pl.DataFrame,
    categorical: list[str],
    numeric: list[str],
    compute: Compute,
    cfg: TabMConfig,
    log: Callable[[str], None],
) -> TrainResult:
    """Train ``TabMFraudNet`` as the MLP was trained: AdamW, warm-up + cosine schedule,
    weighted BCE (``pos_weight`` sqrt(neg/pos)), early stopping on validation PR-AUC and Platt
    calibration. The loss is the mean of the ``k`` members' losses; PLE bins are computed on the
    training matrix and set on the network; the validation split is transformed once, not
    every epoch; an epoch sees at most ``epoch_rows`` rows (every positive, sampled
    negatives)."""
    seed_everything(cfg.seed)
    started = time.perf_counter()
    pre, codes, num = TabPreprocessor.fit_transform(train, categorical, numeric, cfg)
    y = train[LABEL].cast(pl.Float32).to_numpy()
    cards = [len(pre.vocab[c]) for c in pre.categorical]
    net = TabMFraudNet(cards, pre.width, cfg)
    if isinstance(net.numeric, PiecewiseLinearEmbeddings):
        net.set_bins(compute_ple_bins(num, cfg.n_bins, y if cfg.bins_from_target else None))
    net.to(compute.device)
    prep_s = time.perf_counter() - started

    def to_device(array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.require(array, requirements=["C", "W"]))
        if compute.pin_memory:
            tensor = tensor.pin_memory()
        return tensor.to(compute.device, non_blocking=True)

    t_codes, t_num, t_y = to_device(codes), to_device(num), to_device(y)
    v_codes_np, v_num_np = pre.transform(val)
    v_codes, v_num = to_device(v_codes_np), to_device(v_num_np)
    y_val = val[LABEL].cast(pl.Int32).to_numpy()
    positives = max(float(y.sum()), 1.0)
    pos_idx = torch.from_numpy(np.flatnonzero(y == 1))
    neg_idx = torch.from_numpy(np.flatnonzero(y != 1))
    room = int(cfg.epoch_rows) - len(pos_idx) if cfg.epoch_rows else len(neg_idx)
    q = min(max(room, min(len(neg_idx), 1_000)), len(neg_idx)) / max(len(neg_idx), 1)
    rows_per_epoch = len(pos_idx) + int(round(q * len(neg_idx))) if q < 1 else len(y)
    # the weight of a positive against the negatives an epoch actually sees
    pos_weight = torch.tensor(math.sqrt(max(rows_per_epoch - positives, 1.0) / positives),
                              device=compute.device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optim = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    steps = max(1, math.ceil(rows_per_epoch / cfg.batch_size))

    best: tuple[float, int, dict[str, torch.Tensor]] = (-1.0, -1, {})
    history: list[dict[str, float]] = []
    train_seconds, seen, epoch = 0.0, 0, 0
    for epoch in range(cfg.max_epochs):
        net.train()
        epoch_start, epoch_cpu = time.perf_counter(), time.process_time()
        if q < 1:  # every positive, a fresh sample of the negatives
            keep = neg_idx[torch.randperm(len(neg_idx), generator=generator)[
                :rows_per_epoch - len(pos_idx)]]
            order = torch.cat([pos_idx, keep])
            order = order[torch.randperm(len(order), generator=generator)].to(compute.device)
        else:
            order = torch.randperm(len(y), generator=generator).to(compute.device)
        total: torch.Tensor | float = 0.0
        for step in range(steps):
            for group in optim.param_groups:
                group["lr"] = cfg.lr * _lr_factor(epoch + step / steps, cfg)
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            with compute.autocast():  # (b, k): the mean of the members' losses
                out = net.forward_members(t_codes[idx], t_num[idx]).float()
                loss = loss_fn(out, t_y[idx, None].expand_as(out))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += loss.detach() * len(idx)
            seen += len(idx)
        total = float(total)
        epoch_s = time.perf_counter() - epoch_start
        train_seconds += epoch_s
        val_metrics = classification_metrics(y_val, _logits(net, v_codes, v_num, compute))
        history.append({"epoch": epoch, "loss": total / rows_per_epoch, "seconds": epoch_s,
                        "cpu_seconds": time.process_time() - epoch_cpu,
                        "val_pr_auc": val_metrics["pr_auc"]})
        log(f"epoch {epoch + 1}/{cfg.max_epochs}: loss {total / rows_per_epoch:.4f}, "
            f"val PR-AUC {val_metrics['pr_auc']:.4f} ({epoch_s:.1f}s)")
        score = val_metrics["pr_auc"] if not math.isnan(val_metrics["pr_auc"]) else 0.0
        if score > best[0]:
            best = (score, epoch, {k: v.detach().clone() for k, v in net.state_dict().items()})
        elif epoch - best[1] >= cfg.patience:
            log(f"early stop: no validation PR-AUC gain for {cfg.patience} epochs")
            break
        if cfg.time_budget_s is not None and train_seconds >= cfg.time_budget_s:
            log(f"time budget: {train_seconds:.0f}s of {cfg.time_budget_s:.0f}s spent after "
                f"{epoch + 1} epochs; keeping epoch {best[1] + 1}")
            break
    net.load_state_dict(best[2])
    model = TabMModel(cfg, pre, net)  # type: ignore[arg-type]
    val_logits = _logits(net, v_codes, v_num, compute)
    model.calibration = _platt(val_logits, y_val)
    a, b = model.calibration
    val_scores = 1.0 / (1.0 + np.exp(-(a * val_logits + b)))
    log(f"tabm: preprocessing {prep_s:.1f}s, {epoch + 1} epochs in {train_seconds:.1f}s")
    return TrainResult(
        model=model, epochs=epoch + 1, best_epoch=best[1] + 1,
        val_metrics=classification_metrics(y_val, val_scores), history=history,
        seconds=train_seconds, samples_per_s=seen / train_seconds if train_seconds else 0.0,
    )
