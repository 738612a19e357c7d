"""Drift monitoring: false alarms on quiet days and delay to an injected drift (issue 25).
Prints a table shape x method and writes ``bench/results/drift.json``; asserts nothing.

    .venv/bin/python bench/bench_drift.py [--quick] [--only NAME,...] [--check-days 2]

Each shape (``bench/drift_shapes.py``) is a run of days: 21 null days, a reference week, 60
quiet monitored days, then a drift injected from a known day and 12 days monitored after it
(series: 84 days of history before the reference week, as the demand monitor reads). Every
monitored day is judged by each method, and the verdicts are fed through the project's
episode policy (``lakeloop.alerting.policy.step``, default ``RetrainPolicy``: an episode opens
when 2
of the last 3 measured days drifted, resolves after 3 quiet days or when the reference
moves). Every method gets the loop's answer to an opened episode (``loop``): a retrain,
promoted, so from the next day the reference is the newest week and (``lakeloop``) the
thresholds are calibrated anew on the 21 days before it - as the pipeline does when a drift
retrain is promoted. A slow real trend in quiet data (the partner profile's missing shares
drift for weeks) then costs one episode, not an episode that never ends and hides the drift
that follows. Per shape and method:

* ``false_episodes``: episodes opened on the quiet days (goal for ``lakeloop``: at most 1 per
  60 quiet days, the default budget);
* ``delay_days``: calendar days from the drift's first day to the first episode opened on or
  after it (0: that day; null: none within the days monitored after it). Goal: every drift
  that moves one of the model's top-10 inputs detected within 2 days.

The methods:

* ``lakeloop``: the calibrated monitor. ``lakeloop.monitoring.calibration.calibrate`` on the null
  days (pooled to the calibration's fixed current size as
  ``lakeloop.monitoring.domain_monitor`` pools them)
  against the reference week, with the model's gain importance as weights (events: LightGBM
  trained on the history days; series: equal), budget 1 false episode per 60 days, k=2 of
  n=3, the budget split as the monitor splits it (events: 3 signals - data, prediction and
  realised performance; series: 2); each day pooled with the days before it up to
  ``current_rows`` (as ``current_since`` does) and judged by ``measure`` +
  ``Calibration.assess`` at the reference's age: what
  ``compute_drift`` decides with a calibration, without building its Evidently report
  (``--check-days`` compares the two). Events: ``DriftConfig(min_current_rows=1000)`` (PSI,
  the fraud asset's pooling floor); series: ``DriftConfig(method="wasserstein",
  min_current_rows=200)``.
* ``previous``: the fixed thresholds before issue 25 (events: PSI >= 0.05 on a column, 15 %
  of columns or 3 drifted, pooling to 1,000 rows; series: normed Wasserstein >= 0.3, the day
  alone; both ``column_nature=False``), decided as ``compute_drift``'s uncalibrated branch
  does from ``measure``'s distances and missing shares.
* ``evidently_default``: Evidently's ``DataDriftPreset()`` as shipped: the reference week and
  the day, whole, on the same monitored columns; the day drifted when the preset's
  ``DriftedColumnsCount`` share >= 0.5. Computed with the preset's own default stat test per
  column (``get_stattest(..., None)``: Wasserstein / Jensen-Shannon over 1,000 reference rows,
  KS / chi-squared / z below) on the column types Evidently infers from the day; a full
  ``Report`` run costs ~5-30 s a day on 134 columns, so ``--check-days`` runs the real
  ``Report([DriftedColumnsCount()])`` (the preset's first metric, same configuration) on a
  few days per shape and records whether the shares agree.

Prediction drift is not measured (no method gets it); the series monitor's forecast drift
neither. ``--quick``: smaller shapes and 30 quiet days, for checking (~3 min).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from drift_shapes import (  # bench/
    AFTER_DAYS,
    QUIET_DAYS,
    Shape,
    series_shape,
    simulated_events,
    wide_shape,
)

from lakeloop.alerting.policy import EpisodeState, RetrainPolicy, step
from lakeloop.monitoring.calibration import Budget, Calibration, age_days, calibrate_days
from lakeloop.monitoring.measure import DriftConfig, measure

RESULTS = Path(__file__).parent / "results" / "drift.json"
METHODS = ("lakeloop", "previous", "evidently_default")
TOP = 10  # "the model's top-10 inputs"
GOAL_FALSE = 1  # per 60 quiet days
GOAL_DELAY = 2  # days

EVENT_CFG = DriftConfig(min_current_rows=1000)
SERIES_CFG = DriftConfig(method="wasserstein", min_current_rows=200)
PREVIOUS_EVENT_CFG = DriftConfig(
    column_threshold=0.05, drift_share=0.15, min_drifted_columns=3, prediction_threshold=0.05,
    min_current_rows=1000, column_nature=False, calibrate=False)
PREVIOUS_SERIES_CFG = DriftConfig(
    method="wasserstein", column_threshold=0.3, drift_share=0.5, prediction_threshold=0.5,
    column_nature=False, calibrate=False)


# -- the data each method sees ----------------------------------------------------------------

class Monitored:
    """A shape as the monitor reads it: the reference week, the null history, the monitored
    days (each its own frame), and how a day is pooled with the days before it."""

    def __init__(self, shape: Shape) -> None:
        t = shape.timeline
        self.shape = shape
        frame = shape.frame
        if shape.kind == "series":
            frame = self._series(shape)
        else:
            self.history = frame.filter(pl.col("date").is_in(t.null_days))
            self.reference = frame.filter(pl.col("date").is_in(t.ref_days))
        monitored = frame.filter(pl.col("date") > t.ref_days[-1])
        self.by_day = _by_day(monitored)
        self.days = sorted(d for d, f in self.by_day.items() if f.height)
        self.ref_last = t.ref_days[-1]
        # every day as the monitor would read it after a re-baseline: null, reference, monitored
        cols = [*shape.columns, "date"]
        self.every_day = {**_by_day(self.history.select(cols)),
                          **_by_day(self.reference.select(cols)),
                          **{d: f.select(cols) for d, f in self.by_day.items()}}
        self.null_span = len(t.null_days)

    def moved_to(self, day: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The loop's answer to an opened episode (a retrain, promoted): the reference becomes
        the ``Timeline.ref`` days up to ``day``, its null the ``null_span`` days before them."""
        first = day - dt.timedelta(days=self.shape.timeline.ref - 1)
        ref = [f for d, f in self.every_day.items() if first <= d <= day]
        null = [f for d, f in self.every_day.items()
                if first - dt.timedelta(days=self.null_span) <= d < first]
        return pl.concat(ref), pl.concat(null)

    def _series(self, shape: Shape) -> pl.DataFrame:
        """Indices as ``series_day_drift`` computes them: levels from the history before the
        reference week; null days with leave-one-out levels (``leave_one_out_indices``)."""
        from lakeloop.monitoring.domain_monitor import (
            _indices,
            demand_levels,
            leave_one_out_indices,
        )

        t = shape.timeline
        first = t.ref_days[0]
        frame = shape.frame
        levels = demand_levels(frame.filter(pl.col("date") < first), first)
        self.history = leave_one_out_indices(frame.filter(pl.col("date") < first))
        self.reference = _indices(frame.filter(pl.col("date").is_between(first, t.ref_days[-1])),
                                  levels)
        return _indices(frame.filter(pl.col("date") > t.ref_days[-1]), levels)

    def current(self, day: dt.date, min_rows: int, max_days: int = 7,
                ref_last: dt.date | None = None) -> tuple[pl.DataFrame, int]:
        """The day, or - while it holds fewer than ``min_rows`` rows - pooled with the days
        before it, newest first, at most ``max_days`` and never onto the reference (its last
        day ``ref_last``; ``lakeloop.monitoring.domain_monitor.current_since``). Returns the
        frame and the
        days it spans."""
        if not min_rows:
            return self.by_day[day], 1
        ref_last = ref_last or self.ref_last
        oldest = max(day - dt.timedelta(days=max_days - 1), ref_last + dt.timedelta(days=1))
        parts, total, first = [], 0, day
        d = day
        while d >= oldest:
            f = self.by_day.get(d)
            if f is not None and f.height:
                parts.append(f)
                total += f.height
                first = d
                if total >= min_rows:
                    break
            d -= dt.timedelta(days=1)
        return pl.concat(parts[::-1]), (day - first).days + 1


