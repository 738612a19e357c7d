"""Drift that builds up over days: Page's CUSUM on the day's calibrated evidence.

Why a second rule beside "``k`` of the last ``n`` days drifted" (``policy``): a day's verdict
compares one day with a threshold set for a small per-day false-alarm rate, so a drift
that moves the day's score by one or two of its quiet spreads is flagged on some days and
not on others, and ``k`` of ``n`` opens late or never (issue 25's bench: a level shift in
half of 5,000 series waited 4 days, a concept drift on 4 % of rows 4). Each day's score is
first mapped to its *evidence*: the standard normal quantile of its tail probability under
the calibrated null law (``lakeloop.monitoring.calibration.Calibration.evidence``; quiet
days give ``N(0, 1)``). Page's cumulative sum (Page 1954)

    ``S_t = max(0, S_{t-1} + u_t - K)``

adds evidence while it keeps coming and forgets it when a day is quiet; an episode opens when
``S_t >= h``. ``K`` is half the shift the rule is quickest for (one quiet spread: ``K = 0.5``,
Page's reference value ``delta / 2``); ``h`` is set so that the expected run between false
alarms on quiet days is the part of the false-alarm budget given to this rule (Siegmund's
1985 approximation of the average run length, the way alibi-detect's online detectors are
configured by their expected run time). Nothing here depends on the data: the data's own
variation is in the evidence's calibration.
"""

from __future__ import annotations

import math

K = 0.5  # reference value: half of a one-spread shift (Page 1954)
# the evidence of one day is bounded: a quiet day resets the sum anyway, and one absurd day
# (a score far beyond anything the null fit can say) should not outweigh the rule's budget
EVIDENCE_FLOOR, EVIDENCE_CEILING = -4.0, 12.0


def average_run_length(h: float, k: float = K) -> float:
    """Expected days to a false alarm of ``S_t >= h`` on ``N(0, 1)`` evidence (Siegmund's
    approximation with the 1.166 boundary correction)."""
    b = h + 1.166
    return (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)


def cusum_threshold(arl: float, k: float = K) -> float:
    """The ``h`` whose average run length on quiet days is ``arl`` days."""
    lo, hi = 0.0, 1.0
    while average_run_length(hi, k) < arl:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if average_run_length(mid, k) < arl else (lo, mid)
    return hi


def cusum_step(previous: float, evidence: float, k: float = K) -> float:
    """One day of Page's recursion."""
    u = min(max(evidence, EVIDENCE_FLOOR), EVIDENCE_CEILING)
    return max(0.0, previous + u - k)
