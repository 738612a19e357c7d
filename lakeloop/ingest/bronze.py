"""One day of a dataset from landing files to bronze rows and quarantined rows.

``process_day`` decides; ``write_day`` commits. Nothing is written unless the batch passes,
so a refused day leaves both tables exactly as they were. A day is read, typed, checked and
staged a block of records at a time (``lakeloop.ingest.staging``): no day is held whole, so an
ingest's memory is bounded by its largest file, not its days' typed rows.
"""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from dataclasses import dataclass, field

import polars as pl

from lakeloop.contracts import CalendarSpec, ColumnSpec, Contract
from lakeloop.ingest.landed import (
    PARSE_ERRORS,
    ROW_NUMBER,
    SOURCE_FILE,
    Landed,
    MissingLandingData,
    TypedBlocks,
    landing_files,
    read_landed,
)
from lakeloop.ingest.landing_files import UnreadableRows
from lakeloop.ingest.staging import StagedDay, Staging, bronze_stream
from lakeloop.ingest.validation import DAY, REASON, RowChecks, ValidationResult
from lakeloop.ingest.volume_bounds import learnt_floor
from lakeloop.names import PARTITION_COLUMN, bronze_table, quarantine_table
from lakeloop.storage import Lake, ObjectStore
from lakeloop.storage.lake import FrameStream


