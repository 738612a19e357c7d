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
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from lakeloop.names import PARTITION_COLUMN
from lakeloop.settings import S3Settings
from lakeloop.storage.objects import ObjectStore, is_s3, join

COMMIT_ATTEMPTS = 6  # a write that loses a commit race is redone on the new snapshot
WRITE_BATCH_ROWS = 100_000  # rows converted to Arrow at a time while a table is written


@dataclass(frozen=True)
class FrameStream:
    """Rows to write that are not held as one frame (an ingest's staged blocks): their
    columns (``schema``, an empty frame) and ``frames``, which reads them again, frame by
    frame, each time it is called (a retried commit writes them again)."""

    schema: pl.DataFrame
    frames: Callable[[], Iterator[pl.DataFrame]]

    @classmethod
    def of(cls, frame: pl.DataFrame) -> FrameStream:
        """A frame held whole, ``WRITE_BATCH_ROWS`` rows at a time."""
        return cls(frame.head(0), lambda: (frame.slice(offset, WRITE_BATCH_ROWS)
                                           for offset in range(0, frame.height,
                                                               WRITE_BATCH_ROWS)))


def arrow_batches(rows: FrameStream) -> Any:  # noqa: ANN401 - a pyarrow RecordBatchReader
    """``rows`` as a stream of Arrow batches, converted as delta-rs reads them. Why not
    ``DataFrame.write_delta``: delta-rs then takes the whole frame at once and held ~4.7x
    its size while writing (measured: 675 MB for a 144 MB day, 227 MB streamed). Classic
    Arrow types (``large_string``, not views): what delta-rs writes without a cast."""
    import pyarrow as pa
    from polars.interchange.protocol import CompatLevel

    level = CompatLevel.oldest()
    schema = rows.schema.to_arrow(compat_level=level).schema

    def batches() -> Any:  # noqa: ANN401
        for frame in rows.frames():
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


def _merged(table: str, current: DeltaSchema, written: DeltaSchema, evolve: bool
            ) -> DeltaSchema:
    """The table's schema after a write of ``written`` columns: the same columns, or
    (``evolve``) the table's plus the new ones (a column the rows lack is null for their
    days). A column whose type would change is refused, as delta-rs refuses it."""
    old = {f.name: f for f in current.fields}
    new = {f.name: f for f in written.fields}
    def named(field: Any) -> str:  # noqa: ANN401 - a Delta field; "string", not PrimitiveType(...)
        return str(getattr(field.type, "type", field.type))

    changed = [f"{n} ({named(old[n])} in the table, {named(f)} written)"
               for n, f in new.items() if n in old and str(old[n].type) != str(f.type)]
    if changed or (not evolve and set(old) != set(new)):
        differ = changed or sorted(set(old) ^ set(new))
        raise ValueError(f"{table}: the rows' columns do not match the table's: "
                         + ", ".join(differ))
    return DeltaSchema([*current.fields, *(f for n, f in new.items() if n not in old)])


