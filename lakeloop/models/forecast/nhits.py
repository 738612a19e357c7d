"""The demand forecaster: a global N-HiTS (pytorch-forecasting) with quantile outputs.

It reads the silver series features (``lakeloop.features.series``) in lakeloop's own column
names and never a team's: ``target``, ``t`` (the calendar's open-day index), the contract's
known covariates (passed in as a list), ``price_ratio`` when the contract has a price and the
calendar's ``holiday`` flag. Time is counted in *open days* throughout: ``time_idx`` is ``t``,
horizons are the next open days, and the weekly season is the calendar's open days per week
(``DemandConfig.season``), so a shop closed on Sundays has a 6-period week and no fake gaps.

Design choices that keep the registry artifact safe (no pickles, see DEPENDENCIES.md #14):
- each series is scaled by its own training mean |target| (a JSON dict), and the dataset's
  target normalizer is fitted per window (``EncoderNormalizer``) or the identity: both
  stateless, so nothing fitted needs pickling, and the real covariates need no fitted scalers;
- no categorical embeddings: series identity lives in the scale and the history window, so
  the network's ``state_dict`` plus JSON meta (config, scales, the list of known reals) rebuild
  the model exactly, without the contract or any data;
- series unknown at training time, or with less history than the encoder, get a stated
  fallback (seasonal naive, see ``demand_lifecycle.forecast_with_fallback``), counted.
The baselines it is judged against (and that serve when they win) are in
``demand_baselines``.
Known reals: the contract's known covariates, ``price_ratio`` (if any), ``holiday`` and the
day of week (sin/cos); unknown: the target itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl
import torch

from lakeloop.models.compute import Compute, seed_everything
from lakeloop.models.forecast.window_cache import cached_loader
from lakeloop.names import SERIES_ID

if TYPE_CHECKING:
    from lakeloop.contracts.calendar import BusinessCalendar

TARGET = "target"  # the day's value, in the series' own units (silver name)
SCALED = "y_scaled"  # target / series scale: what pytorch-forecasting learns (internal)
PRICE_RATIO = "price_ratio"
SILVER_TIME_INDEX = "t"
BASE_COLUMNS = (SERIES_ID, "date", TARGET, "time_idx")
CALENDAR_REALS = ("holiday", "dow_sin", "dow_cos")
# Names lakeloop derives itself: a known covariate of the same name would shadow them.
_RESERVED = {*BASE_COLUMNS, SCALED, SILVER_TIME_INDEX, PRICE_RATIO, *CALENDAR_REALS}


@dataclass
class DemandConfig:
    horizon: int = 14  # open days
    encoder_length: int = 28  # open days
    hidden_size: int = 64
    max_epochs: int = 15
    batch_size: int = 256
    lr: float = 3e-3
    patience: int = 3
    seed: int = 7
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    num_workers: int = 0  # processes that build the training windows
    # build the training windows once and serve epochs from memory (``window_cache``: an
    # epoch no longer rebuilds every window in Python); False: rebuild them every epoch
    cache_windows: bool = True
    # "encoder": each window is standardised by its own encoder history (stateless), so the
    # network sees shapes, not levels, and a level shift costs little (demo: next-day WAPE
    # 0.334 before / 0.354 in the shift's first week, vs 0.343 / 0.373 for "identity")
    normalizer: str = "encoder"
    # open days per week of the domain's calendar (``BusinessCalendar.periods_per_week``): the
    # lag of the seasonal-naive baselines and of the MASE scale, in time_idx units
    season: int = 7
    # the baseline candidates (``demand_baselines``): the moving average's window, the
    # history their zero share and residual quantiles come from, and the zero share from
    # which a series' median (point) forecast is 0 - all in open days
    moving_average_days: int = 28
    baseline_fit_days: int = 84
    intermittent_share: float = 0.5

    def __post_init__(self) -> None:
        if 0.5 not in self.quantiles:
            raise ValueError(f"quantiles {self.quantiles} must include 0.5: the median (p50) "
                             "is the point forecast every metric and the forecast table use")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DemandConfig:
        """Tolerant of metas from other versions: missing keys take the defaults (``season``:
        7, every day open; ``normalizer``: identity, what versions before it used), unknown
        keys are ignored."""
        d = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}
        d["quantiles"] = tuple(d.get("quantiles", cls.quantiles))
        d.setdefault("normalizer", "identity")  # versions saved before the option existed
        return cls(**d)


# ---- frames --------------------------------------------------------------------------------


def _dow(weekday0: Any) -> tuple[Any, Any]:
    """Day of week (Monday = 0) on the unit circle: Sunday and Monday are neighbours."""
    angle = weekday0 * (2 * math.pi / 7)
    return np.sin(angle), np.cos(angle)


def known_reals_for(known: Sequence[str], has_price: bool) -> list[str]:
    """The network's known real inputs, in order: ``known`` + ``price_ratio`` (if the contract
    has a price) + ``holiday``, ``dow_sin``, ``dow_cos``. ``known`` names lakeloop derives
    itself (``price_ratio``, ``holiday``) are dropped: they are included anyway."""
    own = [c for c in dict.fromkeys(known) if c not in (PRICE_RATIO, *CALENDAR_REALS)]
    return [*own, *([PRICE_RATIO] if has_price else []), *CALENDAR_REALS]


def to_pandas(frame: pl.DataFrame, known: list[str]) -> pd.DataFrame:
    """Silver series features -> the long pandas frame pytorch-forecasting wants.

    Columns: ``series_id`` (str), ``date``, ``target`` (float), ``time_idx`` (int64, the
    calendar's open-day index ``t``), then the known reals of :func:`known_reals_for` (each a
    float; bools 0/1). That column order is the contract with the rest of this module:
    every column after the four base ones is a known real (:func:`known_reals_of`).
    ``known``: the contract's known covariates as they are named in silver (not the price).
    """
    required = ["date", SERIES_ID, SILVER_TIME_INDEX, TARGET, "holiday"]
    has_price = PRICE_RATIO in frame.columns
    reals = known_reals_for(known, has_price)
    own = [c for c in reals if c not in (PRICE_RATIO, *CALENDAR_REALS)]
    bad = [c for c in own if c in _RESERVED or "." in c]
    if bad:
        raise ValueError(f"known covariates {bad} clash with lakeloop's own column names "
                         f"{sorted(_RESERVED)} or contain '.' (pytorch-forecasting refuses "
                         "it); rename them in the contract (a column's `source` keeps the "
                         "landed name)")
    missing = [c for c in [*required, *own] if c not in frame.columns]
    if missing:
        raise ValueError(f"demand features lack columns {missing} (have {frame.columns}); "
                         "pass the contract's known covariates as named in silver")
    for c in own:
        dtype = frame.schema[c]
        if not (dtype.is_numeric() or dtype == pl.Boolean):
            raise ValueError(f"known covariate {c!r} is {dtype}; the network takes numbers "
                             "or booleans only (encode it upstream, or drop it from "
                             "roles.known)")
    if frame[SILVER_TIME_INDEX].null_count():
        raise ValueError("demand features have rows with a null open-day index `t` (closed "
                         "days?); silver should hold open days only")
    dow = (pl.col("date").dt.weekday() - 1).cast(pl.Float64) * (2 * math.pi / 7)
    out = frame.select(
        pl.col(SERIES_ID).cast(pl.String), "date",
        pl.col(TARGET).cast(pl.Float64),
        pl.col(SILVER_TIME_INDEX).cast(pl.Int64).alias("time_idx"),
        *[pl.col(c).cast(pl.Float64) for c in own],
        *([pl.col(PRICE_RATIO).cast(pl.Float64)] if has_price else []),
        pl.col("holiday").cast(pl.Float64),
        dow.sin().alias("dow_sin"), dow.cos().alias("dow_cos"),
    ).sort(SERIES_ID, "time_idx")
    dupes = out.select(SERIES_ID, "time_idx").is_duplicated()
    if dupes.any():
        first = out.filter(dupes).head(5).select(SERIES_ID, "date").rows()
        raise ValueError(f"demand features have several rows for one series and day, e.g. "
                         f"{first}; the series key columns must identify a series")
    pdf = out.to_pandas()
    pdf[SERIES_ID] = pdf[SERIES_ID].astype(str)
    pdf["time_idx"] = pdf["time_idx"].astype("int64")
    return pdf


def known_reals_of(pdf: pd.DataFrame) -> list[str]:
    """The known reals of a :func:`to_pandas` frame: every column after the base ones."""
    return [c for c in pdf.columns if c not in BASE_COLUMNS and c != SCALED]


def check_finite(pdf: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """Raise ValueError if any of ``columns`` is missing or holds NaN/inf.

    Why: a single NaN or inf in a network input turns the loss (training) or whole batches of
    forecasts into NaN with no hint of the cause; naming the column and a few rows
    (series_id, date) points at the contract column or upstream day to fix.
    """
    for col in columns:
        if col not in pdf.columns:
            raise ValueError(f"{where}: column {col!r} is missing (have {list(pdf.columns)})")
        values = pd.to_numeric(pdf[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            rows = [(str(s), str(pd.Timestamp(d).date()) if pd.notna(d) else None)
                    for s, d in pdf.loc[bad, [SERIES_ID, "date"]].head(5).itertuples(
                        index=False)]
            raise ValueError(f"{where}: {int(bad.sum())} non-finite value(s) (NaN/inf) in "
                             f"{col!r} would reach the network; first rows (series_id, date): "
                             f"{rows}")


def future_rows(history: pd.DataFrame, horizon: int, calendar: BusinessCalendar
                ) -> pd.DataFrame:
    """Known covariates for the next ``horizon`` open days after each series' last day.

    Days come from ``calendar.next_open_days`` (closed days get no row, so a horizon counts
    open days) and ``time_idx`` from ``calendar.index`` (= last ``time_idx`` + h). The holiday
    flag is the calendar's (the very source the training features used) and the day of week
    comes from the date. The contract's known covariates and ``price_ratio`` are carried
    forward from the series' last row: there is no planning feed yet, and "as last seen" is
    what a merchandiser would assume without one. ``target`` is NaN.
    """
    last = history.sort_values("time_idx").groupby(SERIES_ID, observed=True).tail(1)
    days: dict[dt.date, list[dt.date]] = {}
    for d, t in zip(last["date"], last["time_idx"], strict=True):
        day = pd.Timestamp(d).date()
        if day not in days:
            index = calendar.index_or_previous(day) if calendar.is_open(day) else None
            if index != int(t):
                got = "no index (closed day)" if index is None else f"index {index}"
                raise ValueError(f"history's day {day} has time_idx {int(t)} but the calendar "
                                 f"{calendar} gives {got}: features and calendar disagree")
            days[day] = calendar.next_open_days(day, horizon)
    dates = [days[pd.Timestamp(d).date()] for d in last["date"]]
    rows = []
    for h in range(1, horizon + 1):
        step = last.copy()
        step_days = [ds[h - 1] for ds in dates]
        step["time_idx"] = (step["time_idx"] + h).astype("int64")
        step["date"] = pd.to_datetime(step_days).astype(history["date"].dtype)
        step["holiday"] = [float(calendar.is_holiday(d)) for d in step_days]
        step["dow_sin"], step["dow_cos"] = _dow(np.array([d.weekday() for d in step_days]))
        step[TARGET] = np.nan
        rows.append(step)
    if not rows:
        return history.iloc[:0].copy()
    return pd.concat(rows, ignore_index=True)


def series_scales(pdf: pd.DataFrame) -> dict[str, float]:
    """Per-series scale: the mean of |target|, floored at 1.0.

    |target| rather than target: returns make days negative, and a series whose returns cancel
    its sales would otherwise get a tiny (or negative) scale. The floor keeps intermittent and
    near-zero series from being blown up; a series with no finite value gets 1.0.
    """
    means = pdf[TARGET].abs().groupby(pdf[SERIES_ID], observed=True).mean()
    return {str(k): max(float(v), 1.0) if math.isfinite(float(v)) else 1.0
            for k, v in means.items()}


def _with_target(pdf: pd.DataFrame, scales: dict[str, float]) -> pd.DataFrame:
    """Rows of the series in ``scales``, with the scaled target (0 on future rows: the
    dataset needs a number there, and predictions never read it)."""
    out = pdf[pdf[SERIES_ID].isin(scales)].copy()
    out[SCALED] = (out[TARGET] / out[SERIES_ID].map(scales)).fillna(0.0)
    return out


def quiet_lightning() -> None:
    """Lightning's tips, device banners and pytree deprecation chatter drown the run logs;
    epochs and losses are logged by us."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*is an instance of `nn.Module`.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def make_dataset(pdf: pd.DataFrame, cfg: DemandConfig, known_reals: Sequence[str],
                 **kw: Any) -> Any:
    """The TimeSeriesDataSet. ``allow_missing_timesteps`` is harmless: ``time_idx`` counts
    open days, so a series with a row every open day has no gap; it only matters for a series
    with a genuinely missing open day."""
    from pytorch_forecasting import TimeSeriesDataSet
    from pytorch_forecasting.data import EncoderNormalizer, TorchNormalizer

    quiet_lightning()
    normalizer = EncoderNormalizer(method="standard", center=True) \
        if cfg.normalizer == "encoder" else TorchNormalizer(method="identity", center=False)
    reals = list(known_reals)
    return TimeSeriesDataSet(
        pdf, time_idx="time_idx", target=SCALED, group_ids=[SERIES_ID],
        max_encoder_length=cfg.encoder_length, min_encoder_length=cfg.encoder_length,
        max_prediction_length=cfg.horizon, min_prediction_length=cfg.horizon,
        time_varying_known_reals=reals, time_varying_unknown_reals=[SCALED],
        target_normalizer=normalizer,
        scalers={name: None for name in reals},
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


def _skeleton(cfg: DemandConfig, known_reals: Sequence[str]) -> pd.DataFrame:
    """One synthetic series with exactly one full window: enough for ``from_dataset`` to size
    the network, whose shape depends on the config and the list of known reals only."""
    n = cfg.encoder_length + cfg.horizon
    frame = pd.DataFrame({SERIES_ID: ["_skeleton"] * n, "time_idx": np.arange(n),
                          SCALED: np.zeros(n)})
    for c in known_reals:
        frame[c] = 0.0
    return frame


@dataclass
class DemandModel:
    config: DemandConfig
    scales: dict[str, float]
    known_reals: list[str]
    # series whose training history went negative (returns): their forecasts are net values
    # and are not clipped; every other series' forecasts are clipped at 0, since a series
    # that never went below 0 cannot sell a negative amount
    negative_series: list[str] = field(default_factory=list)
    net: Any = None  # NHiTS; built lazily from a dataset

    def meta(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "scales": self.scales,
                "known_reals": list(self.known_reals),
                "negative_series": sorted(self.negative_series)}

    def state(self) -> dict[str, torch.Tensor]:
        return self.net.state_dict()

    @classmethod
    def rebuild(cls, meta: dict[str, Any], state: dict[str, torch.Tensor],
                sample: pd.DataFrame | None = None) -> DemandModel:
        """Recreate the model from JSON meta and weights alone (no contract, no data).

        ``sample``: optional frame about to be forecast; if given, it is checked to carry the
        model's known reals, so a contract that dropped a covariate fails here, clearly.
        """
        model = cls(DemandConfig.from_dict(meta["config"]), dict(meta["scales"]),
                    list(meta["known_reals"]), list(meta.get("negative_series", [])))
        if sample is not None:
            missing = [c for c in model.known_reals if c not in sample.columns]
            if missing:
                raise ValueError(f"the model reads known reals {missing} that the features "
                                 "no longer have (contract changed?); retrain it")
        ds = make_dataset(_skeleton(model.config, model.known_reals), model.config,
                          model.known_reals)
        model.net = _network(ds, model.config)
        model.net.load_state_dict(state)
        return model

    def forecast(self, history: pd.DataFrame, future: pd.DataFrame, compute: Compute
                 ) -> pd.DataFrame:
        """Quantile forecasts for the ``future`` rows of every known series.

        Returns one row per series and horizon step: series_id, time_idx, horizon, q* columns
        (target units; quantiles sorted so they never cross; clipped at 0 unless the series
        went negative in training). Series the model does not know,
        or with fewer than ``encoder_length`` history rows, are absent (the caller gives them a
        fallback, see ``demand_lifecycle.forecast_with_fallback``).
        """
        cfg = self.config
        qcols = [f"q{q}" for q in cfg.quantiles]
        empty = pd.DataFrame(columns=[SERIES_ID, "time_idx", "horizon", *qcols])
        counts = history.groupby(SERIES_ID, observed=True)["time_idx"].count()
        ahead_ids = set(future[SERIES_ID])  # a series without future rows: nothing to do
        keep = {s for s in self.scales
                if counts.get(s, 0) >= cfg.encoder_length and s in ahead_ids}
        past = history[history[SERIES_ID].isin(keep)]
        ahead = future[future[SERIES_ID].isin(keep)]
        if past.empty:
            return empty
        check_finite(past, [*self.known_reals, TARGET], "demand forecast (history)")
        check_finite(ahead, self.known_reals, "demand forecast (future rows)")
        frame = _with_target(pd.concat([past, ahead], ignore_index=True), self.scales)
        ds = make_dataset(frame, cfg, self.known_reals, predict_mode=True)
        self.net.eval()
        out = self.net.predict(
            ds.to_dataloader(train=False, batch_size=1024, num_workers=0),
            mode="quantiles", return_index=True,
            trainer_kwargs={"accelerator": compute.lightning_accelerator, "devices": 1,
                            "logger": False, "enable_progress_bar": False},
        )
        q = np.sort(out.output.detach().float().cpu().numpy(), axis=-1)  # [series, h, q]
        index = out.index.reset_index(drop=True)
        scale = index[SERIES_ID].astype(str).map(self.scales).to_numpy(dtype=float)
        q = q * scale[:, None, None]
        clip = ~index[SERIES_ID].astype(str).isin(set(self.negative_series)).to_numpy()
        q[clip] = np.maximum(q[clip], 0.0)
        n, horizon = q.shape[0], cfg.horizon
        result = pd.DataFrame({
            SERIES_ID: np.repeat(index[SERIES_ID].astype(str).to_numpy(), horizon),
            "time_idx": (np.repeat(index["time_idx"].to_numpy(dtype="int64"), horizon)
                         + np.tile(np.arange(horizon), n)).astype("int64"),
            "horizon": np.tile(np.arange(1, horizon + 1), n),
        })
        for k, col in enumerate(qcols):
            result[col] = q[:, :, k].reshape(-1).astype(float)
        return result


# ---- training ------------------------------------------------------------------------------


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
    window_build_seconds: float = 0.0  # of ``seconds``: building the cached windows (once)


def train_demand(pdf: pd.DataFrame, val_from: int, cfg: DemandConfig, compute: Compute,
                 progress: bool = False, log: Callable[[str], None] = print,
                 known_reals: Sequence[str] | None = None) -> DemandTrainResult:
    """Fit on open days before ``val_from``; validate (early stopping, best weights) on the
    forecasts of the ``horizon`` open days starting at ``val_from`` only, so the days after
    them (a backtest's origins) never steer training.

    ``known_reals``: defaults to :func:`known_reals_of` ``pdf`` (a :func:`to_pandas` frame).
    """
    import lightning.pytorch as lp
    from lightning.pytorch.callbacks import EarlyStopping

    reals = list(known_reals) if known_reals is not None else known_reals_of(pdf)
    check_finite(pdf, [*reals, TARGET], "demand training set")
    seed_everything(cfg.seed)
    lp.seed_everything(cfg.seed, workers=True, verbose=False)
    fit_rows = pdf[pdf["time_idx"] < val_from]
    scales = series_scales(fit_rows)
    negative = sorted(str(s) for s in pd.unique(fit_rows.loc[fit_rows[TARGET] < 0,
                                                             SERIES_ID]))
    data = _with_target(pdf, scales)
    train_ds = make_dataset(data[data["time_idx"] < val_from], cfg, reals)
    val_ds = make_dataset(data[data["time_idx"] < val_from + cfg.horizon], cfg, reals,
                          min_prediction_idx=val_from, predict_mode=False,
                          randomize_length=None)
    model = DemandModel(cfg, scales, reals, negative, _network(train_ds, cfg))
    keep = _KeepBest(log)
    loader_kw: dict[str, Any] = {"num_workers": cfg.num_workers, "pin_memory": compute.pin_memory}
    trainer = lp.Trainer(
        max_epochs=cfg.max_epochs, accelerator=compute.lightning_accelerator, devices=1,
        gradient_clip_val=0.1, enable_checkpointing=False, logger=False,
        enable_progress_bar=progress, enable_model_summary=False,
        callbacks=[EarlyStopping(monitor="val_loss", patience=cfg.patience), keep],
        precision="bf16-mixed" if compute.amp_dtype == torch.bfloat16 else
        ("16-mixed" if compute.amp_dtype == torch.float16 else "32-true"),
    )
    started = time.perf_counter()
    train_loader = cached_loader(train_ds, cfg.batch_size, cfg.seed, **loader_kw) \
        if cfg.cache_windows else train_ds.to_dataloader(train=True, batch_size=cfg.batch_size,
                                                         **loader_kw)
    build_s = time.perf_counter() - started
    trainer.fit(model.net,
                train_dataloaders=train_loader,
                val_dataloaders=val_ds.to_dataloader(train=False, batch_size=cfg.batch_size * 4,
                                                     **loader_kw))
    seconds = time.perf_counter() - started
    if keep.state is not None:
        model.net.load_state_dict(keep.state)
    epochs = keep.epochs
    built = f" (built once in {build_s:.1f}s)" if cfg.cache_windows else ""
    log(f"demand model: {epochs} epochs, best val loss {keep.best:.4f}, "
        f"{len(train_ds)} training windows{built}, {seconds:.1f}s")
    return DemandTrainResult(model, epochs, keep.best, seconds,
                             len(train_ds) * max(epochs, 1) / seconds if seconds else 0.0,
                             len(train_ds), window_build_seconds=build_s)
