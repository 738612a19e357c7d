"""Alert channels (webhook, Slack, e-mail), configured from environment variables only: the
values stay ``EnvVar`` references, never in run config, logs or metadata."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from collections.abc import Callable

    from lakeloop.alerting.channels import Alert, Delivery
    from lakeloop.alerting.outbox import Outbox, Outcome
    from lakeloop.storage import Lake


ALERT_ENV = {  # resource field -> environment variable (read at run time, never stored)
    "webhook_url": "LAKELOOP_ALERT_WEBHOOK_URL",
    "slack_webhook_url": "LAKELOOP_SLACK_WEBHOOK_URL",
    "smtp_host": "LAKELOOP_SMTP_HOST",
    "smtp_username": "LAKELOOP_SMTP_USERNAME",
    "smtp_password": "LAKELOOP_SMTP_PASSWORD",
    "email_to": "LAKELOOP_ALERT_EMAIL_TO",
}


def alerts_resource(environ: dict[str, str] | None = None) -> AlertsResource:
    """Channels for the env vars that are set; values stay ``EnvVar`` references."""
    env = os.environ if environ is None else environ
    fields: dict = {f: dg.EnvVar(var) for f, var in ALERT_ENV.items() if env.get(var)}
    if env.get("LAKELOOP_SMTP_PORT"):
        fields["smtp_port"] = int(env["LAKELOOP_SMTP_PORT"])
    if env.get("LAKELOOP_ALERT_EMAIL_FROM"):
        fields["email_from"] = env["LAKELOOP_ALERT_EMAIL_FROM"]
    return AlertsResource(**fields)


class AlertsResource(dg.ConfigurableResource):
    """Alert channels, each on when configured (all from env vars, see build_resources).

    Every alert is recorded in the ``alerts/log`` Delta table with its delivery status
    (``lakeloop.alerting.outbox``: delivered, pending, logged when no channel is configured) and
    written to the run / sensor log, so the demo (no channel configured) still shows them. An
    alert already in the log (same episode and kind) is not sent again: a retried sensor tick
    cannot double-alert. One no channel accepted stays ``pending`` and the ``alert_outbox``
    sensor retries it (``retry_pending``), ``retry_first_s`` after the first failure, doubling
    up to ``retry_max_s``, until a channel accepts it.
    """

    webhook_url: str | None = None
    slack_webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    email_from: str = "lakeloop@localhost"
    email_to: str | None = None  # comma-separated
    retry_first_s: float = 60.0
    retry_max_s: float = 3600.0

    def channels(self) -> list:
        from lakeloop.alerting.channels import EmailChannel, SlackChannel, WebhookChannel

        out: list = []
        if self.webhook_url:
            out.append(WebhookChannel(self.webhook_url))
        if self.slack_webhook_url:
            out.append(SlackChannel(self.slack_webhook_url))
        if self.smtp_host and self.email_to:
            out.append(EmailChannel(self.smtp_host, self.smtp_port, self.email_from,
                                    [a.strip() for a in self.email_to.split(",") if a.strip()],
                                    self.smtp_username, self.smtp_password, self.smtp_starttls))
        return out

    def outbox(self, lake: Lake) -> Outbox:
        from lakeloop.alerting.outbox import Backoff, Outbox

        return Outbox(lake, self.channels(), Backoff(self.retry_first_s, self.retry_max_s))

    def send(self, alert: Alert, lake: Lake, log: Callable[[str], object] | None = None
             ) -> list[Delivery]:
        """Deliver and record ``alert`` (nothing when the log already holds it); the
        channels' results (secrets redacted)."""
        outcome = self.outbox(lake).send(alert)
        if outcome is not None and log is not None:
            log(f"ALERT {alert.title}: {alert.summary}{_outcome_text(outcome)}")
        return [] if outcome is None else outcome.deliveries

    def retry_pending(self, lake: Lake, log: Callable[[str], object] | None = None
                      ) -> list[Outcome]:
        """One more attempt for each pending alert that is due (the ``alert_outbox``
        sensor's tick)."""
        outcomes = self.outbox(lake).retry_due()
        for o in outcomes:
            if log is not None:
                log(f"ALERT retry {o.attempts} of {o.alert.title}{_outcome_text(o)}")
        return outcomes


def _outcome_text(o: Outcome) -> str:
    """Each channel's result and what happens next (channel names carry the host only)."""
    text = "".join(f" [{r.channel}: {'ok' if r.ok else r.error}]" for r in o.deliveries)
    if o.status == "pending":
        return f"{text} - no channel accepted it: pending, next attempt at {o.next_attempt_at}"
    if o.status == "logged":
        return f"{text} (no alert channel configured: recorded in alerts/log only)"
    return text
