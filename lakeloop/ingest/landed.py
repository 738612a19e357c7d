"""Reading one day of landing files under a dataset contract.

What a reader rejects, and why:
- no files for the day: ``MissingLandingData`` (a missing day is a failure, not an empty day);
- a structurally broken batch: an empty (zero-byte) file, a truncated or ragged CSV, an
  unreadable Parquet file, a required column missing, or a column whose values mostly do not
  parse as the contract's type. These are *batch* problems: the whole day is refused with a
  message naming the file and column, and nothing is written.
- single unparseable values (``"12,5x"`` in ``amount``) are *row* problems: the value becomes
  null and the row carries the reason, so validation quarantines it with its raw text.
Columns the contract does not know are kept out of the typed frame and reported.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import polars as pl

from lakeloop.contracts import EVENT_TIME, ColumnSpec, Contract
from lakeloop.ingest.landing_files import (
    BLOCK_ROWS,
    LINE,
    CsvRows,
    ParquetRows,
    UnreadableRows,
    decoded,
    read_file,
)
from lakeloop.storage.objects import ObjectStore

SOURCE_FILE = "_source_file"
ROW_NUMBER = "_row"
PARSE_ERRORS = "_parse_errors"

POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(), "int64": pl.Int64(), "float64": pl.Float64(),
    "bool": pl.Boolean(), "date": pl.Date(), "datetime": pl.Datetime("us"),
}
TRUE_WORDS = ["true", "t", "1", "yes", "y"]
FALSE_WORDS = ["false", "f", "0", "no", "n"]
MANIFEST = "manifest.json"


class MissingLandingData(FileNotFoundError):
    """No landing files for a dataset and day."""


@dataclass
class Landed:
    """One day's files as landed: each file's rows (text on demand, see
    ``lakeloop.ingest.landing_files``), the day's rows numbered across its files (``_row``)."""

    dataset: str
    day: dt.date
    files: list[str]
    problems: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)  # undeclared and not kept
    kept_columns: list[str] = field(default_factory=list)  # undeclared, kept (extra_columns.keep)
    notes: list[str] = field(default_factory=list)  # detected on the way: gzip, UTF-16, separator
    sources: list[tuple[str, CsvRows | ParquetRows]] = field(default_factory=list)
    rename: dict[str, str] = field(default_factory=dict)  # source column -> contract name
    raw_columns: list[str] = field(default_factory=list)  # every file's columns, renamed

    rows: int = 0  # records landed (kept when the sources are released after the split)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.sources)

    def _text(self, name: str, frame: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
        frame = frame.rename({s: n for s, n in self.rename.items() if s in frame.columns})
        return frame.select(rows.alias(ROW_NUMBER),  # the file as values, not a literal
                            pl.repeat(name, frame.height, eager=True).alias(SOURCE_FILE),
                            pl.all().cast(pl.String))  # the line number too: raw text

    def blocks(self, block_rows: int | None = None,
               on_error: Callable[[UnreadableRows], None] | None = None
               ) -> Iterator[pl.DataFrame]:
        """The day's rows as text, ``block_rows`` (default ``BLOCK_ROWS``) at a time, in
        ``_row`` order. A block Polars cannot read raises ``UnreadableRows``; with
        ``on_error``, it is handed there and the file's other blocks are skipped, so every
        unreadable file of the day is named."""
        block_rows = block_rows or BLOCK_ROWS
        offset = 0
        for name, rows in self.sources:
            try:
                for first in range(0, max(rows.height, 1), block_rows):  # an empty file: one
                    stop = min(first + block_rows, rows.height)
                    yield self._text(name, rows.block(first, stop),
                                     pl.int_range(offset + first, offset + stop,
                                                  dtype=pl.UInt32, eager=True))
            except UnreadableRows as exc:
                if on_error is None:
                    raise
                on_error(exc)
            offset += rows.height

    @property
    def unterminated_rows(self) -> dict[int, str]:
        """``_row`` of each CSV file's last record when no line break follows it -> the file."""
        out, offset = {}, 0
        for name, rows in self.sources:
            if rows.height and not getattr(rows, "terminated", True):
                out[offset + rows.height - 1] = name
            offset += rows.height
        return out

    def raw_rows(self, row_numbers: pl.Series) -> pl.DataFrame:
        """The exact text of the rows numbered ``row_numbers``: ``_row``, ``_source_file``
        and every file's columns (null where a file has no such column)."""
        wanted = np.sort(row_numbers.cast(pl.Int64).to_numpy())
        parts, offset = [], 0
        for name, rows in self.sources:
            mine = wanted[(wanted >= offset) & (wanted < offset + rows.height)]
            if len(mine):
                parts.append(self._text(name, rows.take(mine - offset),
                                        pl.Series(mine, dtype=pl.UInt32)))
            offset += rows.height
        columns = [ROW_NUMBER, SOURCE_FILE, *self.raw_columns]
        if not parts:
            return pl.DataFrame(schema={c: pl.UInt32 if c == ROW_NUMBER else pl.String
                                        for c in columns})
        return pl.concat(parts, how="diagonal").select(
            pl.col(c) if c in {n for p in parts for n in p.columns}
            else pl.lit(None, dtype=pl.String).alias(c) for c in columns)

    def let_go_bytes(self) -> None:
        """The typed rows hold the day: the files' bytes go, read again (and checked to be
        the same) only for the records quarantine keeps."""
        for _, rows in self.sources:
            if isinstance(rows, CsvRows):
                rows.let_go()

    def release(self) -> None:
        """Let the files' bytes go (once the quarantined rows' text has been taken)."""
        self.sources = []


def _reread(store: ObjectStore, uri: str, name: str, declared: str) -> bytes:
    return decoded(name, store.read_bytes(uri), declared)[1]


def day_folder(contract: Contract, day: dt.date) -> tuple[str, str]:
    return contract.landing_dir, f"date={day.isoformat()}"


def _manifest_problems(name: str, data: bytes, rows: dict[str, int]) -> list[str]:
    """A ``manifest.json`` beside the data says how many rows were sent: ``{"rows": N}`` for
    the day, or ``{"files": {"part-0.csv": {"rows": N}}}`` per file. A day cut at a row
    boundary parses cleanly; only the sender's count can tell."""
    try:
        manifest = json.loads(data)
        if not isinstance(manifest, dict):
            raise ValueError("expected a JSON object")
        expected = {f: int(v["rows"]) for f, v in manifest.get("files", {}).items()}
        total = int(manifest["rows"]) if "rows" in manifest else None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return [f"{name}: not a manifest lakeloop reads ({exc}); expected "
                '{"rows": N} or {"files": {"<file>": {"rows": N}}}']
    problems = [f"{name} says {n} rows in {f}, the file holds {rows.get(f, 0)}"
                + ("" if f in rows else " (the file is missing)")
                for f, n in expected.items() if rows.get(f) != n]
    if total is not None and total != sum(rows.values()):
        problems.append(f"{name} says {total} rows, the day's files hold {sum(rows.values())} "
                        "(cut at a row boundary, or a file missing?)")
    return problems


def landing_files(store: ObjectStore, contract: Contract, day: dt.date) -> list[str]:
    """The day's data files (hidden and ``_``-prefixed marker files left out)."""
    return [f for f in store.list(*day_folder(contract, day))
            if not f.rsplit("/", 1)[-1].startswith((".", "_"))]


def read_landed(store: ObjectStore, contract: Contract, day: dt.date,
                files: list[str] | None = None) -> Landed:
    """Read every file of ``contract``'s dataset for ``day`` (raises ``MissingLandingData``);
    a ``manifest.json`` among them is the sender's row count, checked, not data. ``files``:
    the day's ``landing_files``, when the caller has listed them already."""
    found = landing_files(store, contract, day) if files is None else files
    manifests = [f for f in found if f.rsplit("/", 1)[-1].lower() == MANIFEST]
    files = [f for f in found if f not in manifests]
    if not files:
        raise MissingLandingData(
            f"{contract.name}: no landing files for {day} under "
            f"{store.uri(*day_folder(contract, day))}; a missing day is an error, not an empty day"
        )
    landed = Landed(contract.name, day, files)
    for uri in files:
        name = uri.rsplit("/", 1)[-1]
        try:
            data = store.read_bytes(uri)
        except PermissionError as exc:  # a link out of the landing zone: named, not followed
            landed.problems.append(f"{name}: {exc}")
            continue
        read = read_file(name, data, contract.format)
        if read.problem:
            landed.problems.append(read.problem)
        else:
            assert read.rows is not None
            if isinstance(read.rows, CsvRows):  # its bytes can go once typed: read again
                read.rows.reread = partial(_reread, store, uri, name, contract.format)
                read.rows.spill()
            landed.sources.append((name, read.rows))
            landed.notes += [f"{name}: {n}" for n in read.notes]
    for uri in manifests:
        counts = {name: r.height for name, r in landed.sources if r.height}
        landed.problems += _manifest_problems(uri.rsplit("/", 1)[-1], store.read_bytes(uri),
                                              counts)
    if landed.problems:
        return landed

    rename = {spec.source or name: name for name, spec in contract.columns.items()}
    for name, rows in landed.sources:
        missing = sorted(n for src, n in rename.items() if src not in rows.columns)
        if missing:
            sources = [contract.source_name(m) for m in missing]
            landed.problems.append(f"{name}: required columns missing: {', '.join(sources)} "
                                   f"(schema change? the contract {contract.name}.yaml expects "
                                   "them)")
    for name, rows in landed.sources:  # the names lakeloop gives its own bookkeeping
        for clash in sorted({rename.get(c, c) for c in rows.columns} & {ROW_NUMBER, SOURCE_FILE}):
            landed.problems.append(
                f"{name}: a column named {clash}, the name lakeloop gives its own "
                "bookkeeping; rename it in the file, or map it to another name in the "
                f"contract {contract.name}.yaml (a column's `source:`)")
    if landed.problems:
        return landed

    known = set(rename) | {SOURCE_FILE, LINE}
    extras = sorted({c for _, r in landed.sources for c in r.columns if c not in known})
    landed.kept_columns = contract.extra_columns.kept(extras)
    landed.extra_columns = [c for c in extras if c not in landed.kept_columns]
    # every column of every file (extras included), so quarantine loses nothing
    landed.rename = rename
    landed.raw_columns = list(dict.fromkeys(rename.get(c, c) for _, r in landed.sources
                                            for c in r.columns))
    landed.rows = sum(r.height for _, r in landed.sources)
    return landed


UNTERMINATED = ("last record: no line break after it, so the file may be cut inside it "
                "(a copy that stopped mid-write); send the file whole")
# an ISO-8601 time's offset from UTC at its end: "Z", "+01:00" or "-0500"
OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"
# naive layouts tried in turn (after "T" or " " between date and time is made "T"): with
# seconds (and any fraction), without seconds, a date alone (midnight)
NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def local_times(text: pl.Expr, zone: str, fmt: str | None = None) -> pl.Expr:
    """Date-times as text, as the business's wall-clock time in ``zone`` (naive).

    A value with an offset or ``Z`` (ISO-8601, as most systems export; a time-zone-aware
    Parquet column arrives so too: ``landing_files.ParquetRows``) is an instant, converted
    to ``zone``; a value without one is read as ``zone``'s wall-clock time already. Each
    value is parsed on its own (a day may mix both): a format inferred from the first row
    would refuse every other shape. ``fmt`` (the contract's ``format``): that layout only,
    an instant when it holds ``%z``."""
    def instant(parsed: pl.Expr) -> pl.Expr:
        return parsed.dt.convert_time_zone(zone).dt.replace_time_zone(None)

    if fmt is not None:
        parsed = text.str.to_datetime(fmt, time_unit="us", strict=False)
        return instant(parsed) if "%z" in fmt else parsed
    iso = text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T").str.replace(r"Z$", "+00:00")
    aware = instant(iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", time_unit="us",
                                        strict=False))
    naive = [iso.str.to_datetime(f, time_unit="us", strict=False) for f in NAIVE_FORMATS]
    return pl.when(text.str.contains(OFFSET)).then(aware).otherwise(pl.coalesce(naive))


