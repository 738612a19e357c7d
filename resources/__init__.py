"""Configurable Dagster resources: thin, typed handles on the plain-Python core.

Credentials are never resource fields: boto3 and delta-rs read them from the environment
(the standard AWS chain), so they cannot land in run config, logs or metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from lakeloop.contracts import Contract, load_contract
from lakeloop.settings import S3Settings, Settings
from lakeloop.storage import Lake, ObjectStore

if TYPE_CHECKING:  # torch loads only when a run needs it, not when Dagster loads the code
    from collections.abc import Callable

    from lakeloop.alerts import Alert, Delivery
    from lakeloop.compute import Compute
    from lakeloop.outbox import Outbox, Outcome
    from lakeloop.registry import ModelRegistry


class _S3Fields(dg.ConfigurableResource):
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_allow_http: bool = False

    def _s3(self) -> S3Settings:
        return S3Settings(self.s3_endpoint_url, self.s3_region, self.s3_allow_http)


class _RootedStore(_S3Fields):
    root: str

    def store(self) -> ObjectStore:
        """Plain files under ``root`` (local folder or ``s3://bucket/prefix``)."""
        return ObjectStore(self.root, self._s3())


class LakeResource(_RootedStore):
    """The lake: Delta tables under ``root`` (folder or ``s3://bucket/prefix``), and the
    reports kept beside them (``store()``)."""

    def lake(self) -> Lake:
        return Lake(self.root, self._s3())


class LandingResource(_RootedStore):
    """The landing zone upstream systems drop daily files into."""


class ContractsResource(dg.ConfigurableResource):
    """Dataset contracts; ``directory`` holds a team's own YAMLs (built-ins otherwise)."""

    directory: str | None = None

    def get(self, name: str) -> Contract:
        return load_contract(name, Path(self.directory) if self.directory else None)


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
    import os

    env = os.environ if environ is None else environ
    fields: dict = {f: dg.EnvVar(var) for f, var in ALERT_ENV.items() if env.get(var)}
    if env.get("LAKELOOP_SMTP_PORT"):
        fields["smtp_port"] = int(env["LAKELOOP_SMTP_PORT"])
    if env.get("LAKELOOP_ALERT_EMAIL_FROM"):
        fields["email_from"] = env["LAKELOOP_ALERT_EMAIL_FROM"]
    return AlertsResource(**fields)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    s3 = {"s3_endpoint_url": settings.s3.endpoint_url, "s3_region": settings.s3.region,
          "s3_allow_http": settings.s3.allow_http}
    return {
        "lake": LakeResource(root=settings.lake_root, **s3),
        "landing": LandingResource(root=settings.landing_root, **s3),
        "contracts": ContractsResource(
            directory=str(settings.contracts_dir) if settings.contracts_dir else None
        ),
        "registry": RegistryResource(root=settings.lake_root, **s3),
        "compute": ComputeResource(device=settings.device),
        "alerts": alerts_resource(),
    }


class RegistryResource(_RootedStore):
    """The model registry, under ``root/registry`` (the lake root by default)."""

    def registry(self) -> ModelRegistry:
        from lakeloop.registry import ModelRegistry

        return ModelRegistry(self.store())


class ComputeResource(dg.ConfigurableResource):
    """Device choice for torch: ``auto`` (CUDA if present, else CPU), ``cpu``, ``cuda[:N]``,
    ``mps``; defaults to $LAKELOOP_DEVICE, then ``auto``."""

    device: str = "auto"

    def compute(self) -> Compute:
        from lakeloop.compute import compute

        return compute(None if self.device == "auto" else self.device)


class AlertsResource(dg.ConfigurableResource):
    """Alert channels, each on when configured (all from env vars, see build_resources).

    Every alert is recorded in the ``alerts/log`` Delta table with its delivery status
    (``lakeloop.outbox``: delivered, pending, logged when no channel is configured) and
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
        from lakeloop.alerts import EmailChannel, SlackChannel, WebhookChannel

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
        from lakeloop.outbox import Backoff, Outbox

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
