"""Classification metrics against answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from lakeloop.models.metrics import (
    bootstrap_interval,
    classification_metrics,
    precision_at_recall,
    recall_at_alert_rate,
)

SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])


def test_precision_at_half_recall_is_taken_at_the_highest_threshold_reaching_it() -> None:
    y = np.array([1, 0, 0, 0, 1, 1, 1, 1])  # by rank; 5 positives, half recall = 3 of them
    # threshold 0.4 (top 6) is the highest with recall >= 0.5: precision 3/6. Precision rises
    # again further down (top 8: 5/8), which "best precision at any recall >= 0.5" reported.
    assert precision_at_recall(y, SCORES, 0.5) == pytest.approx(3 / 6)
    assert precision_at_recall(np.array([1, 1, 0, 0, 0, 0, 0, 0]), SCORES, 0.5) == 1.0
    assert np.isnan(precision_at_recall(np.zeros(8, dtype=int), SCORES, 0.5))


def test_ranking_metrics_known_answers() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0])
    m = classification_metrics(y, SCORES)
    assert m["pr_auc"] == pytest.approx((1 / 1 + 2 / 3) / 2)  # precision at each positive
    assert m["roc_auc"] == pytest.approx((6 + 5) / 12)  # pairs ranked right / all pairs
    assert m["precision_at_50pct_recall"] == 1.0  # top 1 already holds half the positives
    assert m["positives"] == 2 and m["rows"] == 8 and m["positive_rate"] == 0.25
    assert recall_at_alert_rate(y, SCORES, 0.25) == 0.5  # top 2 of 8 hold 1 of 2 positives
    assert recall_at_alert_rate(y, SCORES, 0.375) == 1.0  # top 3 hold both


def test_bootstrap_interval_brackets_the_estimate_and_pairs_cancel_shared_noise() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(4_000) < 0.03).astype(int)
    good = y * 1.0 + rng.normal(0, 0.6, y.size)
    worse = y * 0.6 + rng.normal(0, 0.6, y.size)
    point = classification_metrics(y, good)["pr_auc"]
    iv = bootstrap_interval(y, good, resamples=100)
    assert iv["low"] < point < iv["high"] and iv["high"] - iv["low"] < 0.3
    same = bootstrap_interval(y, good, good, resamples=50)
    assert same["low"] == same["high"] == 0.0  # a model against itself: no difference at all
    diff = bootstrap_interval(y, good, worse, resamples=100)
    assert diff["low"] > 0  # a clearly better model wins beyond the noise
    assert np.isnan(bootstrap_interval(np.zeros(10, dtype=int), good[:10])["low"])
