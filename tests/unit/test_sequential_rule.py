"""Drift that builds up over days (``lakeloop.alerting.sequential``): Page's CUSUM on the days'
calibrated evidence opens an episode that no single day's verdict would, keeps its expected
run between false alarms on quiet days, and starts again when the reference moves."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from lakeloop.alerting.policy import EpisodeState, RetrainPolicy, step
from lakeloop.alerting.sequential import (
    K,
    average_run_length,
    cusum_step,
    cusum_threshold,
)

D0 = dt.date(2026, 2, 1)
POLICY = RetrainPolicy()


def _opened(evidence: list[float], threshold: float, references: list[str] | None = None,
            state: EpisodeState | None = None) -> list[int]:
    """Day numbers (1 = D0) on which an episode opened; no day is flagged on its own."""
    state = state or EpisodeState()
    out = []
    for i, u in enumerate(evidence):
        ref = references[i] if references else "v0001"
        actions = step(state, D0 + dt.timedelta(days=i), False, POLICY, "demand",
                       reference=ref, evidence=u, evidence_threshold=threshold)
        out += [i + 1 for a in actions if a.kind == "open"]
    return out


def test_the_threshold_is_solved_for_the_run_length_the_budget_allows() -> None:
    for arl in (60, 240, 720):
        h = cusum_threshold(arl)
        assert average_run_length(h) == pytest.approx(arl, rel=1e-6)
    assert cusum_threshold(240) > cusum_threshold(60)  # a tighter budget waits for more


def test_quiet_evidence_alarms_about_once_per_run_length() -> None:
    """Siegmund's approximation against simulation: N(0, 1) evidence (quiet days) reaches
    ``h`` after ``arl`` days on average (tolerance 15 %: 1,500 runs)."""
    rng = np.random.default_rng(3)
    arl = 120
    h = cusum_threshold(arl)
    runs = []
    for _ in range(1_500):
        s, t = 0.0, 0
        while s < h:
            s, t = cusum_step(s, float(rng.normal())), t + 1
        runs.append(t)
    assert float(np.mean(runs)) == pytest.approx(arl, rel=0.15)


def test_evidence_kept_up_opens_an_episode_no_single_day_would() -> None:
    h = cusum_threshold(240)
    # every day 1.5 spreads above quiet: the sum grows by 1.0 a day and crosses h on day 4
    assert _opened([1.5] * 6, h) == [int(np.ceil(h / (1.5 - K)))]
    # the same evidence on alternate days only: quiet days in between take it back
    assert _opened([1.5, -1.5] * 6, h) == []
    # an uncalibrated monitor (no threshold) keeps the day rule alone
    assert _opened([3.0] * 6, None) == []  # type: ignore[arg-type]


def test_a_moved_reference_starts_the_sum_again() -> None:
    h = cusum_threshold(240)
    refs = ["v0001"] * 3 + ["v0002"] * 3
    # three days of 1.5 (sum 3.0 < h), then a promotion: the new reference's days start at 0
    assert _opened([1.5] * 6, h, refs) == []
    state = EpisodeState()
    _opened([1.5] * 3, h, state=state)
    assert state.evidence == pytest.approx(3.0)
    restored = EpisodeState.from_dict(state.to_dict())  # the sensor's cursor keeps the sum
    assert restored.evidence == pytest.approx(3.0)
    assert EpisodeState.from_dict({"open": False}).evidence == 0.0  # a cursor of before


def test_the_opening_alert_says_the_drift_built_up() -> None:
    state = EpisodeState()
    h = cusum_threshold(240)
    for i in range(5):
        actions = step(state, D0 + dt.timedelta(days=i), False, POLICY, "demand",
                       reference="v0001", evidence=1.5, evidence_threshold=h)
        if actions:
            assert actions[0].kind == "open" and "building up over days" in actions[0].reason
            assert state.evidence == 0.0  # the next episode builds its own
            return
    raise AssertionError("no episode opened")