@dataclass
class DayBatch:
    """What became of one landed day: passed (bronze + quarantine frames) or refused."""

    contract: Contract
    day: dt.date
    landed: Landed
    min_rows: int
    max_rows: int | None = None  # no ceiling before there is a history to compare with
    problems: list[str] = field(default_factory=list)
    validation: ValidationResult | None = None
    staged: StagedDay | None = None  # bronze's rows, staged on disk (a passed day)
    quarantine: pl.DataFrame | None = None
    inferred: dict[str, ColumnSpec] = field(default_factory=dict)  # kept undeclared columns

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def bronze(self) -> pl.DataFrame | None:
        """The day's bronze rows as one frame, read back from the staged blocks (what a
        test or a small day looks at; the write streams them)."""
        return None if self.staged is None else self.staged.frame()

    @property
    def accepted(self) -> int | None:
        return None if self.staged is None else self.staged.accepted

    @property
    def message(self) -> str:
        if self.passed:
            return (f"{self.contract.name} {self.day}: {self.accepted or 0} rows accepted, "
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


def _volume_span(contract: Contract) -> dt.timedelta:
    """How far back a day's row bounds look (the recent median's days, the weekday weeks)."""
    return dt.timedelta(days=max(contract.batch.recent_days, 7 * contract.batch.volume_weeks))


def volume_history(lake: Lake, contract: Contract, days: list[dt.date]) -> dict[dt.date, int]:
    """Bronze's rows a day over everything ``days``' row bounds look back at: one read for a
    whole backfill, not one a day."""
    if not days:
        return {}
    return lake.partition_counts(bronze_table(contract.name), min(days) - _volume_span(contract),
                                 max(days) - dt.timedelta(days=1))


def _row_bounds(contract: Contract, day: dt.date, history: dict[dt.date, int]
                ) -> tuple[int, int | None]:
    """The day's row-count floor and ceiling from ``history`` (rows a day: bronze's days,
    ``volume_history``, and those of the same backfill not committed yet). Floor: learnt from
    the same weekday's recent days to the contract's budget of false refusals
    (``volume_bounds``), and a share of the recent days' median until there are enough of
    them or where the contract sets that share itself; never below ``min_rows``. Ceiling: a
    multiple of that median; none before there is a history to compare with."""
    rules = contract.batch
    first = day - _volume_span(contract)
    counts = {d: n for d, n in history.items() if first <= d < day}
    recent = {d: n for d, n in counts.items()
              if d >= day - dt.timedelta(days=rules.recent_days)}
    if not recent:
        return rules.min_rows, None
    median = statistics.median(recent.values())
    same_weekday = [n for d, n in counts.items() if d.weekday() == day.weekday()]
    learnt = learnt_floor(same_weekday, rules.false_refusals / rules.false_refusal_days)
    share = None if rules.min_rows_vs_recent_median is None else \
        int(rules.min_rows_vs_recent_median * median)
    # the share decides until the history is learnt, and always where the contract sets it
    # ("series should not silently disappear": a stricter rule of the team's own)
    declared = "min_rows_vs_recent_median" in rules.model_fields_set
    floor = max([rules.min_rows, *([learnt] if learnt is not None else []),
                 *([share] if share is not None and (learnt is None or declared) else [])])
    ceiling = None if rules.max_rows_vs_recent_median is None else \
        max(floor, int(rules.max_rows_vs_recent_median * max(median, 1)))
    return floor, ceiling


class ClosedDay(Exception):
    """The dataset's calendar says the day is closed: nothing to ingest, nothing wrong."""

    def __init__(self, contract: Contract, day: dt.date, reason: str) -> None:
        super().__init__(f"{contract.name} {day}: {reason}")
        self.reason = reason


def closed_reason(store: ObjectStore, contract: Contract, day: dt.date,
                  domain_calendar: CalendarSpec | None = None,
                  files: list[str] | None = None) -> str | None:
    """Why ``day`` is closed for ``contract``, or None on an open day.

    Its own calendar decides; a dataset without one (a labels feed) follows its domain's
    calendar, but only when it sent nothing that day (labels may be reported on any day).
    Files that land on a day the calendar closes are not ingested, and the reason says so:
    if the business was open, the calendar is wrong. ``files``: the day's landing files,
    when the caller has listed them already."""
    from lakeloop.contracts.calendar import BusinessCalendar

    own = contract.calendar
    spec = own or domain_calendar
    reason = BusinessCalendar(spec).closed_reason(day)
    files = landing_files(store, contract, day) if files is None else files
    if reason is not None and files:
        if own is None:
            return None
        reason += (f" ({len(files)} landing file(s) present and not ingested: if the "
                   "business was open, fix the contract's calendar)")
    if reason is None and spec and spec.no_files_means_closed and not files:
        reason = "no landing files, and the contract says a day without files is closed"
    return reason


def missing_days(lake: Lake, store: ObjectStore, contract: Contract, first: dt.date,
                 last: dt.date, domain_calendar: CalendarSpec | None = None) -> list[dt.date]:
    """Open days of ``first..last`` with no bronze rows: a look-back built over them is
    built on a hole (its 7-day windows count six days). A closed day is no hole; the
    landing zone is only listed for days without rows (``closed_reason`` decides there, e.g.
    a contract where a day without files is closed), so a complete look-back costs one
    count of the date column."""
    present = lake.partition_counts(bronze_table(contract.name), first, last)
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    return [d for d in days if d not in present
            and closed_reason(store, contract, d, domain_calendar) is None]


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
    read = process_days(store, lake, contract, [day], domain_calendar)
    if day in read.missing:
        raise read.missing[day]
    return read.batches[day]


@dataclass
class DaysRead:
    """What became of a range of days: a batch per open day, the closed days with their
    reasons, and the open days without any landing file. The passed days' rows are staged
    in ``staging`` until written (``discard`` removes them)."""

    batches: dict[dt.date, DayBatch] = field(default_factory=dict)
    closed: dict[dt.date, str] = field(default_factory=dict)
    missing: dict[dt.date, MissingLandingData] = field(default_factory=dict)
    staging: Staging = field(default_factory=Staging)

    @property
    def refused(self) -> list[str]:
        """One line per refused day (its problems), and per missing day."""
        return [*(b.message for b in self.batches.values() if not b.passed),
                *(str(e) for e in self.missing.values())]

    @property
    def accepted(self) -> int:
        return sum(b.accepted or 0 for b in self.batches.values())

    def bronze_rows(self) -> FrameStream:
        """The passed days' bronze rows, day after day, a staged block at a time."""
        return bronze_stream([b.staged for b in self.batches.values() if b.staged])

    def bronze_preview(self, rows: int) -> pl.DataFrame:
        """The first accepted rows (a preview with bronze's columns)."""
        stream = self.bronze_rows()
        return next((f.head(rows) for f in stream.frames() if f.height), stream.schema)

    def discard(self) -> None:
        """Remove the staged rows (once written, or when the read is refused)."""
        self.staging.discard()


def process_days(store: ObjectStore, lake: Lake, contract: Contract, days: list[dt.date],
                 domain_calendar: CalendarSpec | None = None) -> DaysRead:
    """Read, type, validate and stage many days in one pass (a backfill, or one night's
    day). Each day's files are read a block of records at a time; each block is typed,
    handed to the row rules (``RowChecks``: a GX run per ~``GX_CHUNK_ROWS`` rows, whatever
    the number of days) and staged; then the rules that need every row of a day run for
    all days at once. Kept undeclared columns get one type for the whole range (the first
    day that has a value decides, as bronze's schema would)."""
    read = DaysRead()
    known = _bronze_types(lake, contract)
    checks = RowChecks(contract)
    checked: list[dt.date] = []
    history = volume_history(lake, contract, days)
    for day in sorted(days):
        files = landing_files(store, contract, day)  # listed once a day
        if (reason := closed_reason(store, contract, day, domain_calendar, files)) is not None:
            read.closed[day] = reason
            continue
        try:
            landed = read_landed(store, contract, day, files)
        except MissingLandingData as exc:
            read.missing[day] = exc
            continue
        pending = {d: b.landed.rows for d, b in read.batches.items()  # refused: not history
                   if b.landed.rows and not b.problems}
        batch = read.batches[day] = DayBatch(contract, day, landed,
                                             *_row_bounds(contract, day, history | pending))
        if not landed.ok:
            batch.problems = landed.problems
            landed.release()
            continue
        typing, staged = TypedBlocks(landed, contract, known, DAY), read.staging.day(day)
        for block in typing:
            checks.add(block)
            staged.add(block.drop(PARSE_ERRORS, DAY))
            del block
        batch.inferred = typing.inferred
        known |= {name: spec.dtype for name, spec in batch.inferred.items()}
        if typing.problems:
            batch.problems = typing.problems
            checks.forget(day)
            landed.release()  # a refused day holds nothing while the others are read
            continue
        staged.finish, batch.staged = typing.finish, staged
        checked.append(day)
    if checked:
        validated = checks.finish({d: read.batches[d].min_rows for d in checked},
                                  {d: read.batches[d].max_rows for d in checked})
        for day in checked:
            _split(read.batches[day], validated[day])
    return read


def _split(batch: DayBatch, validation: ValidationResult) -> None:
    """A validated day's rows: quarantine (the bad rows' exact text, with reasons; then the
    files' bytes go) and bronze (the staged rows, less the quarantined ones)."""
    batch.validation = validation
    landed = batch.landed
    if not validation.passed:
        batch.problems, batch.staged = validation.problems, None
        landed.release()
        return
    bad = validation.bad_rows
    try:
        raw = landed.raw_rows(bad[ROW_NUMBER])
    except UnreadableRows as exc:  # a file changed (or went) since it was read
        batch.problems, batch.staged = [str(exc)], None
        landed.release()
        return
    raw_columns = [c for c in raw.columns if c not in (ROW_NUMBER, SOURCE_FILE)]
    batch.quarantine = (raw.join(bad, on=ROW_NUMBER, how="inner", maintain_order="left")
                        .select(ROW_NUMBER, SOURCE_FILE, REASON,
                                pl.struct(raw_columns).struct.json_encode().alias("record"))
                        .with_columns(pl.lit(batch.contract.name).alias("dataset"),
                                      pl.lit(batch.day).alias(PARTITION_COLUMN)))
    landed.release()  # the day's raw text is in quarantine where it is needed
    assert batch.staged is not None
    batch.staged.left_out = bad[ROW_NUMBER]


def _together(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Days' frames as one: a single day as it is (a relaxed concat copies every column)."""
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def write_day(lake: Lake, batch: DayBatch) -> tuple[int, int]:
    """Commit a passed batch: quarantine first, then bronze (each one atomic commit).

    Both replace the day's partition, so a re-run after a crash between the two commits
    converges to the same state. Returns (bronze version, quarantine version).
    """
    if not batch.passed or batch.staged is None or batch.quarantine is None:
        raise ValueError(f"refusing to write a batch that did not pass: {batch.message}")
    q_version = lake.overwrite_partition(quarantine_table(batch.contract.name),
                                         batch.quarantine, batch.day)
    b_version = lake.overwrite_partition(bronze_table(batch.contract.name),
                                         bronze_stream([batch.staged]), batch.day,
                                         evolve=bool(batch.contract.extra_columns.keep))
    return b_version, q_version


def write_days(lake: Lake, contract: Contract, read: DaysRead, start: dt.date, end: dt.date
               ) -> tuple[int | None, int | None]:
    """Commit a range whose every open day passed: quarantine, then bronze, each ONE atomic
    commit replacing ``start..end`` (closed days end up empty, as a single closed day would).
    Returns (bronze version, quarantine version), None where no day had rows to write and
    the table does not exist yet."""
    if read.refused:
        raise ValueError(f"refusing to write {contract.name} {start}..{end}: "
                         + "; ".join(read.refused))
    batches = [b for b in read.batches.values() if b.staged is not None]
    # both commits carry one batch id: a run killed between them leaves a quarantine commit
    # with no bronze twin, which ``unpaired_ingests`` names until the days are re-run
    commit = {"ingest": {"batch": uuid.uuid4().hex, "days": [start.isoformat(),
                                                           end.isoformat()]}}
    quarantine = [b.quarantine for b in batches if b.quarantine is not None]
    versions: list[int | None] = []
    for table, rows, evolve in (
            (quarantine_table(contract.name), _together(quarantine) if quarantine else None,
             False),
            (bronze_table(contract.name), read.bronze_rows() if batches else None,
             bool(contract.extra_columns.keep))):
        if rows is None and not lake.exists(table):
            versions.append(None)
            continue
        versions.append(lake.overwrite_days(
            table, lake.scan(table).head(0).collect() if rows is None else rows, start, end,
            evolve=evolve, commit_metadata=commit))
    return versions[1], versions[0]


def unpaired_ingests(lake: Lake, contract: Contract, depth: int = 5
                     ) -> list[tuple[dt.date, dt.date]]:
    """Day ranges whose quarantine commit (among the newest ``depth``) has no bronze commit of
    the same batch (among bronze's newest ``2 * depth``), and that no newer paired ingest
    covered since: an ingest stopped between its two commits (a killed run), so bronze +
    quarantine no longer add up to what landed for those days until they are re-run."""
    bronze = {m["ingest"]["batch"] for _, m in lake.recent_commits(
        bronze_table(contract.name), 2 * depth) if "ingest" in m}
    paired: list[tuple[dt.date, dt.date]] = []
    cut: list[tuple[dt.date, dt.date]] = []
    for _, meta in lake.recent_commits(quarantine_table(contract.name), depth):  # newest first
        if "ingest" not in meta:
            continue
        first, last = (dt.date.fromisoformat(d) for d in meta["ingest"]["days"])
        if meta["ingest"]["batch"] in bronze:
            paired.append((first, last))
        elif not any(a <= first and last <= b for a, b in paired):
            cut.append((first, last))
    return cut
