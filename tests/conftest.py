"""Shared fixtures: small simulated landing zones and lakes on tmp paths, real everything."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from lakeloop.settings import Settings
from lakeloop.simulate import SimConfig, simulate
from lakeloop.storage import ObjectStore

START = dt.date(2026, 1, 1)
# Small but real: 1,000 transactions a day, 4 x 5 = 20 series.
TINY = {"scale": 0.02, "stores": 4, "items": 5}


def day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


def write_landing(root: Path, days: int, **kw: object) -> Path:
    simulate(SimConfig(start=START, days=days, **{**TINY, **kw}), ObjectStore(str(root)))
    return root


@pytest.fixture(scope="session")
def tiny_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten simulated days; copy it (``landing_copy``) before changing any file."""
    return write_landing(tmp_path_factory.mktemp("landing"), days=10)


@pytest.fixture
def landing_copy(tiny_landing: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_landing, tmp_path / "landing"))


@pytest.fixture
def settings(landing_copy: Path, tmp_path: Path) -> Settings:
    return Settings(
        lake_root=str(tmp_path / "lake"),
        landing_root=str(landing_copy),
        dagster_home=tmp_path / "dagster_home",
        partitions_start=START.isoformat(),
    )
