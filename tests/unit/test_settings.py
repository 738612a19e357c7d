"""Each setting is declared once; the loader, a child's environment and the docs follow."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from lakeloop.settings import S3Settings, Settings, TrainingSettings, settings_table, to_env


def _declared(cls: type) -> list[dataclasses.Field]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out += _declared(hints[f.name])
        else:
            out.append(f)
    return out


def test_every_setting_has_a_variable_and_a_line_in_the_docs() -> None:
    table = settings_table()
    fields = _declared(Settings)
    missing = [f.name for f in fields if "env" not in f.metadata]
    assert not missing, f"settings with no environment variable: {missing}"
    names = [f.metadata["env"] for f in fields]
    assert len(names) == len(set(names)), "two settings share a variable"
    assert all(f"`{name}`" in table for name in names)


def test_a_child_process_environment_rebuilds_the_same_settings(tmp_path: Path) -> None:
    """``to_env`` is how the demo hands its settings to the code location: every value, not
    only the few someone remembered to copy (the S3 retry timeout was once lost that way)."""
    changed = Settings(
        lake_root=str(tmp_path / "lake"), landing_root="s3://bucket/landing",
        dagster_home=tmp_path / "home", partitions_start="2025-03-01",
        partitions_end="2025-06-01", contracts_dir=tmp_path / "contracts", device="cpu",
        s3=S3Settings("http://127.0.0.1:9000", "eu-west-1", True, 7),
        training=TrainingSettings(14, 5, 7, 14, 2), sensor_interval_s=1,
        alert_retry_interval_s=5, domains=("fraud", "demand"), executor="multiprocess",
        backfill_days_per_run=10, missing_lookback="fail")
    assert Settings.from_env(to_env(changed)) == changed
    defaults = Settings.from_env({"LAKELOOP_HOME": str(tmp_path)})
    assert defaults.lake_root == str(tmp_path / "lake")
    assert defaults.s3 == S3Settings() and defaults.training == TrainingSettings()


def test_a_standard_aws_variable_is_read_when_ours_is_unset() -> None:
    assert Settings.from_env({"AWS_DEFAULT_REGION": "ap-south-1"}).s3.region == "ap-south-1"
    assert Settings.from_env({"AWS_DEFAULT_REGION": "ap-south-1",
                              "AWS_REGION": "eu-north-1"}).s3.region == "eu-north-1"
