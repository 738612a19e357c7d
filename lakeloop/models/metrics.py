"""Classification metrics a fraud team reads: ranking quality at the alert budget."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score


def recall_at_alert_rate(y: np.ndarray, score: np.ndarray, rate: float) -> float:
    """Share of fraud caught when the top ``rate`` of transactions (by score) is alerted."""
    positives = y.sum()
    if positives == 0:
        return float("nan")
    k = max(1, int(np.ceil(rate * len(y))))
    top = np.argsort(-score, kind="stable")[:k]
    return float(y[top].sum() / positives)


def precision_at_recall(y: np.ndarray, score: np.ndarray, recall: float) -> float:
    """Precision at the highest threshold whose recall is at least ``recall`` (the operating
    point a team would set: alert on scores >= that threshold). Not the best precision at any
    recall above it: that is optimistic whenever precision rises again further down."""
    if y.sum() == 0:
        return float("nan")
    precision, rec, _ = precision_recall_curve(y, score)
    # thresholds ascend; precision/recall have one extra last point (recall 0, precision 1)
    ok = np.flatnonzero(rec[:-1] >= recall)
    return float(precision[ok[-1]]) if ok.size else 0.0


def classification_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    y = np.asarray(y).astype(int)
    score = np.asarray(score, dtype=float)
    both = 0 < y.sum() < len(y)
    return {
        "pr_auc": float(average_precision_score(y, score)) if both else float("nan"),
        "roc_auc": float(roc_auc_score(y, score)) if both else float("nan"),
        "recall_at_1pct": recall_at_alert_rate(y, score, 0.01),
        "recall_at_5pct": recall_at_alert_rate(y, score, 0.05),
        "precision_at_50pct_recall": precision_at_recall(y, score, 0.5),
        "positives": int(y.sum()),
        "rows": len(y),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
    }


def bootstrap_interval(y: np.ndarray, score: np.ndarray, other: np.ndarray | None = None,
                       metric: str = "pr_auc", resamples: int = 200, level: float = 0.9,
                       seed: int = 0) -> dict[str, float]:
    """Bootstrap interval of ``metric`` over rows (resampled with replacement; positives and
    negatives resampled separately, so every resample keeps the window's fraud count).

    With ``other`` (a second model's scores on the same rows), the interval is of the paired
    difference ``metric(score) - metric(other)``: the same resample for both, so the noise
    both models share cancels. Returns low / high (the central ``level`` interval) and mean.
    Why hand-written: scikit-learn has no bootstrap for ranking metrics; scipy's
    ``bootstrap`` resamples without the stratification that a 1 %-positive window needs."""
    y = np.asarray(y).astype(int)
    fn = {"pr_auc": average_precision_score, "roc_auc": roc_auc_score}[metric]
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if len(pos) == 0 or len(neg) == 0:
        return {"low": float("nan"), "high": float("nan"), "mean": float("nan"),
                "resamples": 0, "level": level}
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for i in range(resamples):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        value = fn(y[idx], score[idx])
        if other is not None:
            value -= fn(y[idx], other[idx])
        values[i] = value
    tail = (1 - level) / 2
    return {"low": float(np.quantile(values, tail)), "high": float(np.quantile(values, 1 - tail)),
            "mean": float(values.mean()), "resamples": resamples, "level": level}


# ---- forecast metrics ------------------------------------------------------------------------
# One home for the forecast error measures, so the backtest (``demand_eval``) and the realised
# accuracy in production (``monitoring.forecast_accuracy``) can never disagree on a zero again.
# Every function takes the actual values and the point (or quantile) forecasts as arrays of the
# same length; the point forecast is the median (p50), see ``demand_eval``.


def _pair(actual: np.ndarray, forecast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=float).reshape(-1)
    f = np.asarray(forecast, dtype=float).reshape(-1)
    if a.shape != f.shape:
        raise ValueError(f"actual and forecast differ in length ({a.size} vs {f.size})")
    return a, f


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in [0, 2]: the mean over points of ``2 |a - f| / (|a| + |f|)``.

    Zero rule (the only one in lakeloop): a point whose actual and forecast are both 0 is a
    perfect forecast and counts 0, not NaN - intermittent series are mostly such points, and
    dropping them would reward forecasting small non-zero amounts on zero days. A point with
    exactly one of them 0 counts 2 (the maximum). NaN for no points."""
    a, f = _pair(actual, forecast)
    if a.size == 0:
        return float("nan")
    denom = np.abs(a) + np.abs(f)
    terms = np.divide(2 * np.abs(a - f), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(terms.mean())


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: ``sum |a - f| / sum |a|`` (scale-free, and large
    series weigh as much as they sell, so a zero day cannot blow it up).

    Zero rule: with no volume at all (every actual 0) WAPE is 0 if every forecast is 0 too, and
    NaN (undefined) otherwise - a tiny denominator floor would turn it into an arbitrary huge
    number. NaN for no points."""
    a, f = _pair(actual, forecast)
    if a.size == 0:
        return float("nan")
    err, volume = float(np.abs(a - f).sum()), float(np.abs(a).sum())
    if volume == 0:
        return 0.0 if err == 0 else float("nan")
    return err / volume


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute scaled error of one series: its mean ``|a - f|`` over ``scale``, the mean
    absolute in-sample error of seasonal naive (``demand_eval.mase_scale``). Below 1: better than
    copying last season. NaN when the scale is not positive (a constant series has no MASE) or
    there are no points: averaging over series skips it rather than dividing by ~0."""
    a, f = _pair(actual, forecast)
    if a.size == 0 or not np.isfinite(scale) or scale <= 0:
        return float("nan")
    return float(np.abs(a - f).mean() / scale)


def pinball_loss(actual: np.ndarray, forecast: np.ndarray, q: float) -> float:
    """Quantile (pinball) loss of the ``q`` quantile forecast, averaged over points: an
    under-forecast costs ``q`` per unit, an over-forecast ``1 - q``. At q = 0.5 it is half
    the MAE. NaN for no points."""
    a, f = _pair(actual, forecast)
    if a.size == 0:
        return float("nan")
    diff = a - f
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))
