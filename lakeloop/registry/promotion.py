"""Champion/challenger: promote only what beats the champion on the same data, beyond noise.

The challenger and the champion are scored on the same, newest test window.

- ``decide`` (forecasting): the challenger must beat the best baseline, and beat the champion
  by ``margin`` (absolute, on ``metric``).
- ``decide_paired`` (classification): the challenger must beat the champion by ``margin`` *and*
  the lower end of the paired bootstrap interval of the difference must be above 0 - a win
  inside the noise of a small test window is no win. With no champion the challenger serves
  (a champion always serves); a test window with fewer positives than required cannot
  replace a champion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from lakeloop.registry.model_registry import ModelRegistry, ModelVersion


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    metric: str
    challenger: float
    champion: float | None
    baseline: float
    family: str | None = None  # the challenger's model family
    interval: dict[str, float] | None = None  # bootstrap interval of the challenger's metric
    difference: dict[str, float] | None = None  # ... of challenger minus champion (paired)
    test_positives: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def decide(metric: str, challenger: float, baseline: float, champion: float | None,
           margin: float, higher_is_better: bool = True) -> Decision:
    """Promotion decision; for error metrics (MASE, MAE) pass ``higher_is_better=False``."""
    sign = 1.0 if higher_is_better else -1.0
    def fmt(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.4f}"

    def d(promote: bool, why: str) -> Decision:
        return Decision(promote, why, metric, challenger, champion, baseline)

    if math.isnan(challenger):
        return d(False, f"challenger {metric} is undefined on the test window (no positives?)")
    if sign * challenger <= sign * baseline:
        return d(False, f"challenger {metric} {fmt(challenger)} does not beat the best baseline "
                 f"{fmt(baseline)}")
    if champion is None or math.isnan(champion):
        return d(True, f"first model: {metric} {fmt(challenger)} beats the best baseline "
                 f"{fmt(baseline)}")
    if sign * (challenger - champion) >= margin:
        return d(True, f"challenger {metric} {fmt(challenger)} beats champion {fmt(champion)} "
                 f"by >= {margin} on the same test window")
    return d(False, f"challenger {metric} {fmt(challenger)} does not beat champion "
             f"{fmt(champion)} by the margin {margin}; kept as challenger")


def _fmt_interval(iv: dict[str, float] | None) -> str:
    return "" if not iv or math.isnan(iv["low"]) else \
        f" [{iv['low']:+.4f}, {iv['high']:+.4f}] ({iv['level']:.0%} interval)"


def decide_paired(metric: str, family: str, challenger: float, interval: dict[str, float],
                  baseline: float, champion: float | None,
                  difference: dict[str, float] | None, margin: float, positives: int,
                  min_positives: int) -> Decision:
    """Classification promotion (higher ``metric`` is better), see the module docstring."""
    def d(promote: bool, why: str) -> Decision:
        return Decision(promote, why, metric, challenger, champion, baseline, family,
                        interval, difference, positives)

    head = f"{family} challenger {metric} {challenger:.4f}"
    vs_base = (f"; logistic regression {baseline:.4f}" if not math.isnan(baseline) else "")
    if champion is None or math.isnan(champion):
        if math.isnan(challenger):
            return d(True, f"first model ({family}): {metric} undefined on a test window with "
                     f"no positives - it serves because something must; retrain when labels "
                     "have landed")
        few = "" if positives >= min_positives else \
            f"; only {positives} test positives (< {min_positives}): a rough estimate"
        return d(True, f"first model: {head}{_fmt_interval(interval)}{vs_base}{few}")
    if math.isnan(challenger):
        return d(False, f"{head}: undefined on the test window (no positives); kept")
    if positives < min_positives:
        return d(False, f"test window holds {positives} positives, fewer than the "
                 f"{min_positives} needed to replace a champion; kept as challenger")
    gain = challenger - champion
    low = difference["low"] if difference else float("nan")
    if gain >= margin and low > 0:
        return d(True, f"{head} beats champion {champion:.4f} by {gain:+.4f} (difference"
                 f"{_fmt_interval(difference)}, above 0) on the same test window")
    if gain >= margin:
        return d(False, f"{head} beats champion {champion:.4f} by {gain:+.4f}, within the "
                 f"noise (difference{_fmt_interval(difference)} includes 0); kept as "
                 "challenger")
    return d(False, f"{head} does not beat champion {champion:.4f} by the margin {margin} "
             f"(difference{_fmt_interval(difference)}); kept as challenger")


def register_and_apply(registry: ModelRegistry, model: str,
                       state: dict[str, torch.Tensor] | None, meta: dict[str, Any],
                       decision: Decision, champion: ModelVersion | None,
                       log: Callable[[str], None] = print,
                       files: dict[str, bytes] | None = None) -> ModelVersion:
    """Register the challenger (a torch ``state``, other ``files``, or meta alone for a rule)
    with its decision and the champion it was compared with, then promote it if it won."""
    version = registry.register(model, state, {
        **meta, "decision": decision.as_dict(),
        "champion_at_training": None if champion is None else champion.version}, files=files)
    if decision.promote:
        registry.promote(model, version.version, decision.reason)
    outcome = "PROMOTED" if decision.promote else "kept as challenger"
    log(f"{model} {version.version}: {outcome} - {decision.reason}")
    return version


def training_meta(seed: int, device: str, result: Any) -> dict[str, Any]:
    """What every registered version records about how it was trained (``result``: a
    fraud or demand training result)."""
    return {"seed": seed, "torch_device": device, "train_seconds": result.seconds,
            "samples_per_s": result.samples_per_s, "epochs": result.epochs}
