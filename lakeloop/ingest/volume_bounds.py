"""A day's lower bound on rows, learnt from the same weekday's history, to a budget.

A fixed share of the recent median (it was 30 %) refuses a quiet Saturday on a feed whose
Saturdays hold a quarter of a Monday's rows, and accepts a Monday cut in half. So the bound
is learnt from the days like it: the row counts of the same weekday over the last weeks,
on the log scale (a day's volume varies by a factor, not by a number of rows), bound at
Student's t prediction interval for a new day (the drift calibration's null model,
``lakeloop.monitoring.calibration.NullModel``) at the one-sided rate the contract's budget of
false refusals allows; its spread never below a Poisson count's (variance >= mean: the
quasi-Poisson / negative binomial view of counts, McCullagh & Nelder 1989), so a few weeks
that happen to agree closely do not set a floor that ordinary sampling falls under. With
too few such days the caller falls back to a share of the recent median until the history
is there. The manifest stays the exact check.
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
    # a count varies at least as a Poisson count does (variance >= mean: the log's sd >=
    # 1 / sqrt(count)); eight days that happen to agree within 0.6 % (a partner feed of
    # ~4,800 rows, whose Poisson spread alone is 1.4 %) set a floor a quiet day fell under
    sd = max(math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1)),
             1 / math.sqrt(math.exp(mean)))
    bound = mean - float(student.isf(rate, n - 1)) * sd * math.sqrt(1 + 1 / n)
    return int(math.floor(math.exp(bound)))
