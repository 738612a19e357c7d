"""Rolling-origin backtest of the forecaster against seasonal-naive and weekday-mean baselines.

Time is counted in open days (``time_idx`` is the calendar's open-day index), and the weekly
season is the model config's ``season`` (the calendar's open days per week): the baselines,
the baselines' residual quantiles and the MASE scale all use lag ``season`` in time_idx, so a
shop closed on Sundays compares Monday with last Monday, not with last Tuesday.

Metrics per model over every (series, origin, horizon step): MAE, sMAPE, MASE (scaled by each
series' in-sample seasonal-naive error) and pinball loss averaged over the quantiles.
Baselines get quantiles from their own in-sample residuals, so pinball compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lakeloop.compute import Compute
from lakeloop.models.demand import TARGET, DemandModel, seasonal_naive, weekday_mean

BASELINE_FORECASTS = (("seasonal_naive", seasonal_naive), ("weekday_mean", weekday_mean))


@dataclass(frozen=True)
class BacktestPlan:
    origins: tuple[int, ...]  # time_idx (open-day index) of the last observed day per forecast
    val_from: int  # training uses open days before this; validation forecasts start here

    @classmethod
    def for_history(cls, last_t: int, horizon: int, n_origins: int) -> BacktestPlan:
        """``n_origins`` back-to-back forecasts of ``horizon`` open days ending at ``last_t``,
        preceded by one validation horizon (early stopping) that the backtest never scores."""
        origins = tuple(last_t - horizon * k for k in range(n_origins, 0, -1))
        return cls(origins, origins[0] - horizon + 1)


def pinball_loss(actual: np.ndarray, forecast: np.ndarray, q: float) -> float:
    diff = actual - forecast
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def seasonal_diff(frame: pd.DataFrame, season: int) -> pd.Series:
    """target minus the target ``season`` open days earlier (same series), NaN where that day
    is absent. Joined on time_idx, not row order, so a missing day never shifts the lag."""
    values = frame.set_index(["series_id", "time_idx"])[TARGET]
    lagged = pd.MultiIndex.from_arrays([frame["series_id"], frame["time_idx"] - season])
    prev = values.reindex(lagged).to_numpy(dtype=float, na_value=np.nan)
    return pd.Series(frame[TARGET].to_numpy(dtype=float) - prev, index=frame.index)


def _residual_quantiles(train: pd.DataFrame, quantiles: tuple[float, ...], season: int
                        ) -> pd.DataFrame:
    resid = seasonal_diff(train, season)
    return resid.groupby(train["series_id"], observed=True).quantile(list(quantiles)).unstack()


def mase_scale(train: pd.DataFrame, season: int) -> pd.Series:
    """Per series: mean |seasonal-naive in-sample error| at lag ``season`` (time_idx units).

    A series whose in-sample seasonal error is 0 (constant, e.g. never sold) has no MASE: its
    scale is NaN and it is left out of the MASE averages rather than dividing by ~0 and
    drowning every other series."""
    diff = seasonal_diff(train, season).abs()
    scale = diff.groupby(train["series_id"], observed=True).mean()
    return scale.where(scale > 1e-12)


def backtest(model: DemandModel, pdf: pd.DataFrame, plan: BacktestPlan, compute: Compute,
             baselines: bool = True) -> pd.DataFrame:
    """One row per (model, series, origin, horizon): forecast quantiles and the actual.

    ``baselines=False`` skips the baselines (scoring a champion on a plan they already ran on).
    Baselines are clipped at 0 exactly where the model's forecasts are (every series but
    ``model.negative_series``), so the comparison is like for like.
    """
    horizon, quantiles = model.config.horizon, model.config.quantiles
    season = model.config.season
    train = pdf[pdf["time_idx"] < plan.val_from]
    resid = _residual_quantiles(train, quantiles, season) if baselines else None
    actual = pdf.set_index(["series_id", "time_idx"])[TARGET]
    negative = set(model.negative_series)
    frames = []
    for origin in plan.origins:
        history = pdf[pdf["time_idx"] <= origin]
        future = pdf[(pdf["time_idx"] > origin) & (pdf["time_idx"] <= origin + horizon)] \
            .assign(**{TARGET: np.nan})
        nn = model.forecast(history, future, compute).assign(model="nhits", origin=origin)
        frames.append(nn)
        for name, fn in BASELINE_FORECASTS if baselines else ():
            base = fn(history, origin, horizon, season).assign(model=name, origin=origin)
            r = resid.reindex(base["series_id"]).to_numpy(dtype=float)
            floor = np.where(base["series_id"].isin(negative), -np.inf, 0.0)
            for k, q in enumerate(quantiles):
                base[f"q{q}"] = np.maximum(base["forecast"] + np.nan_to_num(r[:, k]), floor)
            base["q0.5"] = base["forecast"]  # a baseline's median is its point forecast
            frames.append(base.drop(columns="forecast"))
    out = pd.concat(frames, ignore_index=True)
    idx = pd.MultiIndex.from_arrays([out["series_id"], out["time_idx"]])
    out["actual"] = actual.reindex(idx).to_numpy(dtype=float, na_value=np.nan)
    return out.dropna(subset=["actual", "q0.5"]).reset_index(drop=True)


def forecast_metrics(results: pd.DataFrame, train: pd.DataFrame,
                     quantiles: tuple[float, ...], season: int
                     ) -> dict[str, dict[str, float]]:
    """Metrics per model; ``season``: the MASE scale's lag (the model config's season)."""
    scale = mase_scale(train, season)
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
            "mase_series": len(mase_series),
            "series": int(g["series_id"].nunique()), "points": len(g),
        }
    return out
