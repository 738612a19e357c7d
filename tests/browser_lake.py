"""A small lake with history, a fraud champion and measured drift, in a real Dagster home:
what the browser test opens in `dagster dev` (and a script can build by hand to look at:
``python -m tests.browser_lake DIR``).

Real runs through the public API: nightly partitions, the retrain job, more nightly days
scored and monitored by the champion. Fraud only (``LAKELOOP_DOMAINS=fraud``): it keeps the
set-up to about a minute on two cores. The landing zone ends yesterday, as a nightly
pipeline's does. Its last two days are left unrun: the test submits the first through the
server's GraphQL API (as the schedule and ``lakeloop demo`` do) and launches the last from the
browser. The UI plots metadata by partition over the newest partitions up to today."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg

from lakeloop.settings import Settings
from lakeloop.simulate import SimConfig, simulate
from lakeloop.storage import ObjectStore
from pipelines.definitions import build_definitions
from pipelines.instance import prepare_home
from tests.conftest import TINY

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
HISTORY_DAYS, SCORED_DAYS = 20, 3
DAYS = HISTORY_DAYS + SCORED_DAYS + 2  # the last two are submitted by the test and the UI
START = dt.date.today() - dt.timedelta(days=DAYS)  # the landing zone ends yesterday


def day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)
RETRAIN = {**QUIET, "ops": {
    "fraud_training_set": {"config": {"label_window_days": 10, "window_days": 12,
                                      "val_days": 2, "test_days": 3}},
    "fraud_model": {"config": {"max_epochs": 2, "families": ["lightgbm"]}}}}


def environment(root: Path, evidently_url: str) -> dict[str, str]:
    """What the code location reads to load this lake's definitions."""
    return {"DAGSTER_HOME": str(root / "home"), "LAKELOOP_LAKE": str(root / "lake"),
            "LAKELOOP_EVIDENTLY_URL": evidently_url, "LAKELOOP_LANDING": str(root / "landing"),
            "LAKELOOP_DOMAINS": "fraud", "LAKELOOP_SENSOR_INTERVAL_S": "1",
            "LAKELOOP_PARTITIONS_START": START.isoformat(),
            "LAKELOOP_PARTITIONS_END": day(DAYS).isoformat()}


def build(root: Path, evidently_url: str = "http://127.0.0.1:8000") -> dict[str, str]:
    """Land, ingest, train and score; returns the environment for ``dagster dev``."""
    env = environment(root, evidently_url)
    simulate(SimConfig(start=START, days=DAYS, **{**TINY, "scale": 0.05}),
             ObjectStore(str(root / "landing")))
    saved = dict(os.environ)
    prepare_home(root / "home")
    os.environ.update(env)  # the assets read the Evidently settings from the environment
    try:
        defs = build_definitions(Settings.from_env())
        nightly = defs.resolve_job_def("nightly_fraud")
        with dg.DagsterInstance.get() as instance:
            for i in range(HISTORY_DAYS + SCORED_DAYS):
                if i == HISTORY_DAYS:
                    assert defs.resolve_job_def("retrain_fraud").execute_in_process(
                        instance=instance, run_config=RETRAIN).success
                assert nightly.execute_in_process(partition_key=day(i).isoformat(),
                                                  instance=instance, run_config=QUIET).success
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return env


if __name__ == "__main__":
    import sys

    print(build(Path(sys.argv[1])))
