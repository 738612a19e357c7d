"""One settings object, read from the environment with defaults that work on a laptop.

Each setting is declared once, with ``setting(default, env=..., doc=...)``: its default, the
environment variable that overrides it, and what it does. From that one declaration come the
loader (``Settings.from_env``), the environment a child process is given (``to_env``: the
demo's code location) and the documentation's configuration table (``settings_table``).

Read it where it is needed (``Settings.from_env()``), never at import time, so tests and the
Dagster code location can set the environment first.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakeloop.contracts.domains import Domain


def project_root() -> Path:
    """The checkout when lakeloop is installed editable, else the working directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def _default_home() -> Path:
    return project_root() / ".lakeloop"


HOME_ENV = "LAKELOOP_HOME"  # the base folder of every path below that is not set itself
_NO_DEFAULT: Any = dataclasses.MISSING


def setting(default: Any = _NO_DEFAULT, *, env: str, doc: str, shown: str | None = None,
            also: str | None = None, under_home: str | None = None) -> Any:
    """A dataclass field that is a setting: ``env`` overrides ``default``; ``doc`` says what it
    does (the docs table); ``shown``: the default as the table shows it; ``also``: a second
    variable read when ``env`` is unset (a standard name, e.g. ``AWS_DEFAULT_REGION``);
    ``under_home``: no default of its own - this folder under ``LAKELOOP_HOME``."""
    meta = {"env": env, "doc": doc, "shown": shown, "also": also, "under_home": under_home}
    if default is _NO_DEFAULT:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def _parse(text: str, hint: Any) -> Any:
    """An environment variable's text as the field's type (``X | None``: empty is None)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return None if not text.strip() else _parse(text, args[0])
    if hint is bool:
        return text.strip().lower() in {"1", "true", "yes", "on"}
    if typing.get_origin(hint) is tuple:
        return tuple(x.strip() for x in text.split(",") if x.strip())
    return hint(text)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _load(cls: Any, env: Mapping[str, str], home: Path) -> Any:
    """``cls`` from the environment: each setting's variable, else its default."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _load(hint, env, home)
            continue
        if "env" not in f.metadata:
            continue
        text = env.get(f.metadata["env"]) or (env.get(f.metadata["also"] or "") or None)
        if text is not None:
            kwargs[f.name] = _parse(text, hint)
        elif f.metadata["under_home"]:
            kwargs[f.name] = _parse(str(home / f.metadata["under_home"]), hint)
    return cls(**kwargs)


def to_env(settings: Any) -> dict[str, str]:
    """The environment that makes ``Settings.from_env`` rebuild ``settings`` in another
    process (every setting that has a value)."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value):
            out |= to_env(value)
        elif "env" in f.metadata and value is not None:
            out[f.metadata["env"]] = _text(value)
    return out


def settings_table() -> str:
    """The documentation's configuration table, one row a setting (``docs/hooks.py``)."""
    rows = [f"| `{HOME_ENV}` | `./.lakeloop` | base folder of the paths not set themselves |"]

    def walk(cls: Any) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name])
                continue
            m = f.metadata
            if "env" not in m:
                continue
            default = m["shown"] or (f"`${HOME_ENV}/{m['under_home']}`" if m["under_home"]
                                     else "-" if f.default in (None, _NO_DEFAULT)
                                     else f"`{_text(f.default)}`")
            name = f"`{m['env']}`" + (f" (or `{m['also']}`)" if m["also"] else "")
            rows.append(f"| {name} | {default} | {' '.join(m['doc'].split())} |")

    walk(Settings)
    walk(EvidentlySettings)
    return "\n".join(["| variable | default | what |", "|---|---|---|", *rows])


# A rolling classification split (``lakeloop.training.split.SplitWindow``): the newest matured
# days, the last TEST_DAYS for test, the VAL_DAYS before them for validation, the rest of
# WINDOW_DAYS to train; labels count as matured after LABEL_WINDOW_DAYS
SPLIT_WINDOW_DAYS = 28
SPLIT_VAL_DAYS = 4
SPLIT_TEST_DAYS = 5
LABEL_WINDOW_DAYS = 30


