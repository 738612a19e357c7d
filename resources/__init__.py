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
    from lakeloop.compute import Compute
    from lakeloop.registry import ModelRegistry


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
        "registry": RegistryResource(root=settings.lake_root, **s3),
        "compute": ComputeResource(device=settings.device),
    }


class RegistryResource(_S3Fields):
    """The model registry, under ``root/registry`` (the lake root by default)."""

    root: str

    def registry(self) -> ModelRegistry:
        from lakeloop.registry import ModelRegistry

        return ModelRegistry(ObjectStore(self.root, self._s3()))


class ComputeResource(dg.ConfigurableResource):
    """Device choice for torch: ``auto`` (CUDA if present, else CPU), ``cpu``, ``cuda[:N]``,
    ``mps``; defaults to $LAKELOOP_DEVICE, then ``auto``."""

    device: str = "auto"

    def compute(self) -> Compute:
        from lakeloop.compute import compute

        return compute(None if self.device == "auto" else self.device)
