"""Monitoring snapshots in a real Evidently workspace, served by the real ``evidently ui``.

Two days of drift go through the monitoring code (``compute_drift`` -> ``store_reports`` ->
the asset's ``_report_links``); the workspace is then read back with Evidently's own
``Workspace`` and over HTTP from ``evidently ui``, as a person clicking the link would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import polars as pl
import pytest

from assets.monitoring import _report_links
from lakeloop.monitoring.domain_monitor import (
    DayDrift,
    StoredReport,
    browser_url,
    store_report,
    store_reports,
)
from lakeloop.monitoring.drift import compute_drift
from lakeloop.monitoring.evidently_workspace import PANELS, MonitoringWorkspace, workspace_for
from lakeloop.monitoring.measure import DriftConfig
from lakeloop.settings import EVIDENTLY_URL, EvidentlySettings, S3Settings, Settings
from lakeloop.storage import ObjectStore
from tests.servers import free_port
from tests.unit.test_drift import COLUMNS, _frame

DAY1, DAY2 = dt.date(2026, 2, 4), dt.date(2026, 2, 5)
CFG = DriftConfig(sample_size=2_000)
ONE_MB = 1_000_000


def _drift(day: dt.date, current: pl.DataFrame) -> DayDrift:
    result = compute_drift(_frame(6_000, 1), current, COLUMNS, CFG, prediction="score")
    return DayDrift("fraud", day, "v0001", result)


def _share(run) -> float:  # noqa: ANN001 - an Evidently SnapshotModel
    """The share of drifted columns in a stored snapshot (Evidently's DriftedColumnsCount)."""
    from evidently.core.metric_types import CountValue

    [count] = [v for v in run.metric_results.values() if isinstance(v, CountValue)]
    return count.share.value


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A quiet day and a shifted day, stored as the assets store them (newest first, so the
    order the dashboard shows comes from the data day, not from when a day was run)."""
    root = tmp_path_factory.mktemp("ev")
    store = ObjectStore(str(root / "lake"))
    workspace = workspace_for(store.root, {})
    days = {DAY2: _drift(DAY2, _frame(3_000, 3, amount_scale=2.5, ecom=0.7)),
            DAY1: _drift(DAY1, _frame(3_000, 2))}
    reports = {day: store_reports(store, workspace, drift) for day, drift in days.items()}
    return {"root": root, "store": store, "workspace": workspace, "drift": days,
            "reports": reports, **_quality(store, workspace)}


def _quality(store: ObjectStore, workspace: MonitoringWorkspace) -> dict:
    """The realised-quality reports of DAY2, stored as the performance / accuracy assets do."""
    from lakeloop.monitoring.quality_reports import classification_report, regression_report

    rng = np.random.default_rng(3)
    y = (rng.random(2_000) < 0.05).astype(int)
    scored = pl.DataFrame({"y": y, "score": np.clip(y * 0.6 + rng.random(2_000) * 0.5, 0, 1)})
    units = rng.poisson(20, 300).astype(float)
    return {
        "scored": scored,
        "performance": store_report(store, workspace, "fraud_performance", DAY2,
                                    *classification_report(scored, "y", "score")),
        "accuracy": store_report(
            store, workspace, "demand_accuracy", DAY2,
            *regression_report(pl.DataFrame({"u": units, "p50": units + 2.0}), "u", "p50"))}


def test_each_day_is_one_snapshot_in_its_project_ordered_by_data_day(stored: dict) -> None:
    from evidently.ui.workspace import Workspace

    workspace: MonitoringWorkspace = stored["workspace"]
    assert workspace.path == (stored["root"] / "lake" / "evidently").absolute()
    ws = Workspace(str(workspace.path))  # Evidently's own reader
    [project] = ws.search_project("fraud drift")
    runs = [ws.get_run(project.id, sid) for sid in ws.list_runs(project.id)]
    assert sorted(r.timestamp for r in runs) == [dt.datetime(2026, 2, 4), dt.datetime(2026, 2, 5)]
    by_day = {r.metadata["day"]: r for r in runs}
    assert set(by_day) == {"2026-02-04", "2026-02-05"}
    assert "day=2026-02-05" in by_day["2026-02-05"].tags
    assert by_day["2026-02-05"].metadata["champion"] == "v0001"
    assert by_day["2026-02-05"].name == "fraud drift 2026-02-05"
    # what the snapshot says is what the day's figures say
    assert stored["drift"][DAY2].result.drift_share == 0.4
    assert {d: _share(r) for d, r in by_day.items()} == {"2026-02-04": 0.0, "2026-02-05": 0.4}


def test_rerunning_a_day_replaces_its_snapshot(stored: dict) -> None:
    from evidently.ui.workspace import Workspace

    store, workspace = stored["store"], stored["workspace"]
    before = stored["reports"][DAY1].snapshot
    again = store_reports(store, workspace, _drift(DAY1, _frame(3_000, 4, amount_scale=3.0)))
    assert (again.snapshot.project_id, again.snapshot.snapshot_id, again.snapshot.url) == (
        before.project_id, before.snapshot_id, before.url)  # the same day, the same link
    ws = Workspace(str(workspace.path))
    [project] = ws.search_project("fraud drift")
    assert len(ws.list_runs(project.id)) == 2  # replaced, not added
    day1 = ws.get_run(project.id, before.snapshot_id)
    assert _share(day1) > 0  # the re-run's (shifted) measurement, not the first quiet one
    # the project is found by name, never created twice
    assert workspace.project("fraud_drift") == project.id
    assert sorted(p.name for p in ws.list_projects()) == [
        "demand accuracy", "fraud drift", "fraud performance"]
    stored["reports"][DAY1] = again


def test_dashboard_panels_exist_once(stored: dict) -> None:
    from evidently.ui.workspace import Workspace

    workspace: MonitoringWorkspace = stored["workspace"]
    for _ in range(2):  # idempotent: asking again adds nothing
        workspace.project("fraud_drift")
    ws = Workspace(str(workspace.path))
    [project] = ws.search_project("fraud drift")
    dashboard = ws.get_dashboard(project.id)
    titles = [p.title for p in dashboard.panels]
    assert titles == [p.title for p in PANELS["drift"]]
    [tab] = dashboard.tabs
    assert tab.panels == [p.id for p in dashboard.panels]
    share = next(p for p in dashboard.panels if p.title == "Share of drifted columns")
    assert share.values[0].metric == "evidently:metric_v2:DriftedColumnsCount"
    assert share.values[0].metric_labels == {"value_type": "share"}
    assert share.plot_params["plot_type"] == "line"


def test_metadata_links_open_the_snapshot_and_days_are_small(stored: dict) -> None:
    workspace: MonitoringWorkspace = stored["workspace"]
    project_id = workspace.find_project("fraud_drift")
    report: StoredReport = stored["reports"][DAY2]
    links = _report_links(report)
    snapshot_id = workspace.snapshot_id(project_id, DAY2)
    assert links["report"].value == (
        f"{EVIDENTLY_URL}/projects/{project_id}/reports/{snapshot_id}")
    assert links["dashboard"].value == f"{EVIDENTLY_URL}/projects/{project_id}"
    json_url = urlparse(links["report_json"].value)  # a file:// URL of the absolute path
    assert json_url.scheme == "file" and Path(unquote(json_url.path)) == Path(
        report.json_uri).absolute() and report.json_uri.endswith(
        "reports/fraud_drift/date=2026-02-05/report.json")
    assert json.loads(Path(report.json_uri).read_text())["metrics"]  # what notebooks read
    assert all(type(v).__name__ == "UrlMetadataValue"
               for k, v in links.items() if k != "report_bytes")  # links, not copied text
    # no HTML any more: the day keeps its JSON and its snapshot, well under a megabyte;
    # the HTML it used to write embeds Evidently's JS bundle (megabytes)
    folder = stored["store"].uri("reports/fraud_drift", "date=2026-02-05")
    assert sorted(p.name for p in Path(folder).iterdir()) == ["report.json"]
    html = stored["drift"][DAY2].result.snapshot.get_html_str(as_iframe=False)
    print(f"\nbytes per drift day: HTML {len(html.encode()):,} + JSON; now "
          f"{report.size_bytes:,} (JSON {Path(report.json_uri).stat().st_size:,} + snapshot "
          f"{report.snapshot.size_bytes:,})")
    assert len(html.encode()) > 2 * ONE_MB
    assert links["report_bytes"] == report.size_bytes < ONE_MB  # plotted in Dagster


def test_quality_reports_get_their_own_projects(stored: dict) -> None:
    workspace: MonitoringWorkspace = stored["workspace"]
    perf, acc = stored["performance"], stored["accuracy"]
    assert perf.snapshot.dashboard_url.endswith(str(workspace.find_project("fraud_performance")))
    assert acc.snapshot.url != perf.snapshot.url
    assert acc.size_bytes < ONE_MB and perf.size_bytes < ONE_MB
    assert {p.title for p in workspace.dashboard("demand_accuracy").panels} == {"MAE", "WAPE"}
    assert [p.title for p in workspace.dashboard("fraud_performance").panels] == [
        p.title for p in PANELS["performance"]]


def test_s3_reports_link_to_the_console_or_not_at_all() -> None:
    uri = "s3://bucket/lake/reports/fraud_drift/date=2026-02-05/report.json"
    aws = ObjectStore("s3://bucket/lake", S3Settings(region="eu-west-1"))
    assert browser_url(aws, uri) == (
        "https://s3.console.aws.amazon.com/s3/object/bucket?region=eu-west-1&"
        "prefix=lake%2Freports%2Ffraud_drift%2Fdate%3D2026-02-05%2Freport.json")
    minio = ObjectStore("s3://bucket/lake", S3Settings(endpoint_url="http://127.0.0.1:9000"))
    assert browser_url(minio, uri) is None  # no console we know of: no link, not s3://


def test_workspace_location_and_url_settings(tmp_path: Path) -> None:
    local = EvidentlySettings.from_env(str(tmp_path / "lake"), {})
    assert (local.workspace, local.url) == (tmp_path / "lake" / "evidently", EVIDENTLY_URL)
    s3 = EvidentlySettings.from_env("s3://b/lake", {"LAKELOOP_HOME": str(tmp_path)})
    assert s3.workspace == tmp_path / "evidently"  # a local folder: `evidently ui` reads it
    env = {"LAKELOOP_EVIDENTLY_WORKSPACE": str(tmp_path / "ws"),
           "LAKELOOP_EVIDENTLY_URL": "http://mon.internal:8000/"}
    custom = Settings.from_env({**env, "LAKELOOP_HOME": str(tmp_path)}).evidently(env)
    assert (custom.workspace, custom.url) == (tmp_path / "ws", "http://mon.internal:8000")



def _get(url: str, body: dict | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


@pytest.fixture
def evidently_ui(stored: dict) -> Iterator[str]:
    """``evidently ui`` on the workspace, on a free loopback port; always stopped."""
    port = free_port()
    cli = Path(sys.executable).parent / "evidently"
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally; a pipe could stall it
    process = subprocess.Popen(
        [str(cli), "ui", "--workspace", str(stored["workspace"].path), "--host", "127.0.0.1",
         "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "DO_NOT_TRACK": "1"})  # no telemetry from tests
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 45
        while True:
            try:
                if _get(f"{base}/api/projects")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"evidently ui did not answer in 45 s: {log.read()[-2000:]!r}")
            time.sleep(0.5)
        yield base
    finally:
        process.kill()
        process.wait(timeout=10)
        log.close()


def test_evidently_ui_serves_the_linked_snapshot_and_plots_the_days(stored: dict,
                                                                    evidently_ui: str) -> None:
    workspace: MonitoringWorkspace = stored["workspace"]
    served = MonitoringWorkspace(workspace.path, evidently_ui)
    report = served.day("fraud_drift", DAY2)  # what the alert links to
    assert report is not None and report.url.startswith(f"{evidently_ui}/projects/")
    status, page = _get(report.url)  # the page the link opens (the UI's app)
    assert status == 200 and "<html" in page.lower()
    project_id, snapshot_id = report.project_id, report.snapshot_id
    status, body = _get(f"{evidently_ui}/api/projects/{project_id}/{snapshot_id}/metadata")
    meta = json.loads(body)
    assert status == 200 and meta["id"] == snapshot_id and meta["metadata"]["day"] == "2026-02-05"
    status, body = _get(f"{evidently_ui}/api/projects/{project_id}/info")
    assert status == 200 and json.loads(body)["name"] == "fraud drift"
    status, body = _get(f"{evidently_ui}/api/projects/{project_id}/{snapshot_id}/data")
    widgets = json.loads(body)["widgets"]  # the report page's content
    assert status == 200 and widgets and '"amount"' in body  # a monitored column's widget
    # the dashboard's "Share of drifted columns" panel: one point per data day, in day order
    status, body = _get(f"{evidently_ui}/api/v2/snapshots/{project_id}/data_series_batch", {
        "series_filter": [{"tags": [], "metadata": {}, "metric_labels": {"value_type": "share"},
                           "metric": "evidently:metric_v2:DriftedColumnsCount"}]})
    series = json.loads(body)
    assert status == 201  # a POST (the panel's query), answered as created
    assert [s["timestamp"][:10] for s in series["sources"]] == ["2026-02-04", "2026-02-05"]
    [share] = series["series"]
    day1 = workspace.day("fraud_drift", DAY1)
    from evidently.ui.workspace import Workspace

    stored_day1 = Workspace(str(workspace.path)).get_run(day1.project_id, day1.snapshot_id)
    assert share["values"] == pytest.approx([_share(stored_day1), 0.4])
    # lakeloop's own metrics plot too (the UI reads their values, it needs no lakeloop code):
    # the performance dashboard's PR-AUC is the figure the decay rule uses
    from lakeloop.models.metrics import classification_metrics

    perf = stored["performance"].snapshot
    status, body = _get(f"{evidently_ui}/api/v2/snapshots/{perf.project_id}/data_series_batch", {
        "series_filter": [{"tags": [], "metadata": {}, "metric_labels": {},
                           "metric": "evidently:metric_v2:PrAuc"}]})
    [pr_auc] = json.loads(body)["series"]
    status, body = _get(f"{evidently_ui}/api/projects/{perf.project_id}/{perf.snapshot_id}/data")
    assert status == 200 and "PR-AUC of score" in body  # rendered on its report page too
    scored = stored["scored"]
    assert pr_auc["values"] == pytest.approx(
        [classification_metrics(scored["y"].to_numpy(), scored["score"].to_numpy())["pr_auc"]])