def _by_day(frame: pl.DataFrame) -> dict[dt.date, pl.DataFrame]:
    return {k[0]: v for k, v in frame.partition_by("date", as_dict=True,
                                                   maintain_order=True).items()}


# -- model importance (events) ----------------------------------------------------------------

def gain_importance(shape: Shape, seed: int = 7) -> dict[str, float]:
    """LightGBM total gain per model input, normalised to sum to 1, from a model trained on
    the history days (null + reference week): what ``lakeloop.models.classification.importance``
    stores for a tree champion."""
    import lightgbm as lgb

    t = shape.timeline
    train = shape.frame.filter(pl.col("date") <= t.ref_days[-1])
    x = train.select(shape.inputs).to_pandas()
    for c in shape.inputs:
        if c in shape.input_categorical or x[c].dtype == object:
            x[c] = x[c].astype("category")
        elif x[c].dtype == bool:
            x[c] = x[c].astype("float64")
    y = train[shape.label].to_numpy()
    booster = lgb.train(
        {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31,
         "min_data_in_leaf": 50, "feature_fraction": 0.8, "bagging_fraction": 0.8,
         "bagging_freq": 1, "seed": seed, "num_threads": 2, "verbose": -1},
        lgb.Dataset(x, y, categorical_feature=[c for c in shape.inputs
                                               if str(x[c].dtype) == "category"]),
        num_boost_round=100)
    gains = booster.feature_importance(importance_type="gain")
    out = {c: float(g) for c, g in zip(booster.feature_name(), gains, strict=True)}
    total = sum(out.values()) or 1.0
    return {c: v / total for c, v in out.items()}


