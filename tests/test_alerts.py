"""Alert channels against real servers on loopback: an HTTP server and an SMTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from lakeloop.alerts import Alert, EmailChannel, SlackChannel, WebhookChannel, deliver
from tests.servers import free_port

SECRET_PATH = "/hooks/T000/B000/s3cr3t-t0ken"


class Recorder(BaseHTTPRequestHandler):
    posts: list[tuple[str, dict]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.posts.append((self.path, json.loads(body)))
        self.send_response(Recorder.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    Recorder.posts, Recorder.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


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
