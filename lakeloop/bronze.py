"""One day of a dataset from landing files to bronze rows and quarantined rows.

``process_day`` decides; ``write_day`` commits. Nothing is written unless the batch passes,
so a refused day leaves both tables exactly as they were.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

import polars as pl

from lakeloop.contracts import CalendarSpec, ColumnSpec, Contract
from lakeloop.ingest import (
    PARSE_ERRORS,
    ROW_NUMBER,
    SOURCE_FILE,
    Landed,
    coerce,
    landing_files,
    read_landed,
)
from lakeloop.storage import Lake, ObjectStore
from lakeloop.storage.lake import PARTITION_COLUMN
from lakeloop.validation import REASON, ValidationResult, validate


def bronze_table(dataset: str) -> str:
    return f"bronze/{dataset}"


def quarantine_table(dataset: str) -> str:
    return f"quarantine/{dataset}"


@dataclass
class DayBatch:
    """What became of one landed day: passed (bronze + quarantine frames) or refused."""

    contract: Contract
    day: dt.date
    landed: Landed
    min_rows: int
    problems: list[str] = field(default_factory=list)
    validation: ValidationResult | None = None
    bronze: pl.DataFrame | None = None
    quarantine: pl.DataFrame | None = None
    inferred: dict[str, ColumnSpec] = field(default_factory=dict)  # kept undeclared columns

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def message(self) -> str:
        if self.passed:
            accepted = 0 if self.bronze is None else self.bronze.height
            return (f"{self.contract.name} {self.day}: {accepted} rows accepted, "
                    f"{self.quarantined} quarantined")
        return f"{self.contract.name} {self.day} refused: " + "; ".join(self.problems)

    def landed_kept_summary(self) -> str:
        """Kept undeclared columns with their inferred types, for the UI ("V1: float64, ...")."""
        if not self.inferred:
            return "none"
        return ", ".join(f"{name}: {spec.dtype}" for name, spec in self.inferred.items())

    @property
    def quarantined(self) -> int:
        return 0 if self.quarantine is None else self.quarantine.height


def _min_rows(lake: Lake, contract: Contract, day: dt.date) -> int:
    rules = contract.batch
    if rules.min_rows_vs_recent_median is None:
        return rules.min_rows
    counts = lake.partition_counts(bronze_table(contract.name),
                                   day - dt.timedelta(days=rules.recent_days),
                                   day - dt.timedelta(days=1))
    if not counts:
        return rules.min_rows
    return max(rules.min_rows, int(rules.min_rows_vs_recent_median
                                   * statistics.median(counts.values())))


class ClosedDay(Exception):
    """The dataset's calendar says the day is closed: nothing to ingest, nothing wrong."""

    def __init__(self, contract: Contract, day: dt.date, reason: str) -> None:
        super().__init__(f"{contract.name} {day}: {reason}")
        self.reason = reason


def closed_reason(store: ObjectStore, contract: Contract, day: dt.date,
                  domain_calendar: CalendarSpec | None = None) -> str | None:
    """Why ``day`` is closed for ``contract``, or None on an open day.

    Its own calendar decides; a dataset without one (a labels feed) follows its domain's
    calendar, but only when it sent nothing that day (labels may be reported on any day).
    Files that land on a day the calendar closes are not ingested, and the reason says so:
    if the business was open, the calendar is wrong."""
    from lakeloop.business_calendar import BusinessCalendar

    own = contract.calendar
    spec = own or domain_calendar
    reason = BusinessCalendar(spec).closed_reason(day)
    files = landing_files(store, contract, day)
    if reason is not None and files:
        if own is None:
            return None
        reason += (f" ({len(files)} landing file(s) present and not ingested: if the "
                   "business was open, fix the contract's calendar)")
    if reason is None and spec and spec.no_files_means_closed and not files:
        reason = "no landing files, and the contract says a day without files is closed"
    return reason


def _bronze_types(lake: Lake, contract: Contract) -> dict[str, str]:
    """Bronze's types of the kept undeclared columns, so inference cannot change a schema."""
    table = lake.table(bronze_table(contract.name))
    if table is None:
        return {}
    names = {"string": "string", "double": "float64", "long": "int64", "boolean": "bool",
             "date": "date", "timestamp_ntz": "datetime", "timestamp": "datetime"}
    return {f.name: names.get(str(f.type.type), "string")  # type: ignore[union-attr]
            for f in table.schema().fields if f.name not in contract.columns}


def process_day(store: ObjectStore, lake: Lake, contract: Contract, day: dt.date,
                domain_calendar: CalendarSpec | None = None) -> DayBatch:
    """Read, type and validate one day. Raises ``ClosedDay`` on a closed day and
    ``MissingLandingData`` when an open day has no files."""
    if (reason := closed_reason(store, contract, day, domain_calendar)) is not None:
        raise ClosedDay(contract, day, reason)
    landed = read_landed(store, contract, day)
    batch = DayBatch(contract, day, landed, _min_rows(lake, contract, day))
    if not landed.ok:
        batch.problems = landed.problems
        return batch
    typed, structural, batch.inferred = coerce(landed, contract, _bronze_types(lake, contract))
    if structural:
        batch.problems = structural
        return batch
    batch.validation = validate(typed, contract, day, batch.min_rows)
    if not batch.validation.passed:
        batch.problems = batch.validation.problems
        return batch

    bad = batch.validation.bad_rows
    batch.bronze = (typed.join(bad, on=ROW_NUMBER, how="anti")
                    .drop(ROW_NUMBER, PARSE_ERRORS)
                    .with_columns(pl.lit(day).alias(PARTITION_COLUMN))
                    .select(*(c for c in typed.columns
                              if c not in (PARTITION_COLUMN, SOURCE_FILE, ROW_NUMBER,
                                           PARSE_ERRORS)),
                            SOURCE_FILE, PARTITION_COLUMN))
    assert landed.raw is not None
    raw_columns = [c for c in landed.raw.columns if c not in (ROW_NUMBER, SOURCE_FILE)]
    batch.quarantine = (landed.raw.join(bad, on=ROW_NUMBER, how="inner")
                        .select(ROW_NUMBER, SOURCE_FILE, REASON,
                                pl.struct(raw_columns).struct.json_encode().alias("record"))
                        .with_columns(pl.lit(contract.name).alias("dataset"),
                                      pl.lit(day).alias(PARTITION_COLUMN)))
    return batch


def write_day(lake: Lake, batch: DayBatch) -> tuple[int, int]:
    """Commit a passed batch: quarantine first, then bronze (each one atomic commit).

    Both replace the day's partition, so a re-run after a crash between the two commits
    converges to the same state. Returns (bronze version, quarantine version).
    """
    if not batch.passed or batch.bronze is None or batch.quarantine is None:
        raise ValueError(f"refusing to write a batch that did not pass: {batch.message}")
    q_version = lake.overwrite_partition(quarantine_table(batch.contract.name),
                                         batch.quarantine, batch.day)
    b_version = lake.overwrite_partition(bronze_table(batch.contract.name), batch.bronze,
                                         batch.day,
                                         evolve=bool(batch.contract.extra_columns.keep))
    return b_version, q_version
