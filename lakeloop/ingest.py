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
from dataclasses import dataclass, field

import polars as pl

from lakeloop.contracts import EVENT_TIME, ColumnSpec, Contract
from lakeloop.landing_files import LINE, read_file
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
    """One day's files as landed: raw values (text for CSV), renamed to canonical names."""

    dataset: str
    day: dt.date
    files: list[str]
    raw: pl.DataFrame | None = None
    problems: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)  # undeclared and not kept
    kept_columns: list[str] = field(default_factory=list)  # undeclared, kept (extra_columns.keep)
    notes: list[str] = field(default_factory=list)  # detected on the way: gzip, UTF-16, separator

    rows: int = 0  # records landed (kept when ``raw`` is released after the split)

    @property
    def ok(self) -> bool:
        return not self.problems and self.raw is not None


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


def read_landed(store: ObjectStore, contract: Contract, day: dt.date) -> Landed:
    """Read every file of ``contract``'s dataset for ``day`` (raises ``MissingLandingData``);
    a ``manifest.json`` among them is the sender's row count, checked, not data."""
    found = landing_files(store, contract, day)
    manifests = [f for f in found if f.rsplit("/", 1)[-1].lower() == MANIFEST]
    files = [f for f in found if f not in manifests]
    if not files:
        raise MissingLandingData(
            f"{contract.name}: no landing files for {day} under "
            f"{store.uri(*day_folder(contract, day))}; a missing day is an error, not an empty day"
        )
    landed = Landed(contract.name, day, files)
    frames = []
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
            assert read.frame is not None
            frames.append(read.frame.with_columns(pl.lit(name).alias(SOURCE_FILE)))
            landed.notes += [f"{name}: {n}" for n in read.notes]
    for uri in manifests:
        rows = {str(f[SOURCE_FILE][0]): f.height for f in frames if f.height}
        landed.problems += _manifest_problems(uri.rsplit("/", 1)[-1], store.read_bytes(uri),
                                              rows)
    if landed.problems:
        return landed

    rename = {spec.source or name: name for name, spec in contract.columns.items()}
    missing_by_file = {}
    for uri, frame in zip(files, frames, strict=True):
        missing = sorted(name for src, name in rename.items() if src not in frame.columns)
        if missing:
            missing_by_file[uri.rsplit("/", 1)[-1]] = missing
    for name, missing in missing_by_file.items():
        sources = [contract.source_name(m) for m in missing]
        landed.problems.append(f"{name}: required columns missing: {', '.join(sources)} "
                               f"(schema change? the contract {contract.name}.yaml expects them)")
    if landed.problems:
        return landed

    known = set(rename) | {SOURCE_FILE, LINE}
    extras = sorted({c for f in frames for c in f.columns if c not in known})
    landed.kept_columns = contract.extra_columns.kept(extras)
    landed.extra_columns = [c for c in extras if c not in landed.kept_columns]
    # Keep the raw text of every column (extras included) so quarantine loses nothing.
    raw = pl.concat([f.select(pl.all().cast(pl.String)) for f in frames], how="diagonal")
    landed.raw = raw.rename(rename).with_row_index(ROW_NUMBER)
    landed.rows = landed.raw.height
    return landed


def _parse(expr: pl.Expr, spec: ColumnSpec) -> pl.Expr:
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
            return text.str.to_datetime(spec.format, time_unit="us", strict=False)
    raise AssertionError(spec.dtype)


def infer_specs(raw: pl.DataFrame, columns: list[str], known: dict[str, str] | None = None
                ) -> dict[str, ColumnSpec]:
    """Types of kept undeclared columns: the type bronze already has for them (so a day whose
    column happens to be empty cannot change the table's schema), else float64 when every
    non-empty value parses as a number, else string. A new column with no value yet is left
    out that day (typing it by nothing would fix a wrong type for good)."""
    out = {}
    for name in columns:
        if known and name in known:
            out[name] = ColumnSpec(dtype=known[name])  # type: ignore[arg-type]
            continue
        text = raw[name].str.strip_chars()
        present = text.filter(text.is_not_null() & (text != ""))
        if present.is_empty():  # no value to type it by: it joins bronze once it has one
            continue
        numeric = present.cast(pl.Float64, strict=False).null_count() == 0
        out[name] = ColumnSpec(dtype="float64" if numeric else "string")
    return out


def _event_time(contract: Contract) -> pl.Expr | None:
    """The derived event time (epoch / offset clock, or date + time columns), or None."""
    et = contract.roles.event_time
    if et is None or not et.derived:
        return None
    if et.unit is not None:
        origin = dt.datetime.fromisoformat(et.origin) if et.origin else dt.datetime(1970, 1, 1)
        per_unit = 1_000_000 if et.unit == "s" else 1_000
        micros = (pl.col(str(et.column)).cast(pl.Float64) * per_unit).round().cast(pl.Int64)
        return (pl.lit(origin, dtype=pl.Datetime("us")) + pl.duration(microseconds=micros))
    time = pl.col(str(et.time)).cast(pl.String).str.strip_chars() \
        .str.to_time(et.time_format, strict=False)
    return pl.col(str(et.date)).dt.combine(time, time_unit="us")


def coerce(landed: Landed, contract: Contract, known_types: dict[str, str] | None = None
           ) -> tuple[pl.DataFrame, list[str], dict[str, ColumnSpec]]:
    """Typed frame with the contract's columns, the kept undeclared columns (types inferred,
    see ``infer_specs``), the derived event time if any, plus ``_row``, ``_source_file``,
    ``_parse_errors``.

    Returns the frame, structural problems (columns that are mostly unparseable) and the
    inferred specs of the kept columns (reported in the check metadata).
    """
    assert landed.raw is not None
    raw = landed.raw
    inferred = infer_specs(raw, landed.kept_columns, known_types)
    specs = {**contract.columns, **inferred}
    parsed = raw.select(
        ROW_NUMBER, SOURCE_FILE,
        *[_parse(pl.col(name), spec).alias(name) for name, spec in specs.items()],
    )
    derived = _event_time(contract)
    if derived is not None:
        parsed = parsed.with_columns(derived.alias(EVENT_TIME))
    problems, error_exprs = [], []
    limit = contract.batch.max_unparseable_fraction
    if derived is not None:
        sources = contract.roles.event_time.sources  # type: ignore[union-attr]
        failed = parsed.select(pl.col(EVENT_TIME).is_null() & pl.all_horizontal(
            [pl.col(c).is_not_null() for c in sources])).to_series()
        if failed.any():
            error_exprs.append(pl.when(pl.Series(failed)).then(
                pl.lit(f"{EVENT_TIME}: cannot derive from {', '.join(sources)}")))
    for name, spec in specs.items():
        failed = raw[name].is_not_null() & (raw[name].str.strip_chars() != "") & \
            parsed[name].is_null()
        n_failed = int(failed.sum())
        if not n_failed:
            continue
        present = int(raw[name].is_not_null().sum())
        examples = raw.filter(failed)[name].unique(maintain_order=True).head(3).to_list()
        if n_failed / max(present, 1) > limit:
            problems.append(
                f"column {contract.source_name(name)}: {n_failed} of {present} values are not "
                f"{spec.dtype} (e.g. {examples}); wrong type or wrong column?"
            )
        error_exprs.append(
            pl.when(pl.Series(failed)).then(pl.lit(f"{name}: not a {spec.dtype}"))
        )
    errors = pl.concat_list(error_exprs).list.drop_nulls() if error_exprs else \
        pl.lit([], dtype=pl.List(pl.String))
    return parsed.with_columns(errors.alias(PARSE_ERRORS)), problems, inferred