@dataclass(frozen=True)
class S3Settings:
    """Non-secret S3 connection settings; credentials come from the standard AWS chain."""

    endpoint_url: str | None = setting(
        None, env="AWS_ENDPOINT_URL", doc="an S3-compatible endpoint (MinIO, a local moto)")
    region: str = setting("us-east-1", env="AWS_REGION", also="AWS_DEFAULT_REGION",
                          doc="the S3 region")
    allow_http: bool = setting(False, env="AWS_ALLOW_HTTP", doc="plain HTTP to the endpoint")
    # Transient errors (a dropped connection, a 5xx, throttling) are retried with exponential
    # backoff for up to this long, by boto3 and by delta-rs alike; an outage that lasts
    # longer fails the step with the S3 error, every table at its last committed version.
    retry_timeout_s: int = setting(
        60, env="LAKELOOP_S3_RETRY_TIMEOUT_S",
        doc="how long S3 errors that may pass (dropped connections, 5xx, throttling) are "
            "retried with backoff, by boto3 and delta-rs, before the step fails; a failed step "
            "leaves every table at its last commit")


EVIDENTLY_URL = "http://127.0.0.1:8000"  # where `make dev` serves `evidently ui`


@dataclass(frozen=True)
class EvidentlySettings:
    """The Evidently workspace the monitoring snapshots go to, and the UI that serves it.

    Why a local folder even for an ``s3://`` lake: ``evidently ui`` watches a local workspace
    for new snapshots, and the monitoring runs and ``make dev`` share one machine. Defaults:
    ``<lake root>/evidently`` beside a local lake, else ``<LAKELOOP_HOME>/evidently``;
    ``LAKELOOP_EVIDENTLY_WORKSPACE`` / ``LAKELOOP_EVIDENTLY_URL`` override them."""

    workspace: Path = setting(
        env="LAKELOOP_EVIDENTLY_WORKSPACE", shown="`$LAKELOOP_LAKE/evidently`",
        doc="the Evidently workspace the daily snapshots go to (`$LAKELOOP_HOME/evidently` "
            "for an S3 lake)")
    url: str = setting(EVIDENTLY_URL, env="LAKELOOP_EVIDENTLY_URL",
                       doc="where `evidently ui` serves the workspace (the UI's links)")

    @classmethod
    def from_env(cls, lake_root: str, environ: Mapping[str, str] | None = None
                 ) -> EvidentlySettings:
        """The one place the defaults live: the assets and sensors only know the lake root
        (their resource), ``Settings.evidently`` and ``make dev`` call this too."""
        env = os.environ if environ is None else environ
        # each variable named once, in its field
        declared = {f.name: f.metadata["env"] for f in dataclasses.fields(cls)}
        if env.get(declared["workspace"]):
            workspace = Path(env[declared["workspace"]])
        elif lake_root.startswith("s3://"):
            workspace = Path(env.get(HOME_ENV, str(_default_home()))) / "evidently"
        else:
            workspace = Path(lake_root) / "evidently"
        return cls(workspace, (env.get(declared["url"]) or EVIDENTLY_URL).rstrip("/"))


