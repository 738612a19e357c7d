"""Realised performance decay, judged against what the champion promised, to the budget.

Once labels mature, the champion's pooled PR-AUC on a week of its own scores is compared with
its PR-AUC on its test window (what it promised when promoted). A fixed relative margin (it
was 30 %, read off the demo's quiet weeks) is a threshold tuned to one feed: on a feed with
few positives a quiet week moves by more, on a large one a real decay hides inside it. So
the margin is learnt from the champion's own figures:

* **Sampling noise.** A PR-AUC over ``n`` positives has, on the logit scale, a standard error
  of ``1 / sqrt(n * theta * (1 - theta))`` (Boyd, Eng & Page 2013, the logit interval for
  the area under the precision-recall curve), for the test window and for the pooled week.
* **Period-to-period variation.** A model does not score every period alike even when
  nothing is wrong. The champion was measured on two periods before promotion - validation
  and test - and the spread between them beyond their sampling noise is the between-period
  variance ``tau^2`` (DerSimonian & Laird 1986, the random-effects estimate, here with two
  periods).
* **Verdict.** ``z = (logit(promised) - logit(realised)) / sqrt(se_test^2 + tau^2 +
  se_week^2)``; the week decayed when ``z`` exceeds the normal quantile of the per-day
  rate the false-alarm budget gives this signal. Consecutive pooled weeks share six of
  their seven days, so each decayed day is budgeted as an episode of its own (the drift
  calibration's ``effective_rule``).

Pure functions: the monitor (``domain_monitor.classification_performance``) calls them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EDGE = 1e-3  # a PR-AUC of exactly 0 or 1 has no logit: clipped this far inside


def _logit(p: float) -> float:
    p = min(max(p, EDGE), 1 - EDGE)
    return math.log(p / (1 - p))


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def logit_variance(pr_auc: float, positives: int) -> float:
    """Boyd et al. (2013): the sampling variance of ``logit(PR-AUC)`` over ``positives``."""
    p = min(max(pr_auc, EDGE), 1 - EDGE)
    return 1 / (max(positives, 1) * p * (1 - p))


def between_period_variance(a: float, a_positives: int, b: float, b_positives: int) -> float:
    """DerSimonian-Laird ``tau^2`` of two periods' PR-AUCs (logit scale): how much more they
    differ than their sampling noise says (0 when they agree within it)."""
    x = [_logit(a), _logit(b)]
    w = [1 / logit_variance(a, a_positives), 1 / logit_variance(b, b_positives)]
    mean = (w[0] * x[0] + w[1] * x[1]) / (w[0] + w[1])
    q = sum(wi * (xi - mean) ** 2 for wi, xi in zip(w, x, strict=True))
    scale = sum(w) - sum(wi ** 2 for wi in w) / sum(w)
    return max(0.0, (q - 1) / scale)


@dataclass(frozen=True)
class DecayVerdict:
    """A pooled week's verdict: ``floor`` is the PR-AUC below which it counts as decayed."""

    decayed: bool
    z: float
    z_threshold: float
    floor: float
    spread: float  # the logit-scale standard deviation the week was judged with
    tau: float  # its period-to-period part

    def figures(self) -> dict[str, float | bool]:
        return {"decayed": self.decayed, "decay_z": round(self.z, 3),
                "decay_z_threshold": round(self.z_threshold, 3),
                "decay_floor": round(self.floor, 4), "decay_tau": round(self.tau, 4)}


def judge_decay(realised: float, realised_positives: int, promised: float,
                promised_positives: int, rate: float, validation: float | None = None,
                validation_positives: int | None = None) -> DecayVerdict:
    """Did the pooled week's PR-AUC ``realised`` fall below the ``promised`` test PR-AUC by
    more than the champion's own sampling and period-to-period variation allow, at the
    one-sided false-alarm probability ``rate``? (module docstring)"""
    from scipy.stats import norm

    tau2 = 0.0
    if validation is not None and validation_positives:
        tau2 = between_period_variance(validation, validation_positives, promised,
                                       promised_positives)
    spread = math.sqrt(logit_variance(promised, promised_positives) + tau2
                       + logit_variance(realised, realised_positives))
    z = (_logit(promised) - _logit(realised)) / spread
    z_threshold = float(norm.isf(rate))
    return DecayVerdict(z >= z_threshold, z, z_threshold,
                        _expit(_logit(promised) - z_threshold * spread), spread,
                        math.sqrt(tau2))
