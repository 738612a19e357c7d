"""A new user in a real browser (Playwright driving Debian's Chromium, no browser download):
`dagster dev` and `evidently ui` on a small lake; the asset graph, one partition launched
from the UI and its blocking checks passing, the drift asset's plot by partition, its alerts
view, its report link opening the day's snapshot in Evidently's UI, and a day submitted
through the GraphQL API (as ``lakeloop demo`` submits its days) listed under its job.

Screenshots go to ``build/screenshots/`` (``LAKELOOP_SCREENSHOTS`` overrides), so a person
can look at what the test saw. With ``CI=true`` a missing Chromium fails, never skips."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.dagster_dev import DagsterDev
from tests import browser_lake
from tests.servers import free_port, graphql, stop_group, system_part_missing, wait_http

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("LAKELOOP_SCREENSHOTS", ROOT / "build" / "screenshots"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BIN = Path(sys.executable).parent


def _chromium() -> str:
    if not CHROMIUM:
        system_part_missing("Chromium is not installed (make test installs Debian's package: "
                            "make system-deps)")
    assert CHROMIUM
    return CHROMIUM


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    chromium = _chromium()
    root = tmp_path_factory.mktemp("browser")
    evidently_port = free_port()
    env = browser_lake.build(root, f"http://127.0.0.1:{evidently_port}")
    evidently = subprocess.Popen(  # what `make dev` starts beside dagster dev
        [str(BIN / "evidently"), "ui", "--workspace", str(root / "lake" / "evidently"),
         "--host", "127.0.0.1", "--port", str(evidently_port)],
        env={**os.environ, "DO_NOT_TRACK": "1"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{evidently_port}/api/version", evidently)
        # dagster dev (webserver, daemon, code server) as `lakeloop demo` starts it
        with DagsterDev(env, log=root / "dagster_dev.log") as dagster:
            yield {"dagster": dagster, "chromium": chromium,
                   "evidently": f"http://127.0.0.1:{evidently_port}"}
    finally:
        stop_group(evidently)


def test_a_new_user_in_the_browser(servers: dict[str, str]) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    dagster: DagsterDev = servers["dagster"]
    base, last_day = dagster.url, browser_lake.day(browser_lake.DAYS - 1).isoformat()
    SHOTS.mkdir(parents=True, exist_ok=True)

    # 0. the day before: submitted through the GraphQL API, as `lakeloop demo` submits each
    # day; the daemon launches it and then ticks the drift sensor on the new day
    scheduled_day = browser_lake.day(browser_lake.DAYS - 2).isoformat()
    scheduled = dagster.submit("nightly_fraud", {"dagster/partition": scheduled_day})
    assert dagster.wait([scheduled]) == {scheduled: "SUCCESS"}
    assert dagster.tick_after("fraud_drift_sensor", time.time()) == []  # no episode: no run

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=servers["chromium"], args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)

        # 1. the asset graph: the drift asset and what feeds it, with their checks
        page.goto(f"{base}/assets/fraud_drift?view=lineage&lineageScope=upstream")
        skip = page.get_by_role("button", name="Skip")  # Dagster's first-visit dialog
        with contextlib.suppress(PlaywrightTimeout):  # shown once per instance, if at all
            skip.click(timeout=15_000)
        for node in ("fraud_features", "fraud_scores", "fraud_drift"):
            expect(page.get_by_text(node, exact=True).first).to_be_visible()
        # the alerts view (no episode) and the features' look-back (no hole), both passed
        expect(page.get_by_text("1 / 1 Passed")).to_have_count(2)
        page.screenshot(path=SHOTS / "01_asset_graph.png")

        # 2. launch one partition from the UI: yesterday's transactions
        page.goto(f"{base}/assets/transactions_raw")
        page.get_by_role("button", name="Materialize…").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("button", name="Latest", exact=True).click()  # = yesterday's
        expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
        dialog.get_by_role("button", name="Launch 1 run").click()
        launched = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
        expect(launched).to_be_visible()
        run_id = launched.inner_text().split()[-1]
        deadline, status = time.monotonic() + 240, None
        while time.monotonic() < deadline and status not in ("SUCCESS", "FAILURE", "CANCELED"):
            time.sleep(2)
            runs = graphql(base, "{ runsOrError(limit: 5) { ... on Runs { results { runId "
                            "status } } } }")["runsOrError"]["results"]
            status = next((r["status"] for r in runs if r["runId"].startswith(run_id)), None)
        assert status == "SUCCESS", f"run {run_id} launched from the UI ended {status}"
        page.goto(f"{base}/runs/{next(r['runId'] for r in runs if r['runId'].startswith(run_id))}")
        expect(page.get_by_text("Success").first).to_be_visible()
        page.screenshot(path=SHOTS / "02_run_launched_from_the_ui.png")

        # ... and its blocking Great Expectations check passed on that partition
        page.goto(f"{base}/assets/transactions_raw?view=checks")
        expect(page.get_by_text(f"transactions {last_day}:").first).to_be_visible()
        expect(page.get_by_text("Passed").first).to_be_visible()
        page.screenshot(path=SHOTS / "03_checks_passed.png")

        # 3. the drift asset's plot by partition (the data ends yesterday, as nightly data does)
        page.goto(f"{base}/assets/fraud_drift")
        page.get_by_role("button", name="Plots").click()
        expect(page.get_by_text("drift_share", exact=True).first).to_be_visible()
        expect(page.locator("canvas").first).to_be_visible()
        page.screenshot(path=SHOTS / "04_drift_plot_by_partition.png", full_page=True)

        # 4. the alerts view: the drift episodes check on the drift asset
        page.goto(f"{base}/assets/fraud_drift?view=checks")
        expect(page.get_by_text("fraud_drift_episodes").first).to_be_visible()
        expect(page.get_by_text("fraud: no open drift episode").first).to_be_visible()
        page.screenshot(path=SHOTS / "05_alerts_view.png")

        # 5. the report link opens the day's snapshot in Evidently's own UI
        page.goto(f"{base}/assets/fraud_drift?view=events")
        link = page.locator("a[href*='/projects/'][href*='/reports/']")
        href = link.first.get_attribute("href")
        assert href and href.startswith(f"{servers['evidently']}/projects/")
        report = browser.new_page(viewport={"width": 1600, "height": 1000})
        response = report.goto(href)
        assert response is not None and response.ok
        expect(report.get_by_text("fraud drift").first).to_be_visible()  # its project
        expect(report.get_by_text("Dataset Drift").first).to_be_visible()  # Evidently's report
        report.wait_for_timeout(2000)
        report.screenshot(path=SHOTS / "06_evidently_snapshot.png")

        # 6. the job's runs: the day submitted through the API is listed under its job
        page.goto(f"{base}/locations/{dagster.location}/jobs/nightly_fraud/runs")
        expect(page.get_by_text(f"partition: {scheduled_day}").first).to_be_visible()
        expect(page.get_by_text(scheduled[:8]).first).to_be_visible()
        page.screenshot(path=SHOTS / "07_runs_under_job_nightly.png")
        browser.close()
