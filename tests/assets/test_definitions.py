"""The code location loads with no secrets set and has the expected graph."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_graph() -> None:
    d = defs()
    graph = d.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"transactions_raw", "fraud_labels_raw", "sales_raw",
                    "fraud_features", "demand_features", "fraud_training_set",
                    "fraud_model", "fraud_scores", "demand_training_set", "demand_model",
                    "demand_forecasts", "fraud_drift", "demand_drift", "fraud_performance",
                    "demand_accuracy"}
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    suites = {("transactions_raw", "transactions_suite"),
              ("fraud_labels_raw", "fraud_labels_suite"), ("sales_raw", "sales_suite")}
    alerts_views = {("fraud_drift", "fraud_drift_episodes"),
                    ("demand_drift", "demand_drift_episodes")}
    lookbacks = {("fraud_features", "lookback_complete"),
                 ("demand_features", "lookback_complete")}
    promotions = {("fraud_model", "promotion"), ("demand_model", "promotion")}
    assert checks == suites | alerts_views | lookbacks | promotions
    # GX suites block downstream; the alerts view, a look-back's hole and a kept champion warn
    for key in graph.asset_check_keys:
        assert graph.get_check_spec(key).blocking == (key.name.endswith("_suite"))
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups["sales_raw"] == "demand_ingest"
    assert groups["demand_features"] == "demand_features"

    job = d.resolve_job_def("nightly_fraud")
    assert job.partitions_def == dg.DailyPartitionsDefinition(start_date="2026-01-01",
                                                               timezone="UTC")
    for name in ("retrain_fraud", "retrain_demand"):
        assert d.resolve_job_def(name).partitions_def is None
    schedule = d.resolve_schedule_def("nightly_demand_schedule")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.job_name == "nightly_demand"
    sensors = {s.name: s for s in d.sensors}
    assert set(sensors) == {"fraud_drift_sensor", "demand_drift_sensor", "run_failure_alert",
                            "alert_outbox"}
    for domain in ("fraud", "demand"):  # each drift sensor requests its own domain's retrain
        assert sensors[f"{domain}_drift_sensor"].job_name == f"retrain_{domain}"


def test_schedule_targets_yesterday() -> None:
    schedule = defs().resolve_schedule_def("nightly_fraud_schedule")
    import datetime as dt

    tick = dt.datetime(2026, 3, 5, 2, 0, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        [request] = schedule.evaluate_tick(ctx).run_requests
    assert request.partition_key == "2026-03-04"


def test_partitions_end_where_the_data_ends(monkeypatch) -> None:  # noqa: ANN001
    """``LAKELOOP_PARTITIONS_END`` (the demo sets it): the last partition is the last day of
    data, so partition views and plots in the UI end there instead of at today."""
    monkeypatch.setenv("LAKELOOP_PARTITIONS_START", "2026-01-01")
    monkeypatch.setenv("LAKELOOP_PARTITIONS_END", "2026-04-01")
    keys = defs().resolve_job_def("nightly_fraud").partitions_def.get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == ("2026-01-01", "2026-03-31", 90)
    monkeypatch.delenv("LAKELOOP_PARTITIONS_END")
    assert defs().resolve_job_def("nightly_fraud").partitions_def.get_partition_keys()[-1] \
        > "2026-03-31"  # unset: up to today (the schedule keeps adding days)


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    # Its own DAGSTER_HOME: a clean clone has no demo instance yet, and the check must not
    # depend on (or write to) the user's.
    dagster = Path(sys.executable).parent / "dagster"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
                         cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "All code locations passed validation" in out.stdout + out.stderr


def test_the_alert_outbox_runs_by_default_at_its_interval(monkeypatch) -> None:  # noqa: ANN001
    """Pending alerts are retried without anyone turning a sensor on, as often as the
    settings say (``LAKELOOP_ALERT_RETRY_INTERVAL_S``)."""
    monkeypatch.setenv("LAKELOOP_ALERT_RETRY_INTERVAL_S", "30")
    sensor = defs().resolve_sensor_def("alert_outbox")
    assert sensor.minimum_interval_seconds == 30
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert not sensor.targets  # it delivers alerts, it starts no run
