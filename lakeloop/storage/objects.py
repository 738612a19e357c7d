"""Plain files under a root that is a local folder or ``s3://bucket/prefix`` (boto3).

Used for the landing zone and for reports. One small interface, two backends, so the
simulator, ingest and tests don't care where the files live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lakeloop.settings import S3Settings


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def join(root: str, *parts: str) -> str:
    clean = [p.strip("/") for p in parts if p]
    return "/".join([root.rstrip("/"), *clean]) if clean else root


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class ObjectStore:
    """List, read and write files under ``root`` (a folder or an ``s3://`` prefix)."""

    def __init__(self, root: str, s3: S3Settings | None = None) -> None:
        self.root = root.rstrip("/") if is_s3(root) else str(Path(root))
        self.s3 = s3 or S3Settings()
        self._client: Any = None

    # -- backends -------------------------------------------------------------------------
    def _s3(self) -> Any:
        if self._client is None:
            import boto3  # boto3 import is slow; only S3 users pay for it
            from botocore.config import Config

            # standard mode: connection errors, 5xx and throttling retried with exponential
            # backoff (at most 20 s apart); attempts sized so the waits span retry_timeout_s
            attempts = max(2, self.s3.retry_timeout_s // 5)
            self._client = boto3.client(
                "s3", endpoint_url=self.s3.endpoint_url, region_name=self.s3.region,
                config=Config(retries={"mode": "standard", "max_attempts": attempts},
                              connect_timeout=5, read_timeout=30))
        return self._client

    def uri(self, *parts: str) -> str:
        return join(self.root, *parts)

    def list(self, *parts: str) -> list[str]:
        """Full URIs of the files under ``root/parts``, sorted; [] if there is nothing."""
        prefix = self.uri(*parts)
        if is_s3(prefix):
            bucket, key = split_s3(prefix)
            pages = self._s3().get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=key.rstrip("/") + "/"
            )
            keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
            return sorted(f"s3://{bucket}/{k}" for k in keys if not k.endswith("/"))
        folder = Path(prefix)
        if not folder.is_dir():
            return []
        return sorted(str(p) for p in folder.rglob("*") if p.is_file())

    def read_bytes(self, uri: str) -> bytes:
        if is_s3(uri):
            bucket, key = split_s3(uri)
            client = self._s3()
            try:
                return client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except client.exceptions.NoSuchKey as exc:
                raise FileNotFoundError(f"no such object: {uri}") from exc
        return Path(uri).read_bytes()

    def write_bytes(self, data: bytes, *parts: str) -> str:
        uri = self.uri(*parts)
        if is_s3(uri):
            bucket, key = split_s3(uri)
            self._s3().put_object(Bucket=bucket, Key=key, Body=data)
        else:
            path = Path(uri)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see a half-written file
        return uri
