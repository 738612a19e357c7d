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
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from lakeloop.settings import S3Settings
from lakeloop.storage.objects import is_s3, join

PARTITION_COLUMN = "date"
COMMIT_ATTEMPTS = 6  # a write that loses a commit race is redone on the new snapshot
WRITE_BATCH_ROWS = 100_000  # rows converted to Arrow at a time while a table is written


def arrow_batches(frame: pl.DataFrame) -> Any:  # noqa: ANN401 - a pyarrow RecordBatchReader
    """``frame`` as a stream of Arrow batches of ``WRITE_BATCH_ROWS`` rows, converted as
    delta-rs reads them. Why not ``DataFrame.write_delta``: delta-rs then takes the whole
    frame at once and held ~4.7x its size while writing (measured: 675 MB for a 144 MB day,
    227 MB streamed). Classic Arrow types (``large_string``, not views): what delta-rs
    writes without a cast."""
    import pyarrow as pa
    from polars.interchange.protocol import CompatLevel

    level = CompatLevel.oldest()
    schema = frame.head(0).to_arrow(compat_level=level).schema

    def batches() -> Any:  # noqa: ANN401
        for offset in range(0, frame.height, WRITE_BATCH_ROWS):
            chunk = frame.slice(offset, WRITE_BATCH_ROWS).to_arrow(compat_level=level)
            yield from chunk.cast(schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


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
        stray = frame.select(((days < start) | (days > end)).sum()).item()  # (narrow)
        if stray:
            raise ValueError(f"{table}: {stray} rows are outside {start}..{end}; "
                             "refusing to write")
        predicate = f"{PARTITION_COLUMN} = '{start.isoformat()}'" if start == end else \
            f"{PARTITION_COLUMN} >= '{start.isoformat()}' AND " \
            f"{PARTITION_COLUMN} <= '{end.isoformat()}'"
        _committed(lambda: write_deltalake(
            self.uri(table), arrow_batches(frame), mode="overwrite",
            storage_options=self.storage_options, partition_by=[PARTITION_COLUMN],
            predicate=predicate, schema_mode="merge" if evolve else None,
            commit_properties=CommitProperties(custom_metadata={
                COMMIT_KEY: json.dumps(commit_metadata, sort_keys=True)})
            if commit_metadata else None,
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
        """What ``overwrite(..., commit_metadata=...)`` stored with ``version`` (its own
        commit file is read, not the table's whole history)."""
        if not self.exists(table):
            raise FileNotFoundError(f"no Delta table {self.uri(table)}")
        commit = self._commit_info(table, version)
        if commit is None:
            raise KeyError(f"{table}: no commit {version} in the history")
        return json.loads(commit.get(COMMIT_KEY, "{}"))

    def _commit_info(self, table: str, version: int) -> dict[str, Any] | None:
        """The ``commitInfo`` of one commit file; None if the file is gone (log cleanup)."""
        from lakeloop.storage.objects import ObjectStore

        uri = join(self.uri(table), "_delta_log", f"{version:020d}.json")
        try:
            lines = ObjectStore(self.root, self.s3).read_bytes(uri).decode().splitlines()
        except FileNotFoundError:
            return None
        actions = (json.loads(line) for line in lines if '"commitInfo"' in line)
        return next((a["commitInfo"] for a in actions if "commitInfo" in a), {})

    def recent_commits(self, table: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """(version, stored commit metadata) of the newest ``limit`` commits, newest first.

        Read from the commit files themselves (``_delta_log/<version>.json``, one object
        each), whatever the table's age. Why not ``DeltaTable.history``: it holds the GIL
        through its requests, so any Python thread serving or proxying them stalls until a
        timeout (seen against a loopback proxy in tests)."""
        newest = self.version(table)
        out: list[tuple[int, dict[str, Any]]] = []
        for version in range(newest, max(newest - limit, -1), -1) if newest is not None else ():
            info = self._commit_info(table, version)
            if info is None:  # cleaned up behind a checkpoint: no older commits to read
                break
            out.append((version, json.loads(info.get(COMMIT_KEY, "{}"))))
        return out

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
