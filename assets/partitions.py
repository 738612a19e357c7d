"""Daily partitions: the partition key is the business date of the data (UTC)."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg

from assets.metadata import refused
from lakeloop.names import PARTITION_COLUMN


def daily_partitions(start: str, end: str | None = None) -> dg.DailyPartitionsDefinition:
    """Days from ``start``; up to today, or to ``end`` (exclusive) where the data ends."""
    return dg.DailyPartitionsDefinition(start_date=start, end_date=end, timezone="UTC")


def backfill_policy(days_per_run: int | None) -> dg.BackfillPolicy:
    """How a backfill over many days runs: all of them in ONE run (``None``: each asset reads
    and commits the range in one pass), or runs of at most ``days_per_run`` days (to bound
    memory on very large days). Nightly runs are one day either way."""
    if days_per_run:
        return dg.BackfillPolicy.multi_run(max_partitions_per_run=days_per_run)
    return dg.BackfillPolicy.single_run()


def partition_day(context: dg.AssetExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """Every day the run targets: one for a nightly run, a range for a single-run backfill
    (``BackfillPolicy.single_run``), in order."""
    return sorted(dt.date.fromisoformat(k) for k in context.partition_keys)


def as_of_day(as_of: str | None, lake, table: str) -> dt.date:  # noqa: ANN001 - a Lake
    """The configured day, or the newest day ``table`` has (a clear failure if it is empty)."""
    if as_of:
        return dt.date.fromisoformat(as_of)
    import polars as pl

    newest = lake.scan(table).select(pl.col(PARTITION_COLUMN).max()).collect().item() \
        if lake.exists(table) else None
    if newest is None:
        raise refused(f"{table} is empty: materialize its asset first")
    return newest


def lookback(days_back: int, until: int = 0) -> dg.TimeWindowPartitionMapping:
    """Upstream days ``D - days_back .. D + until`` (days before the first partition are fine)."""
    with warnings.catch_warnings():  # the flag is beta, and exactly what look-backs need
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(
            start_offset=-days_back, end_offset=until, allow_nonexistent_upstream_partitions=True
        )


def newest_training_set(lake, table: str, asset: str):  # noqa: ANN001, ANN201 - Lake, tuple
    """(version, lineage, frame) of the newest training set in ``table``, or a clear failure
    naming the asset to materialize first. The lineage is what the set's own commit stored."""
    version = lake.version(table)
    if version is None:
        raise refused(f"no training set yet: materialize {asset}")
    return (version, lake.commit_metadata(table, version),
            lake.scan(table, version=version).collect())