def _parse(expr: pl.Expr, spec: ColumnSpec, zone: str = "UTC") -> pl.Expr:
    text = expr.str.strip_chars()
    match spec.dtype:
        case "string":
            return expr
        case "int64" | "float64":
            return text.cast(POLARS_TYPES[spec.dtype], strict=False)
        case "bool":
            low = text.str.to_lowercase()
            return (pl.when(low.is_in(TRUE_WORDS)).then(True)
                    .when(low.is_in(FALSE_WORDS)).then(False)
                    .otherwise(None))
        case "date":
            return text.str.slice(0, 10).str.to_date(spec.format or "%Y-%m-%d", strict=False)
        case "datetime":
            return local_times(text, zone, spec.format)
    raise AssertionError(spec.dtype)


def _event_time(contract: Contract) -> pl.Expr | None:
    """The derived event time (epoch / offset clock, or date + time columns), or None, as
    the business's wall-clock time (``contract.timezone``): an epoch clock counts from
    1970-01-01 UTC and an ``origin`` with an offset is an instant, both converted; an
    ``origin`` without one is a wall-clock time of the business already."""
    et = contract.roles.event_time
    if et is None or not et.derived:
        return None
    if et.unit is not None:
        origin = dt.datetime.fromisoformat(et.origin) if et.origin \
            else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        per_unit = 1_000_000 if et.unit == "s" else 1_000
        micros = (pl.col(str(et.column)).cast(pl.Float64) * per_unit).round().cast(pl.Int64)
        if origin.tzinfo is None:
            return pl.lit(origin, dtype=pl.Datetime("us")) + pl.duration(microseconds=micros)
        start = origin.astimezone(dt.UTC).replace(tzinfo=None)
        return (pl.lit(start, dtype=pl.Datetime("us")) + pl.duration(microseconds=micros)) \
            .dt.replace_time_zone("UTC").dt.convert_time_zone(contract.timezone) \
            .dt.replace_time_zone(None)
    time = pl.col(str(et.time)).cast(pl.String).str.strip_chars() \
        .str.to_time(et.time_format, strict=False)
    return pl.col(str(et.date)).dt.combine(time, time_unit="us")


