"""One settings object, read from the environment with defaults that work on a laptop.

Read it where it is needed (``Settings.from_env()``), never at import time, so tests and the
Dagster code location can set the environment first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


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


@dataclass(frozen=True)
class Settings:
    """Where lakeloop keeps things.

    - ``lake_root``: Delta tables, quarantine, reports (local path or ``s3://bucket/prefix``).
    - ``landing_root``: the landing zone upstream systems write daily files into.
    - ``dagster_home``: the Dagster instance (SQLite by default).
    - ``partitions_start``: first daily partition (``YYYY-MM-DD``).
    - ``contracts_dir``: optional folder of dataset contract YAMLs overriding the built-in ones.
    - ``device``: torch device for training and scoring (``auto``: CUDA if present, else CPU).
    """

    lake_root: str
    landing_root: str
    dagster_home: Path
    partitions_start: str = "2026-01-01"
    contracts_dir: Path | None = None
    device: str = "auto"
    s3: S3Settings = field(default_factory=S3Settings)

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
            contracts_dir=Path(contracts) if contracts else None,
            device=env.get("LAKELOOP_DEVICE", "auto"),
            s3=S3Settings(
                endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
                region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1")),
                allow_http=env.get("AWS_ALLOW_HTTP", "").lower() in {"1", "true", "yes"},
            ),
        )
