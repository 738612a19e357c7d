"""Alert channels against real servers on loopback: an HTTP server and an SMTP server; the
outbox (``alerts/log`` statuses, retries by the ``alert_outbox`` sensor) on a real lake."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from aiosmtpd.controller import Controller

from lakeloop.alerting.channels import Alert, EmailChannel, SlackChannel, WebhookChannel, deliver
from lakeloop.alerting.outbox import Backoff, Outbox
from lakeloop.storage import Lake
from pipelines.sensors import alert_outbox_sensor
from resources import AlertsResource, LakeResource
from tests.servers import free_port

SECRET_PATH = "/hooks/T000/B000/s3cr3t-t0ken"


class Recorder(BaseHTTPRequestHandler):
    posts: list[tuple[str, dict]] = []
    accepted: list[dict] = []  # the posts answered 2xx
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.posts.append((self.path, json.loads(body)))
        if Recorder.status < 300:
            Recorder.accepted.append(json.loads(body))
        self.send_response(Recorder.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _serve(port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def http_server() -> Iterator[str]:
    Recorder.posts, Recorder.accepted, Recorder.status = [], [], 200
    server = _serve()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.messages.append((envelope.mail_from, envelope.rcpt_tos,
                              envelope.content.decode("utf-8", errors="replace")))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox
    controller.stop()


def _alert() -> Alert:
    return Alert(kind="drift_open", domain="fraud", episode="fraud-2026-02-10",
                 title="fraud: data drift since 2026-02-10",
                 summary="5 of 13 feature columns drifted (share 0.38 >= 0.30)",
                 details={"device": 0.91, "hour": 0.44},
                 report="/lake/reports/fraud_drift/date=2026-02-10/report.html",
                 action="retrain_fraud requested (run key fraud-drift-2026-02-10)")


def test_webhook_and_slack_receive_the_alert(http_server: str) -> None:
    results = deliver(_alert(), [WebhookChannel(http_server + "/generic"),
                                 SlackChannel(http_server + SECRET_PATH)])
    assert all(r.ok for r in results), results
    (path1, generic), (path2, slack) = Recorder.posts
    assert path1 == "/generic" and generic["kind"] == "drift_open"
    assert generic["details"] == {"device": 0.91, "hour": 0.44}
    assert generic["action"].startswith("retrain_fraud requested")
    assert path2 == SECRET_PATH and "fraud: data drift" in slack["text"]
    assert "report.html" in slack["blocks"][0]["text"]["text"]


def test_email_is_delivered(smtp_server: tuple[Controller, Inbox]) -> None:
    controller, inbox = smtp_server
    channel = EmailChannel(host="127.0.0.1", port=controller.port,
                           sender="lakeloop@example.test", recipients=["oncall@example.test"])
    [result] = deliver(_alert(), [channel])
    assert result.ok, result
    [(sender, rcpt, content)] = inbox.messages
    assert sender == "lakeloop@example.test" and rcpt == ["oncall@example.test"]
    assert "Subject: [lakeloop] fraud: data drift since 2026-02-10" in content
    assert "retrain_fraud requested" in content


def test_failures_are_reported_without_secrets(http_server: str) -> None:
    Recorder.status = 500
    url = http_server + SECRET_PATH
    smtp = EmailChannel(host="127.0.0.1", port=1, sender="a@b.test", recipients=["c@d.test"],
                        username="bot", password="hunter2-smtp")
    results = deliver(_alert(), [SlackChannel(url), smtp])
    assert [r.ok for r in results] == [False, False]
    for r in results:
        assert "s3cr3t" not in r.channel + (r.error or "")
        assert "hunter2" not in r.channel + (r.error or "")
    assert "s3cr3t" not in repr(SlackChannel(url)) and "hunter2" not in repr(smtp)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/hooks/T000/B000/s3cr3t t0ken",  # a space: quoted as %20
    " http://127.0.0.1:{port}/hooks/T000/B000/s3cr3t-t0ken",  # pasted with a space
    "http://bot:s3cr3t-pass@127.0.0.1:{port}/hooks/T000",  # user info
    "http://127.0.0.1:{port}/hooks?token=s3cr3t-t0ken",  # a query
    "http://127.0.0.1:{port}/hooks/T000/B000/s3cr3t\nt0ken",  # a control character
])
def test_no_part_of_a_secret_url_reaches_a_delivery_error(http_server: str, url: str) -> None:
    """Whatever shape the configured URL has, and however the error quotes it (encoded,
    decoded, a part alone), no piece of its token is in the failure that ``alerts/log`` and
    the sensor log store."""
    Recorder.status = 500
    port = http_server.rsplit(":", 1)[1]
    results = deliver(_alert(), [WebhookChannel(url.format(port=port))])
    assert not results[0].ok and results[0].error
    assert "s3cr3t" not in results[0].error and "t0ken" not in results[0].error, results[0]


# -- the outbox: statuses in alerts/log, retries until a channel accepts --------------------

def _log(lake: Lake) -> pl.DataFrame:
    return lake.scan("alerts/log").collect()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _tick(instance: dg.DagsterInstance, lake: Lake, alerts: AlertsResource) -> str:
    """One evaluation of the ``alert_outbox`` sensor, as the daemon runs it; its message."""
    ctx = dg.build_sensor_context(instance=instance, resources={
        "lake": LakeResource(root=lake.root), "alerts": alerts})
    result = alert_outbox_sensor()(ctx)
    assert isinstance(result, dg.SkipReason)  # it never requests runs
    return result.skip_message or ""


def test_a_rejected_alert_stays_pending_until_the_webhook_recovers(
        http_server: str, tmp_path: Path, instance: dg.DagsterInstance,
        capfd: pytest.CaptureFixture[str]) -> None:
    lake = Lake(str(tmp_path / "lake"))
    alerts = AlertsResource(webhook_url=http_server + SECRET_PATH, retry_first_s=0)
    messages: list[str] = []
    Recorder.status = 500  # the receiver is failing
    [result] = alerts.send(_alert(), lake, log=messages.append)
    assert not result.ok and "500" in (result.error or "")
    [row] = _log(lake).iter_rows(named=True)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "HTTP Error 500" in row["last_error"] and row["delivered_at"] is None
    assert "pending, next attempt at" in messages[-1]

    assert _tick(instance, lake, alerts).startswith(  # still failing: still pending
        "retried 1 pending alert(s): 0 delivered, 1 still pending")
    [row] = _log(lake).iter_rows(named=True)
    assert (row["status"], row["attempts"]) == ("pending", 2)

    Recorder.status = 200  # recovered: the next tick delivers it
    assert _tick(instance, lake, alerts) == "retried 1 pending alert(s): 1 delivered"
    [row] = _log(lake).iter_rows(named=True)
    assert (row["status"], row["attempts"]) == ("delivered", 3)
    assert row["delivered_at"] and row["next_attempt_at"] is None
    assert "HTTP Error 500" in row["last_error"]  # what went wrong before is kept
    assert [p["episode"] for p in Recorder.accepted] == ["fraud-2026-02-10"]  # exactly once
    assert len(Recorder.posts) == 3  # two rejected attempts, one accepted

    # delivered: neither a later tick nor the sensor sending the same alert again resends it
    assert _tick(instance, lake, alerts) == "no pending alert is due"
    assert alerts.send(_alert(), lake, log=messages.append) == []
    assert len(Recorder.posts) == 3 and _log(lake).height == 1
    sensor_log = capfd.readouterr().err  # what the ticks wrote to the Dagster log
    assert "ALERT retry 3 of fraud: data drift since 2026-02-10 [webhook(127.0.0.1): ok]" \
        in sensor_log
    dumped = _log(lake).write_csv() + "\n".join(messages) + sensor_log
    assert "s3cr3t" not in dumped and "127.0.0.1" in dumped  # the host only


def test_a_refused_connection_is_retried_with_backoff_until_the_receiver_is_up(
        tmp_path: Path) -> None:
    Recorder.posts, Recorder.accepted, Recorder.status = [], [], 200
    port = free_port()  # nothing listens there yet: connection refused
    lake = Lake(str(tmp_path / "lake"))
    outbox = Outbox(lake, [WebhookChannel(f"http://127.0.0.1:{port}{SECRET_PATH}")],
                    Backoff(first_s=60, max_s=100))
    t0 = dt.datetime(2026, 3, 12, 6, 0, tzinfo=dt.UTC)
    sent = outbox.send(_alert(), now=t0)
    assert sent is not None and sent.status == "pending"
    assert "Connection refused" in (sent.last_error or "") and "s3cr3t" not in sent.last_error
    assert sent.next_attempt_at == "2026-03-12T06:01:00+00:00"  # 60 s after the failure

    assert outbox.retry_due(now=t0 + dt.timedelta(seconds=59)) == []  # not due: no attempt
    second = outbox.retry_due(now=t0 + dt.timedelta(seconds=60))
    assert [(o.status, o.attempts, o.next_attempt_at) for o in second] == [
        ("pending", 2, "2026-03-12T06:02:40+00:00")]  # 120 s, capped at 100
    assert outbox.retry_due(now=t0 + dt.timedelta(seconds=159)) == []

    server = _serve(port)  # the receiver comes up
    try:
        [third] = outbox.retry_due(now=t0 + dt.timedelta(seconds=160))
        assert (third.status, third.attempts) == ("delivered", 3)
        assert outbox.retry_due(now=t0 + dt.timedelta(days=1)) == []  # never again
    finally:
        server.shutdown()
        server.server_close()
    assert len(Recorder.accepted) == 1 and Recorder.accepted[0]["kind"] == "drift_open"
    [row] = _log(lake).iter_rows(named=True)
    assert (row["status"], row["attempts"], row["delivered_at"]) == (
        "delivered", 3, "2026-03-12T06:02:40+00:00")
    assert "Connection refused" in row["last_error"]


def test_without_a_channel_an_alert_is_logged_and_never_retried(
        tmp_path: Path, instance: dg.DagsterInstance) -> None:
    lake = Lake(str(tmp_path / "lake"))
    # a log from before the outbox: no status column; its rows are history, never retried
    legacy = {"kind": "drift_open", "domain": "fraud", "episode": "fraud-2026-01-05",
              "title": "old", "summary": "old", "report": None, "action": "none",
              "at": "2026-01-05T06:00:00+00:00", "details": "{}", "deliveries": "[]"}
    lake.append("alerts/log", pl.DataFrame([legacy], schema={k: pl.String for k in legacy}))
    alerts = AlertsResource()
    messages: list[str] = []
    assert alerts.send(_alert(), lake, log=messages.append) == []
    assert "no alert channel configured" in messages[-1]
    log = _log(lake).sort("at")
    assert log["status"].to_list() == [None, "logged"]
    assert log["attempts"].to_list() == [None, 0]
    assert _tick(instance, lake, alerts) == "no pending alert is due"
    assert alerts.send(_alert(), lake) == [] and _log(lake).height == 2  # recorded once


def test_one_accepting_channel_is_enough(http_server: str, tmp_path: Path,
                                         instance: dg.DagsterInstance) -> None:
    lake = Lake(str(tmp_path / "lake"))
    alerts = AlertsResource(webhook_url=http_server + "/generic", smtp_host="127.0.0.1",
                            smtp_port=free_port(), email_to="oncall@example.test",
                            smtp_password="hunter2-smtp", smtp_username="bot")
    results = alerts.send(_alert(), lake)
    assert [r.ok for r in results] == [True, False]  # the mail server is down
    [row] = _log(lake).iter_rows(named=True)
    assert (row["status"], row["attempts"]) == ("delivered", 1)
    assert "email(127.0.0.1" in row["last_error"] and "hunter2" not in row["last_error"]
    assert _tick(instance, lake, alerts) == "no pending alert is due"
    assert len(Recorder.accepted) == 1
