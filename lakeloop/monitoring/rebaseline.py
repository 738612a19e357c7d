"""Re-baselining: an operator accepts a new normal as the drift reference of a champion.

Why: drift is measured against the champion's reference week. When the data moves to a new
normal the champion still serves well enough (or no retrain beats it), every day drifts and
the episode never ends. ``lakeloop monitoring accept <domain> --from DAY`` records that the
days from ``DAY`` are the reference from now on; the drift rows then name the new reference
(``Baseline.reference_id``), and the drift sensor resolves the open episode because the
reference moved (``lakeloop.alerting.policy``).

Stored beside the champion pointer, as ``registry/<model>/baseline.json``::

    {"baselines": [{"champion": "v0002", "start": "2026-03-01", "recorded_at": "...",
                    "note": "..."}, ...]}

Records are appended, never replaced, so the history of who accepted what stays; the active
one is the newest for the *current* champion. A promoted retrain therefore supersedes every
baseline of the champion before it: the new champion's own reference week applies again.
The file is written by compare-and-swap on the registry's store (a folder or S3), as the
champion pointer is, so two operators accepting at once both land.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from dataclasses import dataclass
from typing import Any

from lakeloop.alerting.policy import BASELINE_TAG
from lakeloop.registry.model_registry import (
    POINTER_ATTEMPTS,
    ModelRegistry,
    RegistryError,
    _json_object,
)

BASELINE = "baseline.json"


@dataclass(frozen=True)
class Baseline:
    domain: str
    champion: str
    start: dt.date
    recorded_at: str
    note: str

    @property
    def reference_id(self) -> str:
        """What drift measured against this baseline is measured against, as the drift rows
        and the sensor's episodes name it."""
        return f"{self.champion}{BASELINE_TAG}{self.start.isoformat()}"

    def record(self) -> dict[str, Any]:
        return {"champion": self.champion, "start": self.start.isoformat(),
                "recorded_at": self.recorded_at, "note": self.note}


def _parts(registry: ModelRegistry, domain: str) -> tuple[str, ...]:
    return registry._parts(domain, BASELINE)


def _parse(uri: str, domain: str, record: Any) -> Baseline:
    """One stored record, or a RegistryError naming the file: a baseline half-understood
    would move the reference somewhere nobody chose."""
    if not isinstance(record, dict) or not isinstance(record.get("champion"), str):
        raise RegistryError(f"{uri}: a baseline record should be an object with a 'champion'")
    try:
        start = dt.date.fromisoformat(str(record.get("start")))
    except ValueError as exc:
        raise RegistryError(f"{uri}: baseline 'start' is not a date: {record.get('start')!r}"
                            ) from exc
    return Baseline(domain, record["champion"], start, str(record.get("recorded_at", "")),
                    str(record.get("note", "")))


def _read(registry: ModelRegistry, domain: str) -> tuple[list[dict[str, Any]], str | None]:
    """The stored records (oldest first) and the file's tag (None: no file yet)."""
    uri = registry.store.uri(*_parts(registry, domain))
    try:
        data, tag = registry.store.read_with_tag(uri)
    except FileNotFoundError:
        return [], None
    records = _json_object(uri, data).get("baselines")
    if not isinstance(records, list):
        raise RegistryError(f"{uri}: 'baselines' should be a list of records")
    return records, tag


def baselines(registry: ModelRegistry, domain: str) -> list[Baseline]:
    """Every baseline recorded for ``domain``, oldest first (the history)."""
    uri = registry.store.uri(*_parts(registry, domain))
    return [_parse(uri, domain, r) for r in _read(registry, domain)[0]]


def accept_baseline(registry: ModelRegistry, domain: str, start: dt.date,
                    note: str = "") -> Baseline:
    """Record that drift of ``domain``'s current champion is measured against the days from
    ``start`` on; appended to the history by compare-and-swap (re-applied if a concurrent
    writer got there first)."""
    champion = registry.champion_version(domain)
    if champion is None:
        raise ValueError(f"{domain}: no champion to re-baseline: drift is measured against a "
                         "champion's reference, and none is promoted yet")
    baseline = Baseline(domain, champion, start,
                        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), note)
    for attempt in range(POINTER_ATTEMPTS):
        records, tag = _read(registry, domain)
        data = json.dumps({"baselines": [*records, baseline.record()]}, indent=2).encode()
        if registry.store.write_bytes_if_tag(data, tag, *_parts(registry, domain)):
            return baseline
        time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** attempt)))  # de-synchronise
    raise RegistryError(f"{domain}: {registry.store.uri(*_parts(registry, domain))} changed "
                        f"under us {POINTER_ATTEMPTS} times in a row; nothing written, try again")


def active_baseline(registry: ModelRegistry, domain: str) -> Baseline | None:
    """The newest baseline recorded for the current champion; None when there is none, e.g.
    once a promotion made another version champion: a baseline applies only while the
    champion it was recorded for serves, and the new one's own reference week applies."""
    champion = registry.champion_version(domain)
    if champion is None:
        return None
    return next((b for b in reversed(baselines(registry, domain)) if b.champion == champion),
                None)


def reference_id(registry: ModelRegistry, domain: str) -> str | None:
    """What ``domain``'s drift is measured against now: the active baseline's id, else the
    champion version (None: no champion, nothing measured)."""
    active = active_baseline(registry, domain)
    return active.reference_id if active else registry.champion_version(domain)
