"""Where the data lives: the lake (Delta tables and the reports beside them) and the landing
zone, each a local folder or ``s3://bucket/prefix``.

Credentials are never resource fields: boto3 and delta-rs read them from the environment
(the standard AWS chain), so they cannot land in run config, logs or metadata.
"""

from __future__ import annotations

import dagster as dg

from lakeloop.settings import S3Settings
from lakeloop.storage import Lake, ObjectStore


class _S3Fields(dg.ConfigurableResource):
    """The non-secret S3 settings (``lakeloop.settings.S3Settings``), every one of them: a
    field left out here is a setting every Dagster run silently ignores."""

    s3_endpoint_url: str | None = None
    s3_region: str = S3Settings.region
    s3_allow_http: bool = S3Settings.allow_http
    s3_retry_timeout_s: int = S3Settings.retry_timeout_s

    def _s3(self) -> S3Settings:
        return S3Settings(self.s3_endpoint_url, self.s3_region, self.s3_allow_http,
                          self.s3_retry_timeout_s)

    @staticmethod
    def fields_of(s3: S3Settings) -> dict[str, object]:
        """The resource fields of ``s3`` (``build_resources``)."""
        return {"s3_endpoint_url": s3.endpoint_url, "s3_region": s3.region,
                "s3_allow_http": s3.allow_http, "s3_retry_timeout_s": s3.retry_timeout_s}


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
