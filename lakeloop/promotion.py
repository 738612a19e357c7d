"""Champion/challenger: promote only what beats the baseline and the champion on the same data.

The challenger and the champion are scored on the same, newest test window; the challenger
must beat the best baseline, and beat the champion by ``margin`` (absolute, on ``metric``).
The first model promotes if it beats the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from lakeloop.registry import ModelRegistry, ModelVersion


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    metric: str
    challenger: float
    champion: float | None
    baseline: float

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


def register_and_apply(registry: ModelRegistry, model: str, state: dict[str, torch.Tensor],
                       meta: dict[str, Any], decision: Decision, champion: ModelVersion | None,
                       log: Callable[[str], None] = print) -> ModelVersion:
    """Register the challenger with its decision and the champion it was compared with, then
    promote it if it won."""
    version = registry.register(model, state, {
        **meta, "decision": decision.as_dict(),
        "champion_at_training": None if champion is None else champion.version})
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
