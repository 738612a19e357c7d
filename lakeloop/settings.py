"""One settings object, read from the environment with defaults that work on a laptop.

Read it where it is needed (``Settings.from_env()``), never at import time, so tests and the
Dagster code location can set the environment first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakeloop.domains import Domain


def project_root() -> Path:
    """The checkout when lakeloop is installed editable, else the working directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def _default_home() -> Path:
    return project_root() / ".lakeloop"


@dataclass(frozen=True)
class S3Settings:
    """Non-secret S3 connection settings; credentials come from the standard AWS chain."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    allow_http: bool = False
    # Transient errors (a dropped connection, a 5xx, throttling) are retried with exponential
    # backoff for up to this long, by boto3 and by delta-rs alike; an outage that lasts
    # longer fails the step with the S3 error, every table at its last committed version.
    retry_timeout_s: int = 60


EVIDENTLY_URL = "http://127.0.0.1:8000"  # where `make dev` serves `evidently ui`


@dataclass(frozen=True)
class EvidentlySettings:
    """The Evidently workspace the monitoring snapshots go to, and the UI that serves it.

    Why a local folder even for an ``s3://`` lake: ``evidently ui`` watches a local workspace
    for new snapshots, and the monitoring runs and ``make dev`` share one machine. Defaults:
    ``<lake root>/evidently`` beside a local lake, else ``<LAKELOOP_HOME>/evidently``;
    ``LAKELOOP_EVIDENTLY_WORKSPACE`` / ``LAKELOOP_EVIDENTLY_URL`` override them."""

    workspace: Path
    url: str = EVIDENTLY_URL

    @classmethod
    def from_env(cls, lake_root: str, environ: Mapping[str, str] | None = None
                 ) -> EvidentlySettings:
        """The one place the defaults live: the assets and sensors only know the lake root
        (their resource), ``Settings.evidently`` and ``make dev`` call this too."""
        env = os.environ if environ is None else environ
        if env.get("LAKELOOP_EVIDENTLY_WORKSPACE"):
            workspace = Path(env["LAKELOOP_EVIDENTLY_WORKSPACE"])
        elif lake_root.startswith("s3://"):
            workspace = Path(env.get("LAKELOOP_HOME", str(_default_home()))) / "evidently"
        else:
            workspace = Path(lake_root) / "evidently"
        return cls(workspace, (env.get("LAKELOOP_EVIDENTLY_URL") or EVIDENTLY_URL).rstrip("/"))


@dataclass(frozen=True)
class TrainingSettings:
    """Retraining knobs the sensors pass to the retrain jobs (and the demo shortens)."""

    label_window_days: int = 30  # reported labels count as final after this many days
    drift_train_days: int = 7  # drifted days with matured labels a drift retrain learns from
    forecast_horizon: int = 14
    encoder_length: int = 28
    backtest_origins: int = 3

    def label_window(self, domain: Domain) -> int:
        """Days until a classification domain's labels count as final: the label column's
        declared maturity, else ``label_window_days`` (reported labels)."""
        label = domain.main.roles.label
        if label is not None and label.column is not None:
            return int(label.maturity_days or 0)
        return self.label_window_days

    def drift_wait_days(self, domain: Domain) -> int:
        """How long a drift retrain waits after the episode opens.

        Classification: until the drifted days can fill a training set with *matured* labels
        - ``drift_train_days`` to learn from, the validation and test days after them, and the
        label window on top (promotion is decided on matured labels only; a 2-day test window
        of 4-day-old labels promised PR-AUC 0.996 and delivered 0.58). Forecasting: a week of
        the new level, so the new champion's reference week is all new level."""
        if domain.kind != "classification":
            return 7
        from lakeloop.training_sets import SplitWindow

        split = SplitWindow()
        return self.label_window(domain) + split.val_days + split.test_days \
            + self.drift_train_days

    def run_config(self, domain: Domain, as_of: str, drift: bool = False) -> dict:
        """Run config of ``retrain_<domain>`` (``drift``: requested by the drift sensor; it
        already waited ``drift_wait_days``, so the same matured-label rules apply)."""
        name = domain.name
        if domain.kind == "classification":
            label = domain.main.roles.label
            reported = label is not None and label.dataset is not None
            window = {"label_window_days": self.label_window_days} if reported else {}
            return {f"{name}_training_set": {"config": {"as_of": as_of, **window}}}
        return {f"{name}_training_set": {"config": {
            "as_of": as_of, "horizon": self.forecast_horizon,
            "encoder_length": self.encoder_length, "backtest_origins": self.backtest_origins}}}


