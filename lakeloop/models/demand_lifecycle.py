"""Train a demand challenger, backtest it against baselines and the champion, register, decide,
and forecast with the champion (seasonal-naive fallback for series it does not know)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lakeloop.compute import Compute
from lakeloop.models.demand import (
    DemandConfig,
    DemandModel,
    DemandTrainResult,
    future_rows,
    seasonal_naive,
    train_demand,
)
from lakeloop.models.demand_eval import BacktestPlan, backtest, forecast_metrics
from lakeloop.promotion import Decision, decide, register_and_apply, training_meta
from lakeloop.registry import ModelRegistry, ModelVersion

MODEL_NAME = "demand"
PROMOTION_METRIC = "mase"
BASELINES = ("seasonal_naive", "weekday_mean")


@dataclass
class DemandRun:
    version: ModelVersion
    decision: Decision
    result: DemandTrainResult
    metrics: dict[str, dict[str, float]]  # nhits + baselines on the backtest
    champion_version: str | None
    champion_metrics: dict[str, float] | None
    backtest: pd.DataFrame
    deployed: DemandTrainResult  # the registered weights: ``result`` or its refit


def load_demand_model(registry: ModelRegistry, mv: ModelVersion, sample: pd.DataFrame
                      ) -> DemandModel:
    return DemandModel.rebuild(mv.meta, registry.load_weights(mv), sample)


def train_and_promote_demand(
    pdf: pd.DataFrame, plan: BacktestPlan, registry: ModelRegistry, compute: Compute,
    cfg: DemandConfig, margin: float, lineage: dict[str, Any],
    log: Callable[[str], None] = print, progress: bool = False, refit: bool = True,
) -> DemandRun:
    """Backtest a challenger; if it wins and ``refit``, the registered weights are a refit of
    the same configuration on all the history (early-stopped on the newest horizon).

    Why refit: the backtest holds out the newest ``origins x horizon`` days, so the model it
    judges never trained on them - after a drift those are exactly the days of the new normal
    (demo, level shift: next-day WAPE 0.350 for the backtested weights, 0.336 refitted, 0.339
    for the old champion). The metrics recorded stay the backtest's."""
    result = train_demand(pdf, plan.val_from, cfg, compute, progress=progress, log=log)
    train = pdf[pdf["time_idx"] < plan.val_from]
    results = backtest(result.model, pdf, plan, compute)
    metrics = forecast_metrics(results, train, cfg.quantiles)
    best_baseline = min(metrics[b][PROMOTION_METRIC] for b in BASELINES if b in metrics)

    champion = registry.champion(MODEL_NAME)
    champion_metrics = None
    if champion is not None:
        champ = load_demand_model(registry, champion, pdf)
        champion_metrics = forecast_metrics(
            backtest(champ, pdf, plan, compute, baselines=False), train, cfg.quantiles)["nhits"]
    decision = decide(PROMOTION_METRIC, metrics["nhits"][PROMOTION_METRIC], best_baseline,
                      None if champion_metrics is None else champion_metrics[PROMOTION_METRIC],
                      margin, higher_is_better=False)
    deployed, refit_meta = result, None
    if decision.promote and refit:
        last_val_from = int(pdf["time_idx"].max()) - cfg.horizon + 1
        log(f"refit on all history (validation: the last {cfg.horizon} days)")
        deployed = train_demand(pdf, last_val_from, cfg, compute, progress=progress, log=log)
        refit_meta = {"val_from": last_val_from, "epochs": deployed.epochs,
                      "train_seconds": deployed.seconds}
    version = register_and_apply(registry, MODEL_NAME, deployed.model.state(), {
        **deployed.model.meta(),
        "refit": refit_meta,
        "metrics": metrics["nhits"],
        "baselines": {b: metrics[b] for b in BASELINES if b in metrics},
        "backtest": {"origins": list(plan.origins), "val_from": plan.val_from},
        "training_set": lineage,
        **training_meta(cfg.seed, compute.describe(), result),
        "champion_metrics_on_backtest": champion_metrics,
    }, decision, champion, log)
    return DemandRun(version, decision, result, metrics,
                     None if champion is None else champion.version, champion_metrics, results,
                     deployed)


def forecast_with_fallback(model: DemandModel, history: pd.DataFrame, compute: Compute
                           ) -> pd.DataFrame:
    """Forecast every series in ``history`` from its last day; unknown series fall back."""
    horizon = model.config.horizon
    origin = int(history["time_idx"].max())
    nn = model.forecast(history, future_rows(history, horizon), compute).assign(method="nhits")
    missing = sorted(set(history["series_id"]) - set(nn["series_id"]))
    frames = [nn]
    if missing:
        naive = seasonal_naive(history[history["series_id"].isin(missing)], origin, horizon)
        for q in model.config.quantiles:
            naive[f"q{q}"] = naive["forecast"]
        frames.append(naive.drop(columns="forecast").assign(method="seasonal_naive"))
    return pd.concat(frames, ignore_index=True)


def plot_backtest(results: pd.DataFrame, pdf: pd.DataFrame, n_series: int = 4) -> bytes:
    """PNG: actuals and forecasts (N-HiTS band, baselines) for a few series, last origin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin = results["origin"].max()
    last = results[results["origin"] == origin]
    series = sorted(last["series_id"].unique())[:: max(1, last["series_id"].nunique() // n_series)]
    fig, axes = plt.subplots(len(series[:n_series]), 1, figsize=(9, 2.2 * n_series), sharex=True)
    for ax, s in zip(np.atleast_1d(axes), series[:n_series], strict=False):
        hist = pdf[(pdf["series_id"] == s) & (pdf["time_idx"] <= origin + 14)]
        ax.plot(hist["time_idx"], hist["units"], color="black", lw=1, label="actual")
        nn = last[(last["series_id"] == s) & (last["model"] == "nhits")]
        ax.fill_between(nn["time_idx"], nn["q0.1"], nn["q0.9"], alpha=0.3, label="N-HiTS 10-90%")
        ax.plot(nn["time_idx"], nn["q0.5"], label="N-HiTS median")
        sn = last[(last["series_id"] == s) & (last["model"] == "seasonal_naive")]
        ax.plot(sn["time_idx"], sn["q0.5"], ls="--", label="seasonal naive")
        ax.axvline(origin, color="grey", lw=0.8)
        ax.set_title(s, fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=7, ncol=4)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