@dataclass(frozen=True)
class TrainingSettings:
    """Retraining knobs the sensors pass to the retrain jobs (and the demo shortens)."""

    label_window_days: int = setting(
        LABEL_WINDOW_DAYS, env="LAKELOOP_LABEL_WINDOW_DAYS",
        doc="days after which reported labels count as matured (a label column's own "
            "`maturity_days` wins)")
    drift_train_days: int = setting(
        7, env="LAKELOOP_DRIFT_TRAIN_DAYS",
        doc="drifted days with matured labels a classification drift retrain waits for")
    forecast_horizon: int = setting(14, env="LAKELOOP_FORECAST_HORIZON",
                                    doc="open days a forecast covers")
    encoder_length: int = setting(28, env="LAKELOOP_ENCODER_LENGTH",
                                  doc="open days of history a forecaster reads")
    backtest_origins: int = setting(3, env="LAKELOOP_BACKTEST_ORIGINS",
                                    doc="rolling origins a forecast candidate is backtested on")

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
        return self.label_window(domain) + SPLIT_VAL_DAYS + SPLIT_TEST_DAYS \
            + self.drift_train_days


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
        from lakeloop.contracts.domains import load_domains

        return load_domains(self.contracts_dir, list(self.domains) if self.domains else None)

    def evidently(self, environ: Mapping[str, str] | None = None) -> EvidentlySettings:
        """Derived from ``lake_root`` (and the environment), as the assets derive it from
        their lake resource, so both always name the same workspace."""
        return EvidentlySettings.from_env(self.lake_root, environ)

    lake_root: str = setting(env="LAKELOOP_LAKE", under_home="lake",
                             doc="Delta tables; a folder or `s3://bucket/prefix`")
    landing_root: str = setting(env="LAKELOOP_LANDING", under_home="landing",
                                doc="landing zone; a folder or `s3://bucket/prefix`")
    dagster_home: Path = setting(env="DAGSTER_HOME", under_home="dagster_home",
                                 doc="the Dagster instance (SQLite unless its dagster.yaml "
                                     "says otherwise)")
    partitions_start: str = setting("2026-01-01", env="LAKELOOP_PARTITIONS_START",
                                    doc="first daily partition")
    partitions_end: str | None = setting(
        None, env="LAKELOOP_PARTITIONS_END", shown="today",
        doc="the day after the last partition, where history loaded into the lake ends "
            "(`lakeloop demo` sets it)")
    contracts_dir: Path | None = setting(
        None, env="LAKELOOP_CONTRACTS", shown="built-in",
        doc="folder with your own dataset contracts (replaces the built-ins)")
    device: str = setting("auto", env="LAKELOOP_DEVICE",
                          doc="torch device for training and scoring: `auto` (CUDA when "
                              "present, else CPU), `cpu`, `cuda[:N]`, `mps`")
    s3: S3Settings = field(default_factory=S3Settings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    sensor_interval_s: int = setting(300, env="LAKELOOP_SENSOR_INTERVAL_S",
                                     doc="least seconds between two drift-sensor ticks")
    # each alert then waits its own backoff, AlertsResource.retry_first_s doubling to
    # retry_max_s
    alert_retry_interval_s: int = setting(
        60, env="LAKELOOP_ALERT_RETRY_INTERVAL_S",
        doc="least seconds between two looks of the `alert_outbox` sensor for pending alerts")
    domains: tuple[str, ...] | None = setting(
        None, env="LAKELOOP_DOMAINS", shown="every domain of the contracts",
        doc="domains to run, comma-separated, e.g. `demand`")
    executor: str = setting(
        "in_process", env="LAKELOOP_EXECUTOR",
        doc="how a run executes its steps: `in_process` (heavy imports paid once a run) or "
            "`multiprocess` (a process per step, a stage's steps side by side)")
    backfill_days_per_run: int | None = setting(
        None, env="LAKELOOP_BACKFILL_DAYS_PER_RUN", shown="- (one run)",
        doc="a backfill of ingest + features: runs of at most this many days instead of one "
            "run for the whole range (bounds memory on very large days)")
    missing_lookback: str = setting(
        "flag", env="LAKELOOP_MISSING_LOOKBACK",
        doc="an open day missing from a feature look-back: `flag` (built; the "
            "`lookback_complete` check warns with the days) or `fail` (refused until the day "
            "is ingested)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Every setting from its environment variable, else its default."""
        env = os.environ if environ is None else environ
        return _load(cls, env, Path(env.get(HOME_ENV) or _default_home()))
