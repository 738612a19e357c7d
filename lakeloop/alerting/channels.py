"""Alerts: one message, several channels (JSON webhook, Slack incoming webhook, e-mail).

Delivery never raises into the pipeline: each channel's outcome is returned, and failures
carry a message with the secret parts (webhook URLs, SMTP password) removed. Channel
descriptions name the host only. Standard library only: urllib and smtplib are enough for a
POST and a mail, and keep secrets out of third-party logging.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import smtplib
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

TIMEOUT_S = 10


@dataclass
class Alert:
    """What happened, how much, where to look, what was done."""

    # drift_open | drift_resolved | drift_persisting (an episode still open after
    # ``RetrainPolicy.persist_days``: once per episode) | performance_decay | run_failure
    kind: str
    domain: str  # fraud | demand | pipeline
    episode: str  # dedup key: one episode, one alert per kind
    title: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    report: str | None = None
    action: str | None = None
    at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        lines = [f"[lakeloop] {self.title}", self.summary]
        lines += [f"- {k}: {v}" for k, v in self.details.items()]
        if self.report:
            lines.append(f"report: {self.report}")
        if self.action:
            lines.append(f"action: {self.action}")
        return "\n".join(lines)


@dataclass
class Delivery:
    channel: str
    ok: bool
    error: str | None = None


class Channel(Protocol):
    def describe(self) -> str: ...

    def send(self, alert: Alert) -> None: ...


MIN_PART = 4  # a URL part this long or longer is redacted on its own (tokens are longer)


def secret_parts(secret: str) -> list[str]:
    """Every form of ``secret`` a message may quote, longest first: the whole (as given,
    stripped, percent-encoded and decoded) and, for a URL, each part that can carry a token
    - user info, every path segment, every query value - since an error may quote the URL
    rewritten (a space encoded as ``%20``, a control character escaped, a path alone). Why
    not the exact string only: a webhook URL with a stray space was quoted encoded, and its
    token went into the alert log."""
    forms = {secret, secret.strip(), quote(secret.strip(), safe=":/?&=@"),
             unquote(secret.strip())}
    parts = urlsplit(secret.strip())
    if parts.scheme and parts.netloc:
        # split by hand: ``urlsplit`` drops control characters from the path it returns
        plain = {parts.scheme, parts.hostname or "", str(parts.port or "")}
        for piece in re.split(r"[/?&=#@:]", secret.strip()):
            if len(piece.strip()) >= MIN_PART and piece not in plain:
                forms |= {piece, piece.strip(), quote(piece.strip()), unquote(piece.strip())}
    # as a repr quotes it: a control character escaped ("\n" as backslash-n)
    forms |= {f.encode("unicode_escape").decode("ascii") for f in forms}
    return sorted((f for f in forms if f), key=len, reverse=True)


def _redact(message: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            for part in secret_parts(secret):
                message = message.replace(part, "<redacted>")
    return message


def _host(url: str) -> str:
    return urlsplit(url).hostname or "?"


def _post_json(url: str, payload: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(payload, default=str).encode(),
                                     headers={"Content-Type": "application/json"},
                                     method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
        if response.status >= 300:
            raise urllib.error.HTTPError(url, response.status, "rejected", response.headers,
                                         None)


@dataclass
class WebhookChannel:
    """Generic JSON webhook: the alert as a JSON object."""

    url: str = field(repr=False)

    def describe(self) -> str:
        return f"webhook({_host(self.url)})"

    def send(self, alert: Alert) -> None:
        _post_json(self.url, {"source": "lakeloop", **alert.as_dict()})


@dataclass
class SlackChannel:
    """Slack incoming webhook: text plus a markdown section."""

    url: str = field(repr=False)

    def describe(self) -> str:
        return f"slack({_host(self.url)})"

    def send(self, alert: Alert) -> None:
        _post_json(self.url, {"text": f"[lakeloop] {alert.title}", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": alert.text()}}]})


@dataclass
class EmailChannel:
    host: str
    port: int
    sender: str
    recipients: list[str]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False

    def describe(self) -> str:
        return f"email({self.host}:{self.port} -> {len(self.recipients)} recipients)"

    def send(self, alert: Alert) -> None:
        msg = EmailMessage()
        msg["Subject"] = f"[lakeloop] {alert.title}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg.set_content(alert.text())
        with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_S) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(msg)


def deliver(alert: Alert, channels: list[Any]) -> list[Delivery]:
    """Send to every channel; a failing channel does not stop the others."""
    results = []
    for channel in channels:
        secrets = [getattr(channel, "url", None), getattr(channel, "password", None)]
        try:
            channel.send(alert)
            results.append(Delivery(channel.describe(), True))
        except Exception as exc:  # any delivery failure is reported, never raised
            results.append(Delivery(channel.describe(), False,
                                    _redact(f"{type(exc).__name__}: {exc}", *secrets)))
    return results
