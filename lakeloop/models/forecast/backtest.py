"""Rolling-origin backtest of the forecaster and the baseline rules, on the same origins.

Time is counted in open days (``time_idx`` is the calendar's open-day index), and the weekly
season is the model config's ``season`` (the calendar's open days per week): the baselines
and the MASE scale use lag ``season`` in time_idx, so a shop closed on Sundays compares Monday
with last Monday, not with last Tuesday.

Every model is judged on its median (``q0.5``): the point forecast that minimises absolute
error, and 0 for an intermittent series where 0 is the likelier value (the network's q0.5 is
its median quantile; the baselines' zero rule is in ``demand_baselines``). Metrics per model
over every (series, origin, horizon step): MAE, sMAPE, WAPE, MASE (each series scaled by its
in-sample seasonal-naive error, then averaged over series) and pinball loss averaged over the
quantiles - the formulas and their zero rules live in ``lakeloop.models.metrics``, shared with
the realised accuracy in production. Baselines get quantiles from their own in-sample
residuals, so pinball compares like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lakeloop.models import metrics as fm
from lakeloop.models.compute import Compute
from lakeloop.models.forecast.baselines import BaselineRule
from lakeloop.models.forecast.nhits import TARGET, DemandModel
from lakeloop.names import SERIES_ID

POINT = "q0.5"  # the point forecast of every model: its median


@dataclass(frozen=True)
class BacktestPlan:
    origins: tuple[int, ...]  # time_idx (open-day index) of the last observed day per forecast
    val_from: int  # training uses open days before this; validation forecasts start here

    @classmethod
    def for_history(cls, last_t: int, horizon: int, n_origins: int) -> BacktestPlan:
        """``n_origins`` back-to-back forecasts of ``horizon`` open days ending at ``last_t``,
        preceded by one validation horizon (early stopping) that the backtest never scores:
        validation forecasts ``val_from .. origins[0]``, the first scored day is
        ``origins[0] + 1``, so early stopping never sees a day any backtest window scores."""
        origins = tuple(last_t - horizon * k for k in range(n_origins, 0, -1))
        return cls(origins, origins[0] - horizon + 1)

    @classmethod
    def explicit(cls, test_first_t: int, test_last_t: int, horizon: int,
                 val_from: int | None = None) -> BacktestPlan:
        """Backtest windows over an explicit range of open days: back-to-back forecasts of
        ``horizon`` days from ``test_first_t`` while they end by ``test_last_t``; validation
        (early stopping) forecasts ``val_from .. val_from + horizon - 1`` (default: the
        horizon just before the range). Open days between validation and the range are a gap
        (actuals still coming in) that neither fits nor scores anything."""
        first_origin = test_first_t - 1
        origins = tuple(range(first_origin, test_last_t - horizon + 1, horizon))
        if not origins:
            raise ValueError(f"explicit backtest: {test_last_t - test_first_t + 1} open days "
                             f"hold no full horizon of {horizon}")
        val = first_origin - horizon + 1 if val_from is None else val_from
        if val + horizon - 1 > first_origin:
            raise ValueError("explicit backtest: validation must end before the backtest "
                             f"range starts (validation ends {horizon - 1} open days after "
                             "its start)")
        return cls(origins, val)


def seasonal_diff(frame: pd.DataFrame, season: int) -> pd.Series:
    """target minus the target ``season`` open days earlier (same series), NaN where that day
    is absent. Joined on time_idx, not row order, so a missing day never shifts the lag."""
    values = frame.set_index([SERIES_ID, "time_idx"])[TARGET]
    lagged = pd.MultiIndex.from_arrays([frame[SERIES_ID], frame["time_idx"] - season])
    prev = values.reindex(lagged).to_numpy(dtype=float, na_value=np.nan)
    return pd.Series(frame[TARGET].to_numpy(dtype=float) - prev, index=frame.index)


def mase_scale(train: pd.DataFrame, season: int) -> pd.Series:
    """Per series: mean |seasonal-naive in-sample error| at lag ``season`` (time_idx units).

    A series whose in-sample seasonal error is 0 (constant, e.g. never sold) has no MASE: its
    scale is NaN and it is left out of the MASE averages rather than dividing by ~0 and
    drowning every other series."""
    diff = seasonal_diff(train, season).abs()
    scale = diff.groupby(train[SERIES_ID], observed=True).mean()
    return scale.where(scale > 1e-12)


def backtest(model: DemandModel | None, pdf: pd.DataFrame, plan: BacktestPlan,
             compute: Compute, rules: Sequence[BaselineRule] = ()) -> pd.DataFrame:
    """One row per (model, series, origin, horizon): forecast quantiles and the actual.

    ``model``: the network (column ``model`` = "nhits"), or None to score rules only;
    ``rules``: baseline rules, each named by its family (a baseline champion is scored by
    re-running its rule here). At each origin every model reads the history up to it only.
    Rows without an actual or a point forecast are dropped.
    """
    frames = []
    for origin in plan.origins:
        history = pdf[pdf["time_idx"] <= origin]
        if model is not None:
            horizon = model.config.horizon
            future = pdf[(pdf["time_idx"] > origin) & (pdf["time_idx"] <= origin + horizon)] \
                .assign(**{TARGET: np.nan})
            frames.append(model.forecast(history, future, compute)
                          .assign(model="nhits", origin=origin))
        ids = pd.unique(history[SERIES_ID].astype(str))
        origins = pd.Series(origin, index=pd.Index(ids), dtype="int64")
        for rule in rules:
            frames.append(rule.forecast(history, origins).assign(model=rule.family,
                                                                 origin=origin))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=[SERIES_ID, "time_idx", "horizon", POINT, "model",
                                     "origin", "actual"])
    out = pd.concat(frames, ignore_index=True)
    actual = pdf.set_index([SERIES_ID, "time_idx"])[TARGET]
    idx = pd.MultiIndex.from_arrays([out[SERIES_ID], out["time_idx"]])
    out["actual"] = actual.reindex(idx).to_numpy(dtype=float, na_value=np.nan)
    return out.dropna(subset=["actual", POINT]).reset_index(drop=True)


def forecast_metrics(results: pd.DataFrame, train: pd.DataFrame,
                     quantiles: tuple[float, ...], season: int
                     ) -> dict[str, dict[str, float]]:
    """Metrics per model (see the module docstring); ``season``: the MASE scale's lag (the
    model config's season). MASE is per series (``metrics.mase``), then averaged over the
    series that have a scale."""
    scale = mase_scale(train, season)
    out: dict[str, dict[str, float]] = {}
    for name, g in results.groupby("model"):
        actual, point = g["actual"].to_numpy(dtype=float), g[POINT].to_numpy(dtype=float)
        per_series = pd.Series({
            sid: fm.mase(s["actual"].to_numpy(dtype=float), s[POINT].to_numpy(dtype=float),
                         float(scale.get(sid, np.nan)))
            for sid, s in g.groupby(SERIES_ID)}, dtype=float)
        mase_series = per_series.dropna()
        out[str(name)] = {
            "mae": float(np.abs(actual - point).mean()), "smape": fm.smape(actual, point),
            "wape": fm.wape(actual, point), "mase": float(mase_series.mean()),
            "pinball": float(np.mean([fm.pinball_loss(actual, g[f"q{q}"].to_numpy(dtype=float),
                                                      q) for q in quantiles])),
            "mase_p10": float(mase_series.quantile(0.1)),
            "mase_p50": float(mase_series.quantile(0.5)),
            "mase_p90": float(mase_series.quantile(0.9)),
            "mase_series": len(mase_series),
            "series": int(g[SERIES_ID].nunique()), "points": len(g),
        }
    return out
