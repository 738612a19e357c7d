"""The lake: Delta tables under one root (local folder or ``s3://``), read through Polars.

Why a small class of our own rather than an IO manager: partitioned Delta tables are written
by replacing one day's partition (``replaceWhere`` predicate, one atomic commit), read back as
a date *window* (look-back for features) or at a recorded *version* (time travel for training
sets). dagster-deltalake's IO manager loads only one partition into unpartitioned consumers and
reads through pyarrow (see shared/DEPENDENCIES.md, traps 4 and 5).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from lakeloop.settings import S3Settings
from lakeloop.storage.objects import is_s3, join

PARTITION_COLUMN = "date"
COMMIT_ATTEMPTS = 6  # a write that loses a commit race is redone on the new snapshot


def _committed(write: Callable[[], None], table: str) -> None:
    """Run a Delta write; when another writer committed first (``CommitFailedError``: two
    runs on one day, a backfill beside a nightly run), redo it on the new snapshot after a
    jittered backoff. Safe because every lakeloop write replaces what it covers (or, for
    logs, is retried whole), so redoing it never duplicates."""
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            write()
            return
        except CommitFailedError:
            if attempt == COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(min(5.0, 0.2 * 2 ** attempt) * (0.5 + random.random()))
    raise AssertionError(table)  # unreachable: the last attempt returned or raised
COMMIT_KEY = "lakeloop.lineage"


class Lake:
    """Delta tables at ``root/<table>``; every partitioned table has a Date column ``date``."""

    def __init__(self, root: str, s3: S3Settings | None = None) -> None:
        self.root = root.rstrip("/") if is_s3(root) else str(Path(root).resolve())
        self.s3 = s3 or S3Settings()

    def uri(self, table: str) -> str:
        return join(self.root, table)

    @property
    def storage_options(self) -> dict[str, str] | None:
        """delta-rs options; credentials come from the environment (AWS chain), never config."""
        if not is_s3(self.root):
            return None
        # delta-rs (object_store) retries reads, and unconditional writes, with backoff
        opts = {"AWS_REGION": self.s3.region, "retry_timeout": f"{self.s3.retry_timeout_s}s"}
        if self.s3.endpoint_url:
            opts["AWS_ENDPOINT_URL"] = self.s3.endpoint_url
        if self.s3.allow_http:
            opts["AWS_ALLOW_HTTP"] = "true"
        return opts

    # -- metadata ---------------------------------------------------------------------------
    def table(self, table: str) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri(table), storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    def exists(self, table: str) -> bool:
        return self.table(table) is not None

    def version(self, table: str) -> int | None:
        dt_ = self.table(table)
        return None if dt_ is None else dt_.version()

    # -- writes -----------------------------------------------------------------------------
    def overwrite_partition(self, table: str, frame: pl.DataFrame, day: dt.date,
                            evolve: bool = False) -> int:
        """Replace ``day``'s rows of ``table`` with ``frame`` in one atomic Delta commit.

        Re-running a day therefore replaces it (never duplicates), and a failure before the
        commit leaves the table exactly as it was. ``evolve``: a column new to the table is
        added and one the frame lacks is null for the day (bronze with kept undeclared
        columns: upstream adds or drops ``V61``); otherwise a schema change is an error.
        Returns the new table version.
        """
        return self.overwrite_days(table, frame, day, day, evolve)

    def overwrite_days(self, table: str, frame: pl.DataFrame, start: dt.date, end: dt.date,
                       evolve: bool = False, commit_metadata: dict[str, Any] | None = None
                       ) -> int:
        """Replace the days ``start..end`` of ``table`` with ``frame`` in ONE atomic Delta
        commit (a backfill's range; a day of the range absent from ``frame`` ends up empty).
        Same guarantees as ``overwrite_partition``; returns the new table version.
        ``commit_metadata`` (JSON-able) is stored in the commit (``recent_commits``)."""
        days = pl.col(PARTITION_COLUMN)
        stray = frame.filter((days < start) | (days > end)).height
        if stray:
            raise ValueError(f"{table}: {stray} rows are outside {start}..{end}; "
                             "refusing to write")
        predicate = f"{PARTITION_COLUMN} = '{start.isoformat()}'" if start == end else \
            f"{PARTITION_COLUMN} >= '{start.isoformat()}' AND " \
            f"{PARTITION_COLUMN} <= '{end.isoformat()}'"
        _committed(lambda: frame.write_delta(
            self.uri(table),
            mode="overwrite",
            storage_options=self.storage_options,
            delta_write_options={
                "partition_by": [PARTITION_COLUMN],
                "predicate": predicate,
                **({"schema_mode": "merge"} if evolve else {}),
                **({"commit_properties": CommitProperties(custom_metadata={
                    COMMIT_KEY: json.dumps(commit_metadata, sort_keys=True)})}
                   if commit_metadata else {}),
            },
        ), table)
        version = self.version(table)
        assert version is not None  # we just wrote it
        return version

    def overwrite(self, table: str, frame: pl.DataFrame,
                  commit_metadata: dict[str, Any] | None = None) -> int:
        """Replace a whole (unpartitioned) table atomically; ``commit_metadata`` (JSON-able)
        is stored in the Delta commit itself, so lineage travels with the table version."""
        options: dict[str, Any] = {"schema_mode": "overwrite"}
        if commit_metadata:
            options["commit_properties"] = CommitProperties(
                custom_metadata={COMMIT_KEY: json.dumps(commit_metadata, sort_keys=True)})
        frame.write_delta(self.uri(table), mode="overwrite",
                          storage_options=self.storage_options, delta_write_options=options)
        version = self.version(table)
        assert version is not None
        return version

    def append(self, table: str, frame: pl.DataFrame, evolve: bool = False) -> int:
        """Append rows (logs: alerts); one atomic commit. ``evolve``: columns new to the table
        are added (null in its older rows), as a log gains fields over releases."""
        _committed(lambda: frame.write_delta(
            self.uri(table), mode="append", storage_options=self.storage_options,
            delta_write_options={"schema_mode": "merge"} if evolve else None), table)
        version = self.version(table)
        assert version is not None
        return version

    def update_rows(self, table: str, frame: pl.DataFrame, on: list[str]) -> int:
        """Set the other columns of ``frame`` on the rows of ``table`` whose ``on`` columns
        match one of its rows (a Delta MERGE: one atomic commit; unmatched rows of ``frame``
        are ignored). The values travel as data, never spliced into SQL."""
        def merge() -> None:  # on the newest snapshot, each attempt
            dt_ = self.table(table)
            if dt_ is None:
                raise FileNotFoundError(f"no Delta table {self.uri(table)}")
            dt_.merge(frame.to_arrow(), " AND ".join(f"t.{c} = s.{c}" for c in on),
                      source_alias="s", target_alias="t").when_matched_update(
                updates={c: f"s.{c}" for c in frame.columns if c not in on}).execute()

        _committed(merge, table)
        version = self.version(table)
        assert version is not None
        return version

    def commit_metadata(self, table: str, version: int) -> dict[str, Any]:
        """What ``overwrite(..., commit_metadata=...)`` stored with ``version``."""
        dt_ = self.table(table)
        if dt_ is None:
            raise FileNotFoundError(f"no Delta table {self.uri(table)}")
        for commit in dt_.history():
            if commit.get("version") == version:
                return json.loads(commit.get(COMMIT_KEY, "{}"))
        raise KeyError(f"{table}: no commit {version} in the history")

    def recent_commits(self, table: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """(version, stored commit metadata) of the newest ``limit`` commits, newest first;
        reads those commits only, whatever the table's age."""
        dt_ = self.table(table)
        if dt_ is None:
            return []
        return [(c["version"], json.loads(c.get(COMMIT_KEY, "{}")))
                for c in dt_.history(limit) if "version" in c]

    # -- reads ------------------------------------------------------------------------------
    def scan(
        self,
        table: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        version: int | None = None,
    ) -> pl.LazyFrame:
        """Lazy scan of ``table``, pruned to partitions ``start..end`` (inclusive).

        The date filter is on the partition column, so Delta prunes files: a look-back read
        opens only the partitions it needs, never the full history.
        """
        lf = pl.scan_delta(self.uri(table), version=version, storage_options=self.storage_options)
        if start is not None:
            lf = lf.filter(pl.col(PARTITION_COLUMN) >= start)
        if end is not None:
            lf = lf.filter(pl.col(PARTITION_COLUMN) <= end)
        return lf

    def partition_counts(self, table: str, start: dt.date, end: dt.date) -> dict[dt.date, int]:
        """Row count per day in ``start..end`` (days with no rows are absent)."""
        if not self.exists(table):
            return {}
        counts = (
            self.scan(table, start, end).group_by(PARTITION_COLUMN).agg(pl.len()).collect()
        )
        return dict(zip(counts[PARTITION_COLUMN].to_list(), counts["len"].to_list(), strict=True))
