"""Baseline forecasting rules that can serve: seasonal naive, weekday mean, moving average.

Why rules are models here: the demand champion is whichever candidate forecasts best on the
backtest, and on some data a rule beats the network (second simulator profile: weekday mean
MASE 0.833 vs N-HiTS 0.978). A rule has no fitted state - its family and parameters (JSON, in
the registry's meta.json) rebuild it exactly - so it is registered, promoted and served like the
network, and a champion always serves.

Every rule reads only the history it is given, up to each series' own last day (its origin),
so the backtest (history up to an origin) and production (the history the forecast asset
reads, :meth:`BaselineRule.history_days` open days) compute the same thing. Time is in open
days (``time_idx``); ``season`` is the calendar's open days per week.

- point forecast (the median, p50): the rule's value, except for an *intermittent* series
  (zero on at least ``intermittent_share`` of its last ``fit_days`` days): 0, the more likely
  value - a mean of a mostly-zero series is a small non-zero amount that is wrong on most days
  and unfairly punished by sMAPE;
- quantiles: the point forecast plus the quantiles of the rule's own one-step in-sample
  residuals over the last ``fit_days`` days (so pinball loss compares like with like), never
  crossing the median, clipped at 0 unless the series went negative in that window (returns).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from lakeloop.models.forecast.nhits import TARGET
from lakeloop.names import SERIES_ID

FAMILIES = ("seasonal_naive", "weekday_mean", "moving_average")


# ---- the history as a series x open-day matrix ------------------------------------------------


@dataclass(frozen=True)
class _Matrix:
    """Targets of ``history`` as a dense [series, time_idx] array (NaN where a series has no
    row), so every rule is index arithmetic on it instead of a join per lag."""

    values: np.ndarray
    ids: np.ndarray  # series_id (str) of each row
    t0: int  # time_idx of column 0

    @classmethod
    def of(cls, history: pd.DataFrame) -> _Matrix:
        ids = pd.unique(history[SERIES_ID].astype(str))
        if len(history) == 0:
            return cls(np.empty((0, 0)), np.asarray(ids, dtype=object), 0)
        codes = pd.Categorical(history[SERIES_ID].astype(str), categories=ids).codes
        t = history["time_idx"].to_numpy(dtype="int64")
        t0 = int(t.min())
        values = np.full((len(ids), int(t.max()) - t0 + 1), np.nan)
        values[codes, t - t0] = history[TARGET].to_numpy(dtype=float, na_value=np.nan)
        return cls(values, np.asarray(ids, dtype=object), t0)

    def at(self, rows: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Values at (row, time_idx) pairs (broadcast); NaN outside the history and for row
        -1 (a series the history does not have)."""
        rows, times = np.broadcast_arrays(rows, times)
        pos = times - self.t0
        ok = (rows >= 0) & (pos >= 0) & (pos < self.values.shape[1])
        out = np.full(rows.shape, np.nan)
        out[ok] = self.values[rows[ok], pos[ok]]
        return out


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN: intended
        return np.nanmean(a, axis=axis)


def last_days(history: pd.DataFrame) -> pd.Series:
    """series_id (str) -> the series' last time_idx in ``history``: its own origin."""
    return history.groupby(history[SERIES_ID].astype(str))["time_idx"].max()


def _rows(matrix: _Matrix, origins: pd.Series) -> np.ndarray:
    """Row in the matrix of each series of ``origins`` (-1: absent from the history)."""
    index = {s: i for i, s in enumerate(matrix.ids)}
    return np.array([index.get(str(s), -1) for s in origins.index], dtype="int64")


