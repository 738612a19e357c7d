"""The demand forecaster: a global N-HiTS (pytorch-forecasting) with quantile outputs.

Design choices that keep the registry artifact safe (no pickles, see DEPENDENCIES.md #14):
- each series is scaled by its own training mean (a JSON dict), and the dataset's target
  normalizer is fitted per window (``EncoderNormalizer``) or the identity: both stateless, so
  nothing fitted needs pickling, and the real covariates need no fitted scalers;
- no categorical embeddings: series identity lives in the scale and the history window, so
  the network's ``state_dict`` plus a JSON config rebuild the model exactly;
- series unknown at training time get a stated fallback (seasonal naive), counted.
Known covariates: price ratio, promotion, holiday, day-of-week; unknown: the target itself.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import torch

from lakeloop.calendar import from_time_index, is_holiday
from lakeloop.compute import Compute, seed_everything

KNOWN_REALS = ["price_ratio_28d", "on_promo", "is_holiday", "dow_sin", "dow_cos"]
TARGET = "y"  # units / series scale
SEASON = 7


@dataclass
class DemandConfig:
    horizon: int = 14
    encoder_length: int = 28
    hidden_size: int = 64
    max_epochs: int = 15
    batch_size: int = 256
    lr: float = 3e-3
    patience: int = 3
    seed: int = 7
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    num_workers: int = 0
    # "encoder": each window is standardised by its own encoder history (stateless), so the
    # network sees shapes, not levels, and a level shift costs little (demo: next-day WAPE
    # 0.334 before / 0.354 in the shift's first week, vs 0.343 / 0.373 for "identity")
    normalizer: str = "encoder"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DemandConfig:
        d = dict(d)
        d["quantiles"] = tuple(d.get("quantiles", cls.quantiles))
        d.setdefault("normalizer", "identity")  # versions saved before the option existed
        return cls(**d)


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """demand_features rows -> the long pandas frame pytorch-forecasting wants."""
    dow = (pl.col("date").dt.weekday() - 1).cast(pl.Float64) * (2 * math.pi / 7)
    out = frame.select(
        "series_id", "date",
        pl.col("units").cast(pl.Float64),
        pl.col("price_ratio_28d").cast(pl.Float64),
        pl.col("on_promo").cast(pl.Float64),
        pl.col("is_holiday").cast(pl.Float64),
        dow.sin().alias("dow_sin"), dow.cos().alias("dow_cos"),
        (pl.col("date") - pl.lit(from_time_index(0))).dt.total_days().cast(pl.Int64)
        .alias("time_idx"),
    ).sort("series_id", "time_idx").to_pandas()
    out["series_id"] = out["series_id"].astype(str)
    return out


def future_rows(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Known covariates for the next ``horizon`` days after each series' last day.

    The calendar is exact; price and promotion are carried forward from the last day (there
    is no planning feed yet), which is what a merchandiser would assume without one.
    """
    last = history.sort_values("time_idx").groupby("series_id", observed=True).tail(1)
    rows = []
    for h in range(1, horizon + 1):
        step = last.copy()
        step["time_idx"] = step["time_idx"] + h
        dates = [from_time_index(t) for t in step["time_idx"]]
        angle = np.array([(d.isoweekday() - 1) * 2 * math.pi / 7 for d in dates])
        step["dow_sin"], step["dow_cos"] = np.sin(angle), np.cos(angle)
        step["is_holiday"] = [float(is_holiday(d)) for d in dates]
        step["date"] = dates
        step["units"] = np.nan
        rows.append(step)
    return pd.concat(rows, ignore_index=True)


def series_scales(pdf: pd.DataFrame) -> dict[str, float]:
    means = pdf.groupby("series_id", observed=True)["units"].mean()
    return {str(k): max(float(v), 1.0) for k, v in means.items()}


def _with_target(pdf: pd.DataFrame, scales: dict[str, float]) -> pd.DataFrame:
    out = pdf[pdf["series_id"].isin(scales)].copy()
    out[TARGET] = (out["units"] / out["series_id"].map(scales)).fillna(0.0)
    return out


