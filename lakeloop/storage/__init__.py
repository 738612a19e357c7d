"""Storage: the landing zone (files, local or S3) and the lake (Delta tables, local or S3).

``objects``  plain files under a local folder or ``s3://bucket/prefix`` (boto3)
``lake``     Delta tables under one root, read through Polars, written all or nothing
"""

from lakeloop.storage.lake import Lake
from lakeloop.storage.objects import ObjectStore

__all__ = ["Lake", "ObjectStore"]
