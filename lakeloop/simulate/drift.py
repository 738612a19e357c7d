"""Drift injections for the simulator: ``KIND@DAY`` where DAY is a date or a day number."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DRIFT_KINDS: dict[str, str] = {
    "covariate": "transactions: amounts x1.6 and the channel mix moves to e-commerce",
    "concept": "transactions: a new fraud pattern (bot ring: night-time e-commerce bursts from "
    "emulated devices) that no model has seen",
    "demand_level": "sales: demand level shift (x1.5) in half of the stores",
    "seasonality": "sales: a new weekly pattern (mid-week peak instead of the weekend)",
}


@dataclass(frozen=True)
class Drift:
    kind: str
    day: dt.date

    def active(self, day: dt.date) -> bool:
        return day >= self.day


def parse_drift(spec: str, start: dt.date) -> Drift:
    """``concept@2026-02-10`` or ``concept@40`` (day number, 0 = ``start``)."""
    kind, sep, when = spec.partition("@")
    if not sep or kind not in DRIFT_KINDS:
        raise ValueError(
            f"bad drift {spec!r}: expected KIND@DAY with KIND one of {sorted(DRIFT_KINDS)}"
        )
    try:
        day = start + dt.timedelta(days=int(when))
    except ValueError:
        try:
            day = dt.date.fromisoformat(when)
        except ValueError as exc:
            raise ValueError(f"bad drift day {when!r}: a day number or YYYY-MM-DD") from exc
    return Drift(kind, day)


def active_kinds(drifts: tuple[Drift, ...], day: dt.date) -> frozenset[str]:
    return frozenset(d.kind for d in drifts if d.active(day))
