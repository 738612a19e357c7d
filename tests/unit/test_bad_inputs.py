"""A corpus of landing-zone inputs, good-but-odd and bad, through the real reader, GX suites and
Delta writes: each case asserts its outcome (accepted, refused, missing), the message a person
reads, and that nothing is lost (accepted: bronze + quarantine = the records sent; refused:
every table at its previous version)."""

from __future__ import annotations

import codecs
import gzip
import io
import json
import mmap
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from lakeloop.contracts import load_contract
from lakeloop.ingest.bronze import process_days, write_days
from lakeloop.ingest.landed import read_landed
from lakeloop.names import bronze_table, quarantine_table
from lakeloop.storage import Lake, ObjectStore
from tests.conftest import day

CONTRACT = load_contract("transactions")
FOLDER = f"transactions/date={day(1)}"


@dataclass(frozen=True)
class Case:
    name: str
    edit: Callable[[Path, str], None]  # (the day's folder, the original CSV text)
    outcome: str  # "accepted" | "refused" | "missing"
    message: str = ""  # in the refusal (or, accepted, in a quarantine reason)
    records: Callable[[int], int] = lambda n: n  # records sent, from the original's n
    quarantined: int = 0  # at least this many rows quarantined (accepted cases)


def _write(folder: Path, name: str, data: bytes | str) -> None:
    (folder / "part-0.csv").unlink(missing_ok=True)
    target = folder / name
    target.write_bytes(data if isinstance(data, bytes) else data.encode())


