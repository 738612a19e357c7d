"""`dagster dev` on the demo's instance serves its history (checked through GraphQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from lakeloop.settings import Settings
from pipelines.definitions import build_definitions
from pipelines.demo import prepare_home
from tests.conftest import day
from tests.servers import free_port, graphql, stop_group

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
RUNS_QUERY = """{ runsOrError { ... on Runs { results { jobName status
  tags { key value } } } } }"""
SENSOR_QUERY = """{ sensorOrError(sensorSelector: {repositoryName: "__repository__",
  repositoryLocationName: "pipelines.definitions", sensorName: "fraud_drift_sensor"}) {
  ... on Sensor { sensorState { status ticks(limit: 5) { status skipReason } } } } }"""
ASSET_QUERY = """{ assetOrError(assetKey: {path: ["transactions_raw"]}) { ... on Asset {
  assetMaterializations(limit: 10) { partition metadataEntries { label } } } } }"""


def test_dagster_dev_shows_the_runs(settings: Settings, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    home = prepare_home(tmp_path / "home")  # what `lakeloop demo` does, then two nightly runs
    env = {"DAGSTER_HOME": str(home), "LAKELOOP_LAKE": settings.lake_root,
           "LAKELOOP_LANDING": settings.landing_root}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    job = build_definitions(Settings.from_env()).resolve_job_def("nightly_fraud")
    with dg.DagsterInstance.get() as instance:
        for i in range(2):
            assert job.execute_in_process(partition_key=day(i).isoformat(), instance=instance,
                                          run_config=QUIET).success

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    dagster = Path(sys.executable).parent / "dagster"
    server = subprocess.Popen(  # its own process group: `dagster dev` stops on SIGINT
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                data = graphql(base, RUNS_QUERY)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("dagster dev did not come up")
                time.sleep(1)
        runs = data["runsOrError"]["results"]
        nightly = [r for r in runs if r["jobName"] == "nightly_fraud"]
        assert [r["status"] for r in nightly] == ["SUCCESS", "SUCCESS"]
        partitions = sorted(t["value"] for r in nightly for t in r["tags"]
                            if t["key"] == "dagster/partition")
        assert partitions == [day(0).isoformat(), day(1).isoformat()]
        asset = graphql(base, ASSET_QUERY)["assetOrError"]["assetMaterializations"]
        assert sorted(m["partition"] for m in asset) == partitions
        labels = {e["label"] for e in asset[0]["metadataEntries"]}
        assert {"delta_version", "dagster/row_count", "preview"} <= labels
        # `dagster dev` runs the real sensor daemon: its first tick of the drift sensor
        while True:
            state = graphql(base, SENSOR_QUERY)["sensorOrError"]["sensorState"]
            done = [t for t in state["ticks"] if t["status"] != "STARTED"]  # not mid-tick
            if done or time.monotonic() > deadline + 120:
                break
            time.sleep(2)
        assert state["status"] == "RUNNING"
        [tick] = state["ticks"]  # no champion yet, so nothing to measure: a skipped tick
        assert tick["status"] == "SKIPPED" and "no new fraud drift" in tick["skipReason"]
    finally:
        stop_group(server)