class Lake:
    """Delta tables at ``root/<table>``; every partitioned table has a Date column ``date``."""

    def __init__(self, root: str, s3: S3Settings | None = None) -> None:
        self.root = root.rstrip("/") if is_s3(root) else str(Path(root).resolve())
        self.s3 = s3 or S3Settings()
        self._objects = ObjectStore(self.root, self.s3)  # (its S3 client made once, if used)

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
    def overwrite_partition(self, table: str, frame: pl.DataFrame | FrameStream, day: dt.date,
                            evolve: bool = False) -> int:
        """Replace ``day``'s rows of ``table`` with ``frame`` in one atomic Delta commit.

        Re-running a day therefore replaces it (never duplicates), and a failure before the
        commit leaves the table exactly as it was. ``evolve``: a column new to the table is
        added and one the frame lacks is null for the day (bronze with kept undeclared
        columns: upstream adds or drops ``V61``); otherwise a schema change is an error.
        Returns the new table version.
        """
        return self.overwrite_days(table, frame, day, day, evolve)

    def overwrite_days(self, table: str, frame: pl.DataFrame | FrameStream, start: dt.date,
                       end: dt.date, evolve: bool = False,
                       commit_metadata: dict[str, Any] | None = None) -> int:
        """Replace the days ``start..end`` of ``table`` with ``frame`` (or a stream of
        frames) in ONE atomic Delta commit (a backfill's range; a day of the range absent
        from ``frame`` ends up empty). Same guarantees as ``overwrite_partition``; returns
        the new table version. ``commit_metadata`` (JSON-able) is stored in the commit
        (``recent_commits``)."""
        days = pl.col(PARTITION_COLUMN)

        def inside(rows: pl.DataFrame) -> None:
            stray = rows.select(((days < start) | (days > end)).sum()).item()  # (narrow)
            if stray:
                raise ValueError(f"{table}: {stray} rows are outside {start}..{end}; "
                                 "refusing to write")

        props = CommitProperties(custom_metadata={
            COMMIT_KEY: json.dumps(commit_metadata, sort_keys=True)}) if commit_metadata else None
        if isinstance(frame, FrameStream):  # written as files, then committed in one go
            files = self._write_files(table, frame, inside)
            _committed(lambda: self._commit_files(table, files, frame.schema, start, end,
                                                  evolve, props), table)
        else:
            inside(frame)
            predicate = f"{PARTITION_COLUMN} = '{start.isoformat()}'" if start == end else \
                f"{PARTITION_COLUMN} >= '{start.isoformat()}' AND " \
                f"{PARTITION_COLUMN} <= '{end.isoformat()}'"
            _committed(lambda: write_deltalake(
                self.uri(table), arrow_batches(FrameStream.of(frame)), mode="overwrite",
                storage_options=self.storage_options, partition_by=[PARTITION_COLUMN],
                predicate=predicate, schema_mode="merge" if evolve else None,
                commit_properties=props), table)
        version = self.version(table)
        assert version is not None  # we just wrote it
        return version

    def _write_files(self, table: str, rows: FrameStream,
                     check: Callable[[pl.DataFrame], None]) -> list[AddAction]:
        """Each frame of ``rows`` as Parquet files of the table (a file a day it holds),
        written by Polars, not yet part of the table. Why not delta-rs's writer: given a
        stream it held ~240 MB more than the rows it was given while writing a 2M-row day
        (a 100,000-row row group or a smaller target file size changed nothing), in an
        allocator of its own; a staged block written by Polars costs about the block."""
        files = []
        for frame in rows.frames():
            check(frame)
            days = frame[PARTITION_COLUMN].unique(maintain_order=True).to_list()
            for day in days:
                part = frame if len(days) == 1 else \
                    frame.filter(pl.col(PARTITION_COLUMN) == day)
                files.append(self._write_file(table, day, part.drop(PARTITION_COLUMN)))
        return files

    def _write_file(self, table: str, day: dt.date, rows: pl.DataFrame) -> AddAction:
        path = f"{PARTITION_COLUMN}={day.isoformat()}/part-{uuid.uuid4().hex}.zstd.parquet"
        if is_s3(self.root):  # (written locally first: its size is what the log records)
            with tempfile.TemporaryDirectory(prefix="lakeloop-write-") as folder:
                local = Path(folder) / "part.parquet"
                rows.write_parquet(local)
                size = local.stat().st_size
                self._objects.write_bytes(local.read_bytes(), table, path)
        else:
            local = Path(self.uri(table)) / path
            local.parent.mkdir(parents=True, exist_ok=True)
            rows.write_parquet(local)
            size = local.stat().st_size
        return AddAction(path, size, {PARTITION_COLUMN: day.isoformat()},
                         int(time.time() * 1000), True, json.dumps({"numRecords": rows.height}))

    def _commit_files(self, table: str, files: list[AddAction], schema: pl.DataFrame,
                      start: dt.date, end: dt.date, evolve: bool,
                      props: CommitProperties | None) -> None:
        """One commit: the days ``start..end`` of ``table`` become ``files`` (the table is
        created if it does not exist). On the newest snapshot, each attempt."""
        written = DeltaSchema.from_arrow(
            schema.to_arrow(compat_level=pl.CompatLevel.oldest()).schema)
        current = self.table(table)
        if current is None:
            try:
                create_table_with_add_actions(
                    self.uri(table), written, files, mode="error",
                    partition_by=[PARTITION_COLUMN], storage_options=self.storage_options,
                    commit_properties=props)
                return
            except Exception:
                current = self.table(table)
                if current is None:
                    raise  # (else another writer created it meanwhile: commit on theirs)
        current.create_write_transaction(
            list[AddAction | RemoveAction](files), mode="overwrite",
            schema=_merged(table, current.schema(), written, evolve),
            partition_by=[PARTITION_COLUMN],
            partition_filters=[(PARTITION_COLUMN, ">=", start.isoformat()),
                               (PARTITION_COLUMN, "<=", end.isoformat())],
            commit_properties=props)

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