def ranks(weights: dict[str, float]) -> dict[str, int]:
    """1 = the input the model relies on most."""
    order = sorted(weights, key=lambda c: (-weights[c], c))
    return {c: i + 1 for i, c in enumerate(order)}


# -- the three methods: a judge of each monitored day, built on a reference ----------------
#
# A judge is built on a reference (and, for ``lakeloop``, the null days before it) and says
# whether a day drifted. ``loop`` rebuilds it when the loop moves the reference.

# a day's verdict, or (verdict, evidence, evidence threshold) for the sequential rule
Judge = Callable[[dt.date], "bool | tuple[bool, float | None, float | None]"]


def lakeloop_judge(m: Monitored, reference: pl.DataFrame, history: pl.DataFrame,
                   ref_last: dt.date, weights: dict[str, float] | None,
                   scores: dict[dt.date, Any], info: dict[str, Any]) -> Judge | None:
    shape = m.shape
    cfg = SERIES_CFG if shape.kind == "series" else EVENT_CFG
    policy = RetrainPolicy()
    from lakeloop.monitoring.domain_monitor import CLASSIFICATION_SIGNALS

    # as the monitor splits the budget: a classification domain's third signal is its
    # realised performance (not modelled here: labels mature after the days monitored)
    signals = 2 if shape.kind == "series" else CLASSIFICATION_SIGNALS
    cal, _ = calibrate_days(history, reference, shape.columns, cfg, shape.categorical,
                            weights, "gain" if weights else "equal", Budget(), policy.k,
                            policy.n, signals)
    info.setdefault("calibrations", []).append(
        None if cal is None else {"reference_last": ref_last.isoformat(),
                                  "null_chunks": len(cal.null_days),
                                  "current_rows": cal.current_rows,
                                  "score_threshold": round(cal.score_threshold, 4),
                                  "null_score_max": cal.score_null.get("max"),
                                  "per_day_rate": round(cal.rate, 5),
                                  "pooled_days": cal.pooled_days})
    info.setdefault("calibration_objects", []).append(cal)
    if cal is None:
        return None

    ref_first = ref_last - dt.timedelta(days=m.shape.timeline.ref - 1)

    def judge(day: dt.date) -> bool:
        current, span = m.current(day, cal.current_rows, cfg.max_current_days, ref_last)
        meas = measure(reference, current, shape.columns, cfg, shape.categorical,
                       current_rows=cal.current_rows)
        age = age_days(ref_first, ref_last, day - dt.timedelta(days=span - 1), day)
        scores[day] = s = cal.assess(meas, age)
        return s.drifted_day, s.evidence, s.evidence_threshold

    return judge


