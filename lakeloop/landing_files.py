"""One landing file's bytes to a frame of raw values, its format told by its content.

Why not by its name: upstream systems name files ``PART-0.CSV``, ``export.csv.gz`` or
``data.txt``, compress without saying so, save CSV as UTF-16 from a spreadsheet or with ``;``
as the separator. The content says what it is: gzip and Parquet by their magic bytes, text by
its byte-order mark, the separator by the header line. What cannot be read is refused with the
file named and what is wrong with it, never guessed at.

CSV records are scanned with the standard library's ``csv`` reader before Polars reads them:
Polars pads a short row with nulls and so would accept a row cut in half, and only a real
parser tells a quoted newline or a trailing blank line from a cut-off record. The scan also
gives each record its line number in the file (``_line``), which the quarantine keeps.
"""

from __future__ import annotations

import array
import codecs
import csv
import gzip
import io
import zlib
from dataclasses import dataclass

import polars as pl

LINE = "_line"  # a record's first line in its file (CSV) or its row number (Parquet), from 1
SEPARATORS = (",", ";", "\t", "|")
SHOWN = 3  # ragged records named in a message
csv.field_size_limit(1 << 24)  # a long free-text field is data, not an error


@dataclass
class ReadFile:
    """A file's raw values (text for CSV), or why it cannot be read; ``notes`` say what was
    detected on the way (compression, encoding, separator) for the check's metadata."""

    frame: pl.DataFrame | None = None
    problem: str | None = None
    notes: tuple[str, ...] = ()


def read_file(name: str, data: bytes, declared: str = "auto") -> ReadFile:
    """``declared``: the contract's ``format`` (``auto``: the content decides).

    Memory: the bytes are read by Polars as they are, and scanned by the ``csv`` module
    through an incremental decoder; the text is never held whole as a Python string
    (UTF-16 excepted: it is transcoded to UTF-8 once)."""
    notes: list[str] = []
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            return ReadFile(problem=f"{name}: a gzip file that does not decompress ({exc}); "
                            "truncated or corrupt?")
        notes.append("gzip")
    if not data.strip():
        return ReadFile(problem=f"{name}: empty file (0 bytes of data, no header)")
    if data[:4] == b"PK\x03\x04":
        return ReadFile(problem=f"{name}: a zip archive; unpack its files into the day folder")
    fmt = "parquet" if data[:4] == b"PAR1" else "csv"
    if declared not in ("auto", fmt):
        return ReadFile(problem=f"{name}: the contract says {declared}, the content is {fmt}")
    if fmt == "parquet":
        try:
            frame = pl.read_parquet(io.BytesIO(data))
        except Exception as exc:  # polars raises several types; all mean "unreadable"
            return ReadFile(problem=f"{name}: unreadable Parquet ({_first_line(exc)})")
        return ReadFile(frame.with_row_index(LINE, offset=1), notes=tuple(notes))
    utf8, problem = _as_utf8(name, data, notes)
    if problem:
        return ReadFile(problem=problem)
    return _read_csv(name, utf8, notes)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _as_utf8(name: str, data: bytes, notes: list[str]) -> tuple[bytes, str | None]:
    """The file as UTF-8 bytes: UTF-8 as it is (not copied; a BOM is cut off), UTF-16 with
    its BOM transcoded; anything else is refused where the CSV scan meets the first byte that
    is not UTF-8 (``_read_csv``)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):], None
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            notes.append(codec.upper())
            try:
                return data[len(bom):].decode(codec).encode("utf-8"), None
            except UnicodeDecodeError as exc:
                return b"", f"{name}: not valid {codec.upper()} at byte {exc.start}"
    return data, None


def _separator(header: str) -> str:
    """The separator the header line uses most (a file of one column: a comma)."""
    counts = {s: header.count(s) for s in SEPARATORS}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


def _not_utf8(name: str, raw: bytes) -> str:
    """Where the first byte that is not UTF-8 is: its offset and line."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        return (f"{name}: not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line} "
                f"(offset {exc.start}); save the file as UTF-8")
    return f"{name}: not UTF-8 text; save the file as UTF-8"


def _read_csv(name: str, data: bytes, notes: list[str]) -> ReadFile:
    first = data[:65536].split(b"\n", 1)[0]
    sep = _separator(first.decode("utf-8", errors="replace"))
    if sep != ",":
        notes.append(f"separator {sep!r}")
    # the records are scanned as text decoded a block at a time (never the whole file as one
    # Python string); their line numbers are kept as 8-byte integers
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    reader = csv.reader(text, delimiter=sep)
    lines, ragged, blank = array.array("q"), [], 0
    ends_with_newline = data[-1:] in (b"\n", b"\r")
    try:
        header = next(reader)
        width = len(header)
        for record in reader:
            if not record:  # a blank line (a trailing one, typically) holds no record
                blank += 1
                continue
            line = reader.line_num - sum(f.count("\n") for f in record)
            lines.append(line)
            if len(record) != width:
                ragged.append((line, len(record)))
    except csv.Error as exc:
        return ReadFile(problem=f"{name}: not a readable CSV at line {reader.line_num} ({exc})")
    except UnicodeDecodeError:
        return ReadFile(problem=_not_utf8(name, data))
    finally:
        text.detach()
    if ragged:
        last_line, fields = ragged[-1]
        if len(ragged) == 1 and last_line == lines[-1] and fields < width:
            ending = "" if ends_with_newline else " and no line terminator"
            return ReadFile(problem=f"{name}: truncated CSV: last line has {fields} of {width} "
                            f"fields{ending} (line {last_line}); the file looks cut off "
                            "mid-write")
        shown = ", ".join(f"line {ln} has {n} of {width} fields" for ln, n in ragged[:SHOWN])
        more = f" and {len(ragged) - SHOWN} more" if len(ragged) > SHOWN else ""
        return ReadFile(problem=f"{name}: ragged CSV: {shown}{more}; a garbled export or an "
                        "unquoted separator in a value")
    if blank:  # Polars would read each blank line as a row of nulls: leave them out
        data = b"\n".join(line for line in data.split(b"\n") if line.strip(b"\r")) + b"\n"
    try:
        frame = pl.read_csv(data, separator=sep, infer_schema=False)
    except Exception as exc:  # polars raises several types; all mean "unreadable"
        return ReadFile(problem=f"{name}: unreadable CSV ({_first_line(exc)})")
    if frame.height != len(lines):
        return ReadFile(problem=f"{name}: {len(lines)} CSV records but {frame.height} rows "
                        "read; a malformed quote?")
    return ReadFile(frame.with_columns(pl.Series(LINE, lines, dtype=pl.Int64)),
                    notes=tuple(notes))
