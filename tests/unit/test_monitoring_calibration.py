"""The monitor on a real lake and registry: a champion whose history is long enough gets
thresholds learnt from its own training days (stored beside its version, reused), drift in
what it relies on is an alarm, and a recorded re-baseline moves the reference."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from lakeloop.contracts.domains import load_domains
from lakeloop.monitoring.domain_monitor import event_day_drift, reference_window
from lakeloop.monitoring.measure import DriftConfig
from lakeloop.monitoring.rebaseline import accept_baseline
from lakeloop.registry.model_registry import ModelRegistry
from lakeloop.storage import Lake, ObjectStore
from lakeloop.training.split import SplitWindow

START = dt.date(2026, 1, 1)
NUMERIC = ["spend", "visits", "balance", "ignored"]
CATEGORICAL = ["tier"]


def _day(i: int, n: int = 1_500, spend_shift: float = 0.0) -> pl.DataFrame:
    """Made-up column names (no simulator, no contract's own columns): the monitor only knows
    the champion's inputs. Each day has its own level (quiet days are not i.i.d.)."""
    rng = np.random.default_rng(i)
    wobble = rng.normal(0, 1, 3)
    balance = rng.normal(0.1 * wobble[2], 1, n)
    balance[rng.random(n) < 0.2] = np.nan
    return pl.DataFrame({
        "date": [START + dt.timedelta(days=i)] * n,
        "spend": rng.lognormal(2 + 0.1 * wobble[0] + spend_shift, 1.0, n),
        "visits": rng.poisson(2 + 0.2 * wobble[1], n),
        "balance": balance,
        "ignored": rng.normal(0, 1, n) + (3.0 if i >= 44 else 0.0),  # drifts, unused
        "tier": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
    })


def test_thresholds_are_learnt_from_the_champions_history_and_a_rebaseline_moves_them(
        tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    lake, registry = Lake(root), ModelRegistry(ObjectStore(root))
    domain = load_domains()["fraud"]
    table = domain.features_table
    for i in range(50):  # a new normal from day 40: spend doubles
        lake.overwrite_partition(table, _day(i, spend_shift=0.7 if i >= 40 else 0.0),
                                 START + dt.timedelta(days=i))
    window = SplitWindow(window_days=28, label_window_days=2, val_days=4, test_days=5)
    as_of = START + dt.timedelta(days=31)
    registry.register("fraud", None, {
        "family": "lightgbm",
        "feature_schema": {"categorical": CATEGORICAL, "numeric": NUMERIC},
        "feature_importance": {"method": "gain", "values": {
            "spend": 0.5, "visits": 0.2, "balance": 0.2, "tier": 0.1, "ignored": 0.0}},
        "training_set": {"as_of": as_of.isoformat(), "window": dataclasses.asdict(window),
                         "source_versions": {table: lake.version(table)}},
    })
    registry.promote("fraud", "v0001", "test")
    first, last = reference_window(registry.champion("fraud"), 7)
    cfg = DriftConfig(sample_size=1_500)

    quiet = event_day_drift(lake, registry, domain, START + dt.timedelta(days=35), cfg)
    assert quiet is not None and quiet.calibration is not None
    assert len(quiet.calibration.null_days) == window.window_days - 7  # the days before it
    assert quiet.reference == "v0001" and not quiet.result.dataset_drift
    stored = [f for f in registry.store.list("registry", "fraud", "versions")
              if "drift_calibration-" in f]
    assert len(stored) == 1  # learnt once, beside the version ...
    again = event_day_drift(lake, registry, domain, START + dt.timedelta(days=36), cfg)
    assert again is not None and again.calibration is not None
    assert again.calibration.to_dict() == quiet.calibration.to_dict()  # ... and reused
    assert again.row()["reference"][0] == "v0001"

    drifted = event_day_drift(lake, registry, domain, START + dt.timedelta(days=41), cfg)
    assert drifted is not None and drifted.result.dataset_drift
    assert "spend" in drifted.result.drifted_columns
    unused = event_day_drift(lake, registry, domain, START + dt.timedelta(days=46), cfg)
    assert unused is not None and "ignored" in unused.result.drifted_columns  # reported

    # the team accepts the new normal from day 40: the reference is days 40..46
    accept_baseline(registry, "fraud", START + dt.timedelta(days=40), "spend doubled: real")
    moved = event_day_drift(lake, registry, domain, START + dt.timedelta(days=48), cfg)
    assert moved is not None and moved.reference == "v0001+baseline:2026-02-10"
    assert "spend" not in moved.result.drifted_columns and not moved.result.dataset_drift
    assert event_day_drift(lake, registry, domain, START + dt.timedelta(days=46), cfg) is None