def lakeloop_detail(m: Monitored, scores: dict[dt.date, Any], info: dict[str, Any]
                    ) -> dict[str, Any]:
    drift_day = m.shape.timeline.drift_day
    quiet = [scores[d].value for d in m.days if d < drift_day and d in scores]
    after = [scores[d] for d in m.days if d >= drift_day and d in scores]
    return {
        "calibrations": info.get("calibrations", []),
        "quiet_score_max": round(max(quiet), 4) if quiet else None,
        "quiet_score_p95": round(float(np.quantile(quiet, 0.95)), 4) if quiet else None,
        "after_scores": [round(s.value, 3) for s in after[:5]],
        # the first drifted days: the columns that made the score, and the most unusual
        # columns whatever their weight (a weight-0 column is reported, not scored)
        "after_top": [sorted(s.contributions, key=lambda c: -s.contributions[c])[:3]
                      for s in after[:2]],
        "after_top_z": [{c: z for c, z in sorted(s.z.items(), key=lambda kv: -kv[1])[:3]}
                        for s in after[:2]],
        "daily_score": [round(scores[d].value, 3) if d in scores else None for d in m.days],
        "daily_threshold": [round(scores[d].threshold, 3) if d in scores else None
                            for d in m.days],
        # the sequential rule's evidence per day (``lakeloop.alerting.sequential``)
        "daily_evidence": [None if d not in scores or scores[d].evidence is None
                           else round(scores[d].evidence, 3) for d in m.days],
    }


def previous_judge(m: Monitored, reference: pl.DataFrame, ref_last: dt.date,
                   counts: dict[dt.date, int]) -> Judge:
    """``compute_drift``'s branch without a calibration, from ``measure``'s figures."""
    shape = m.shape
    cfg = PREVIOUS_SERIES_CFG if shape.kind == "series" else PREVIOUS_EVENT_CFG
    cat_threshold = (cfg.column_threshold if cfg.categorical_threshold is None
                     else cfg.categorical_threshold)

    def judge(day: dt.date) -> bool:
        current, _ = m.current(day, cfg.min_current_rows, cfg.max_current_days, ref_last)
        meas = measure(reference, current, shape.columns, cfg, shape.categorical)
        plan = meas.plan
        by_distribution = {
            c for c, v in meas.column_drift.items()
            if v >= (cat_threshold if plan.kinds[c] == "categorical" else cfg.column_threshold)}
        by_missingness = {c for c, v in plan.missing.items() if v >= cfg.missing_threshold}
        drifted = by_distribution | by_missingness
        share = len(drifted) / len(plan.compared) if plan.compared else 0.0
        counts[day] = len(drifted)
        return share >= cfg.drift_share or (
            cfg.min_drifted_columns is not None and len(drifted) >= cfg.min_drifted_columns)

    return judge


class EvidentlyDefault:
    """``DataDriftPreset()``'s dataset verdict: each column's default stat test on Evidently's
    inferred type, drifted share >= 0.5 (see the module docstring)."""

    DRIFT_SHARE = 0.5

    def __init__(self, m: Monitored, reference: pl.DataFrame | None = None) -> None:
        self.columns = m.shape.columns
        self.reference = (m.reference if reference is None else reference) \
            .select(self.columns).to_pandas()
        self.clean = {c: self.reference[c].replace([-np.inf, np.inf], np.nan).dropna()
                      for c in self.columns}  # as the preset cleans it, once

    def share(self, current: pl.DataFrame) -> tuple[float, int, int, list[str]]:
        """(drifted share, drifted, columns, columns a Report would refuse: empty side)."""
        from evidently.core.datasets import infer_column_type
        from evidently.legacy.calculations.stattests.registry import get_stattest
        from evidently.legacy.core import ColumnType

        cur = current.select(self.columns).to_pandas()
        # the types ``Report.run`` gives the current data (``Dataset.from_pandas`` infers
        # each column with this function; the preset drifts numbers, categories and text)
        measured_types = {"num": ColumnType.Numerical, "cat": ColumnType.Categorical,
                          "text": ColumnType.Text}
        types = {c: ColumnType(infer_column_type(cur[c]).value) for c in self.columns}
        types = {c: t for c, t in types.items() if t.value in measured_types}
        drifted, measured, refused = 0, 0, []
        for c in self.columns:
            if c not in types:
                continue
            ref = self.clean[c]
            now = cur[c].replace([-np.inf, np.inf], np.nan).dropna()
            if ref.empty or now.empty:
                refused.append(c)
                continue
            test = get_stattest(ref, now, types[c], None)
            drifted += bool(test(ref, now, types[c], None).drifted)
            measured += 1
        return (drifted / measured if measured else 0.0), drifted, measured, refused


