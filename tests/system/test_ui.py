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


HOLD = """
import json, sys, time
from pathlib import Path
from pipelines.dagster_dev import DagsterDev
with DagsterDev(json.loads(sys.argv[1]), log=Path(sys.argv[2])) as server:
    print(server.submit("nightly_fraud", {"dagster/partition": sys.argv[3]}), flush=True)
    time.sleep(600)
"""


def _processes_of(home: Path) -> list[str]:
    """Every process whose environment points at this Dagster home: the server's webserver,
    daemon and code server, and the run workers the daemon launched."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if p.environ().get("DAGSTER_HOME") == str(home):
                found.append(f"{p.pid}: {' '.join(p.info['cmdline'] or [])[:120]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_sigterm_stops_the_server_and_the_runs_it_launched(settings: Settings,
                                                            tmp_path: Path) -> None:
    """``kill`` of a process holding ``dagster dev`` (``lakeloop demo``) while a run is in
    flight leaves nothing behind: not the server, daemon or code server, not the run worker."""
    import json
    import os
    import signal
    import subprocess
    import sys

    home = prepare_home(tmp_path / "home")
    env = {"DAGSTER_HOME": str(home), "LAKELOOP_LAKE": settings.lake_root,
           "LAKELOOP_LANDING": settings.landing_root, "LAKELOOP_DOMAINS": "fraud"}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, json.dumps(env), str(tmp_path / "dev.log"),
         day(0).isoformat()], stdout=subprocess.PIPE, text=True,
        env={**os.environ, **env})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip()  # submitted
        deadline = time.monotonic() + 120
        # the run's worker: a multiprocessing child of the code server (``dagster._grpc``)
        while not any("spawn_main" in p for p in _processes_of(home)):
            assert time.monotonic() < deadline, _processes_of(home)
            time.sleep(0.5)
        assert len(_processes_of(home)) >= 4  # holder, dagster dev's processes, the worker
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(timeout=60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 30
        while _processes_of(home):
            assert time.monotonic() < deadline, f"left behind: {_processes_of(home)}"
            time.sleep(0.5)
    finally:
        if holder.poll() is None:
            holder.kill()
