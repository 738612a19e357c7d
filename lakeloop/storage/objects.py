"""Plain files under a root that is a local folder or ``s3://bucket/prefix`` (boto3).

Used for the landing zone, reports and the model registry. One small interface, two backends,
so the simulator, ingest and tests don't care where the files live.

Two conditional writes let several processes share a root without locks they could leave
behind (the model registry's version claims and champion pointer use them):

- ``write_bytes_if_absent``: create only if nothing is there. Locally the bytes go to a temp
  file that is hard-linked to the name (``link`` fails if the name exists, atomically, and a
  reader never sees a half-written file); on S3 a ``PUT`` with ``If-None-Match: *``.
- ``read_with_tag`` + ``write_bytes_if_tag``: compare-and-swap. The tag is the S3 ETag, or
  locally the sha256 of the content; the write lands only if the file still has that tag
  (``None``: still absent). On S3 a ``PUT`` with ``If-Match: <etag>`` (``If-None-Match: *``
  for absent); locally the compare and the ``os.replace`` happen under an exclusive
  ``flock`` on a lock file beside it, which the kernel releases if the process dies, so a
  crash can't leave the file locked.

Conditional PUTs need an S3 that honours them (AWS since 2024, moto 5, recent MinIO). A retried
PUT whose first try landed (response lost) is answered 412 by S3; so a conditional write
that is refused reads the object back, and counts as done when it holds exactly our bytes.
"""

from __future__ import annotations

import hashlib
import os
import uuid
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


def content_tag(data: bytes) -> str:
    """The tag of a local file: its content hash (the value is the state, so a file that
    changed and changed back is, correctly, unchanged)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


# S3 answers a conditional write that lost with one of these (412: the condition failed;
# 409: a concurrent conditional write to the key is in flight; 404: If-Match on no object)
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409",
              "404"}


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
        """The object's bytes. A local path that resolves outside ``root`` (a symlink out of
        the landing zone) is refused, never followed: ``PermissionError`` naming both."""
        if not is_s3(uri) and not is_s3(self.root):
            target, root = Path(uri).resolve(), Path(self.root).resolve()
            if not target.is_relative_to(root):
                raise PermissionError(f"{uri} is a link to {target}, outside {root}; "
                                      "not read (copy the file in instead)")
        if is_s3(uri):
            bucket, key = split_s3(uri)
            client = self._s3()
            try:
                return client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except client.exceptions.NoSuchKey as exc:
                raise FileNotFoundError(f"no such object: {uri}") from exc
        return Path(uri).read_bytes()

    def _tmp(self, path: Path) -> Path:
        """A temp name beside ``path``, unique per writer (threads and processes alike)."""
        return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")

    def write_bytes(self, data: bytes, *parts: str) -> str:
        uri = self.uri(*parts)
        if is_s3(uri):
            bucket, key = split_s3(uri)
            self._s3().put_object(Bucket=bucket, Key=key, Body=data)
        else:
            path = Path(uri)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._tmp(path)  # unique: two writers of one name don't share a temp file
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see a half-written file
        return uri

    # -- conditional writes -----------------------------------------------------------------
    def _s3_conditional_put(self, uri: str, data: bytes, **condition: str) -> bool:
        """A conditional ``PUT``; False when another writer got there first."""
        from botocore.exceptions import ClientError

        bucket, key = split_s3(uri)
        try:
            self._s3().put_object(Bucket=bucket, Key=key, Body=data, **condition)
            return True
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if error.get("Code") not in _LOST_RACE and status not in _LOST_RACE:
                raise
        try:  # our own retried PUT may be what made the condition fail
            return self.read_bytes(uri) == data
        except FileNotFoundError:
            return False

    def write_bytes_if_absent(self, data: bytes, *parts: str) -> bool:
        """Create ``root/parts`` with ``data`` unless it exists; True if this call created it.

        Exactly one of several concurrent callers wins; the file appears complete or not at
        all."""
        uri = self.uri(*parts)
        if is_s3(uri):
            return self._s3_conditional_put(uri, data, IfNoneMatch="*")
        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp(path)
        tmp.write_bytes(data)
        try:
            os.link(tmp, path)  # atomic, and fails if the name exists
            return True
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links: exclusive create, then write
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def read_with_tag(self, uri: str) -> tuple[bytes, str]:
        """The bytes of ``uri`` and its tag for ``write_bytes_if_tag``; FileNotFoundError if
        there is nothing."""
        if is_s3(uri):
            bucket, key = split_s3(uri)
            client = self._s3()
            try:
                response = client.get_object(Bucket=bucket, Key=key)
            except client.exceptions.NoSuchKey as exc:
                raise FileNotFoundError(f"no such object: {uri}") from exc
            return response["Body"].read(), str(response["ETag"])
        data = Path(uri).read_bytes()
        return data, content_tag(data)

    def write_bytes_if_tag(self, data: bytes, tag: str | None, *parts: str) -> bool:
        """Replace ``root/parts`` with ``data`` only if it still has ``tag`` (from
        ``read_with_tag``; ``None``: only if it does not exist). True if this call wrote it;
        False if someone else changed it first (read it again and re-apply the change)."""
        uri = self.uri(*parts)
        if is_s3(uri):
            condition = {"IfNoneMatch": "*"} if tag is None else {"IfMatch": tag}
            return self._s3_conditional_put(uri, data, **condition)
        import fcntl  # POSIX; the lakes lakeloop runs on are Linux or macOS folders

        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(f".{path.name}.lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released on close, or by the kernel on a crash
            try:
                current: str | None = content_tag(path.read_bytes())
            except FileNotFoundError:
                current = None
            if current != tag:
                return False
            tmp = self._tmp(path)
            tmp.write_bytes(data)
            tmp.replace(path)  # readers (who take no lock) see the old file or the new one
            return True
