"""A day's typed rows staged on local disk as Parquet, a block a file, until validation has
decided which of them bronze keeps.

Why: held whole, a large day's typed rows cost ~2.4x its file, more than the ~3x an ingest
may use in all. Staged, ingest holds one block of rows at a time (and what validation keeps
of each row: day, number, key), and the Delta write reads the files back a block at a time,
leaving out the quarantined rows. The files live in the system's temporary folder (``TMPDIR``
chooses it; a day takes about its file's size there) and go with the read that made them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import polars as pl

from lakeloop.ingest.landed import PARSE_ERRORS, ROW_NUMBER, SOURCE_FILE
from lakeloop.names import PARTITION_COLUMN
from lakeloop.storage.lake import FrameStream

STAGING_COMPRESSION: Final = "lz4"  # written once, read once, soon: speed over size


PREFIX = "lakeloop-ingest-"  # + the owning process id + "-" + a random suffix


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_dead_staging(folder: Path | None = None) -> list[Path]:
    """Remove the staging folders whose ingest process is gone (a run killed by SIGKILL or
    the OOM killer never runs its clean-up): each folder's name holds its owner's process
    id, and a folder whose owner no longer exists is removed. Returns what was removed.
    (A process id reused by another live process keeps its folder: the next ingest after
    that one ends takes it.)"""
    root = folder or Path(tempfile.gettempdir())
    removed = []
    for path in root.glob(f"{PREFIX}*"):
        owner = path.name[len(PREFIX):].split("-", 1)[0]
        if path.is_dir() and owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class Staging:
    """The folder of one ingest's staged days (removed when the ingest's read is dropped,
    or by ``discard``; a killed ingest's by the next one: ``remove_dead_staging``)."""

    def __init__(self) -> None:
        self.removed = remove_dead_staging()
        self._folder = tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-",
                                                   ignore_cleanup_errors=True)

    def day(self, day: dt.date) -> StagedDay:
        return StagedDay(self, day)

    @property
    def path(self) -> Path:
        return Path(self._folder.name)

    def discard(self) -> None:
        self._folder.cleanup()


@dataclass
class StagedDay:
    """One day's typed rows, a Parquet file a block; ``left_out`` (row numbers: the
    quarantined rows) and ``finish`` (typing that needed the whole day) apply as they are
    read back. Holds its ``Staging``, so the files live as long as it does."""

    staging: Staging
    day: dt.date
    paths: list[Path] = field(default_factory=list)
    rows: int = 0
    left_out: pl.Series | None = None
    finish: Callable[[pl.DataFrame], pl.DataFrame] | None = None

    def add(self, block: pl.DataFrame) -> None:
        """Stage a typed block: ``_row``, ``_source_file`` and the day's columns."""
        path = self.staging.path / f"{self.day.isoformat()}-{len(self.paths):05d}.parquet"
        block.write_parquet(path, compression=STAGING_COMPRESSION, statistics=False)
        self.paths.append(path)
        self.rows += block.height

    @property
    def accepted(self) -> int:
        return self.rows - (0 if self.left_out is None else self.left_out.len())

    def frames(self) -> Iterator[pl.DataFrame]:
        """Bronze's rows of the day, a staged block at a time: the day's columns, then
        ``_source_file`` and the partition column."""
        for path in self.paths:
            yield self._bronze(pl.read_parquet(path))

    def head(self, rows: int) -> pl.DataFrame:
        """The first ``rows`` accepted rows (a preview; ``0``: the schema)."""
        if not self.paths:
            return pl.DataFrame()
        first = pl.read_parquet(self.paths[0], n_rows=rows) if rows else \
            pl.DataFrame(schema=pl.read_parquet_schema(self.paths[0]))
        return self._bronze(first)

    def frame(self) -> pl.DataFrame:
        """The day's bronze rows as one frame (what tests and small days look at)."""
        frames = list(self.frames())
        return pl.concat(frames) if frames else self.head(0)

    def _bronze(self, block: pl.DataFrame) -> pl.DataFrame:
        if self.left_out is not None and self.left_out.len():
            block = block.filter(~pl.col(ROW_NUMBER).is_in(self.left_out.implode()))
        if self.finish is not None:
            block = self.finish(block)
        names = [c for c in block.columns
                 if c not in (PARTITION_COLUMN, SOURCE_FILE, ROW_NUMBER, PARSE_ERRORS)]
        return block.select(*names, SOURCE_FILE).with_columns(
            pl.repeat(self.day, block.height, eager=True).alias(PARTITION_COLUMN))


def bronze_stream(days: list[StagedDay]) -> FrameStream:
    """Several days' bronze rows as one stream, every frame with the same columns (a kept
    column one day lacks is null there, as a relaxed concat would make it)."""
    schema = pl.concat([d.head(0) for d in days], how="diagonal_relaxed").schema \
        if days else pl.Schema()

    def frames() -> Iterator[pl.DataFrame]:
        for day in days:
            for frame in day.frames():
                yield frame.select(pl.col(c).cast(t) if c in frame.columns
                                   else pl.repeat(None, frame.height, dtype=t, eager=True)
                                   .alias(c) for c, t in schema.items())

    return FrameStream(pl.DataFrame(schema=schema), frames)