def quiet_lightning() -> None:
    """Lightning's tips, device banners and pytree deprecation chatter drown the run logs;
    epochs and losses are logged by us."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*is an instance of `nn.Module`.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def make_dataset(pdf: pd.DataFrame, cfg: DemandConfig, **kw: Any) -> Any:
    from pytorch_forecasting import TimeSeriesDataSet
    from pytorch_forecasting.data import EncoderNormalizer, TorchNormalizer

    quiet_lightning()
    normalizer = EncoderNormalizer(method="standard", center=True) \
        if cfg.normalizer == "encoder" else TorchNormalizer(method="identity", center=False)
    return TimeSeriesDataSet(
        pdf, time_idx="time_idx", target=TARGET, group_ids=["series_id"],
        max_encoder_length=cfg.encoder_length, min_encoder_length=cfg.encoder_length,
        max_prediction_length=cfg.horizon, min_prediction_length=cfg.horizon,
        time_varying_known_reals=KNOWN_REALS, time_varying_unknown_reals=[TARGET],
        target_normalizer=normalizer,
        scalers={name: None for name in KNOWN_REALS},
        add_relative_time_idx=False, add_target_scales=False, add_encoder_length=False,
        allow_missing_timesteps=True, **kw,
    )


def _network(dataset: Any, cfg: DemandConfig) -> Any:
    from pytorch_forecasting import NHiTS
    from pytorch_forecasting.metrics import QuantileLoss

    return NHiTS.from_dataset(
        dataset, learning_rate=cfg.lr, hidden_size=cfg.hidden_size,
        loss=QuantileLoss(quantiles=list(cfg.quantiles)), log_interval=-1, log_val_interval=-1,
        weight_decay=1e-4,
    )


@dataclass
class DemandModel:
    config: DemandConfig
    scales: dict[str, float]
    net: Any = None  # NHiTS; built lazily from a dataset

    def meta(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "scales": self.scales,
                "known_reals": KNOWN_REALS}

    def state(self) -> dict[str, torch.Tensor]:
        return self.net.state_dict()

    @classmethod
    def rebuild(cls, meta: dict[str, Any], state: dict[str, torch.Tensor],
                sample: pd.DataFrame) -> DemandModel:
        """Recreate the network from JSON meta, weights and any frame with one full window."""
        model = cls(DemandConfig.from_dict(meta["config"]), meta["scales"])
        ds = make_dataset(_with_target(sample, model.scales), model.config)
        model.net = _network(ds, model.config)
        model.net.load_state_dict(state)
        return model

    def forecast(self, history: pd.DataFrame, future: pd.DataFrame, compute: Compute
                 ) -> pd.DataFrame:
        """Quantile forecasts for the ``future`` rows of every known series.

        Returns one row per series and horizon step: series_id, time_idx, horizon, q* columns
        (units). Series the model does not know are absent (see ``seasonal_naive``).
        """
        cfg = self.config
        frame = _with_target(pd.concat([history, future], ignore_index=True), self.scales)
        last_seen = history.groupby("series_id", observed=True)["time_idx"].max()
        enough = history.groupby("series_id", observed=True)["time_idx"].count() \
            >= cfg.encoder_length
        keep = [s for s in self.scales if s in last_seen.index and enough.get(s, False)]
        frame = frame[frame["series_id"].isin(keep)]
        if frame.empty:
            return pd.DataFrame(columns=["series_id", "time_idx", "horizon",
                                         *[f"q{q}" for q in cfg.quantiles]])
        ds = make_dataset(frame, cfg, predict_mode=True)
        self.net.eval()
        out = self.net.predict(
            ds.to_dataloader(train=False, batch_size=1024, num_workers=0),
            mode="quantiles", return_index=True,
            trainer_kwargs={"accelerator": compute.lightning_accelerator, "devices": 1,
                            "logger": False, "enable_progress_bar": False},
        )
        q = out.output.detach().float().cpu().numpy()  # [series, horizon, quantiles]
        index = out.index.reset_index(drop=True)
        rows = []
        for i, row in index.iterrows():
            scale = self.scales[str(row["series_id"])]
            for h in range(cfg.horizon):
                rows.append({"series_id": str(row["series_id"]),
                             "time_idx": int(row["time_idx"]) + h, "horizon": h + 1,
                             **{f"q{qq}": max(float(q[i, h, k]) * scale, 0.0)
                                for k, qq in enumerate(cfg.quantiles)}})
        return pd.DataFrame(rows)


def seasonal_naive(history: pd.DataFrame, origin: int, horizon: int) -> pd.DataFrame:
    """Forecast day ``origin + h`` with the same weekday of the last observed week."""
    rows = []
    values = history.set_index(["series_id", "time_idx"])["units"]
    for series in history["series_id"].unique():
        for h in range(1, horizon + 1):
            src = origin + h - SEASON * math.ceil(h / SEASON)
            value = values.get((series, src), np.nan)
            rows.append({"series_id": series, "time_idx": origin + h, "horizon": h,
                         "forecast": float(value)})
    return pd.DataFrame(rows)


def weekday_mean(history: pd.DataFrame, origin: int, horizon: int, weeks: int = 4
                 ) -> pd.DataFrame:
    """A simple statistical baseline: mean of the last ``weeks`` same-weekday values."""
    rows = []
    values = history.set_index(["series_id", "time_idx"])["units"]
    for series in history["series_id"].unique():
        for h in range(1, horizon + 1):
            last = origin + h - SEASON * math.ceil(h / SEASON)
            past = [values.get((series, last - SEASON * k), np.nan) for k in range(weeks)]
            rows.append({"series_id": series, "time_idx": origin + h, "horizon": h,
                         "forecast": float(np.nanmean(past)) if not np.all(np.isnan(past))
                         else np.nan})
    return pd.DataFrame(rows)


class _KeepBest:
    """Lightning callback: log each epoch and keep the weights with the best validation loss
    in memory (Lightning's checkpoints would pickle the dataset's state to disk)."""

    def __new__(cls, log: Callable[[str], None]) -> Any:  # lightning imports slowly: lazily
        from lightning.pytorch.callbacks import Callback

        class KeepBest(Callback):
            def __init__(self) -> None:
                self.emit = log
                self.best = math.inf
                self.state: dict[str, torch.Tensor] | None = None
                self.epochs = 0

            def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
                if trainer.sanity_checking:
                    return
                self.epochs += 1
                loss = float(trainer.callback_metrics.get("val_loss", math.inf))
                train = float(trainer.callback_metrics.get("train_loss", math.nan))
                self.emit(f"epoch {self.epochs}/{trainer.max_epochs}: train loss {train:.4f}, "
                         f"val loss {loss:.4f}")
                if loss < self.best:
                    self.best = loss
                    self.state = {k: v.detach().clone() for k, v in
                                  pl_module.state_dict().items()}

        return KeepBest()


@dataclass
class DemandTrainResult:
    model: DemandModel
    epochs: int
    best_val_loss: float
    seconds: float
    samples_per_s: float
    train_samples: int
    history: list[float] = field(default_factory=list)


def train_demand(pdf: pd.DataFrame, val_from: int, cfg: DemandConfig, compute: Compute,
                 progress: bool = False, log: Callable[[str], None] = print
                 ) -> DemandTrainResult:
    """Fit on days before ``val_from``; validate on forecasts starting at ``val_from``."""
    import lightning.pytorch as lp
    from lightning.pytorch.callbacks import EarlyStopping

    seed_everything(cfg.seed)
    lp.seed_everything(cfg.seed, workers=True, verbose=False)
    scales = series_scales(pdf[pdf["time_idx"] < val_from])
    data = _with_target(pdf, scales)
    train_ds = make_dataset(data[data["time_idx"] < val_from], cfg)
    val_ds = make_dataset(data, cfg, min_prediction_idx=val_from,
                          predict_mode=False, randomize_length=None)
    model = DemandModel(cfg, scales, _network(train_ds, cfg))
    keep = _KeepBest(log)
    loader_kw = {"num_workers": cfg.num_workers, "pin_memory": compute.pin_memory}
    trainer = lp.Trainer(
        max_epochs=cfg.max_epochs, accelerator=compute.lightning_accelerator, devices=1,
        gradient_clip_val=0.1, enable_checkpointing=False, logger=False,
        enable_progress_bar=progress, enable_model_summary=False,
        callbacks=[EarlyStopping(monitor="val_loss", patience=cfg.patience), keep],
        precision="bf16-mixed" if compute.amp_dtype == torch.bfloat16 else
        ("16-mixed" if compute.amp_dtype == torch.float16 else "32-true"),
    )
    started = time.perf_counter()
    trainer.fit(model.net,
                train_dataloaders=train_ds.to_dataloader(train=True, batch_size=cfg.batch_size,
                                                         **loader_kw),
                val_dataloaders=val_ds.to_dataloader(train=False, batch_size=cfg.batch_size * 4,
                                                     **loader_kw))
    seconds = time.perf_counter() - started
    if keep.state is not None:
        model.net.load_state_dict(keep.state)
    epochs = keep.epochs
    log(f"demand model: {epochs} epochs, best val loss {keep.best:.4f}, "
        f"{len(train_ds)} training windows, {seconds:.1f}s")
    return DemandTrainResult(model, epochs, keep.best, seconds,
                             len(train_ds) * max(epochs, 1) / seconds if seconds else 0.0,
                             len(train_ds))
