"""What the lake holds: every table the domains write, and a one-line summary of each (Delta
version, rows, days). Shared by ``lakeloop demo``'s closing table and the notebooks, so both
list the same tables in the same order."""

from __future__ import annotations

import polars as pl

from lakeloop.contracts.domains import Domain
from lakeloop.names import (
    ALERTS_TABLE,
    PARTITION_COLUMN,
    accuracy_table,
    bronze_table,
    drift_table,
    performance_table,
    quarantine_table,
)
from lakeloop.storage.lake import Lake


def data_tables(domains: dict[str, Domain]) -> list[str]:
    """Bronze and quarantine of every dataset, then features and predictions, per domain."""
    out: list[str] = []
    for d in domains.values():
        out += [bronze_table(c.name) for c in d.datasets]
        out += [quarantine_table(c.name) for c in d.datasets]
        out += [d.features_table, d.predictions_table]
    return out


def all_tables(domains: dict[str, Domain]) -> list[str]:
    """``data_tables`` plus the monitoring tables of each domain and the alerts log."""
    monitoring = [f(name) for name in domains
                  for f in (drift_table, performance_table, accuracy_table)]
    return [*data_tables(domains), *monitoring, ALERTS_TABLE]


def table_summary(lake: Lake, tables: list[str]) -> pl.DataFrame:
    """One row per table: its Delta version, rows, and the first / last day and number of
    days it holds (null where the table has no ``date`` column or does not exist yet)."""
    rows = []
    for table in tables:
        version = lake.version(table)
        row = {"table": table, "version": version, "rows": None, "days": None,
               "first_day": None, "last_day": None}
        if version is not None:
            lf = lake.scan(table)
            if PARTITION_COLUMN in lf.collect_schema().names():
                stats = lf.select(
                    pl.len().alias("rows"), pl.col(PARTITION_COLUMN).n_unique().alias("days"),
                    pl.col(PARTITION_COLUMN).min().alias("first_day"),
                    pl.col(PARTITION_COLUMN).max().alias("last_day")).collect()
                row |= stats.row(0, named=True)
            else:
                row["rows"] = lf.select(pl.len()).collect().item()
        rows.append(row)
    return pl.DataFrame(rows, schema={"table": pl.String, "version": pl.Int64,
                                      "rows": pl.Int64, "days": pl.Int64,
                                      "first_day": pl.Date, "last_day": pl.Date})
