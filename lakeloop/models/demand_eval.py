"""Rolling-origin backtest of the forecaster against seasonal-naive and weekday-mean baselines.

Metrics per model over every (series, origin, horizon step): MAE, sMAPE, MASE (scaled by each
series' in-sample seasonal-naive error) and pinball loss averaged over the quantiles.
Baselines get quantiles from their own in-sample residuals, so pinball compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lakeloop.compute import Compute
from lakeloop.models.demand import SEASON, DemandModel, seasonal_naive, weekday_mean

BASELINE_FORECASTS = (("seasonal_naive", seasonal_naive), ("weekday_mean", weekday_mean))


@dataclass(frozen=True)
class BacktestPlan:
    origins: tuple[int, ...]  # time_idx of the last observed day of each forecast
    val_from: int  # training uses days before this; validation forecasts start here

    @classmethod
    def for_history(cls, last_day: int, horizon: int, n_origins: int) -> BacktestPlan:
        origins = tuple(last_day - horizon * k for k in range(n_origins, 0, -1))
        return cls(origins, origins[0] - horizon + 1)


def pinball_loss(actual: np.ndarray, forecast: np.ndarray, q: float) -> float:
    diff = actual - forecast
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def _residual_quantiles(train: pd.DataFrame, quantiles: tuple[float, ...]) -> pd.DataFrame:
    t = train.sort_values("time_idx").copy()
    t["resid"] = t["units"] - t.groupby("series_id", observed=True)["units"].shift(SEASON)
    return t.groupby("series_id", observed=True)["resid"].quantile(list(quantiles)).unstack()


def _mase_scale(train: pd.DataFrame) -> pd.Series:
    t = train.sort_values("time_idx").copy()
    diff = (t["units"] - t.groupby("series_id", observed=True)["units"].shift(SEASON)).abs()
    return diff.groupby(t["series_id"]).mean().clip(lower=1e-6)


def backtest(model: DemandModel, pdf: pd.DataFrame, plan: BacktestPlan, compute: Compute,
             baselines: bool = True) -> pd.DataFrame:
    """One row per (model, series, origin, horizon): forecast quantiles and the actual.

    ``baselines=False`` skips the baselines (scoring a champion on a plan they already ran on).
    """
    horizon, quantiles = model.config.horizon, model.config.quantiles
    train = pdf[pdf["time_idx"] < plan.val_from]
    resid = _residual_quantiles(train, quantiles)
    actual = pdf.set_index(["series_id", "time_idx"])["units"]
    frames = []
    for origin in plan.origins:
        history = pdf[pdf["time_idx"] <= origin]
        future = pdf[(pdf["time_idx"] > origin) & (pdf["time_idx"] <= origin + horizon)] \
            .assign(units=np.nan)
        nn = model.forecast(history, future, compute).assign(model="nhits", origin=origin)
        frames.append(nn)
        for name, fn in BASELINE_FORECASTS if baselines else ():
            base = fn(history, origin, horizon).assign(model=name, origin=origin)
            r = resid.reindex(base["series_id"]).to_numpy()
            for k, q in enumerate(quantiles):
                base[f"q{q}"] = (base["forecast"] + np.nan_to_num(r[:, k])).clip(lower=0)
            base["q0.5"] = base["forecast"]  # a baseline's median is its point forecast
            frames.append(base.drop(columns="forecast"))
    out = pd.concat(frames, ignore_index=True)
    out["actual"] = [actual.get((s, t), np.nan) for s, t in zip(out["series_id"],
                                                                  out["time_idx"], strict=True)]
    return out.dropna(subset=["actual", "q0.5"])


def forecast_metrics(results: pd.DataFrame, train: pd.DataFrame,
                     quantiles: tuple[float, ...]) -> dict[str, dict[str, float]]:
    scale = _mase_scale(train)
    out: dict[str, dict[str, float]] = {}
    for name, g in results.groupby("model"):
        err = (g["actual"] - g["q0.5"]).abs()
        denom = g["actual"].abs() + g["q0.5"].abs()
        smape = np.where(denom > 0, 2 * err / denom.where(denom > 0, 1), 0.0)
        pinball = np.mean([pinball_loss(g["actual"].to_numpy(), g[f"q{q}"].to_numpy(), q)
                           for q in quantiles])
        mase_series = (err.groupby(g["series_id"]).mean() / scale).dropna()
        out[str(name)] = {
            "mae": float(err.mean()), "smape": float(np.mean(smape)),
            "mase": float(mase_series.mean()), "pinball": float(pinball),
            "mase_p10": float(mase_series.quantile(0.1)),
            "mase_p50": float(mase_series.quantile(0.5)),
            "mase_p90": float(mase_series.quantile(0.9)),
            "series": int(g["series_id"].nunique()), "points": len(g),
        }
    return out
