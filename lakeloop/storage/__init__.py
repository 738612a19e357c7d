"""Storage: the landing zone (files, local or S3) and the lake (Delta tables, local or S3)."""

from lakeloop.storage.lake import Lake
from lakeloop.storage.objects import ObjectStore

__all__ = ["Lake", "ObjectStore"]