@dataclass
class _Unparsed:
    """A column's values that do not parse as its type, counted over the day's blocks."""

    failed: int = 0
    present: int = 0  # non-null values landed
    examples: list[str] = field(default_factory=list)  # the first distinct ones, in row order

    def add(self, raw: pl.Series, failed: pl.Series) -> None:
        self.failed += int(failed.sum())
        self.present += raw.len() - raw.null_count()
        if len(self.examples) < 3 and failed.any():
            seen = raw.filter(failed).unique(maintain_order=True).head(3).to_list()
            self.examples += [v for v in seen if v not in self.examples][:3 - len(self.examples)]


def _typed(text: pl.DataFrame, specs: dict[str, ColumnSpec], unparsed: dict[str, _Unparsed],
           zone: str = "UTC") -> tuple[pl.DataFrame, pl.Series]:
    """A block of text typed as ``specs`` (the other columns kept as they are), and each row's
    list of parse errors ("amount: not a float64"); ``unparsed`` counts the failures.
    Date-times are the business's wall-clock time in ``zone`` (``local_times``)."""
    parsed = text.select(*[_parse(pl.col(n), specs[n], zone).alias(n) if n in specs
                           else pl.col(n) for n in text.columns])
    errors = []
    for name, spec in specs.items():
        failed = text[name].is_not_null() & (text[name].str.strip_chars() != "") & \
            parsed[name].is_null()
        unparsed.setdefault(name, _Unparsed()).add(text[name], failed)
        errors.append(pl.when(failed).then(pl.lit(f"{name}: not a {spec.dtype}")))
    listed = parsed.select(pl.concat_list(errors).list.drop_nulls()).to_series() if errors \
        else pl.Series([[]] * text.height, dtype=pl.List(pl.String))
    return parsed, listed.alias(PARSE_ERRORS)


