"""A day's lower bound on rows, learnt from the same weekday's history, to a budget.

A fixed share of the recent median (it was 30 %) refuses a quiet Saturday on a feed whose
Saturdays hold a quarter of a Monday's rows, and accepts a Monday cut in half. So the bound
is learnt from the days like it: the row counts of the same weekday over the last weeks,
on the log scale (a day's volume varies by a factor, not by a number of rows), bound at
Student's t prediction interval for a new day (the drift calibration's null model,
``lakeloop.monitoring.calibration.NullModel``) at the one-sided rate the contract's budget of
false refusals allows. With too few such days the caller falls back to a share of the
recent median until the history is there. The manifest stays the exact check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MIN_SAME_WEEKDAYS = 4  # fewer: no spread to learn from (the median-share rule decides)


def learnt_floor(counts: Sequence[int], rate: float) -> int | None:
    """The row count below which a day is refused: ``exp(mean - t * sd * sqrt(1 + 1/n))``
    of the log counts of ``counts`` (the same weekday's recent days), ``t`` Student's
    quantile at ``1 - rate`` with ``n - 1`` degrees of freedom. None with fewer than
    ``MIN_SAME_WEEKDAYS`` non-empty days."""
    from scipy.stats import t as student

    logs = [math.log(c) for c in counts if c > 0]
    n = len(logs)
    if n < MIN_SAME_WEEKDAYS:
        return None
    mean = sum(logs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
    bound = mean - float(student.isf(rate, n - 1)) * sd * math.sqrt(1 + 1 / n)
    return int(math.floor(math.exp(bound)))
