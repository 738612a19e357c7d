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
import hashlib
import io
import mmap
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

LINE = "_line"  # a record's first line in its file (CSV) or its row number (Parquet), from 1
SEPARATORS = (",", ";", "\t", "|")
SHOWN = 3  # ragged records named in a message
csv.field_size_limit(1 << 24)  # a long free-text field is data, not an error


BLOCK_ROWS = 250_000  # records parsed and typed at a time (bounds a day's working memory)
SPILL_BYTES = 1 << 23  # a CSV larger than this is parsed from a temporary file, not memory


class UnreadableRows(ValueError):
    """A block of records Polars cannot parse as the ``csv`` scan located them."""


@dataclass
class ParquetRows:
    """A Parquet file's rows as read (typed by their writer), served as text on demand."""

    frame: pl.DataFrame  # with ``_line``

    @property
    def height(self) -> int:
        return self.frame.height

    @property
    def columns(self) -> list[str]:
        return self.frame.columns

    def block(self, first: int, stop: int) -> pl.DataFrame:
        return as_text(self.frame.slice(first, stop - first))

    def take(self, positions: np.ndarray) -> pl.DataFrame:
        return as_text(self.frame[positions])


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """A Parquet block as the text every landing file is typed from (``lakeloop.ingest.landed``),
    losing nothing its writer said: a time-zone-aware timestamp (pandas and Spark write them)
    keeps its offset (ISO-8601, so ingest converts it to the business's zone; a plain cast
    would print the zone's abbreviation), and a nested column (a list, a struct) becomes
    its JSON text (a cast to text is an error for them)."""
    def text(name: str, dtype: pl.DataType) -> pl.Expr:
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            return col.dt.to_string("%Y-%m-%dT%H:%M:%S%.f%:z")
        if isinstance(dtype, pl.Struct):
            return col.struct.json_encode()
        if isinstance(dtype, pl.List | pl.Array):  # JSON-encoded inside a struct, unwrapped
            wrapped = pl.struct(col.alias("v")).struct.json_encode()
            return wrapped.str.slice(len('{"v":')).str.head(-1)
        return col.cast(pl.String)

    return frame.select(text(n, t).alias(n) for n, t in frame.schema.items())


@dataclass
class CsvRows:
    """A CSV file's records, located by the ``csv`` scan but not parsed: its UTF-8 bytes and
    where each record starts. Why not a frame of the whole file: a frame of text is ~2.3x
    the file (a Polars string is a 16-byte view per value), the bytes are 1x; records are
    parsed a block at a time (``block``), and a quarantined record's exact text is parsed
    again from its bytes (``take``)."""

    name: str
    data: bytes | mmap.mmap | None  # UTF-8; None once let go (``let_go``), read again
    separator: str
    header: bytes  # everything before the first record
    starts: np.ndarray  # each record's first byte, then len(data): records + 1 offsets
    lines: np.ndarray  # each record's first line in the file
    columns: list[str]  # as Polars names the header's fields, then ``_line``
    blank: bool  # blank lines among the records (Polars would read each as a row of nulls)
    digest: bytes = b""  # of ``data``: the file read again must be the file read first
    reread: Callable[[], bytes] | None = None  # the file's UTF-8 content, read again
    # False: no line break after the last record, which may then be cut inside a value (a
    # copy that stopped mid-write): ingest quarantines that record, naming why
    terminated: bool = True

    @property
    def height(self) -> int:
        return len(self.lines)

    def spill(self) -> None:
        """Move a large file's bytes to a temporary file, mapped (``mmap``): a block's
        records are paged in while it is parsed and let go after (``MADV_DONTNEED``), so
        the day's blocks are read with about a block of the file in memory, not all of it.
        Only with ``reread`` (the digest proves a later read is the same file)."""
        if self.reread is None or not isinstance(self.data, bytes) or \
                len(self.data) <= SPILL_BYTES:
            return
        self.digest = _digest(self.data)
        with tempfile.TemporaryFile(prefix="lakeloop-landed-") as spilled:
            spilled.write(self.data)
            spilled.flush()
            self.data = mmap.mmap(spilled.fileno(), 0, access=mmap.ACCESS_READ)
        # (the mapping keeps the unlinked file until it is closed)

    def let_go(self) -> None:
        """Drop the bytes (the typed rows hold the day now); ``reread`` gives them back for
        the few records quarantine needs, checked against the digest. Without ``reread``
        the bytes stay."""
        if self.reread is not None and self.data is not None:
            if isinstance(self.data, mmap.mmap):
                self.data.close()
            else:
                self.digest = _digest(self.data)
            self.data = None

    def _paged_out(self) -> None:
        """A mapped file's pages read so far leave the process (the file stays)."""
        if isinstance(self.data, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
            self.data.madvise(mmap.MADV_DONTNEED)

    def _data(self) -> bytes | mmap.mmap:
        if self.data is not None:
            return self.data
        assert self.reread is not None
        data = self.reread()
        if _digest(data) != self.digest:
            raise UnreadableRows(f"{self.name}: the file changed while it was being ingested; "
                                 "re-run the day once its sender has finished writing it")
        return data

    def _parse(self, body: bytes, lines: np.ndarray) -> pl.DataFrame:
        text = self.header + body
        if self.blank:
            text = b"\n".join(ln for ln in text.split(b"\n") if ln.strip(b"\r")) + b"\n"
        try:
            frame = pl.read_csv(text, separator=self.separator, infer_schema=False)
        except Exception as exc:  # polars raises several types; all mean "unreadable"
            raise UnreadableRows(f"{self.name}: unreadable CSV ({_first_line(exc)})") from exc
        if frame.height != len(lines):
            where = f"lines {lines[0]}-{lines[-1]}" if len(lines) else "no records"
            raise UnreadableRows(f"{self.name}: {len(lines)} CSV records but {frame.height} "
                                 f"rows read ({where}); a malformed quote?")
        return frame.with_columns(pl.Series(LINE, lines, dtype=pl.Int64))

    def block(self, first: int, stop: int) -> pl.DataFrame:
        """Records ``first..stop-1`` as a frame of text (and their ``_line``)."""
        if first == stop:
            return pl.DataFrame(schema={c: pl.Int64 if c == LINE else pl.String
                                        for c in self.columns})
        body = self._data()[self.starts[first]:self.starts[stop]]
        self._paged_out()
        return self._parse(body if body.endswith(b"\n") else body + b"\n",
                           self.lines[first:stop])

    def take(self, positions: np.ndarray) -> pl.DataFrame:
        """The records at ``positions`` (ascending), as ``block`` gives them."""
        data = self._data()
        parts = [data[self.starts[i]:self.starts[i + 1]] for i in positions]
        return self._parse(b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts),
                           self.lines[positions])


