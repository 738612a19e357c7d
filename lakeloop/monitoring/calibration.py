"""Drift thresholds learnt from the domain's own history, to a false-alarm budget.

A team cannot hand-tune a threshold per column, and thresholds set on one feed's quiet days
alarm every day on another's (issue 25: a real 121-column card table flagged all 31 quiet
days under the simulator's PSI 0.05). So every threshold is derived from how the champion's
own history varies when nothing is wrong:

1. **Null days.** Each day (or pooled chunk of days) of the champion's training history
   before its reference week is measured against that reference week exactly as a
   production day will be (same columns, same methods, same fixed sample sizes). Their
   statistics are the null distribution: NannyML's approach of thresholds from the reference
   period's chunk-to-chunk variation, and SageMaker Model Monitor's baseline constraints
   from the training data.
2. **One null model per statistic.** A distance (PSI, Jensen-Shannon, Wasserstein) is
   positive and right-skewed: ``log(x + floor)`` is fitted by its mean and standard deviation
   (log-normal; ``floor`` is the distance of two random halves of the reference, the
   statistic's pure sampling level, so a near-zero distance is not read as a huge log
   deviation). The signed changes - a missing share's Cohen's h and two views of the values,
   a number's location (Cliff's delta) and the share outside the reference's range or list
   (``measure``) - are two-sided about 0, their spread at least their sampling spread,
   and growing with the reference's age where the null days show a wander (``fit_signed``: a
   linear variogram). Each day then has a z per statistic.
3. **The day's score** is the champion's importance-weighted sum of squared positive z's
   (``D = sum_c w_c (max(zdist_c, zloc_c, zrange_c, 0)^2 + max(zmiss_c, 0)^2)``, weights from
   gain or permutation importance, stored at training): drift in the inputs the model relies
   on moves it; a column with weight 0 is only reported. Squares make one strongly drifted
   important column count (a sum of plain z's would average it away among 150 quiet ones);
   a column's values count once, by the most unusual of their views (``column_term``).
4. **Its threshold** comes from ``D`` on the null days with each day's z's computed
   leave-one-out (so the estimation error of step 2 is in the null, as in cross-validation),
   fitted by a scaled chi-square with matched mean and variance (Satterthwaite 1946, Box
   1954: the law of a positive weighted sum of squares), at the per-day rate the budget
   allows.
5. **The budget** is false episodes per days (default 1 per 60, issue 25), shared by two
   rules (``SEQUENTIAL_SHARE`` each). *Day by day*: an episode opens when ``k`` of the last
   ``n`` days drifted (``lakeloop.alerting.policy``); with independent days at a per-day rate
   ``p`` that happens ``p * C(n-1, k-1) p^(k-1) (1-p)^(n-k)`` of days, solved for ``p`` and
   split evenly between the day's signals (Bonferroni). *Over days*: each day's score is
   mapped to its evidence, the normal quantile of its tail under the same predictive null
   law (``evidence``), and Page's CUSUM of the evidence opens an episode when it reaches the
   threshold whose average run length is the rule's share of the budget
   (``lakeloop.alerting.sequential``): a drift too small for one day's verdict but kept up
   is found in days. Either way the expected run length between false alarms is set by the
   budget, as alibi-detect's online detectors are configured by their expected run time.
6. **Per-column thresholds** (what the report and the metadata show as a column "drifted")
   are each statistic's value at the family-wise z of the same rate over all columns: on a
   quiet day the expected number of flagged columns stays below the day's rate.

Pure Python over Polars frames: the monitor (``domain_monitor``) feeds it days from the
lake; the benchmark (``bench/bench_drift.py``) feeds it generated days.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from lakeloop.alerting.sequential import K, cusum_threshold
from lakeloop.monitoring.measure import (
    DriftConfig,
    Measured,
    delta_spread,
    measure,
    prediction_drift_score,
    share_spread,
)
from lakeloop.names import PARTITION_COLUMN

# A log-distance that barely varied on the null days is still given this spread (a 10 %
# relative change per standard deviation): a numerical guard against dividing by ~0 when a
# handful of days happen to agree, not a threshold.
MIN_LOG_SCALE = 0.1
MIN_NULL_DAYS = 5  # fewer: the history cannot say what quiet looks like (the fixed config rules)
MIN_STAT_DAYS = 3  # a statistic measured on fewer null days is reported, not calibrated
SPLITS = 5  # random halves of the first week measured for the prediction null's floor
# each signed view of a column's values (``measure.Measured.views``) and its sampling
# spread between samples of (reference, current) rows of one law: its null's floor
VIEW_FLOORS = {"location": delta_spread, "range": share_spread}
MIN_TREND_DAYS = 8  # null days needed before a wander with age is fitted (``fit_signed``)
TREND_P = 0.05  # one-sided significance at which the null days show a wander
# the false-alarm budget's part given to the sequential rule (the rest: k of n days); an
# even split, so neither rule's thresholds depend on how the other is doing
SEQUENTIAL_SHARE = 0.5
LAW_SAMPLES = 200  # bootstrap fits of the null score's law kept with the calibration


@dataclass(frozen=True)
class Budget:
    """Expected false episodes per days of quiet data (issue 25's default: 1 per 60)."""

    false_episodes: float = 1.0
    per_days: int = 60

    @property
    def rate(self) -> float:
        return self.false_episodes / self.per_days

    def share(self, fraction: float) -> Budget:
        """The part of this budget given to one of the rules that spend it."""
        return Budget(self.false_episodes * fraction, self.per_days)

    def describe(self) -> str:
        return f"<= {self.false_episodes:g} false episode per {self.per_days} days"


def day_rate(budget: Budget, k: int = 2, n: int = 3, signals: int = 1) -> float:
    """Per-signal, per-day false-alarm probability that keeps ``k``-of-``n`` episodes within
    ``budget`` (independent days; see the module docstring, step 5)."""
    def episodes(p: float) -> float:
        return p * math.comb(n - 1, k - 1) * p ** (k - 1) * (1 - p) ** (n - k)

    lo, hi = 0.0, 1.0 / max(k, 1)
    if episodes(hi) <= budget.rate:
        p = hi
    else:
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if episodes(mid) < budget.rate else (lo, mid)
        p = lo
    return p / max(signals, 1)


def effective_rule(k: int, n: int, pooled_days: float) -> tuple[int, int]:
    """The episode rule the budget is solved for. ``day_rate`` assumes independent days;
    when a thin feed's current side pools several days (``pooled_chunks``), consecutive
    verdicts share most of their rows, so a flagged day's neighbours are flagged too and
    ``k`` of ``n`` opens about as often as one flagged day: then each day is budgeted as if
    it alone opened an episode (1 of 1), a conservative bound."""
    return (1, 1) if pooled_days > 1 else (k, n)


def _norm_ppf(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


@dataclass(frozen=True)
class NullModel:
    """How one statistic varies on quiet days: ``z = (t(x) - center) / scale`` with ``t`` the
    log of ``x + offset`` (distances) or ``x`` itself (``linear``: Cohen's h)."""

    transform: str  # "log" | "linear"
    center: float
    scale: float
    offset: float = 0.0
    days: int = 0

    def _t(self, x: float) -> float:
        return math.log(max(x, 0.0) + self.offset) if self.transform == "log" else x

    def spread(self, age: float | None = None) -> float:
        """The spread at ``age`` days from the reference: ``sqrt(scale^2 + trend * age)``."""
        if not self.trend or age is None:
            return self.scale
        return math.sqrt(self.scale ** 2 + self.trend * max(age, 0.0))

    def z(self, x: float, age: float | None = None) -> float:
        """How unusual ``x`` is, as a standard normal z. A new day's value around a mean and
        spread estimated from ``days`` days follows Student's t with ``days - 1`` degrees of
        freedom, scaled by ``sqrt(1 + 1/days)`` (the prediction interval of a new
        observation); mapped to the normal z of the same tail, so one z threshold means the
        same rate whether a statistic had 7 quiet days or 70. ``age``: days between the
        reference and the day (``spread``; 0 when unknown)."""
        t = (self._t(x) - self.center) / self.spread(age)
        if self.days < 3 and not self.two_sided:
            return t
        from scipy.stats import norm
        from scipy.stats import t as student

        if self.two_sided:  # a shift either way: the one-sided z of the same two-sided tail
            tail = 2 * (student.sf(abs(t) / math.sqrt(1 + 1 / self.days), self.days - 1)
                        if self.days >= 3 else norm.sf(abs(t)))
            return float(norm.isf(min(tail, 1.0 - 1e-12)))
        t /= math.sqrt(1 + 1 / self.days)
        return float(-norm.ppf(student.sf(t, self.days - 1))) if t > 0 \
            else float(norm.ppf(student.cdf(t, self.days - 1)))

    def value_at(self, z: float) -> float:
        """The statistic's value whose ``z`` is ``z`` (the inverse of ``z``)."""
        t = z
        if self.days >= 3:
            from scipy.stats import norm
            from scipy.stats import t as student

            t = float(student.isf(norm.sf(z), self.days - 1)) * math.sqrt(1 + 1 / self.days)
        y = self.center + t * self.scale
        return math.exp(y) - self.offset if self.transform == "log" else y

    @classmethod
    def fit(cls, values: Iterable[float], transform: str, offset: float = 0.0,
            min_scale: float = MIN_LOG_SCALE, two_sided: bool = False) -> NullModel:
        """Mean and standard deviation of the (transformed) null values; ``two_sided`` (a
        signed comparison with the reference, zero by construction when nothing changed):
        centred on 0 with the root mean square as its spread. Why not their mean: the null
        days lie *before* the reference and production days after it, so a slow trend gives
        the null one sign and production the other; about 0 the trend is spread, not bias."""
        v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
        t = np.log(np.clip(v, 0, None) + offset) if transform == "log" else v
        if two_sided:
            rms = float(np.sqrt(np.mean(t ** 2))) if t.size else 0.0
            return cls(transform, 0.0, max(rms, min_scale), offset, int(t.size),
                       two_sided=True)
        scale = float(t.std(ddof=1)) if t.size > 1 else 0.0
        return cls(transform, float(t.mean()), max(scale, min_scale), offset, int(t.size))

    def loo_z(self, values: list[float], ages: list[float] | None = None) -> list[float]:
        """Each null value's z under the model fitted on the other values (leave-one-out),
        at its own age when the model has a trend."""
        out = []
        for i, x in enumerate(values):
            others = values[:i] + values[i + 1:]
            if self.two_sided:
                rest = fit_signed(others, None if ages is None else ages[:i] + ages[i + 1:],
                                  self.scale_floor)
            else:
                rest = replace(NullModel.fit(others, self.transform, self.offset,
                                             self._min_scale, self.two_sided),
                               scale_floor=self.scale_floor)
            out.append(rest.z(x, None if ages is None else ages[i]))
        return out

    @property
    def _min_scale(self) -> float:
        # the floor this model was fitted with is its scale when it bound; keep it for LOO
        return MIN_LOG_SCALE if self.transform == "log" else self.scale_floor

    scale_floor: float = 0.0  # linear models: the statistic's sampling spread
    two_sided: bool = False  # a signed statistic (a location shift): unusual either way
    trend: float = 0.0  # variance added per day between reference and day (``fit_signed``)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NullModel:
        return cls(**d)


def _fit_linear(values: list[float], floor: float, two_sided: bool = False) -> NullModel:
    return replace(NullModel.fit(values, "linear", min_scale=floor, two_sided=two_sided),
                   scale_floor=floor)


def fit_signed(values: list[float], ages: list[float] | None, floor: float) -> NullModel:
    """A signed statistic's null (a missing share's or a location's change), centred on 0,
    whose spread may grow with the days between the reference and the day measured.

    Why: some quiet feeds wander - a column's missing share slides from 17 % to 12 % over
    months - and a null of days 1-3 weeks from the reference cannot see a wander that a
    two-month-old reference shows; a fixed spread then alarms once the reference is old
    enough, on every such feed. The squared values are fitted by the linear variogram
    ``E[x^2] = nugget + trend * age`` (Matheron 1963; a random walk plus noise, Harvey 1989's
    local level model), and the trend is kept only where the null days show it (slope > 0,
    one-sided p < ``TREND_P``); otherwise the spread is the values' root mean square. A
    production day ``age`` days from its reference is then judged against
    ``sqrt(nugget + trend * age)``: a feed's own wander is allowed, a step far beyond it is not."""
    base = _fit_linear(values, floor, two_sided=True)
    if ages is None or len(values) < MIN_TREND_DAYS:
        return base
    from scipy.stats import linregress

    fit = linregress(np.asarray(ages, dtype=float), np.asarray(values, dtype=float) ** 2)
    if not (fit.slope > 0 and fit.pvalue / 2 < TREND_P):
        return base
    return replace(base, scale=math.sqrt(max(fit.intercept, floor ** 2)),
                   trend=float(fit.slope))


@dataclass(frozen=True)
class DayScore:
    """A day's calibrated verdict: the weighted score and its threshold, which columns were
    individually unusual, and each statistic's z (for the metadata)."""

    value: float
    threshold: float
    drifted: list[str]
    missing_drifted: list[str]
    thresholds: dict[str, float]  # column -> distance at which it counts as drifted
    z: dict[str, float]
    contributions: dict[str, float]  # column -> its share of the score (weight x squares)
    # why the day is reported but not judged (empty: judged); see ``Calibration.judge``
    unjudged: str = ""
    # the day's evidence for the sequential rule (``Calibration.evidence``) and that rule's
    # threshold; None when the day is not judged or the calibration predates the rule
    evidence: float | None = None
    evidence_threshold: float | None = None

    @property
    def drifted_day(self) -> bool:
        """Over the day's threshold - or so unusual that the day alone carries the
        sequential rule's whole threshold (it opens an episode by itself either way)."""
        if self.unjudged:
            return False
        alone = (self.evidence is not None and self.evidence_threshold is not None
                 and self.evidence - K >= self.evidence_threshold)
        return self.value >= self.threshold or alone


def _square(z: float | None) -> float:
    return 0.0 if z is None else max(z, 0.0) ** 2


def column_term(distance: float | None, missing: float | None, *views: float | None
                ) -> float:
    """One column's part of the day's score (before its weight), from its z's: its values
    moved - in shape (the distance), location or range (``measure.VIEWS``), whichever
    is most unusual: views of one signal, so one square - plus its missing share moved."""
    return max(_square(distance), *(_square(v) for v in views)) + _square(missing)


@dataclass
class Calibration:
    """Thresholds of one champion's drift monitor, learnt from its own history (module
    docstring). JSON round-trips (``to_dict``/``from_dict``): stored beside the model version."""

    budget: Budget
    k: int
    n: int
    signals: int
    rate: float  # per-signal, per-day false-alarm probability
    column_z: float  # z at which a single statistic counts as drifted (family-wise)
    score_threshold: float
    score_null: dict[str, float]  # mean, var, df, scale of the null score; its days
    current_rows: int  # fixed current sample size (the daily monitor samples this many)
    distribution: dict[str, NullModel]
    missing: dict[str, NullModel]
    weights: dict[str, float]
    importance: str  # "gain" | "permutation" | "equal"
    null_days: list[str]
    uncalibrated: dict[str, str] = field(default_factory=dict)  # statistic -> why not
    prediction: NullModel | None = None
    pooled_days: float = 1.0  # median days a null chunk (and a current side) spans
    # where the null days came from: the history before the reference week, or - when that
    # is too short - the reference week itself, each chunk against the rest of it
    source: str = "history"
    # view (``lakeloop.monitoring.measure.VIEWS``) -> column -> its signed effect's null; empty in
    # calibrations stored before views were measured
    views: dict[str, dict[str, NullModel]] = field(default_factory=dict)
    # the null score's predictive law: bootstrap fits ``(g, h)`` of ``g * chi2(h)``
    # (``satterthwaite_threshold``), and the sequential rule's threshold on the days'
    # evidence (``lakeloop.alerting.sequential``); empty / None in older calibrations
    score_law: list[list[float]] = field(default_factory=list)
    sequential_threshold: float | None = None

    def evidence(self, value: float) -> float | None:
        """How unusual a day's score is, as a standard normal quantile of its tail under the
        null law (quiet days: about ``N(0, 1)``, above its median positive). When the
        current side pools ``m`` days, consecutive days share rows and their evidence is
        correlated; divided by ``sqrt(m)``, its sum over days has the variance of ``N(0, 1)``
        steps (a moving sum's long-run variance), which the rule's threshold assumes."""
        if not self.score_law:
            return None
        from scipy.stats import chi2, norm

        law = np.asarray(self.score_law, dtype=float)
        tail = float(chi2.sf(max(value, 0.0) / law[:, 0], law[:, 1]).mean())
        u = float(norm.isf(min(max(tail, 1e-300), 1.0 - 1e-12)))
        return u / math.sqrt(max(self.pooled_days, 1.0))

    def assess(self, measured: Measured, age_days: float | None = None,
               judged: bool = True) -> DayScore:
        """The day's verdict from its statistics (``measure.measure``); ``age_days``: days from
        the reference's middle to the day's (``age_days``).

        ``judged``: counted only when the current side held the rows the thresholds were
        learnt at - a distance on fewer rows is noisier than its null (the first days after
        the reference week of a thin feed cannot pool back onto the reference), so such a
        day is reported, not counted towards an episode. ``judged=False`` scores it anyway
        (the calibration's own leave-one-out and the tests)."""
        m = measured

        def signed(model: NullModel, v: float) -> float:  # stored before h was signed: |h|
            return model.z(v if model.two_sided else abs(v), age_days)

        z = {c: self.distribution[c].z(v) for c, v in m.column_drift.items()
             if c in self.distribution}
        zm = {c: signed(self.missing[c], v) for c, v in m.missing_effect.items()
              if c in self.missing}
        zv = {view: {c: signed(models[c], v) for c, v in m.views.get(view, {}).items()
                     if c in models} for view, models in self.views.items()}
        seen = set(z) | set(zm) | {c for by in zv.values() for c in by}
        parts = {c: self.weights.get(c, 0.0)
                 * column_term(z.get(c), zm.get(c), *(by.get(c) for by in zv.values()))
                 for c in seen}
        score = DayScore(
            value=float(sum(parts.values())), threshold=self.score_threshold,
            drifted=sorted(c for c in seen if max(
                z.get(c, -math.inf), *(by.get(c, -math.inf) for by in zv.values()))
                >= self.column_z),
            missing_drifted=sorted(c for c, v in zm.items() if v >= self.column_z),
            thresholds=self.thresholds(),
            z={**{c: round(v, 3) for c, v in z.items()},
               **{f"{c} (missing)": round(v, 3) for c, v in zm.items()},
               **{f"{c} ({view})": round(v, 3) for view, by in zv.items()
                  for c, v in by.items()}},
            contributions={c: round(v, 4) for c, v in parts.items() if v > 0})
        if not judged or m.current_rows >= self.current_rows:
            return replace(score, evidence=self.evidence(score.value),
                           evidence_threshold=self.sequential_threshold)
        return replace(score, unjudged=f"{m.current_rows} rows of the {self.current_rows} the "
                       "thresholds were learnt at: reported, not judged")

    def thresholds(self) -> dict[str, float]:
        return {c: max(m.value_at(self.column_z), 0.0) for c, m in self.distribution.items()}

    def prediction_threshold(self) -> float | None:
        return None if self.prediction is None else self.prediction.value_at(
            _norm_ppf(1 - self.rate))

    def summary(self, top: int = 10) -> dict[str, Any]:
        """What the UI shows: the budget, what it means per day, the score's threshold and
        the most weighted columns with their learnt thresholds."""
        t = self.thresholds()
        heaviest = sorted(self.weights.items(), key=lambda kv: -kv[1])[:top]
        return {
            "budget": self.budget.describe(),
            "rule": f"episode when {self.k} of {self.n} days drift" + (
                "" if self.pooled_days <= 1 else f"; days pooled by {self.pooled_days:g} share "
                "rows, so each flagged day is budgeted as an episode"),
            "per_day_false_alarm_rate": round(self.rate, 5),
            "sequential_threshold": None if self.sequential_threshold is None
            else round(self.sequential_threshold, 3),
            "null_days": len(self.null_days),
            "null_source": self.source,
            "score_threshold": round(self.score_threshold, 4),
            "column_z": round(self.column_z, 3),
            "current_rows": self.current_rows,
            "importance": self.importance,
            "top_columns": {c: {"weight": round(w, 4),
                                "threshold": round(t[c], 4) if c in t else None}
                            for c, w in heaviest},
            "uncalibrated": len(self.uncalibrated),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": asdict(self.budget), "k": self.k, "n": self.n, "signals": self.signals,
            "rate": self.rate, "column_z": self.column_z,
            "score_threshold": self.score_threshold, "score_null": self.score_null,
            "current_rows": self.current_rows,
            "distribution": {c: m.to_dict() for c, m in self.distribution.items()},
            "missing": {c: m.to_dict() for c, m in self.missing.items()},
            "weights": self.weights, "importance": self.importance,
            "null_days": self.null_days, "uncalibrated": self.uncalibrated,
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "source": self.source, "pooled_days": self.pooled_days,
            "views": {view: {c: m.to_dict() for c, m in by.items()}
                      for view, by in self.views.items()},
            "score_law": self.score_law, "sequential_threshold": self.sequential_threshold,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        return cls(
            budget=Budget(**d["budget"]), k=d["k"], n=d["n"], signals=d["signals"],
            rate=d["rate"], column_z=d["column_z"], score_threshold=d["score_threshold"],
            score_null=d["score_null"], current_rows=d["current_rows"],
            distribution={c: NullModel.from_dict(m) for c, m in d["distribution"].items()},
            missing={c: NullModel.from_dict(m) for c, m in d["missing"].items()},
            weights=d["weights"], importance=d["importance"], null_days=d["null_days"],
            uncalibrated=d.get("uncalibrated", {}),
            prediction=None if d.get("prediction") is None
            else NullModel.from_dict(d["prediction"]), source=d.get("source", "history"),
            pooled_days=d.get("pooled_days", 1.0),
            views={view: {c: NullModel.from_dict(m) for c, m in by.items()}
                   for view, by in d.get("views", {}).items()},
            score_law=d.get("score_law", []),
            sequential_threshold=d.get("sequential_threshold"))


def satterthwaite_threshold(null_scores: list[float], rate: float, resamples: int = 400,
                            seed: int = 0) -> tuple[float, dict]:
    """The score exceeded with probability ``rate`` on a new quiet day.

    The null scores are fitted by a scaled chi-square ``g * chi2(h)`` with their mean and
    variance (``g = var / (2 mean)``, ``h = 2 mean^2 / var``: Satterthwaite 1946, Box 1954).
    A mean and variance from a few dozen days are themselves uncertain, and a threshold set at
    the fitted quantile alarms *more* often than ``rate`` on average (the tail is convex in the
    error: measured 1.45x on generated feeds with 28 null days). So the threshold is the
    quantile of the *predictive* law: the fit's tail averaged over bootstrap resamples of the
    null days (Efron & Tibshirani 1993; Harris 1989, "predictive fit")."""
    from scipy.stats import chi2

    s = np.asarray(null_scores, dtype=float)
    mean, var = float(s.mean()), float(s.var(ddof=1)) if s.size > 1 else 0.0
    if mean <= 0 or var <= 0:  # every null day scored the same: nothing to extrapolate from
        spread = max(mean, 1.0)
        return mean + spread, {"mean": mean, "var": var, "df": float("nan"), "scale": 0.0,
                               "law": []}
    g, h = var / (2 * mean), 2 * mean ** 2 / var
    plain = float(g * chi2.ppf(1 - rate, h))
    rng = np.random.default_rng(seed)
    boot = s[rng.integers(0, s.size, (resamples, s.size))]
    means, variances = boot.mean(axis=1), boot.var(axis=1, ddof=1)
    ok = (means > 0) & (variances > 0)
    gb, hb = variances[ok] / (2 * means[ok]), 2 * means[ok] ** 2 / variances[ok]

    def tail(t: float) -> float:
        return float(chi2.sf(t / gb, hb).mean())

    lo, hi = 0.0, plain
    while tail(hi) > rate:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if tail(mid) > rate else (lo, mid)
    # never below the plain fit: a resampled variance is biased low by (m - 1) / m
    law = [[round(float(a), 6), round(float(b), 6)]
           for a, b in zip(gb[:LAW_SAMPLES], hb[:LAW_SAMPLES], strict=True)]
    return max(hi, plain), {"mean": round(mean, 6), "var": round(var, 6), "df": round(h, 4),
                "scale": round(g, 6), "plain_threshold": round(plain, 6), "law": law}


def fixed_current_rows(rows_per_day: list[int], cfg: DriftConfig) -> int:
    """The current side's fixed sample size: ``cfg.sample_size``, or fewer when the quiet
    days are smaller (their 10th percentile: a rare small day is pooled, the others are
    not), never below ``cfg.min_current_rows``: days with fewer rows are pooled until they
    hold it (``lakeloop.monitoring.domain_monitor.current_since``)."""
    typical = int(np.quantile(rows_per_day, 0.1, method="lower")) if rows_per_day \
        else cfg.sample_size
    return max(min(cfg.sample_size, typical), cfg.min_current_rows, cfg.min_rows)


def pooled_chunks(days: Mapping[Any, int], min_rows: int, max_days: int) -> list[list[Any]]:
    """Consecutive days grouped newest first until each group holds ``min_rows`` or spans
    ``max_days`` days, as the monitor pools a thin production day (``current_since``); an
    oldest remainder that reaches neither is dropped."""
    chunks, current, total = [], [], 0
    for day in sorted(days, reverse=True):
        current.append(day)
        total += days[day]
        if total >= min_rows or len(current) >= max_days:
            chunks.append(sorted(current))
            current, total = [], 0
    return chunks


def pooled_span(chunks: list[list[Any]]) -> float:
    """Median days per chunk: how many days a current side pools (``effective_rule``)."""
    return float(np.median([len(c) for c in chunks])) if chunks else 1.0


def noise_floor(reference: pl.DataFrame, columns: list[str], cfg: DriftConfig,
                categorical: set[str], rows: int) -> dict[str, float]:
    """Each column's distance between two random halves of the reference: its level under
    sampling noise alone (the offset of its log-normal null model)."""
    shuffled = reference.sample(fraction=1.0, shuffle=True, seed=cfg.seed + 1)
    half = shuffled.height // 2
    m = measure(shuffled.head(half), shuffled.tail(shuffled.height - half), columns, cfg,
                categorical, current_rows=min(rows, shuffled.height - half))
    return m.column_drift


def calibrate(reference: pl.DataFrame, null_days: Mapping[str, pl.DataFrame],
              columns: list[str], cfg: DriftConfig, categorical: set[str] | None = None,
              weights: Mapping[str, float] | None = None, importance: str = "equal",
              budget: Budget | None = None, k: int = 2, n: int = 3, signals: int = 2,
              current_rows: int | None = None,
              references: Mapping[str, pl.DataFrame] | None = None,
              source: str = "history", pooled_days: float = 1.0) -> Calibration | None:
    """Learn the thresholds (module docstring) from ``null_days`` (label -> that day's or
    chunk's rows, each measured against ``reference``, or against ``references[label]``
    where given: ``reference_week_null``). ``weights``: the champion's importance per column
    (None: equal). ``pooled_days``: the days a current side spans (``effective_rule``).
    Returns None when fewer than ``MIN_NULL_DAYS`` days are given: the history is too short
    to say what quiet looks like."""
    if len(null_days) < MIN_NULL_DAYS:
        return None
    budget = budget or Budget()
    categorical = categorical or set()
    rows = current_rows or fixed_current_rows([f.height for f in null_days.values()], cfg)
    measured: dict[str, Measured] = {
        label: measure((references or {}).get(label, reference), frame, columns, cfg,
                       categorical, current_rows=rows)
        for label, frame in null_days.items()}
    floor = noise_floor(reference, columns, cfg, categorical, rows)
    ages = None if references else _null_ages(reference, null_days)
    rate = day_rate(budget.share(1 - SEQUENTIAL_SHARE), *effective_rule(k, n, pooled_days),
                    signals)
    # the sequential rule's share, split between the signals as the day's rule is
    sequential = cusum_threshold(max(signals, 1) / (budget.rate * SEQUENTIAL_SHARE))
    distribution, missing, uncalibrated = {}, {}, {}
    views: dict[str, dict[str, NullModel]] = {view: {} for view in VIEW_FLOORS}
    n_ref = min(reference.height, cfg.sample_size)
    series = _series(measured, ages)
    for c in dict.fromkeys(columns):
        d = series.get(("d", c))
        if d is not None and len(d.values) >= MIN_STAT_DAYS:
            # a column constant in the halves has no noise level: a one-row resolution
            offset = max(floor.get(c, 0.0), 1.0 / rows)
            distribution[c] = NullModel.fit(d.values, "log", offset)
        elif any(c in m.plan.compared for m in measured.values()):
            uncalibrated[c] = (f"distribution measured on {len(d.values) if d else 0} of "
                               f"{len(measured)} null days")
        h = series.get(("m", c))
        if h is not None and len(h.values) >= MIN_STAT_DAYS:
            missing[c] = fit_signed(h.values, h.ages, share_spread(reference.height, rows))
        for view, floor_of in VIEW_FLOORS.items():
            v = series.get((view, c))
            if v is not None and len(v.values) >= MIN_STAT_DAYS:
                views[view][c] = fit_signed(v.values, v.ages, floor_of(n_ref, rows))
    used = set(distribution) | set(missing) | {c for by in views.values() for c in by}
    w = _weights(weights, used)
    statistics = len(distribution) + len(missing) + sum(len(by) for by in views.values())
    column_z = _norm_ppf(1 - rate / max(statistics, 1))
    labels = list(measured)
    models = {"d": distribution, "m": missing, **views}
    kinds = list(models)
    # each null day's leave-one-out z of every statistic, by day: {label: {column: [z by kind]}}
    day_z: dict[str, dict[str, list[float | None]]] = {label: {} for label in labels}
    for k, which in enumerate(kinds):
        for c, model in models[which].items():
            stat = series[(which, c)]
            zs = model.loo_z(stat.values, stat.ages if which != "d" else None)
            for label, z in zip(stat.labels, zs, strict=True):
                day_z[label].setdefault(c, [None] * len(kinds))[k] = z
    null_scores = [sum(w.get(c, 0.0) * column_term(*zs) for c, zs in day_z[label].items())
                   for label in labels]
    threshold, null = satterthwaite_threshold(null_scores, rate)
    law = null.pop("law")
    null["days"] = len(null_scores)
    null["max"] = round(max(null_scores), 6)
    null["scores"] = [round(x, 6) for x in null_scores]
    return Calibration(budget, k, n, signals, rate, column_z, threshold, null, rows,
                       distribution, missing, w, importance if weights else "equal",
                       [str(x) for x in labels], uncalibrated, source=source,
                       pooled_days=pooled_days,
                       views={view: by for view, by in views.items() if by},
                       score_law=law, sequential_threshold=sequential if law else None)


def reference_week_null(reference: pl.DataFrame, min_rows: int, max_days: int,
                        date: str = PARTITION_COLUMN
                        ) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """Null chunks from the reference week itself, for a champion whose history before it
    is too short (a first model on a few weeks of data): each chunk of days (pooled to
    ``min_rows`` as a production day is) is measured against the rest of the week, leave one
    chunk out. NannyML's default: thresholds from the reference period's chunk-to-chunk
    variation. It sees day-to-day noise but not a slow trend, so the history (when there is
    enough) is preferred. Returns (chunks, the reference each is measured against)."""
    counts = dict(reference.group_by(date).agg(pl.len()).iter_rows())
    chunks = pooled_chunks(counts, min_rows, max_days)
    null, references = {}, {}
    for c in chunks:
        label = f"{c[0]}..{c[-1]} (reference week)"
        inside = pl.col(date).is_between(c[0], c[-1])
        null[label] = reference.filter(inside)
        references[label] = reference.filter(~inside)
    return null, references


def calibrate_days(history: pl.DataFrame, reference: pl.DataFrame, columns: list[str],
                   cfg: DriftConfig, categorical: set[str] | None = None,
                   weights: Mapping[str, float] | None = None, importance: str = "equal",
                   budget: Budget | None = None, k: int = 2, n: int = 3, signals: int = 2
                   ) -> tuple[Calibration | None, str]:
    """``calibrate`` on days as the monitor reads them (a ``date`` column): the history
    before the reference week pooled to the fixed current size (``fixed_current_rows``,
    ``pooled_chunks``); when it holds fewer than ``MIN_NULL_DAYS`` chunks, the reference week
    itself, leave one chunk out (``reference_week_null``). Returns the calibration, or None
    and why none could be learnt."""
    counts = dict(history.group_by(PARTITION_COLUMN).agg(pl.len()).iter_rows()) \
        if history.height else {}
    ref_counts = dict(reference.group_by(PARTITION_COLUMN).agg(pl.len()).iter_rows())
    rows = fixed_current_rows(list(counts.values()) or list(ref_counts.values()), cfg)
    chunks = pooled_chunks(counts, rows, cfg.max_current_days)
    common: dict[str, Any] = {
        "weights": weights, "importance": importance, "budget": budget, "k": k, "n": n,
        "signals": signals, "current_rows": rows,
        "pooled_days": pooled_span(chunks or pooled_chunks(ref_counts, rows,
                                                           cfg.max_current_days))}
    if len(chunks) >= MIN_NULL_DAYS:
        null = {f"{c[0]}..{c[-1]}": history.filter(pl.col(PARTITION_COLUMN).is_between(c[0], c[-1]))
                for c in chunks}
        calibration = calibrate(reference, null, columns, cfg, categorical, **common)
    else:
        null, references = reference_week_null(reference, rows, cfg.max_current_days)
        calibration = calibrate(reference, null, columns, cfg, categorical, **common,
                                references=references, source="reference week, leave one "
                                f"chunk out ({len(chunks)} chunks before it)")
    if calibration is None:
        return None, (f"{len(chunks)} quiet chunks of >= {rows} rows before the reference "
                      f"week ({len(counts)} days) and {len(null)} in it; at least "
                      f"{MIN_NULL_DAYS} are needed")
    return calibration, ""


@dataclass(frozen=True)
class _NullSeries:
    """One statistic of one column over the null days where it was measured, in day order."""

    labels: list[str]
    values: list[float]
    ages: list[float] | None


def _series(measured: Mapping[str, Measured], ages: Mapping[str, float] | None
            ) -> dict[tuple[str, str], _NullSeries]:
    """(statistic, column) -> its null series, built in one pass over the days (``d``
    distance, ``m`` missing, or a view's name)."""
    out: dict[tuple[str, str], _NullSeries] = {}
    for label, m in measured.items():
        for which in ("d", "m", *VIEW_FLOORS):
            for c, v in _statistic(m, which).items():
                got = out.setdefault((which, c), _NullSeries([], [], None if ages is None
                                                             else []))
                got.labels.append(label)
                got.values.append(v)
                if got.ages is not None and ages is not None:
                    got.ages.append(ages[label])
    return out


def age_days(ref_first: Any, ref_last: Any, first: Any, last: Any) -> float:
    """Days between the middles of two date ranges (the reference's and a day's or chunk's
    current side), whichever comes first: the lag at which a signed statistic is judged."""
    return abs(((first - ref_first) + (last - ref_last)).days) / 2


def _null_ages(reference: pl.DataFrame, null_days: Mapping[str, pl.DataFrame],
               date: str = PARTITION_COLUMN) -> dict[str, float] | None:
    """Each null chunk's ``age_days`` from the reference; None without dates."""
    frames = [reference, *null_days.values()]
    if any(date not in f.columns or not f.height for f in frames):
        return None
    span = reference[date]
    return {label: age_days(span.min(), span.max(), f[date].min(), f[date].max())
            for label, f in null_days.items()}


def _statistic(m: Measured, which: str) -> Mapping[str, float]:
    """A day's values of one kind of statistic: ``d`` distance, ``m`` missing, or a view."""
    if which == "d":
        return m.column_drift
    return m.missing_effect if which == "m" else m.views.get(which, {})


def _weights(weights: Mapping[str, float] | None, columns: set[str]) -> dict[str, float]:
    """Importance over the calibrated columns, summing to 1 (negatives count as 0; no
    importance, or none on these columns: equal weights)."""
    if weights:
        w = {c: max(float(weights.get(c, 0.0)), 0.0) for c in columns}
        total = sum(w.values())
        if total > 0:
            return {c: v / total for c, v in sorted(w.items())}
    return {c: 1.0 / len(columns) for c in sorted(columns)} if columns else {}


def prediction_null(days: Mapping[Any, pl.Series], cfg: DriftConfig) -> NullModel | None:
    """The prediction distance's null from the champion's first production week: each day
    against the other days of that week (leave-one-day-out), the offset from two random
    halves of the week. The daily prediction distance compares one day with the whole week."""
    if len(days) < MIN_STAT_DAYS:
        return None
    values = []
    for day, series in days.items():
        rest = pl.concat([s for d, s in days.items() if d != day])
        values.append(prediction_drift_score(rest, series, cfg))
    week = pl.concat(list(days.values()))
    halves = []
    for seed in range(SPLITS):
        shuffled = week.sample(fraction=1.0, shuffle=True, seed=cfg.seed + seed)
        half = shuffled.len() // 2
        halves.append(prediction_drift_score(shuffled.head(half),
                                             shuffled.tail(shuffled.len() - half), cfg))
    offset = max(float(np.median(halves)), 1.0 / max(week.len() // 2, 1))
    # seven days compared with each other share most of their rows: their spread understates
    # a new day's, so it is never taken below the statistic's own sampling spread (the log
    # distances of random halves of the week)
    spread = float(np.std(np.log(np.asarray(halves) + offset), ddof=1))
    return NullModel.fit(values, "log", offset, min_scale=max(MIN_LOG_SCALE, spread))
