"""Realised performance decay judged to the budget (``lakeloop.monitoring.performance_decay``): the
margin comes from the champion's own positives and periods, not a fixed 30 %."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from lakeloop.monitoring.performance_decay import (
    between_period_variance,
    judge_decay,
    logit_variance,
)


def _week(rng: np.random.Generator, positives: int, separation: float) -> tuple[float, int]:
    """A week's PR-AUC: ``positives`` frauds among 50x as many legitimate rows, scored with
    the given separation of the two classes."""
    y = np.r_[np.ones(positives), np.zeros(50 * positives)]
    score = rng.normal(0, 1, y.size) + separation * y
    return float(average_precision_score(y, score)), positives


def test_quiet_weeks_stay_within_the_rate_and_a_real_decay_is_caught() -> None:
    """A champion as good in production as on its test window: the share of weeks called
    decayed stays near the rate asked for (within a factor 2.5 over 400 weeks), whether the
    weeks hold 30 frauds or 600; a week whose classes separate much less is caught."""
    rng = np.random.default_rng(5)
    rate = 0.02
    for positives in (30, 600):
        promised, n_test = _week(rng, 4 * positives, 2.5)
        val, n_val = _week(rng, 4 * positives, 2.5)
        flagged = [judge_decay(*_week(rng, positives, 2.5), promised, n_test, rate, val,
                               n_val).decayed for _ in range(400)]
        assert np.mean(flagged) <= rate * 2.5, (positives, np.mean(flagged))
        worse = judge_decay(*_week(rng, positives, 1.2), promised, n_test, rate, val, n_val)
        assert worse.decayed and worse.z > worse.z_threshold
    # the bound follows the evidence: more positives, a tighter floor under the same promise
    thin = judge_decay(0.5, 30, 0.6, 120, rate)
    thick = judge_decay(0.5, 3_000, 0.6, 12_000, rate)
    assert thin.floor < thick.floor < 0.6 and not thin.decayed and thick.decayed


def test_a_champion_whose_periods_disagree_gets_a_wider_margin() -> None:
    """Validation and test PR-AUCs further apart than their sampling noise: the periods
    themselves differ, and a production week may differ as much (DerSimonian-Laird)."""
    assert between_period_variance(0.6, 500, 0.6, 500) == 0.0
    assert between_period_variance(0.45, 500, 0.65, 500) > 0
    steady = judge_decay(0.5, 400, 0.6, 400, 0.02, validation=0.6, validation_positives=400)
    moody = judge_decay(0.5, 400, 0.6, 400, 0.02, validation=0.45, validation_positives=400)
    assert moody.tau > steady.tau == 0 and moody.floor < steady.floor
    assert logit_variance(0.5, 100) == pytest.approx(1 / 25)
