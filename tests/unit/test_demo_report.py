"""The demo summary is computed from what the loop left in the lake (alerts log here)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lakeloop.alerting.channels import Alert
from lakeloop.app.demo_report import build_summary
from lakeloop.contracts.domains import load_domains
from lakeloop.storage import Lake
from resources import AlertsResource


def test_summary_counts_episodes_detection_and_false_alarms(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    alerts = AlertsResource()  # no channel configured: the alerts log only

    def send(kind: str, domain: str, opened: str, title: str) -> None:
        alerts.send(Alert(kind, domain, f"{domain}-{opened}", title, "why", {}, None, "none"),
                    lake)

    send("drift_open", "fraud", "2026-02-10", "fraud: drift episode opened on 2026-02-10")
    send("drift_resolved", "fraud", "2026-02-10", "fraud: drift episode resolved on 2026-02-14")
    send("drift_open", "fraud", "2026-03-02", "fraud: drift episode opened on 2026-03-02")
    send("drift_open", "demand", "2026-03-03", "demand: drift episode opened on 2026-03-03")
    summary = build_summary(lake, load_domains(), dt.date(2026, 1, 1), dt.date(2026, 3, 31),
                            dt.date(2026, 3, 1), {}, {})
    fraud, demand = summary["fraud"], summary["demand"]
    assert fraud["alerts"] == 2 and fraud["false_alarms"] == 1  # one before the injection
    assert fraud["drift_detected_day"] == "2026-03-02" and fraud["detection_delay_days"] == 1
    assert fraud["episodes"] == [
        {"episode": "fraud-2026-02-10", "opened": "2026-02-10", "resolved": "2026-02-14"},
        {"episode": "fraud-2026-03-02", "opened": "2026-03-02", "resolved": None}]
    assert demand["detection_delay_days"] == 2 and demand["false_alarms"] == 0


def test_a_drift_that_did_not_hurt_is_said_so_not_read_as_a_failed_recovery() -> None:
    from lakeloop.app.demo_report import _recovered, drift_note

    # PR-AUC rose during the drift (the 2026-12-07 run: 0.771 -> 0.822 -> 0.992)
    assert _recovered(0.771, 0.822, 0.992, higher_is_better=True) is None
    assert "did not hurt" in drift_note("pr_auc", 0.771, 0.822, 0.992, detected=True)
    # it fell, and the retrain won back 90 % of the loss
    assert _recovered(0.85, 0.35, 0.80) == 0.9
    assert "after the retrain 0.800" in drift_note("pr_auc", 0.85, 0.35, 0.80, detected=True)
    # lower is better (WAPE): a rise is the loss
    assert _recovered(0.30, 0.50, 0.32, higher_is_better=False) == 0.9
    assert "did not hurt" in drift_note("wape_next_day", 0.30, 0.25, None, detected=True)
    assert "no retrained model" in drift_note("wape_next_day", 0.30, 0.50, None, detected=True)
