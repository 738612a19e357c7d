"""Drift thresholds learnt from a domain's own history (``lakeloop.monitoring.calibration``), on
generated days whose quiet variation is *not* i.i.d. sampling noise: each day has its own
level, missing share and mix (a real feed's day-to-day wobble), so fixed thresholds tuned on
one feed would be wrong on it."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from lakeloop.alerting.policy import EpisodeState, RetrainPolicy, step
from lakeloop.monitoring.calibration import Budget, Calibration, DayScore, calibrate, day_rate
from lakeloop.monitoring.drift import compute_drift
from lakeloop.monitoring.measure import DriftConfig, measure

COLUMNS = ["amount", "few", "sparse", "often_missing", "channel", "unused"]
CFG = DriftConfig(sample_size=2_000)


def _day(seed: int, n: int = 2_000, amount_shift: float = 0.0, unused_shift: float = 0.0,
         missing: float | None = None) -> pl.DataFrame:
    """One day: a day-level random effect on every column (quiet days differ by more than
    sampling noise), a few-valued count, a sparse heavy-tailed column, an often-missing one."""
    rng = np.random.default_rng(seed)
    wobble = rng.normal(0, 1, 6)
    p_missing = missing if missing is not None else float(np.clip(0.3 + 0.06 * wobble[0], 0, 1))
    often = rng.normal(0.1 * wobble[1], 1, n)
    often[rng.random(n) < p_missing] = np.nan
    p_channel = np.clip(np.array([0.6, 0.3, 0.1]) + 0.04 * wobble[2] * np.array([1, -1, 0]),
                        0.01, None)
    return pl.DataFrame({
        "amount": rng.lognormal(3.0 + 0.15 * wobble[3] + amount_shift, 0.8, n),
        "few": rng.poisson(1.0 + 0.2 * wobble[4], n).clip(0, 5),
        "sparse": np.where(rng.random(n) < 0.85, 0.0, rng.pareto(2.5, n) * 10),
        "often_missing": often,
        "channel": rng.choice(["pos", "ecom", "moto"], n, p=p_channel / p_channel.sum()),
        "unused": rng.normal(0.1 * wobble[5] + unused_shift, 1, n),
    })


def _reference() -> pl.DataFrame:
    return pl.concat([_day(seed) for seed in range(7)])


def _calibrated(weights: dict[str, float] | None = None, days: int = 28) -> Calibration:
    null = {f"day{i}": _day(1_000 + i) for i in range(days)}
    cal = calibrate(_reference(), null, COLUMNS, CFG, weights=weights, importance="gain")
    assert cal is not None
    return cal


def _score(cal: Calibration, day: pl.DataFrame) -> DayScore:
    m = measure(_reference(), day, COLUMNS, CFG, current_rows=cal.current_rows)
    return cal.assess(m)


def test_budget_sets_the_per_day_rate_through_the_episode_rule() -> None:
    p = day_rate(Budget(1, 60), k=2, n=3)
    # 2-of-3 opens on a day that drifted after exactly one drifted day among the two before
    assert 2 * p ** 2 * (1 - p) == pytest.approx(1 / 60, rel=1e-6)
    assert day_rate(Budget(1, 60), k=1, n=1) == pytest.approx(1 / 60)
    assert day_rate(Budget(1, 60), signals=2) == pytest.approx(p / 2)
    assert day_rate(Budget(1, 30)) > p  # a looser budget allows more alarms
    # a thin feed's pooled days share rows: each flagged day is budgeted as an episode
    from lakeloop.monitoring.calibration import effective_rule

    assert effective_rule(2, 3, pooled_days=1) == (2, 3)
    assert day_rate(Budget(1, 60), *effective_rule(2, 3, pooled_days=4), signals=2) == \
        pytest.approx(1 / 120)


def test_the_budget_is_shared_by_the_day_rule_and_the_sequential_rule() -> None:
    from lakeloop.alerting.sequential import cusum_threshold
    from lakeloop.monitoring.calibration import SEQUENTIAL_SHARE

    cal = _calibrated(days=12)
    daily = Budget(1, 60).share(1 - SEQUENTIAL_SHARE)
    assert cal.rate == pytest.approx(day_rate(daily, signals=cal.signals))
    # over days: a false episode from the sum every signals / (share of 1/60) days
    assert cal.sequential_threshold == pytest.approx(
        cusum_threshold(cal.signals / (SEQUENTIAL_SHARE / 60)))
    quiet = _score(cal, _day(9_001))
    assert quiet.evidence is not None and quiet.evidence_threshold == cal.sequential_threshold
    assert Calibration.from_dict(cal.to_dict()).evidence(quiet.value) == \
        pytest.approx(quiet.evidence)


@pytest.mark.slow
def test_calibration_on_a_synthetic_null_keeps_the_budgeted_rate() -> None:
    """Quiet days like the history: the share of days called drifted stays near the per-day
    rate the budget allows (tolerance: within a factor 2.5 either way over 240 days - the
    threshold itself is estimated from 28 days), and episodes stay within the budget."""
    cal = _calibrated()
    days = 240
    scores = [_score(cal, _day(5_000 + i)) for i in range(days)]
    rate = sum(s.value >= s.threshold for s in scores) / days
    assert cal.rate / 2.5 <= rate <= cal.rate * 2.5, (rate, cal.rate)
    state, episodes = EpisodeState(), 0
    import datetime as dt

    for i, score in enumerate(scores):
        actions = step(state, dt.date(2026, 1, 1) + dt.timedelta(days=i), score.drifted_day,
                       RetrainPolicy(), "d", evidence=score.evidence,
                       evidence_threshold=score.evidence_threshold)
        episodes += any(a.kind == "open" for a in actions)
    # both rules, day by day and over days: budget 1 per 60 days, with the same tolerance
    assert episodes <= 2 * days / 60


@pytest.mark.slow
def test_fixed_thresholds_alarm_on_the_same_quiet_days() -> None:
    """Why calibration: the previous fixed settings call most of these quiet days drifted."""
    previous = DriftConfig(column_threshold=0.05, drift_share=0.15, min_drifted_columns=3,
                           sample_size=2_000, column_nature=False, calibrate=False)
    flagged = sum(compute_drift(_reference(), _day(5_000 + i), COLUMNS, previous).dataset_drift
                  for i in range(10))
    assert flagged >= 5


def test_a_few_valued_number_is_compared_as_categories_and_a_sparse_one_on_quantiles() -> None:
    m = measure(_reference(), _day(99), COLUMNS, CFG)
    labels = {c: m.plan.labels[c] for c in ("few", "sparse", "amount")}
    assert labels == {"few": "psi on values (few-valued)",
                      "sparse": "psi on reference 10-quantile bins",
                      "amount": "psi on reference 10-quantile bins"}
    # the sparse column's zeros are one bin of their own, values new to the few-valued column
    # join "other" rather than a bin edge moving
    assert "=0" in set(m.plan.reference["sparse"].drop_nulls().to_list())
    assert set(m.plan.reference["few"].drop_nulls().unique().to_list()) <= {
        "0.0", "1.0", "2.0", "3.0", "4.0", "5.0"}


def test_the_statistics_are_the_reports_own() -> None:
    """Calibration measures with the stat tests directly; the daily report must agree."""
    result = compute_drift(_reference(), _day(7_777), COLUMNS, CFG)
    direct = measure(_reference(), _day(7_777), COLUMNS, CFG).column_drift
    assert result.column_drift == pytest.approx(direct, rel=1e-9)


def test_importance_weighting_ignores_drift_in_an_unused_column() -> None:
    cal = _calibrated(weights={"amount": 0.6, "few": 0.1, "sparse": 0.1, "often_missing": 0.1,
                               "channel": 0.1, "unused": 0.0})
    unused = compute_drift(_reference(), _day(4_242, unused_shift=1.0), COLUMNS, CFG,
                           calibration=cal)
    assert "unused" in unused.drifted_columns  # reported ...
    assert not unused.dataset_drift  # ... but no alarm: the model does not use it
    used = compute_drift(_reference(), _day(4_242, amount_shift=0.8), COLUMNS, CFG,
                         calibration=cal)
    assert used.dataset_drift and "amount" in used.drifted_columns
    assert used.score is not None and max(used.score.contributions,
                                          key=used.score.contributions.get) == "amount"


def test_missing_share_is_its_own_calibrated_signal() -> None:
    cal = _calibrated()
    quiet = measure(_reference(), _day(8_001), COLUMNS, CFG, current_rows=cal.current_rows)
    assert "often_missing" not in cal.assess(quiet, judged=False) \
        .missing_drifted
    # 0.3 -> 0.75: one of six equally weighted columns, its missing share far off
    result = compute_drift(_reference(), _day(8_001, missing=0.75), COLUMNS, CFG,
                           calibration=cal)
    assert "often_missing (missing)" in result.drifted_columns and result.dataset_drift


def test_calibration_round_trips_as_json_and_needs_enough_history() -> None:
    import json

    cal = _calibrated(days=8)
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    m = measure(_reference(), _day(31), COLUMNS, CFG, current_rows=cal.current_rows)
    assert again.assess(m, judged=False).value == pytest.approx(
        cal.assess(m, judged=False).value, rel=1e-4)
    assert calibrate(_reference(), {"a": _day(1), "b": _day(2)}, COLUMNS, CFG) is None


def test_a_first_model_without_history_is_calibrated_on_its_reference_week() -> None:
    """No days before the reference week: each reference day is measured against the other
    six (NannyML's chunk-to-chunk variation), so a first model still gets learnt thresholds
    - quiet new days pass, a shifted amount is caught - and the calibration says where its
    null came from."""
    from lakeloop.monitoring.calibration import reference_week_null

    reference = pl.concat([_day(seed).with_columns(date=pl.lit(seed)) for seed in range(7)])
    null, references = reference_week_null(reference, min_rows=2_000, max_days=7)
    assert len(null) == 7 and all(not references[k]["date"].is_in(f["date"]).any()
                                  for k, f in null.items())  # each chunk left out of its own
    cal = calibrate(reference.drop("date"), {k: f.drop("date") for k, f in null.items()},
                    COLUMNS, CFG, references={k: f.drop("date") for k, f in references.items()},
                    source="reference week")
    assert cal is not None and cal.source == "reference week"
    assert Calibration.from_dict(cal.to_dict()).source == "reference week"

    def verdict(day: pl.DataFrame) -> bool:
        m = measure(reference.drop("date"), day, COLUMNS, CFG, current_rows=cal.current_rows)
        return cal.assess(m, judged=False).drifted_day

    quiet = [verdict(_day(7_000 + i)) for i in range(20)]
    assert sum(quiet) <= 2, quiet
    # seven chunks make a wide prediction interval (Student's t, 6 degrees of freedom): a
    # shift has to be plain - here e^1 times the amount, ~7 quiet standard deviations
    assert verdict(_day(8_000, amount_shift=1.0))


def test_a_day_thinner_than_the_calibration_is_reported_not_judged() -> None:
    """The first days after a thin feed's reference week cannot pool back onto it: fewer
    rows than the thresholds were learnt at are noisier than the null, so the day's score is
    shown but does not count towards an episode."""
    cal = _calibrated()
    shifted = _day(9_000, amount_shift=1.0)
    m = measure(_reference(), shifted, COLUMNS, CFG, current_rows=cal.current_rows)
    full = cal.assess(m)
    assert full.drifted_day and not full.unjudged
    thin = cal.assess(dataclasses.replace(m, current_rows=cal.current_rows // 3))
    assert not thin.drifted_day and "not judged" in thin.unjudged
    assert thin.value == full.value  # still reported


def _walking(day: int, seed: int, p0: float = 0.10, per_day: float = 0.002,
             n: int = 2_000, p: float | None = None, level: float = 0.0) -> pl.DataFrame:
    """A day whose ``w`` goes missing a little more often each day (a quiet feed's wander: a
    partner's missing shares slide for months) and whose ``x`` wobbles around ``level``."""
    import datetime as dt

    rng = np.random.default_rng([seed, day])
    w = rng.normal(0, 1, n)
    w[rng.random(n) < (p if p is not None else p0 + per_day * day)] = np.nan
    return pl.DataFrame({"x": rng.normal(level + 0.05 * rng.normal(), 1, n), "w": w,
                         "date": [dt.date(2026, 1, 1) + dt.timedelta(days=day)] * n})


def test_a_missing_share_that_wanders_is_allowed_its_wander_at_the_reference_age() -> None:
    """The null days show the wander growing with their distance from the reference, so a
    two-month-old reference allows the wander of two months (a linear variogram: Matheron);
    a step well beyond it still alarms, and a feed that does not wander gets no allowance."""
    from lakeloop.monitoring.calibration import age_days, fit_signed

    cfg = DriftConfig(sample_size=2_000)
    reference = pl.concat([_walking(d, 1) for d in range(21, 28)])
    null = {str(d): _walking(d, 1) for d in range(21)}
    cal = calibrate(reference, null, ["x", "w"], cfg)
    assert cal is not None and cal.missing["w"].trend > 0 and cal.missing["x"].trend == 0

    def day(d: int, **kw: float) -> tuple[bool, float]:
        frame = _walking(d, 2, **kw)
        m = measure(reference, frame, ["x", "w"], cfg, current_rows=cal.current_rows)
        when = frame["date"][0]
        score = cal.assess(m, age_days(reference["date"].min(), reference["date"].max(),
                                       when, when))
        return score.drifted_day, score.z["w (missing)"]

    aged = [day(d) for d in range(80, 95)]  # 2 months on: its own wander
    assert max(z for _, z in aged) < cal.column_z, aged
    assert sum(drifted for drifted, _ in aged) <= 2, aged  # the other signals' own rate
    drifted, z = day(90, p=0.6)
    assert drifted and z > cal.column_z  # a step three times the wander: an alarm
    # without the ages the same wander alarms: what the variogram is for
    unaged = calibrate(reference.drop("date"), {k: f.drop("date") for k, f in null.items()},
                       ["x", "w"], cfg)
    assert unaged is not None and unaged.missing["w"].trend == 0
    m = measure(reference.drop("date"), _walking(90, 2).drop("date"), ["x", "w"], cfg,
                current_rows=unaged.current_rows)
    assert unaged.assess(m, judged=False).z["w (missing)"] > unaged.column_z
    # a stationary null: no slope survives the significance test
    flat = fit_signed(list(np.random.default_rng(3).normal(0, 0.03, 21)),
                      [float(a) for a in range(4, 25)], 0.01)
    assert flat.trend == 0


def test_a_level_shift_is_seen_by_its_location_and_counts_once() -> None:
    """A shift of a quarter of a standard deviation in a wobbling numeric column: the signed
    rank effect (Cliff's delta) flags it, and the column's values count once in the score
    (the larger of its distance and location squares), however both saw it."""
    from lakeloop.monitoring.measure import cliffs_delta

    a = pl.Series([1.0, 2.0, 3.0])
    assert cliffs_delta(a, a + 10) == 1.0 and cliffs_delta(a + 10, a) == -1.0
    assert cliffs_delta(a, a) == 0.0
    cfg = DriftConfig(sample_size=2_000)
    reference = pl.concat([_walking(d, 1, per_day=0.0) for d in range(21, 28)])
    null = {str(d): _walking(d, 1, per_day=0.0) for d in range(21)}
    cal = calibrate(reference, null, ["x", "w"], cfg)
    assert cal is not None
    quiet = [cal.assess(measure(reference, _walking(d, 5, per_day=0.0), ["x", "w"], cfg),
                        judged=False).drifted_day for d in range(30, 50)]
    assert sum(quiet) <= 2, quiet
    m = measure(reference, _walking(40, 5, per_day=0.0, level=0.25), ["x", "w"], cfg)
    score = cal.assess(m, judged=False)
    assert score.z["x (location)"] > cal.column_z
    assert score.drifted_day and "x" in score.drifted
    both = max(score.z["x"], score.z["x (location)"]) ** 2 * cal.weights["x"]
    assert score.contributions["x"] == pytest.approx(both, rel=1e-3)  # z rounded to 3 places
