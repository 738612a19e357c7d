"""Resources carry every setting into a run: a field left out is a setting silently ignored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg

from lakeloop.settings import S3Settings, Settings
from resources import LakeResource, RegistryResource, build_resources


def test_every_s3_setting_reaches_a_run(tmp_path: Path, monkeypatch) -> None:
    """``LAKELOOP_S3_RETRY_TIMEOUT_S`` (and every other S3 setting) is what a materializing
    asset's lake and registry use - it was dropped when the resources rebuilt the settings."""
    monkeypatch.setenv("LAKELOOP_HOME", str(tmp_path))
    monkeypatch.setenv("LAKELOOP_S3_RETRY_TIMEOUT_S", "7")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    settings = Settings.from_env()
    assert settings.s3.retry_timeout_s == 7
    seen: dict[str, S3Settings] = {}

    @dg.asset
    def probe(lake: LakeResource, registry: RegistryResource) -> None:
        seen["lake"] = lake.lake().s3
        seen["registry"] = registry.registry().store.s3

    resources = build_resources(settings)
    result = dg.materialize([probe], resources={k: resources[k] for k in ("lake", "registry")})
    assert result.success
    assert seen["lake"] == seen["registry"] == settings.s3
    assert {f.name for f in dataclasses.fields(S3Settings)} <= {
        name.removeprefix("s3_") for name in LakeResource.model_fields}, \
        "an S3 setting has no resource field"