@dataclass
class _Inferred:
    """What a kept undeclared column's values say of its type, over the day's blocks:
    float64 when every non-empty value parses as a number, else string; a column with no
    value yet is left out that day (typing it by nothing would fix a wrong type for good).
    A column bronze already has keeps bronze's type (a day whose column happens to be empty
    cannot change the table's schema)."""

    present: bool = False  # a non-empty value seen
    numeric: bool = True  # every non-empty value parses as a number

    def add(self, raw: pl.Series) -> None:
        text = raw.str.strip_chars()
        values = text.filter(text.is_not_null() & (text != ""))
        if values.len():
            self.present = True
            self.numeric = self.numeric and \
                values.cast(pl.Float64, strict=False).null_count() == 0


class TypedBlocks:
    """A landed day typed a block of records at a time (iterate once): each block holds
    ``_row``, ``_source_file``, the contract's columns typed, the kept undeclared columns,
    the derived event time if any, ``_parse_errors`` and (``day_column``) the day.

    A kept column whose type bronze already has is typed in the block; one new to bronze is
    kept as text until the whole day tells its type (``_Inferred``, over every
    block): ``finish`` types it. Once the blocks are through, ``problems`` holds the day's
    structural problems (a block Polars cannot read, a column mostly unparseable) and
    ``inferred`` the kept columns' types."""

    def __init__(self, landed: Landed, contract: Contract,
                 known_types: dict[str, str] | None = None, day_column: str | None = None
                 ) -> None:
        self.landed, self.contract, self.day_column = landed, contract, day_column
        known = known_types or {}
        self.known = {c: ColumnSpec(dtype=known[c]) for c in landed.kept_columns  # type: ignore[arg-type]
                      if c in known}
        self.new = {c: _Inferred() for c in landed.kept_columns if c not in known}
        self.problems: list[str] = []
        self.unreadable = False  # a file Polars cannot read: the day's blocks stopped
        self.inferred: dict[str, ColumnSpec] = {}
        self._unparsed: dict[str, _Unparsed] = {}

    def __iter__(self) -> Iterator[pl.DataFrame]:
        landed, declared = self.landed, self.contract.columns
        unreadable: list[str] = []
        for text in landed.blocks(on_error=lambda exc: unreadable.append(str(exc))):
            if unreadable:  # (once a file is unreadable, the others are only checked)
                continue
            missing = [c for c in landed.kept_columns if c not in text.columns]
            text = text.with_columns(pl.repeat(None, text.height, dtype=pl.String,
                                               eager=True).alias(c) for c in missing)
            for name, inferred in self.new.items():
                inferred.add(text[name])
            typed, listed = _typed(text.select(ROW_NUMBER, SOURCE_FILE, *declared,
                                               *landed.kept_columns),
                                   {**declared, **self.known}, self._unparsed,
                                   self.contract.timezone)
            del text
            yield self._derived(typed, listed).rechunk()  # one chunk a column a block
        if unreadable:
            self.problems, self.unreadable = unreadable, True
            return
        landed.let_go_bytes()
        self.inferred = {c: self.known.get(c) or ColumnSpec(
            dtype="float64" if self.new[c].numeric else "string")  # type: ignore[misc]
            for c in landed.kept_columns if c in self.known or self.new[c].present}
        limit = self.contract.batch.max_unparseable_fraction
        for name, spec in {**declared, **self.inferred}.items():
            u = self._unparsed.get(name)
            if u and u.failed and u.failed / max(u.present, 1) > limit:
                self.problems.append(
                    f"column {self.contract.source_name(name)}: {u.failed} of {u.present} "
                    f"values are not {spec.dtype} (e.g. {u.examples}); wrong type or wrong "
                    "column?")

    def _derived(self, typed: pl.DataFrame, listed: pl.Series) -> pl.DataFrame:
        """The block with its derived event time, parse errors and day."""
        derived = _event_time(self.contract)
        if derived is not None:
            typed = typed.with_columns(derived.alias(EVENT_TIME))
            sources = self.contract.roles.event_time.sources  # type: ignore[union-attr]
            failed = typed.select(pl.col(EVENT_TIME).is_null() & pl.all_horizontal(
                [pl.col(c).is_not_null() for c in sources])).to_series()
            if failed.any():  # first: the other errors say why it could not be derived
                listed = pl.select(pl.concat_list(
                    pl.when(failed).then(pl.lit(
                        f"{EVENT_TIME}: cannot derive from {', '.join(sources)}")),
                    listed).list.drop_nulls()).to_series()
        cut = self.landed.unterminated_rows
        if cut:  # a value cut by a copy that stopped mid-write still parses: say why not kept
            last = typed.select(pl.col(ROW_NUMBER).is_in(list(cut))).to_series()
            if last.any():
                listed = pl.select(pl.concat_list(
                    pl.when(last).then(pl.lit(UNTERMINATED)), listed).list.drop_nulls()
                ).to_series()
        typed = typed.with_columns(listed.alias(PARSE_ERRORS))
        if self.day_column:  # values, not a literal (Polars keeps a literal as one value,
            typed = typed.with_columns(  # out of step with the other columns' chunks)
                pl.repeat(self.landed.day, typed.height, eager=True).alias(self.day_column))
        return typed

    def finish(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Rows of this day's blocks with the kept columns new to bronze typed as the day
        said (every value parses: the type was inferred from them), and a kept column with
        no value that day left out."""
        new = [c for c in self.new if c in frame.columns]
        return frame.with_columns(_parse(pl.col(c), self.inferred[c]).alias(c)
                                  for c in new if c in self.inferred
                                  ).drop(c for c in new if c not in self.inferred)


def coerce(landed: Landed, contract: Contract, known_types: dict[str, str] | None = None,
           day_column: str | None = None
           ) -> tuple[pl.DataFrame, list[str], dict[str, ColumnSpec]]:
    """The day's ``TypedBlocks`` as one frame: returns the frame, the structural problems
    and the kept columns' inferred specs (an unreadable day: an empty frame)."""
    typing = TypedBlocks(landed, contract, known_types, day_column)
    blocks = list(typing)
    if typing.unreadable:
        return pl.DataFrame(), typing.problems, {}
    return typing.finish(pl.concat(blocks, rechunk=False)), typing.problems, typing.inferred
