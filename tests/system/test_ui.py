"""`dagster dev` on the demo's instance: runs submitted as the demo submits them, served back
(checked through GraphQL; tests/system/test_browser.py looks at the same in Chromium)."""

from __future__ import annotations

import time
from pathlib import Path

from lakeloop.settings import Settings
from pipelines.dagster_dev import DagsterDev
from pipelines.instance import prepare_home
from tests.conftest import day

# what the job's runs page asks for
RUNS_QUERY = """{ runsOrError(filter: {pipelineName: "nightly_fraud"}) { ... on Runs {
  results { status tags { key value } } } } }"""
SENSOR_QUERY = """{ sensorOrError(sensorSelector: {repositoryName: "__repository__",
  repositoryLocationName: "pipelines.definitions", sensorName: "fraud_drift_sensor"}) {
  ... on Sensor { sensorState { status ticks(limit: 5) { status skipReason } } } } }"""
ASSET_QUERY = """{ assetOrError(assetKey: {path: ["transactions_raw"]}) { ... on Asset {
  assetMaterializations(limit: 10) { partition metadataEntries { label } } } } }"""


def test_dagster_dev_shows_the_runs(settings: Settings, tmp_path: Path) -> None:
    """Two days submitted through GraphQL and launched by the daemon, as `lakeloop demo` does:
    the runs under their job with their partitions, the materializations' metadata, the
    sensor daemon's ticks."""
    home = prepare_home(tmp_path / "home")
    env = {"DAGSTER_HOME": str(home), "LAKELOOP_LAKE": settings.lake_root,
           "LAKELOOP_LANDING": settings.landing_root, "LAKELOOP_DOMAINS": "fraud",
           "LAKELOOP_SENSOR_INTERVAL_S": "1"}
    with DagsterDev(env, log=tmp_path / "dagster_dev.log") as server:
        for i in range(2):
            run_id = server.submit("nightly_fraud", {"dagster/partition": day(i).isoformat()})
            assert server.wait([run_id]) == {run_id: "SUCCESS"}
        ended = time.time()
        runs = server.query(RUNS_QUERY)["runsOrError"]["results"]
        assert [r["status"] for r in runs] == ["SUCCESS", "SUCCESS"]
        partitions = sorted(t["value"] for r in runs for t in r["tags"]
                            if t["key"] == "dagster/partition")
        assert partitions == [day(0).isoformat(), day(1).isoformat()]
        asset = server.query(ASSET_QUERY)["assetOrError"]["assetMaterializations"]
        assert sorted(m["partition"] for m in asset) == partitions
        labels = {e["label"] for e in asset[0]["metadataEntries"]}
        assert {"delta_version", "dagster/row_count", "preview"} <= labels
        # the daemon ticks the drift sensor: no champion yet, nothing measured, so it skips
        assert server.tick_after("fraud_drift_sensor", ended) == []
        state = server.query(SENSOR_QUERY)["sensorOrError"]["sensorState"]
        assert state["status"] == "RUNNING"
        tick = next(t for t in state["ticks"] if t["status"] != "STARTED")
        assert tick["status"] == "SKIPPED" and "no new fraud drift" in tick["skipReason"]