def _source_times(family: str, origin: np.ndarray, h: np.ndarray, season: int, weeks: int,
                  window: int) -> np.ndarray:
    """time_idx the rule averages to forecast ``origin + h``: shape [series, horizon, k].

    seasonal naive: the same position in the last observed season; weekday mean: that and the
    ``weeks - 1`` seasons before it; moving average: the last ``window`` open days."""
    o, hh = origin[:, None, None], h[None, :, None]
    if family == "moving_average":
        return o - np.arange(window)[None, None, :] + 0 * hh
    last = o + hh - season * np.ceil(hh / season).astype("int64")
    k = 1 if family == "seasonal_naive" else weeks
    return last - season * np.arange(k)[None, None, :]


def raw_point(family: str, history: pd.DataFrame, origins: pd.Series | None, horizon: int,
              season: int, weeks: int = 4, window: int = 28) -> pd.DataFrame:
    """The rule's plain value for each series' next ``horizon`` open days after its origin
    (no zero rule, no quantiles): series_id, time_idx, horizon, forecast (NaN where the days
    it reads are not in ``history``)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown baseline family {family!r}; one of {FAMILIES}")
    if season < 1 or window < 1 or weeks < 1:
        raise ValueError(f"season, window and weeks must be >= 1 (got {season}, {window}, "
                         f"{weeks})")
    origins = last_days(history) if origins is None else origins
    matrix = _Matrix.of(history)
    rows, start = _rows(matrix, origins), origins.to_numpy(dtype="int64")
    h = np.arange(1, horizon + 1)
    src = _source_times(family, start, h, season, weeks, window)
    values = matrix.at(rows[:, None, None], src)
    ids = np.asarray([str(s) for s in origins.index], dtype=object)
    n = len(rows)
    return pd.DataFrame({
        SERIES_ID: np.repeat(ids, horizon),
        "time_idx": (np.repeat(start, horizon) + np.tile(h, n)).astype("int64"),
        "horizon": np.tile(h, n).astype("int64"),
        "forecast": _nanmean(values, axis=2).reshape(-1),
    })


def _common(history: pd.DataFrame, origin: int) -> pd.Series:
    ids = pd.unique(history[SERIES_ID].astype(str))
    return pd.Series(origin, index=pd.Index(ids), dtype="int64")


def seasonal_naive(history: pd.DataFrame, origin: int, horizon: int, season: int
                   ) -> pd.DataFrame:
    """Forecast open day ``origin + h`` with the value one ``season`` earlier (in time_idx,
    i.e. open days: with Sundays closed and ``season`` 6, Monday copies last Monday).
    NaN where that day is not in ``history``."""
    return raw_point("seasonal_naive", history, _common(history, origin), horizon, season)


def weekday_mean(history: pd.DataFrame, origin: int, horizon: int, season: int,
                 weeks: int = 4) -> pd.DataFrame:
    """Mean of the last ``weeks`` values at the same position of the season (``season`` open
    days apart); days missing from ``history`` are left out of the mean."""
    return raw_point("weekday_mean", history, _common(history, origin), horizon, season,
                     weeks=weeks)


def moving_average(history: pd.DataFrame, origin: int, horizon: int, window: int = 28
                   ) -> pd.DataFrame:
    """Mean of the last ``window`` open days up to ``origin``, for every step ahead."""
    return raw_point("moving_average", history, _common(history, origin), horizon, 1,
                     window=window)


# ---- a rule that can serve -----------------------------------------------------------------


@dataclass(frozen=True)
class BaselineRule:
    """A baseline forecaster: its family and parameters are all there is (see module doc)."""

    family: str
    horizon: int  # open days forecast from each origin
    season: int  # open days per week of the domain's calendar
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    weeks: int = 4  # weekday_mean: seasons averaged
    window: int = 28  # moving_average: open days averaged
    fit_days: int = 84  # open days of history for the zero share and the residual quantiles
    intermittent_share: float = 0.5  # zero share at which the median forecast is 0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown baseline family {self.family!r}; one of {FAMILIES}")
        if min(self.horizon, self.season, self.weeks, self.window, self.fit_days) < 1:
            raise ValueError(f"{self.family}: horizon, season, weeks, window and fit_days "
                             "must be >= 1")
        if 0.5 not in self.quantiles:
            raise ValueError("quantiles must include 0.5: the median is the point forecast")

    def params(self) -> dict[str, Any]:
        """JSON parameters (the registry's meta["rule"]): enough to rebuild the rule."""
        return {**asdict(self), "quantiles": list(self.quantiles)}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> BaselineRule:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in params.items() if k in known}
        d["quantiles"] = tuple(d.get("quantiles", cls.quantiles))
        return cls(**d)

    @property
    def lags(self) -> np.ndarray:
        """Open days back that the one-step forecast of a day averages (in-sample residuals)."""
        if self.family == "seasonal_naive":
            return np.array([self.season])
        if self.family == "weekday_mean":
            return self.season * np.arange(1, self.weeks + 1)
        return np.arange(1, self.window + 1)

    def history_days(self) -> int:
        """Open days of history a forecast reads: the fit window and, before its first day,
        the lags of its in-sample forecasts (the point forecast reads no further back)."""
        return self.fit_days + int(self.lags.max())

    def forecast(self, history: pd.DataFrame, origins: pd.Series | None = None
                 ) -> pd.DataFrame:
        """Quantile forecasts of the next ``horizon`` open days after each series' origin
        (``origins``: series_id -> last observed time_idx; default each series' last day).

        Columns: series_id, time_idx, horizon, q* (q0.5 is the point forecast). Rows whose
        point forecast is undefined (the days it reads are missing) are NaN: the caller
        decides (the backtest drops them, serving falls back to seasonal naive)."""
        origins = last_days(history) if origins is None else origins
        point = raw_point(self.family, history, origins, self.horizon, self.season,
                          self.weeks, self.window)
        matrix = _Matrix.of(history)
        rows, start = _rows(matrix, origins), origins.to_numpy(dtype="int64")
        # the fit window of each series: its last fit_days open days up to the origin
        days = start[:, None] - np.arange(self.fit_days)[None, :]
        window = matrix.at(rows[:, None], days)
        seen = np.isfinite(window).sum(axis=1)
        zeros = (window == 0).sum(axis=1)
        intermittent = (seen > 0) & (zeros >= self.intermittent_share * np.maximum(seen, 1))
        negative = (window < 0).any(axis=1)
        # one-step in-sample forecasts of the window's days, by the same rule and zero rule
        fitted = _nanmean(matrix.at(rows[:, None, None],
                                    days[:, :, None] - self.lags[None, None, :]), axis=2)
        fitted[intermittent] = 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a series with no residual: NaN
            spread = np.nanquantile(window - fitted, self.quantiles, axis=1)  # [q, series]

        h = self.horizon
        values = point["forecast"].to_numpy(dtype=float, copy=True).reshape(len(rows), h)
        values[intermittent] = 0.0
        floor = np.where(negative, -np.inf, 0.0)[:, None]
        values = np.maximum(values, floor)
        out = point.drop(columns="forecast")
        for k, q in enumerate(self.quantiles):
            band = values + np.nan_to_num(spread[k])[:, None]  # no residual: the point itself
            if q < 0.5:
                band = np.minimum(band, values)
            elif q > 0.5:
                band = np.maximum(band, values)
            else:
                band = values
            out[f"q{q}"] = np.maximum(band, floor).reshape(-1)
        return out


def default_rules(horizon: int, season: int, quantiles: tuple[float, ...],
                  moving_average_days: int = 28, fit_days: int = 84,
                  intermittent_share: float = 0.5) -> list[BaselineRule]:
    """The baseline candidates of a demand retrain, one per family."""
    def rule(family: str) -> BaselineRule:
        return BaselineRule(family, horizon=horizon, season=season, quantiles=tuple(quantiles),
                            fit_days=fit_days, intermittent_share=intermittent_share)

    return [rule("seasonal_naive"), rule("weekday_mean"),
            replace(rule("moving_average"), window=moving_average_days)]
