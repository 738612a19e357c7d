"""Faults a nightly pipeline meets: writers racing on one table, a run killed mid-flight."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from lakeloop.storage import Lake

DAY = dt.date(2026, 1, 5)


def _frame(writer: int, rows: int = 50) -> pl.DataFrame:
    return pl.DataFrame({"writer": [writer] * rows, "i": list(range(rows)),
                         "date": [DAY] * rows})


def test_writers_racing_on_one_day_leave_exactly_one_copy(tmp_path: Path) -> None:
    """Two runs of one day at once (a retry beside a stuck run, a backfill beside the nightly
    run): every writer's commit lands - the losers of a commit race redo their write on the
    new snapshot - and the day holds one writer's rows, never two."""
    lake = Lake(str(tmp_path / "lake"))
    lake.overwrite_partition("silver/t", _frame(0), DAY)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda w: lake.overwrite_partition("silver/t", _frame(w), DAY),
                      range(1, 7)))
    assert lake.version("silver/t") == 6  # six more commits, none lost to a conflict
    day = lake.scan("silver/t").collect()
    assert day.height == 50 and day["writer"].n_unique() == 1  # one copy of the day


MONITORED = """\
run_monitoring:
  enabled: true
  poll_interval_seconds: 2
  start_timeout_seconds: 120
  max_resume_run_attempts: 0
telemetry:
  enabled: false
"""


def test_a_killed_run_fails_and_alerts(settings, tmp_path: Path,  # noqa: ANN001
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The run worker is killed mid-run (kill -9, as the OOM killer does): run monitoring
    marks the run failed, and run_failure_alert logs an alert naming it."""
    import os
    import re
    import signal
    import time

    import dagster as dg

    from pipelines.dagster_dev import DagsterDev

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(MONITORED)
    env = {"DAGSTER_HOME": str(home), "LAKELOOP_LAKE": settings.lake_root,
           "LAKELOOP_LANDING": settings.landing_root, "LAKELOOP_DOMAINS": "fraud"}
    with DagsterDev(env, log=tmp_path / "dagster_dev.log") as server:
        run_id = server.submit("nightly_fraud", {"dagster/partition": "2026-01-01"})
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:
            pid, deadline = None, time.monotonic() + 180
            while pid is None and time.monotonic() < deadline:
                for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                    found = re.search(r"in process \(pid: (\d+)\)", event.message or "")
                    pid = int(found.group(1)) if found else pid
                time.sleep(0.2)
            assert pid, "the run worker never started"
            os.kill(pid, signal.SIGKILL)
            # without run monitoring it would stay STARTED forever
            assert server.wait([run_id], timeout_s=180) == {run_id: "FAILURE"}
            deadline, log = time.monotonic() + 180, pl.DataFrame()
            lake = Lake(settings.lake_root)
            while time.monotonic() < deadline:
                if lake.exists("alerts/log"):
                    log = lake.scan("alerts/log").collect()
                    if log.filter(pl.col("kind") == "run_failure").height:
                        break
                time.sleep(2)
    [alert] = log.filter(pl.col("kind") == "run_failure").iter_rows(named=True)
    assert "nightly_fraud" in alert["title"] and "2026-01-01" in alert["title"]
    assert run_id in alert["details"]


def test_a_refusal_fails_at_once_while_the_job_retries_transient_errors(settings) -> None:  # noqa: ANN001
    """The jobs retry a failed step (an S3 blip passes: tests/test_s3.py), but a refusal -
    here a retrain on an empty lake - is final: no retry, the reason in the failure."""
    import dagster as dg

    from pipelines.definitions import build_definitions
    from pipelines.jobs import STEP_RETRIES

    job = build_definitions(settings).resolve_job_def("retrain_fraud")
    assert job.op_retry_policy == STEP_RETRIES and STEP_RETRIES.max_retries == 2
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    kinds = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in kinds
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "materialize" in str(failure.step_failure_data.error)
