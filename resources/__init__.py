"""Configurable Dagster resources: thin, typed handles on the plain-Python core, one module
each.

``storage``    the lake and the landing zone (local or S3)
``contracts``  dataset contracts
``registry``   the model registry
``compute``    where torch runs
``alerts``     alert channels, from environment variables only
"""

from __future__ import annotations

import dagster as dg

from lakeloop.settings import Settings
from resources.alerts import AlertsResource, alerts_resource
from resources.compute import ComputeResource
from resources.contracts import ContractsResource
from resources.registry import RegistryResource
from resources.storage import LakeResource, LandingResource, _S3Fields

__all__ = ["AlertsResource", "ComputeResource", "ContractsResource", "LakeResource",
           "LandingResource", "RegistryResource", "alerts_resource", "build_resources"]


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource a run uses, from the deployment's settings (``Settings.from_env``)."""
    s3 = _S3Fields.fields_of(settings.s3)
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
