"""Rows written as a stream (an ingest's staged blocks): Parquet files written by Polars,
then one Delta commit of add actions. The table must be the Delta table any reader expects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from lakeloop.storage import Lake
from lakeloop.storage.lake import FrameStream

DAYS = [dt.date(2026, 3, d) for d in (1, 2, 3)]


def _day(day: dt.date, rows: int, tag: str, **extra: pl.Series) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"{tag}{i}" for i in range(rows)],
                         "amount": [float(i) for i in range(rows)],
                         "ts": [dt.datetime.combine(day, dt.time(9))] * rows,
                         **extra, "date": [day] * rows})


def _stream(*frames: pl.DataFrame) -> FrameStream:
    return FrameStream(frames[0].head(0), lambda: iter(frames))


def test_a_stream_becomes_one_commit_of_the_range(tmp_path: Path) -> None:
    """Three days in blocks (one day in two blocks), then day 2 alone again: one commit
    each, only day 2 replaced, every reader sees the same rows and types."""
    lake = Lake(str(tmp_path / "lake"))
    first = [_day(DAYS[0], 4, "a"), _day(DAYS[1], 3, "b"), _day(DAYS[1], 2, "c"),
             _day(DAYS[2], 5, "d")]
    assert lake.overwrite_days("bronze/t", _stream(*first), DAYS[0], DAYS[2],
                               commit_metadata={"ingest": {"batch": "x"}}) == 0
    again = lake.overwrite_days("bronze/t", _stream(_day(DAYS[1], 1, "e")), DAYS[1], DAYS[1])
    assert again == 1
    assert lake.partition_counts("bronze/t", DAYS[0], DAYS[2]) == \
        {DAYS[0]: 4, DAYS[1]: 1, DAYS[2]: 5}
    assert lake.recent_commits("bronze/t", 2) == [(1, {}), (0, {"ingest": {"batch": "x"}})]
    ours = lake.scan("bronze/t").collect().sort("date", "id")
    theirs = pl.from_arrow(DeltaTable(lake.uri("bronze/t")).to_pyarrow_table()).sort(
        "date", "id")
    assert ours.schema == pl.Schema({"id": pl.String, "amount": pl.Float64,
                                     "ts": pl.Datetime("us"), "date": pl.Date})
    assert ours.equals(theirs.select(ours.columns).cast(dict(ours.schema)))
    assert ours.filter(pl.col("date") == DAYS[1])["id"].to_list() == ["e0"]
    assert DeltaTable(lake.uri("bronze/t")).metadata().partition_columns == ["date"]


def test_a_new_column_evolves_the_table_only_when_asked(tmp_path: Path) -> None:
    """Bronze with kept undeclared columns: a column new on day 2 is added (null before);
    a day without it keeps it in the table (null that day). Without ``evolve`` a changed set
    of columns is refused by name, and so is a column whose type would change."""
    lake = Lake(str(tmp_path / "lake"))
    lake.overwrite_days("bronze/t", _stream(_day(DAYS[0], 2, "a")), DAYS[0], DAYS[0])
    with_v1 = _day(DAYS[1], 2, "b", V1=pl.Series(["x", "y"]))
    with pytest.raises(ValueError, match="do not match the table's: V1"):
        lake.overwrite_days("bronze/t", _stream(with_v1), DAYS[1], DAYS[1])
    assert lake.version("bronze/t") == 0  # refused: nothing committed
    lake.overwrite_days("bronze/t", _stream(with_v1), DAYS[1], DAYS[1], evolve=True)
    lake.overwrite_days("bronze/t", _stream(_day(DAYS[2], 1, "c")), DAYS[2], DAYS[2],
                        evolve=True)
    rows = lake.scan("bronze/t").collect().sort("date", "id")
    assert rows["V1"].to_list() == [None, None, "x", "y", None]
    retyped = _day(DAYS[2], 1, "c", V1=pl.Series([1.5]))
    with pytest.raises(ValueError, match=r"V1 \(string in the table, double written\)"):
        lake.overwrite_days("bronze/t", _stream(retyped), DAYS[2], DAYS[2], evolve=True)


def test_rows_outside_the_range_are_refused_before_any_commit(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.overwrite_days("bronze/t", _stream(_day(DAYS[0], 2, "a")), DAYS[0], DAYS[0])
    with pytest.raises(ValueError, match=r"1 rows are outside 2026-03-01\.\.2026-03-01"):
        lake.overwrite_days("bronze/t", _stream(_day(DAYS[0], 2, "b"), _day(DAYS[1], 1, "c")),
                            DAYS[0], DAYS[0])
    assert lake.version("bronze/t") == 0
    assert lake.scan("bronze/t").collect()["id"].to_list() == ["a0", "a1"]