def evidently_judge(m: Monitored, reference: pl.DataFrame, shares: dict[dt.date, float],
                    refused: set[str]) -> Judge:
    ev = EvidentlyDefault(m, reference)

    def judge(day: dt.date) -> bool:
        share, _, _, ref = ev.share(m.by_day[day])
        shares[day] = share
        refused.update(ref)
        return share >= ev.DRIFT_SHARE

    return judge


def method_run(m: Monitored, method: str, weights: dict[str, float] | None
               ) -> tuple[dict[dt.date, bool], dict[str, Any], dict[str, Any], Any]:
    """One method over the monitored days through the loop: (verdicts, episodes, detail,
    the first calibration for ``check_days``)."""
    drift_day = m.shape.timeline.drift_day
    scores: dict[dt.date, Any] = {}
    info: dict[str, Any] = {}
    counts: dict[dt.date, int] = {}
    shares: dict[dt.date, float] = {}
    refused: set[str] = set()

    def build(reference: pl.DataFrame, history: pl.DataFrame, ref_last: dt.date
              ) -> Judge | None:
        if method == "lakeloop":
            return lakeloop_judge(m, reference, history, ref_last, weights, scores, info)
        if method == "previous":
            return previous_judge(m, reference, ref_last, counts)
        return evidently_judge(m, reference, shares, refused)

    verdicts, ep = loop(m, build)
    if method == "lakeloop":
        detail = lakeloop_detail(m, scores, info)
    elif method == "previous":
        quiet = [counts[d] for d in m.days if d < drift_day and d in counts]
        detail = {"quiet_drifted_columns_median": float(np.median(quiet)) if quiet else None,
                  "daily_drifted_columns": [counts.get(d) for d in m.days]}
    else:
        quiet = [shares[d] for d in m.days if d < drift_day and d in shares]
        detail = {"quiet_share_median": round(float(np.median(quiet)), 3) if quiet else None,
                  "quiet_share_max": round(max(quiet), 3) if quiet else None,
                  "refused_columns": sorted(refused),
                  "daily_share": [round(shares[d], 3) if d in shares else None
                                  for d in m.days]}
    first_cal = (info.get("calibration_objects") or [None])[0]
    return verdicts, ep, detail, first_cal


# -- the checks of the fast paths against the real thing --------------------------------------