@dataclass
class ReadFile:
    """A file's rows (text on demand), or why it cannot be read; ``notes`` say what was
    detected on the way (compression, encoding, separator) for the check's metadata."""

    rows: CsvRows | ParquetRows | None = None
    problem: str | None = None
    notes: tuple[str, ...] = ()


def read_file(name: str, data: bytes, declared: str = "auto") -> ReadFile:
    """``declared``: the contract's ``format`` (``auto``: the content decides).

    Memory: the bytes are scanned by the ``csv`` module through an incremental decoder and
    kept as they are; the text is never held whole as a Python string (UTF-16 excepted: it
    is transcoded to UTF-8 once), nor as one frame (``CsvRows``)."""
    notes: list[str] = []
    fmt, data, problem = decoded(name, data, declared, notes)
    if problem:
        return ReadFile(problem=problem)
    if fmt == "parquet":
        try:
            frame = pl.read_parquet(io.BytesIO(data))
        except Exception as exc:  # polars raises several types; all mean "unreadable"
            return ReadFile(problem=f"{name}: unreadable Parquet ({_first_line(exc)})")
        if LINE in frame.columns:
            return ReadFile(problem=_reserved(name))
        return ReadFile(ParquetRows(frame.with_row_index(LINE, offset=1)), notes=tuple(notes))
    return _read_csv(name, data, notes)


def decoded(name: str, data: bytes, declared: str = "auto", notes: list[str] | None = None
            ) -> tuple[str, bytes, str | None]:
    """A landing file's format (``csv`` | ``parquet``) and content: decompressed, and as
    UTF-8 for CSV; or why it cannot be read. ``notes`` gets what was detected."""
    notes = [] if notes is None else notes
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            return "", b"", (f"{name}: a gzip file that does not decompress ({exc}); "
                             "truncated or corrupt?")
        notes.append("gzip")
    if not data.strip():
        return "", b"", f"{name}: empty file (0 bytes of data, no header)"
    if data[:4] == b"PK\x03\x04":
        return "", b"", f"{name}: a zip archive; unpack its files into the day folder"
    fmt = "parquet" if data[:4] == b"PAR1" else "csv"
    if declared not in ("auto", fmt):
        return fmt, b"", f"{name}: the contract says {declared}, the content is {fmt}"
    if fmt == "parquet":
        return fmt, data, None
    utf8, problem = _as_utf8(name, data, notes)
    return fmt, utf8, problem


def _reserved(name: str) -> str:
    return (f"{name}: a column named {LINE}, the name lakeloop gives each record's line in "
            "its file; rename it in the file")


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
        width, ended = len(header), reader.line_num  # the line the last record ended on
        for record in reader:
            line, ended = ended + 1, reader.line_num  # a record starts where the last ended
            if not record:  # a blank line (a trailing one, typically) holds no record
                blank += 1
                continue
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
    line_starts = _line_starts(data)
    record_lines = np.frombuffer(lines, dtype=np.int64) if lines else np.zeros(0, np.int64)
    starts = np.append(line_starts[record_lines - 1], len(data))
    head = data[:starts[0]] if len(record_lines) else data
    try:
        columns = pl.read_csv(head if head.strip() else data, separator=sep, infer_schema=False,
                              n_rows=0).columns
    except Exception as exc:  # polars raises several types; all mean "unreadable"
        return ReadFile(problem=f"{name}: unreadable CSV ({_first_line(exc)})")
    if LINE in columns:
        return ReadFile(problem=_reserved(name))
    return ReadFile(CsvRows(name, data, sep, head, starts, record_lines, [*columns, LINE],
                            bool(blank), terminated=ends_with_newline), notes=tuple(notes))


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _line_starts(data: bytes, piece: int = 1 << 24) -> np.ndarray:
    """The first byte of every line (line 1 starts at 0), lines ending as the ``csv`` scan
    counts them (``\\n``, ``\\r\\n`` or a lone ``\\r``), found 16 MB at a time (a
    whole-file comparison would allocate a byte per byte of the file)."""
    view = np.frombuffer(data, dtype=np.uint8)
    found = [np.zeros(1, np.int64)]
    for offset in range(0, len(view), piece):
        chunk = view[offset:offset + piece + 1]  # one byte more: what follows a carriage return
        ends = np.flatnonzero(chunk[:piece] == 10)
        cr = np.flatnonzero(chunk[:piece] == 13)
        lone = cr[(cr + 1 >= len(chunk)) | (chunk[np.minimum(cr + 1, len(chunk) - 1)] != 10)]
        found.append(np.sort(np.concatenate([ends, lone])).astype(np.int64) + offset + 1)
    return np.concatenate(found)