def _rows(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


def _replace_field(text: str, row: int, column: str, value: str) -> str:
    lines = _rows(text)
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    return "\n".join(lines) + "\n"


def _parquet(text: str) -> bytes:
    buf = io.BytesIO()
    pl.read_csv(io.StringIO(text), infer_schema=False).write_parquet(buf)
    return buf.getvalue()


def _parquet_with(text: str, *columns: pl.Expr) -> bytes:
    """The day as Parquet, its columns as text but for ``columns`` (typed by their writer)."""
    buf = io.BytesIO()
    pl.read_csv(io.StringIO(text), infer_schema=False).with_columns(*columns).write_parquet(buf)
    return buf.getvalue()


def _zoned(zone: str) -> pl.Expr:
    """``ts`` as pandas or Spark write it: a time-zone-aware timestamp (the same instants)."""
    return pl.col("ts").str.to_datetime().dt.replace_time_zone("UTC") \
        .dt.convert_time_zone(zone)


def _offsets(text: str) -> str:
    """Every ``ts`` written with its offset, as ISO-8601 exports do: ``Z`` on one row,
    ``+00:00`` on the next (the first row has one: a format guessed from it fails the rest)."""
    lines = _rows(text)
    column = lines[0].split(",").index("ts")
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        cells = line.split(",")
        cells[column] += "Z" if i % 2 == 0 else "+00:00"
        out.append(",".join(cells))
    return "\n".join(out) + "\n"


def _manifest(rows: int | None = None, files: dict | None = None) -> Callable:
    def edit(folder: Path, text: str) -> None:
        body: dict = {}
        if rows is not None:
            body["rows"] = rows
        if files is not None:
            body["files"] = files
        (folder / "manifest.json").write_text(json.dumps(body))
    return edit


N_HINT = 1000  # tiny scale: about 1,000 transactions a day (cases that need a count use n)

CASES = [
    # -- odd but fine: read as sent ------------------------------------------------------
    Case("gzip named .csv", lambda f, t: _write(f, "part-0.csv", gzip.compress(t.encode())),
         "accepted"),
    Case(".csv.gz", lambda f, t: _write(f, "part-0.csv.gz", gzip.compress(t.encode())),
         "accepted"),
    Case("upper-case name", lambda f, t: _write(f, "PART-0.CSV", t), "accepted"),
    Case("no extension", lambda f, t: _write(f, "export", t), "accepted"),
    Case("UTF-8 BOM", lambda f, t: _write(f, "part-0.csv", codecs.BOM_UTF8 + t.encode()),
         "accepted"),
    Case("UTF-16 from a spreadsheet",
         lambda f, t: _write(f, "part-0.csv", codecs.BOM_UTF16_LE + t.encode("utf-16-le")),
         "accepted"),
    Case("semicolons", lambda f, t: _write(f, "part-0.csv", t.replace(",", ";")), "accepted"),
    Case("tabs", lambda f, t: _write(f, "part-0.csv", t.replace(",", "\t")), "accepted"),
    Case("trailing blank lines", lambda f, t: _write(f, "part-0.csv", t + "\n\n"), "accepted"),
    Case("CRLF line ends", lambda f, t: _write(f, "part-0.csv", t.replace("\n", "\r\n")),
         "accepted"),
    Case("quoted newline in the last row",
         lambda f, t: _write(f, "part-0.csv", _replace_field(t, -1, "device", '"mobile\nwallet"')),
         "accepted"),
    Case("a carriage return alone inside a quoted value", lambda f, t: _write(
        f, "part-0.csv", _replace_field(t, 3, "device", '"mobile\rwallet"')), "accepted"),
    Case("Parquet named .csv", lambda f, t: _write(f, "part-0.csv", _parquet(t)), "accepted"),
    Case("two files", lambda f, t: (_write(f, "a.csv", "\n".join(_rows(t)[:400]) + "\n"),
                                    (f / "b.csv").write_text("\n".join(
                                        [_rows(t)[0], *_rows(t)[400:]]) + "\n")), "accepted"),
    Case("a header-only file beside the data",
         lambda f, t: (f / "empty-part.csv").write_text(_rows(t)[0] + "\n"), "accepted"),
    Case("columns in another order", lambda f, t: _write(f, "part-0.csv", pl.read_csv(
        io.StringIO(t), infer_schema=False).select(reversed(_rows(t)[0].split(","))).write_csv()),
         "accepted"),
    Case("an undeclared column", lambda f, t: _write(f, "part-0.csv", "\n".join(
        f"{line},{'note' if i == 0 else 'x'}" for i, line in enumerate(_rows(t))) + "\n"),
         "accepted"),
    Case("a manifest that matches", lambda f, t: _manifest(rows=len(_rows(t)) - 1)(f, t),
         "accepted"),
    Case("a per-file manifest that matches",
         lambda f, t: _manifest(files={"part-0.csv": {"rows": len(_rows(t)) - 1}})(f, t),
         "accepted"),
    Case("times with Z and offsets", lambda f, t: _write(f, "part-0.csv", _offsets(t)),
         "accepted"),
    Case("time-zone-aware Parquet timestamps (UTC)",
         lambda f, t: _write(f, "part-0.parquet", _parquet_with(t, _zoned("UTC"))), "accepted"),
    Case("time-zone-aware Parquet timestamps (Europe/Berlin)",
         lambda f, t: _write(f, "part-0.parquet", _parquet_with(t, _zoned("Europe/Berlin"))),
         "accepted"),
    Case("an undeclared nested column in Parquet", lambda f, t: _write(
        f, "part-0.parquet", _parquet_with(t, pl.concat_list(
            pl.col("channel"), pl.col("device")).alias("tags"), pl.struct(
                "country", "currency").alias("origin"))), "accepted"),
    # -- bad rows: quarantined with their reason, the day goes on ------------------------
    Case("cut inside its last value, no final line break", lambda f, t: _write(
        f, "part-0.csv", t[:len(t) - 3]), "accepted", "no line break after it", quarantined=1),
    Case("an offset that puts a time on the next day", lambda f, t: _write(
        f, "part-0.csv", _replace_field(t, 4, "ts", f"{day(1)}T23:30:00-05:00")),
         "accepted", f"in the future (after {day(1)})", quarantined=1),
    Case("one amount of 1e12", lambda f, t: _write(f, "part-0.csv",
                                                   _replace_field(t, 1, "amount", "1e12")),
         "accepted", "amount outside", quarantined=1),
    Case("one amount of inf", lambda f, t: _write(f, "part-0.csv",
                                                  _replace_field(t, 1, "amount", "inf")),
         "accepted", "amount outside", quarantined=1),
    Case("inf and NaN amounts", lambda f, t: _write(f, "part-0.csv", _replace_field(
        _replace_field(t, 1, "amount", "inf"), 2, "amount", "NaN")),
         "accepted", "amount", quarantined=2),
    Case("a duplicated row", lambda f, t: _write(f, "part-0.csv", t + _rows(t)[5] + "\n"),
         "accepted", "duplicate transaction_id", lambda n: n + 1, quarantined=1),
    Case("an unknown currency", lambda f, t: _write(f, "part-0.csv",
                                                    _replace_field(t, 3, "currency", "XXX")),
         "accepted", "currency not in allowed values", quarantined=1),
    Case("a timestamp of the next day", lambda f, t: _write(f, "part-0.csv", _replace_field(
        t, 4, "ts", f"{day(2)}T01:00:00")), "accepted", f"in the future (after {day(1)})",
         quarantined=1),
    # -- refused: the day is not written, the message names the file and what is wrong --
    Case("a manifest with more rows (cut at a row boundary)",
         lambda f, t: _manifest(rows=len(_rows(t)) + 499)(f, t), "refused",
         "manifest.json says"),
    Case("a per-file manifest that does not match",
         lambda f, t: _manifest(files={"part-0.csv": {"rows": 5}})(f, t), "refused",
         "manifest.json says 5 rows in part-0.csv"),
    Case("a manifest naming a missing file",
         lambda f, t: _manifest(files={"part-1.csv": {"rows": 5}})(f, t), "refused",
         "(the file is missing)"),
    Case("a manifest that is not JSON", lambda f, t: (f / "manifest.json").write_text("rows=5"),
         "refused", "manifest.json: not a manifest lakeloop reads"),
    Case("a ragged row in the middle", lambda f, t: _write(f, "part-0.csv", "\n".join(
        line if i != 57 else line.rsplit(",", 2)[0] for i, line in enumerate(_rows(t))) + "\n"),
         "refused", "ragged CSV: line 58 has 8 of 10 fields"),
    Case("cut off mid-row", lambda f, t: _write(f, "part-0.csv", t[:len(t) - 30]), "refused",
         "truncated CSV: last line has"),
    Case("zero bytes", lambda f, t: _write(f, "part-0.csv", b""), "refused", "empty file"),
    Case("a gzip cut short", lambda f, t: _write(f, "part-0.csv.gz",
                                                 gzip.compress(t.encode())[:200]),
         "refused", "does not decompress"),
    Case("a zip archive", lambda f, t: _write(f, "part-0.zip", b"PK\x03\x04" + b"\0" * 64),
         "refused", "zip archive"),
    Case("Latin-1 text", lambda f, t: _write(f, "part-0.csv", _replace_field(
        t, 3, "device", "caf\u00e9").encode("latin-1")), "refused",
         "not UTF-8 text: byte 0xe9 on line 4"),
    Case("a required column missing", lambda f, t: _write(f, "part-0.csv", pl.read_csv(
        io.StringIO(t), infer_schema=False).drop("amount").write_csv()), "refused",
         "part-0.csv: required columns missing: amount"),
    Case("a column of the wrong type", lambda f, t: _write(f, "part-0.csv", pl.read_csv(
        io.StringIO(t), infer_schema=False).with_columns(amount=pl.lit("n/a")).write_csv()),
         "refused", "column amount: "),
    Case("a corrupt Parquet file", lambda f, t: _write(f, "part-0.parquet",
                                                       b"PAR1" + b"\1" * 100 + b"PAR1"),
         "refused", "unreadable Parquet"),
    Case("a README beside the data", lambda f, t: (f / "README.txt").write_text(
        "exported by the nightly job\n"), "refused", "README.txt: required columns missing"),
    Case("a column named _source_file", lambda f, t: _write(f, "part-0.csv", "\n".join(
        f"{line},{'_source_file' if i == 0 else 'mine'}" for i, line in enumerate(_rows(t)))
        + "\n"), "refused", "part-0.csv: a column named _source_file, the name lakeloop"),
    Case("a column named _line", lambda f, t: _write(f, "part-0.csv", "\n".join(
        f"{line},{'_line' if i == 0 else '7'}" for i, line in enumerate(_rows(t))) + "\n"),
         "refused", "part-0.csv: a column named _line"),
    Case("a 100x spike", lambda f, t: _write(f, "part-0.csv", "\n".join(
        [_rows(t)[0], *(line.replace(",", f"-{k},", 1) for k in range(100)
                        for line in _rows(t)[1:])]) + "\n"), "refused", "row count above"),
    Case("a collapsed day", lambda f, t: _write(f, "part-0.csv", "\n".join(_rows(t)[:20]) + "\n"),
         "refused", "row count below"),
    Case("amounts in cents", lambda f, t: _write(f, "part-0.csv", pl.read_csv(
        io.StringIO(t), infer_schema=False).with_columns(
            amount=(pl.col("amount").cast(pl.Float64) * 100).round(0).cast(pl.String)
        ).write_csv()), "refused", "mean amount outside"),
    Case("many bad rows", lambda f, t: _write(f, "part-0.csv", pl.read_csv(
        io.StringIO(t), infer_schema=False).with_columns(
            currency=pl.when(pl.int_range(pl.len()) % 5 == 0).then(pl.lit("XXX"))
            .otherwise("currency")).write_csv()), "refused", "rows broke row rules"),
    Case("a link out of the landing zone", lambda f, t: (
        (f.parent.parent.parent / "secret.csv").write_text(t),
        (f / "part-0.csv").unlink(), (f / "part-0.csv").symlink_to(
            f.parent.parent.parent / "secret.csv")), "refused", "outside"),
    Case("no files at all", lambda f, t: (f / "part-0.csv").unlink(), "missing",
         "no landing files"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_landing_input(case: Case, landing_copy: Path, tmp_path: Path) -> None:
    store, lake = ObjectStore(str(landing_copy)), Lake(str(tmp_path / "lake"))
    first = process_days(store, lake, CONTRACT, [day(0)])  # the day before: the history
    write_days(lake, CONTRACT, first, day(0), day(0))
    before = {t: lake.version(t) for t in (bronze_table("transactions"),
                                           quarantine_table("transactions"))}
    folder = landing_copy / FOLDER
    text = (folder / "part-0.csv").read_text()
    case.edit(folder, text)

    read = process_days(store, lake, CONTRACT, [day(1)])
    if case.outcome == "missing":
        assert list(read.missing) == [day(1)] and case.message in str(read.missing[day(1)])
        return
    batch = read.batches[day(1)]
    if case.outcome == "refused":
        assert not batch.passed
        message = batch.message
        assert case.message in message, message
        assert message.startswith(f"transactions {day(1)} refused: ")
        with pytest.raises(ValueError, match="refusing to write"):
            write_days(lake, CONTRACT, read, day(1), day(1))
        assert {t: lake.version(t) for t in before} == before  # nothing written
        return
    assert batch.passed, batch.problems
    write_days(lake, CONTRACT, read, day(1), day(1))
    bronze = lake.partition_counts(bronze_table("transactions"), day(1), day(1)).get(day(1), 0)
    quarantine = lake.scan(quarantine_table("transactions"), day(1), day(1)).collect()
    sent = case.records(len(_rows(text)) - 1)
    assert bronze + quarantine.height == sent  # nothing lost, nothing invented
    assert quarantine.height >= case.quarantined
    if case.quarantined:
        assert quarantine["reason"].str.contains(case.message, literal=True).all(), \
            quarantine["reason"].to_list()
        record = json.loads(quarantine["record"][0])
        assert int(record["_line"]) >= 2  # the line in the file it came from
    else:
        assert quarantine.height == 0, quarantine["reason"].to_list()


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert {c.outcome for c in CASES} == {"accepted", "refused", "missing"}


def test_line_numbers_follow_quoted_newlines(landing_copy: Path, tmp_path: Path) -> None:
    """A record after one with a quoted newline is two lines further down."""
    folder = landing_copy / FOLDER
    text = (folder / "part-0.csv").read_text()
    text = _replace_field(text, 2, "currency", "XXX")
    text = _replace_field(text, 1, "device", '"two\nlines"')
    _write(folder, "part-0.csv", text)
    read = process_days(ObjectStore(str(landing_copy)), Lake(str(tmp_path / "lake")),
                        CONTRACT, [day(1)])
    record = json.loads(read.batches[day(1)].quarantine["record"][0])
    assert record["currency"] == "XXX" and record["_line"] == "4"
    shutil.rmtree(folder)


def _odd_day(folder: Path, text: str) -> None:
    """Two files with what a block boundary could split or misnumber: a quoted newline, a
    lone carriage return in a value, blank lines, CRLF line ends, an undeclared column in one
    file, bad rows in both, and a key repeated from the first file in the second."""
    rows = _rows(text)
    half = len(rows) // 2
    for row, column, value in ((2, "device", '"two\nlines"'), (9, "device", '"a\rb"'),
                               (12, "currency", "XXX"), (half + 3, "amount", "12.5x")):
        rows = _rows(_replace_field("\n".join(rows), row, column, value))
    _write(folder, "a.csv", "\r\n".join(rows[:half]) + "\r\n\r\n")
    (folder / "b.csv").write_text("\n".join([f"{rows[0]},note", *(
        f"{r},n{i}" for i, r in enumerate(rows[half:])), f"{rows[5]},again"]) + "\n\n")


def test_small_blocks_give_the_same_day(landing_copy: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A day parsed and typed 7 records at a time is the day parsed whole: the same bronze
    rows, the same quarantined records (their exact text and line numbers), nothing lost."""
    folder = landing_copy / FOLDER
    text = (folder / "part-0.csv").read_text()
    _odd_day(folder, text)
    store, lake = ObjectStore(str(landing_copy)), Lake(str(tmp_path / "lake"))
    whole = process_days(store, lake, CONTRACT, [day(1)]).batches[day(1)]
    monkeypatch.setattr("lakeloop.ingest.landed.BLOCK_ROWS", 7)
    monkeypatch.setattr("lakeloop.ingest.landing_files.SPILL_BYTES", 0)  # parsed from a mapped file
    read = process_days(store, lake, CONTRACT, [day(1)])
    blocks = read.batches[day(1)]
    assert blocks.staged is not None and len(blocks.staged.paths) > 3  # staged block by block
    assert whole.passed and blocks.passed, (whole.problems, blocks.problems)
    assert whole.landed.rows == blocks.landed.rows == len(_rows(text))  # + 1 repeat, - header
    assert blocks.quarantined >= 3  # the currency, the amount, the repeated key
    assert whole.bronze is not None and blocks.bronze is not None
    assert whole.bronze.equals(blocks.bronze)
    assert whole.quarantine is not None and blocks.quarantine is not None
    assert whole.quarantine.equals(blocks.quarantine)
    assert whole.bronze.height + whole.quarantined == whole.landed.rows
    reasons = " ".join(blocks.quarantine["reason"].to_list())
    assert "currency not in allowed values" in reasons and "duplicate" in reasons
    assert "amount: not a float64" in reasons
    records = [json.loads(r) for r in blocks.quarantine["record"]]
    assert any(r["currency"] == "XXX" and r["_line"] == "14" for r in records), records
    mapped = read_landed(store, CONTRACT, day(1))  # (what was parsed: a mapped file)
    assert all(isinstance(rows.data, mmap.mmap) for _, rows in mapped.sources)
    staged = read.staging.path
    assert sorted(p.name for p in staged.iterdir()) == [p.name for p in blocks.staged.paths]
    read.discard()  # what the ingest asset does once the rows are written (or refused)
    assert not staged.exists()


def test_a_file_changed_after_it_was_read_is_refused(landing_copy: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes go once the day is typed; a quarantined record's text is read again. If the
    file changed in between, its records are not the ones typed: the day is refused, named."""
    import lakeloop.ingest.bronze

    folder = landing_copy / FOLDER
    text = (folder / "part-0.csv").read_text()
    _write(folder, "part-0.csv", _replace_field(text, 3, "currency", "XXX"))
    finish = lakeloop.ingest.bronze.RowChecks.finish

    def then_overwrite(*args: object, **kwargs: object) -> object:
        (folder / "part-0.csv").write_text(text)  # the sender writes the file again
        return finish(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lakeloop.ingest.bronze.RowChecks, "finish", then_overwrite)
    store, lake = ObjectStore(str(landing_copy)), Lake(str(tmp_path / "lake"))
    read = process_days(store, lake, CONTRACT, [day(1)])
    batch = read.batches[day(1)]
    assert not batch.passed
    assert "part-0.csv: the file changed while it was being ingested" in batch.message
    with pytest.raises(ValueError, match="refusing to write"):
        write_days(lake, CONTRACT, read, day(1), day(1))
    assert lake.version(bronze_table("transactions")) is None


def test_every_file_polars_cannot_read_is_named(landing_copy: Path, tmp_path: Path) -> None:
    """A quote in the middle of a value: the csv scan reads it, Polars does not. Each file of
    the day that has one is named, not only the first."""
    folder = landing_copy / FOLDER
    text = (folder / "part-0.csv").read_text()
    rows = _rows(_replace_field(text, 3, "device", '"mobile"x'))
    _write(folder, "a.csv", "\n".join(rows[:300]) + "\n")
    (folder / "b.csv").write_text("\n".join([rows[0], *rows[300:]]) + "\n")
    (folder / "c.csv").write_text("\n".join([rows[0], *rows[3:300]]) + "\n")
    store, lake = ObjectStore(str(landing_copy)), Lake(str(tmp_path / "lake"))
    batch = process_days(store, lake, CONTRACT, [day(1)]).batches[day(1)]
    assert not batch.passed
    assert "a.csv: " in batch.message and "c.csv: " in batch.message, batch.message
    assert "b.csv" not in batch.message


def test_the_business_time_zone_decides_a_rows_day(landing_copy: Path, tmp_path: Path) -> None:
    """A contract in New York: times without an offset are New York's wall clock (accepted
    as they are), an instant is converted to it, and one whose New York date is the day
    before (02:00 UTC is 21:00 or 22:00 the evening before) is quarantined with that reason;
    nothing is lost. An unknown zone is refused when the contract loads."""
    from lakeloop.contracts import Contract

    contract = CONTRACT.model_copy(update={"timezone": "America/New_York"})
    store, lake = ObjectStore(str(landing_copy)), Lake(str(tmp_path / "lake"))
    folder = landing_copy / FOLDER
    text = (folder / "part-0.csv").read_text()
    _write(folder, "part-0.csv", _replace_field(text, 5, "ts", f"{day(1)}T02:00:00Z"))
    read = process_days(store, lake, contract, [day(0), day(1)])
    assert read.batches[day(1)].passed, read.batches[day(1)].problems
    write_days(lake, contract, read, day(0), day(1))
    bronze = lake.scan(bronze_table("transactions"), day(1), day(1)).collect()
    quarantine = lake.scan(quarantine_table("transactions"), day(1), day(1)).collect()
    assert bronze.height + quarantine.height == len(_rows(text)) - 1
    assert quarantine.height == 1 and f"before partition day {day(1)}" in quarantine["reason"][0]
    assert json.loads(quarantine["record"][0])["ts"] == f"{day(1)}T02:00:00Z"  # as sent
    sent = pl.read_csv(io.StringIO(text), infer_schema=False)["ts"].str.to_datetime()
    kept = sent.gather([i for i in range(sent.len()) if i != 4])  # all but the replaced one
    assert bronze["ts"].sort().to_list() == kept.sort().to_list()  # the wall clock, as sent
    with pytest.raises(ValueError, match="not an IANA time zone"):
        Contract.model_validate({**CONTRACT.model_dump(), "timezone": "Mars/Olympus"})