def check_days(m: Monitored, cal: Calibration | None, n: int) -> dict[str, Any]:
    """On ``n`` days (spread over quiet and drifted ones): ``compute_drift`` with the
    calibration vs ``measure`` + ``score``; ``Report([DriftedColumnsCount()])`` vs the
    Evidently fast path."""
    from evidently import Report
    from evidently.metrics import DriftedColumnsCount

    from lakeloop.monitoring.drift import compute_drift

    if n <= 0:
        return {}
    shape = m.shape
    drift_day = shape.timeline.drift_day
    quiet = [d for d in m.days if d < drift_day]
    after = [d for d in m.days if d >= drift_day]
    picks = [after[min(1, len(after) - 1)], quiet[len(quiet) // 2]][:n]
    ev = EvidentlyDefault(m)
    out: dict[str, Any] = {"days": [d.isoformat() for d in picks], "evidently_share": [],
                           "report_share": [], "lakeloop_fast": [], "compute_drift": []}
    for day in picks:
        share, *_ = ev.share(m.by_day[day])
        snap = Report([DriftedColumnsCount()]).run(
            current_data=m.by_day[day].select(shape.columns).to_pandas(),
            reference_data=ev.reference)
        out["evidently_share"].append(round(share, 4))
        out["report_share"].append(round(float(snap.dict()["metrics"][0]["value"]["share"]), 4))
        if cal is not None and day == picks[0]:  # a full report: one day is enough
            cfg = SERIES_CFG if shape.kind == "series" else EVENT_CFG
            current, _ = m.current(day, cal.current_rows, cfg.max_current_days)
            meas = measure(m.reference, current, shape.columns, cfg, shape.categorical,
                           current_rows=cal.current_rows)
            fast = cal.assess(meas, judged=False)
            full = compute_drift(m.reference, current, shape.columns, cfg,
                                 categorical=shape.categorical, calibration=cal)
            out["lakeloop_fast"].append(round(fast.value, 4))
            out["compute_drift"].append(round(full.score.value, 4) if full.score else None)
    out["agree"] = (out["evidently_share"] == out["report_share"]
                    and out["lakeloop_fast"] == out["compute_drift"])
    return out


# -- episodes ---------------------------------------------------------------------------------

def loop(m: Monitored, build: Callable[[pl.DataFrame, pl.DataFrame, dt.date], Judge | None]
         ) -> tuple[dict[dt.date, bool], dict[str, Any]]:
    """The days judged and fed through ``lakeloop.alerting.policy.step``, and the loop's answer to
    every opened episode: a retrain on the days up to it, promoted, so the next day is
    measured against the newest ``Timeline.ref`` days (and, for ``lakeloop``, calibrated on the
    days before them), which resolves the episode (``step(..., reference=)``) - what the
    pipeline does when a drift retrain is promoted. A real retrain may be kept, not promoted;
    then the episode stays open and says it persists after ``persist_days`` (not modelled).
    Counts: episodes opened on the quiet days, the first one opened on or after the drift's
    first day, day-level flags."""
    shape = m.shape
    state, policy = EpisodeState(), RetrainPolicy()
    drift_day = shape.timeline.drift_day
    judge = build(m.reference, m.history, m.ref_last)
    if judge is None:
        return {}, {"quiet_days": 0, "false_episodes": None, "delay_days": None}
    verdicts: dict[dt.date, bool] = {}
    opened: list[dt.date] = []
    moved: list[dt.date] = []
    reference_id = "r0"
    open_at_drift, seen_drift = False, False
    for day in m.days:
        if day >= drift_day and not seen_drift:  # a false episode still open when it starts
            open_at_drift, seen_drift = state.open, True
        verdict = judge(day)
        drifted, evidence, threshold = (verdict, None, None) if isinstance(verdict, bool) \
            else verdict
        verdicts[day] = drifted
        actions = step(state, day, drifted, policy, shape.name, reference=reference_id,
                       evidence=evidence, evidence_threshold=threshold)
        if any(a.kind == "open" for a in actions):
            opened.append(day)
            reference, history = m.moved_to(day)
            rebuilt = build(reference, history, day)
            if rebuilt is not None:
                judge, reference_id = rebuilt, f"r{day}"
                moved.append(day)
    days = m.days
    quiet = [d for d in days if d < drift_day]
    after = [d for d in days if d >= drift_day]
    false = [d for d in opened if d < drift_day]
    first = next((d for d in opened if d >= drift_day), None)
    first_day_flag = next((d for d in after if verdicts[d]), None)
    return verdicts, {
        "days": [d.isoformat() for d in days],
        "quiet_days": len(quiet),
        "false_episodes": len(false),
        "false_episode_days": [d.isoformat() for d in false],
        "delay_days": None if first is None else (first - drift_day).days,
        "open_at_drift": open_at_drift,
        "reference_moves": [d.isoformat() for d in moved],
        "drifted_quiet_days": sum(verdicts[d] for d in quiet),
        "drifted_after_days": sum(verdicts[d] for d in after),
        "after_days": len(after),
        "first_drifted_day_delay": None if first_day_flag is None
        else (first_day_flag - drift_day).days,
    }


# -- a shape, every method --------------------------------------------------------------------

def run_shape(shape: Shape, check: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    m = Monitored(shape)
    weights = moved_rank = None
    importance_s = 0.0
    if shape.kind == "events":
        t0 = time.perf_counter()
        weights = gain_importance(shape)
        importance_s = time.perf_counter() - t0
        rank = ranks(weights)
        moved_rank = {c: rank.get(c) for c in shape.moved}
    common = {
        "shape": shape.name, "kind": shape.kind, "columns": len(shape.columns),
        "injected": shape.injected, "moved_inputs": shape.moved,
        "moved_inputs_rank": moved_rank,
        "moves_top10_input": (any(r is not None and r <= TOP for r in moved_rank.values())
                              if moved_rank is not None else bool(shape.moved)),
        "rows_per_day_median": int(np.median([f.height for f in m.by_day.values()])),
        "null_days": len(shape.timeline.null_days), "notes": shape.notes,
    }
    if weights is not None:
        common["top10_inputs"] = sorted(weights, key=lambda c: -weights[c])[:TOP]
    records = []
    cal = None
    for method in METHODS:
        t0, c0 = time.perf_counter(), time.process_time()
        verdicts, ep, detail, first_cal = method_run(m, method, weights)
        if method == "lakeloop":
            cal = first_cal
            detail["importance_s"] = round(importance_s, 1)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        records.append({**common, "method": method, **ep, "seconds": round(seconds, 1),
                        "cpu_s": round(cpu, 1), "detail": detail})
        log(f"  {shape.name} {method}: {ep['false_episodes']} false episodes / "
            f"{ep['quiet_days']} quiet days, delay {ep['delay_days']} ({seconds:.0f}s)")
    if check:
        t0 = time.perf_counter()
        checked = check_days(m, cal, check)
        for r in records:
            r["check"] = checked
        log(f"  {shape.name} check ({time.perf_counter() - t0:.0f}s): {checked}")
    return records


# -- output -----------------------------------------------------------------------------------

def cell(r: dict[str, Any]) -> str:
    """``false episodes (quiet days flagged) | delay``."""
    if r.get("false_episodes") is None:
        return "n/a"
    delay = "-" if r["delay_days"] is None else f"{r['delay_days']} d"
    return f"{r['false_episodes']} ({r['drifted_quiet_days']} d) | {delay}"


def table(records: list[dict[str, Any]]) -> list[str]:
    by_shape: dict[str, dict[str, dict[str, Any]]] = {}
    for r in records:
        by_shape.setdefault(r["shape"], {})[r["method"]] = r
    head = f"{'shape':<19} {'cols':>4} {'quiet':>5} {'moved input (rank)':<24} " + " ".join(
        f"{m:<18}" for m in METHODS)
    lines = [head, "-" * len(head)]
    for name, methods in by_shape.items():
        any_r = next(iter(methods.values()))
        ranks_ = any_r.get("moved_inputs_rank") or {}
        by_rank = sorted(any_r["moved_inputs"], key=lambda c: ranks_.get(c) or 10**6)
        moved = f"{by_rank[0]} ({ranks_.get(by_rank[0], '-')})" if by_rank else "none"
        if len(by_rank) > 1:
            moved += f" +{len(by_rank) - 1}"
        lines.append(f"{name:<19} {any_r['columns']:>4} {any_r.get('quiet_days', 0):>5} "
                     f"{moved:<24} " + " ".join(
                         f"{cell(methods[m]) if m in methods else '':<18}" for m in METHODS))
    return lines


def verdict_lines(records: list[dict[str, Any]]) -> list[str]:
    mine = [r for r in records if r["method"] == "lakeloop" and r.get("false_episodes") is not None]
    over = [r["shape"] for r in mine
            if r["false_episodes"] > GOAL_FALSE * max(r["quiet_days"], 1) / 60]
    late = [f"{r['shape']} ({r['delay_days']})" for r in mine
            if r["moves_top10_input"] and (r["delay_days"] is None
                                           or r["delay_days"] > GOAL_DELAY)]
    judged = [r for r in mine if r["moves_top10_input"]]
    return [
        f"goal: lakeloop <= {GOAL_FALSE} false episode per 60 quiet days on every shape: "
        + ("met" if not over else f"NOT met on {', '.join(over)}"),
        f"goal: every drift moving a top-{TOP} input detected within {GOAL_DELAY} days: "
        + (f"met ({len(judged)} shapes)" if not late else
           f"NOT met on {', '.join(late)} of {len(judged)} shapes"),
    ]


SHAPES = ("simulator_fraud", "partner_fraud", "wide_sparse", "missingness_change",
          "volume_change", "concept", "concept_pure", "series_few", "series_many")
WIDE = SHAPES[2:7]


def build(name: str, quick: bool, seed: int) -> Shape:
    """A shape by name, full size or ``--quick``'s."""
    quiet, after = (20, 8) if quick else (QUIET_DAYS, AFTER_DAYS)
    if name.endswith("_fraud"):
        return simulated_events(name.removesuffix("_fraud"), 0.02 if quick else 0.1, 7, quiet,
                                after)
    if name in WIDE:  # each its own seed: their quiet days are independent samples
        return wide_shape(name, 1_000 if quick else 2_000, seed + WIDE.index(name), quiet,
                          after, width=1 / 3 if quick else 1.0)
    series_quiet = quiet * 7 // 6 + 1  # closed on Sundays: as many open quiet days
    n = 50 if name == "series_few" else (1_000 if quick else 5_000)
    return series_shape(name, n, seed + (name == "series_many"), series_quiet, after)


def build_and_run(name: str, quick: bool, seed: int, check: int, verbose: bool
                  ) -> list[dict[str, Any]]:
    def log(message: str) -> None:
        if verbose:
            print(message, file=sys.stderr, flush=True)

    t0, c0 = time.perf_counter(), time.process_time()
    shape = build(name, quick, seed)
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    log(f"{name}: built in {build_s:.0f}s ({shape.frame.height:,} rows, "
        f"{len(shape.columns)} monitored columns)")
    records = run_shape(shape, check, log)
    for r in records:
        r["build_s"], r["build_cpu_s"] = round(build_s, 1), round(build_cpu, 1)
    return records


def code_version() -> str:
    """The commit the figures are of (``-dirty``: lakeloop/ had uncommitted changes)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "lakeloop"], cwd=root,
                               text=True, capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smaller shapes (a third of the wide columns, 1,000 rows a day, "
                   "scale 0.02), 20 quiet days: a check of the bench, not its figures")
    p.add_argument("--only", default="", help=f"comma-separated shape names: {SHAPES}")
    p.add_argument("--check-days", type=int, default=1,
                   help="days per shape on which the fast paths are compared with "
                   "compute_drift and Evidently's Report (0: none)")
    p.add_argument("--jobs", type=int, default=2, help="shapes run at once (processes)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--json", type=Path, default=RESULTS)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args()
    wanted = [n.strip() for n in args.only.split(",") if n.strip()] or list(SHAPES)
    unknown = sorted(set(wanted) - set(SHAPES))
    if unknown:
        p.error(f"unknown shapes {unknown}: one of {list(SHAPES)}")
    command = "bench/bench_drift.py " + " ".join(sys.argv[1:])
    version = code_version()
    started = time.perf_counter()
    records: list[dict[str, Any]] = []
    # the costliest first, so two workers finish together
    order = sorted(wanted, key=lambda n: (n not in ("partner_fraud", *WIDE), SHAPES.index(n)))
    if args.jobs > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(build_and_run, n, args.quick, args.seed, args.check_days,
                                   not args.quiet) for n in order]
            for f in futures:
                records += f.result()
    else:
        for n in order:
            records += build_and_run(n, args.quick, args.seed, args.check_days, not args.quiet)
    records.sort(key=lambda r: (SHAPES.index(r["shape"]), METHODS.index(r["method"])))
    total = time.perf_counter() - started
    after = records[0]["after_days"] if records else 0
    for r in records:
        r["command"] = command.strip()
        r["quick"] = args.quick
        r["machine"] = (f"{platform.processor() or platform.machine()}, "
                        f"{len(os.sched_getaffinity(0))} cores, {args.jobs} jobs")
        r["date"] = dt.date.today().isoformat()
        r["commit"] = version
        r["total_s"] = round(total, 1)
    print(f"command: {command.strip()}; lakeloop at {version}; "
          f"{len(os.sched_getaffinity(0))} cores, {args.jobs} jobs; cell: false episodes on "
          f"the quiet days (quiet days flagged) | delay to the "
          f"first episode opened from the drift's first day ('-': none within the {after} "
          f"days after it)")
    for text in table(records):
        print(text)
    for text in verdict_lines(records):
        print(text)
    print(f"total {total:.0f}s; records in {args.json}")
    args.json.parent.mkdir(exist_ok=True)
    args.json.write_text(json.dumps(records, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
