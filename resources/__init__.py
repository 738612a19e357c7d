"""Configurable Dagster resources: thin, typed handles on the plain-Python core.

Credentials are never resource fields: boto3 and delta-rs read them from the environment
(the standard AWS chain), so they cannot land in run config, logs or metadata.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lakeloop.contracts import Contract, load_contract
from lakeloop.settings import S3Settings, Settings
from lakeloop.storage import Lake, ObjectStore


class _S3Fields(dg.ConfigurableResource):
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_allow_http: bool = False

    def _s3(self) -> S3Settings:
        return S3Settings(self.s3_endpoint_url, self.s3_region, self.s3_allow_http)


class LakeResource(_S3Fields):
    """The lake: Delta tables under ``root`` (folder or ``s3://bucket/prefix``)."""

    root: str

    def lake(self) -> Lake:
        return Lake(self.root, self._s3())


class LandingResource(_S3Fields):
    """The landing zone upstream systems drop daily files into."""

    root: str

    def store(self) -> ObjectStore:
        return ObjectStore(self.root, self._s3())


class ContractsResource(dg.ConfigurableResource):
    """Dataset contracts; ``directory`` holds a team's own YAMLs (built-ins otherwise)."""

    directory: str | None = None

    def get(self, name: str) -> Contract:
        return load_contract(name, Path(self.directory) if self.directory else None)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    s3 = {"s3_endpoint_url": settings.s3.endpoint_url, "s3_region": settings.s3.region,
          "s3_allow_http": settings.s3.allow_http}
    return {
        "lake": LakeResource(root=settings.lake_root, **s3),
        "landing": LandingResource(root=settings.landing_root, **s3),
        "contracts": ContractsResource(
            directory=str(settings.contracts_dir) if settings.contracts_dir else None
        ),
    }