@dataclass(frozen=True)
class Settings:
    """Where lakeloop keeps things.

    - ``lake_root``: Delta tables, quarantine, reports (local path or ``s3://bucket/prefix``).
    - ``landing_root``: the landing zone upstream systems write daily files into.
    - ``dagster_home``: the Dagster instance (SQLite by default).
    - ``partitions_start``: first daily partition (``YYYY-MM-DD``).
    - ``partitions_end``: the day after the last partition (``YYYY-MM-DD``); unset: today, so
      the nightly schedule keeps adding days. A lake loaded with history that ends earlier
      (the demo's simulated months) sets it, so the UI's partition views and plots end where
      the data ends instead of trailing months of empty days.
    - ``contracts_dir``: optional folder of dataset contract YAMLs overriding the built-in ones.
    - ``device``: torch device for training and scoring (``auto``: CUDA if present, else CPU).
    - ``domains``: the domains to run (``LAKELOOP_DOMAINS=fraud``); default: all in contracts.
    - ``evidently()``: the Evidently workspace and UI URL (``EvidentlySettings``).
    """

    def load_domains(self) -> dict[str, Domain]:
        from lakeloop.domains import load_domains

        return load_domains(self.contracts_dir, list(self.domains) if self.domains else None)

    def evidently(self, environ: Mapping[str, str] | None = None) -> EvidentlySettings:
        """Derived from ``lake_root`` (and the environment), as the assets derive it from
        their lake resource, so both always name the same workspace."""
        return EvidentlySettings.from_env(self.lake_root, environ)

    lake_root: str
    landing_root: str
    dagster_home: Path
    partitions_start: str = "2026-01-01"
    partitions_end: str | None = None
    contracts_dir: Path | None = None
    device: str = "auto"
    s3: S3Settings = field(default_factory=S3Settings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    sensor_interval_s: int = 300  # drift sensors: least time between two ticks
    # alert_outbox sensor: least time between two looks for pending alerts (each alert
    # then waits its own backoff, AlertsResource.retry_first_s doubling to retry_max_s)
    alert_retry_interval_s: int = 60
    domains: tuple[str, ...] | None = None  # enabled domains; None: every domain of the contracts
    # how a run executes its steps: "in_process" (one process: the heavy imports - GX,
    # Evidently, torch - are paid once per run, not once per step) or "multiprocess"
    # (a process per step, steps of one stage in parallel). The cluster uses its own.
    executor: str = "in_process"
    # a backfill of ingest + features over many days: one run reading and committing the whole
    # range (None), or runs of at most this many days (bounds memory on very large days)
    backfill_days_per_run: int | None = None
    # an open day missing from a feature look-back (its ingest failed or never ran): "flag"
    # (the features are built and their lookback_complete check warns, naming the days) or
    # "fail" (the features are refused until the day is ingested)
    missing_lookback: str = "flag"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("LAKELOOP_HOME", str(_default_home())))
        contracts = env.get("LAKELOOP_CONTRACTS")
        return cls(
            lake_root=env.get("LAKELOOP_LAKE", str(home / "lake")),
            landing_root=env.get("LAKELOOP_LANDING", str(home / "landing")),
            dagster_home=Path(env.get("DAGSTER_HOME", str(home / "dagster_home"))),
            partitions_start=env.get("LAKELOOP_PARTITIONS_START", "2026-01-01"),
            partitions_end=env.get("LAKELOOP_PARTITIONS_END") or None,
            contracts_dir=Path(contracts) if contracts else None,
            device=env.get("LAKELOOP_DEVICE", "auto"),
            sensor_interval_s=int(env.get("LAKELOOP_SENSOR_INTERVAL_S", "300")),
            alert_retry_interval_s=int(env.get("LAKELOOP_ALERT_RETRY_INTERVAL_S", "60")),
            executor=env.get("LAKELOOP_EXECUTOR", "in_process"),
            backfill_days_per_run=int(env["LAKELOOP_BACKFILL_DAYS_PER_RUN"])
            if env.get("LAKELOOP_BACKFILL_DAYS_PER_RUN") else None,
            missing_lookback=env.get("LAKELOOP_MISSING_LOOKBACK", "flag"),
            domains=tuple(d.strip() for d in env["LAKELOOP_DOMAINS"].split(",") if d.strip())
            if env.get("LAKELOOP_DOMAINS") else None,
            training=TrainingSettings(
                label_window_days=int(env.get("LAKELOOP_LABEL_WINDOW_DAYS", "30")),
                drift_train_days=int(env.get("LAKELOOP_DRIFT_TRAIN_DAYS", "7")),
                forecast_horizon=int(env.get("LAKELOOP_FORECAST_HORIZON", "14")),
                encoder_length=int(env.get("LAKELOOP_ENCODER_LENGTH", "28")),
                backtest_origins=int(env.get("LAKELOOP_BACKTEST_ORIGINS", "3")),
            ),
            s3=S3Settings(
                endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
                region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1")),
                allow_http=env.get("AWS_ALLOW_HTTP", "").lower() in {"1", "true", "yes"},
                retry_timeout_s=int(env.get("LAKELOOP_S3_RETRY_TIMEOUT_S", "60")),
            ),
        )
