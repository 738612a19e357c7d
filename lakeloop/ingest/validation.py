"""Great Expectations 1.x suites built from dataset contracts, and their results as plain data.

Two kinds of expectation, marked in each expectation's ``meta``:
- ``row``: a rule a single row can break (null key, negative amount, unknown currency, future
  timestamp, duplicate id). Offending rows are quarantined with the reason; the batch passes
  unless too many rows are bad (``batch.max_bad_row_fraction``).
- ``batch``: a rule about the day as a whole (row-count collapse, mean amount out of range).
  Any failure fails the blocking check.

Row rules run first, batch rules after, on what the row rules let through: one amount of 1e12
is quarantined as a row, it does not move the day's mean and refuse the day. Both suites are
the same for every day (day-dependent bounds are columns: the event time's offset from the
row's partition day, each day's row-count floor), so a backfill validates many days in two
GX runs instead of two per day. GX validates pandas (it rejects Polars frames); the suites
run in an ephemeral context, no project folder.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lakeloop.contracts import Contract
from lakeloop.ingest.landed import PARSE_ERRORS, ROW_NUMBER

REASON = "reason"
SAMPLE_SIZE = 5
DAY = "_day"  # each row's partition day: a backfill validates many days in one pass
EVENT_OFFSET = "_event_day_offset"  # event time's day minus the partition day
GX_CHUNK_ROWS = 200_000  # rows of one GX run (bounds its pandas copy)
POSITION = "_position"
ROWS, MIN_ROWS, ROW_MARGIN = "_rows", "_min_rows", "_row_margin"  # per-day summary columns
MAX_ROWS, ROW_EXCESS = "_max_rows", "_row_excess"


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    level: str  # "row" | "batch"
    reason: str
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed: Any = None
    sample: list[Any] = field(default_factory=list)


@dataclass
class ValidationResult:
    rows: int
    outcomes: list[ExpectationOutcome]
    bad_rows: pl.DataFrame  # columns: _row, reason (all reasons of a row, "; "-joined)
    problems: list[str]  # batch-level failures, human-readable

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def failed_expectations(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def summary_markdown(self) -> str:
        lines = ["| expectation | column | level | ok | unexpected | sample |",
                 "|---|---|---|---|---|---|"]
        for o in self.outcomes:
            unexpected = "" if o.unexpected_count is None else \
                f"{o.unexpected_count} ({o.unexpected_percent or 0:.2f}%)"
            sample = ", ".join(map(str, o.sample)) if o.sample else \
                ("" if o.observed is None else f"observed {o.observed}")
            lines.append(f"| {o.expectation} | {o.column or ''} | {o.level} | "
                         f"{'yes' if o.success else '**no**'} | {unexpected} | {sample} |")
        return "\n".join(lines)


def _meta(level: str, reason: str, **extra: Any) -> dict:
    return {"meta": {"level": level, "reason": reason, **extra}}


def _row_rules(contract: Contract) -> list[Any]:
    """The rules a single row breaks on its own, the same for every day: they run over any
    chunk of rows, of one day or many (a backfill). A reason may name ``{day}``, filled in
    with each offending row's partition day."""
    import great_expectations as gx

    ex = gx.expectations
    suite: list[Any] = []
    for name, spec in contract.columns.items():
        if not spec.nullable:
            suite.append(ex.ExpectColumnValuesToNotBeNull(
                column=name, **_meta("row", f"{name} is null")))
        if spec.allowed is not None:
            suite.append(ex.ExpectColumnValuesToBeInSet(
                column=name, value_set=spec.allowed,
                **_meta("row", f"{name} not in allowed values")))
        if spec.min is not None or spec.max is not None:
            suite.append(ex.ExpectColumnValuesToBeBetween(
                column=name, min_value=spec.min, max_value=spec.max,
                **_meta("row", f"{name} outside [{spec.min}, {spec.max}]")))
    return suite + _event_time_rules(contract)


def _key_rule(contract: Contract, days: int) -> Any:  # noqa: ANN401 - a GX expectation
    """The key is unique within a day: judged once every row of the days is seen (a copy of
    a key may be in any block of the day)."""
    import great_expectations as gx

    ex = gx.expectations
    key = [*contract.key, DAY] if days > 1 else list(contract.key)
    shown = ", ".join(contract.key)
    if len(key) == 1:
        return ex.ExpectColumnValuesToBeUnique(
            column=key[0], **_meta("row", f"duplicate {shown}"))
    return ex.ExpectCompoundColumnsToBeUnique(
        column_list=key, **_meta("row", f"duplicate key ({shown})"))


def _batch_expectations(contract: Contract) -> list[Any]:
    """Rules about a day as a whole, checked on the per-day summary (``_day_summary``): one
    row per day, so one pass judges every day of a backfill and names the days that fail."""
    import great_expectations as gx

    ex = gx.expectations
    suite = [ex.ExpectColumnValuesToBeBetween(
        column=ROW_MARGIN, min_value=0,
        **_meta("batch", "row count below {min_rows} (collapse?)", observed=ROWS)),
        ex.ExpectColumnValuesToBeBetween(
            column=ROW_EXCESS, max_value=0,
            **_meta("batch", "row count above {max_rows} (a spike: a file sent twice?)",
                    observed=ROWS))]
    for name, (low, high) in contract.batch.mean_between.items():
        suite.append(ex.ExpectColumnValuesToBeBetween(
            column=_mean_column(name), min_value=low, max_value=high,
            **_meta("batch", f"mean {name} outside [{low}, {high}]",
                    observed=_mean_column(name), column=name)))
    return suite


def _mean_column(name: str) -> str:
    return f"_mean_{name}"


def _event_time_rules(contract: Contract) -> list[Any]:
    """The event time (as declared, or derived from an epoch clock / date + time) must fall
    on the partition's day: a row of another day is quarantined, not silently misfiled.
    Checked on its offset in days from the row's partition day (``_event_day_offset``)."""
    import great_expectations as gx

    et = contract.roles.event_time
    if et is None:
        return []
    name = et.output
    shown = name if not et.derived else f"{name} (from {', '.join(et.sources)})"
    ex = gx.expectations
    if not et.derived and contract.columns[name].dtype == "date":
        return [ex.ExpectColumnValuesToBeBetween(
            column=EVENT_OFFSET, min_value=0, max_value=0,
            **_meta("row", f"{shown} is not {{day}}", column=name))]
    return [
        ex.ExpectColumnValuesToBeBetween(
            column=EVENT_OFFSET, max_value=0,
            **_meta("row", f"{shown} in the future (after {{day}})", column=name)),
        ex.ExpectColumnValuesToBeBetween(
            column=EVENT_OFFSET, min_value=0,
            **_meta("row", f"{shown} before partition day {{day}}", column=name)),
        *([ex.ExpectColumnValuesToNotBeNull(column=name, **_meta("row", f"{shown} is missing"))]
          if et.derived else []),
    ]


@dataclass
class RuleResult:
    """One expectation's result over the whole frame (its chunks' results merged)."""

    expectation_config: Any
    success: bool
    result: dict[str, Any]


def _columns(expectation: Any) -> list[str]:
    column = getattr(expectation, "column", None)
    return [column] if column else list(getattr(expectation, "column_list", None) or [])


def _chunks(frame: pl.DataFrame, columns: list[str], by_key: bool) -> Iterator[Any]:
    """Pandas copies of ``columns`` of at most ``GX_CHUNK_ROWS`` rows each, indexed by the
    rows' positions in ``frame``: consecutive slices, or (``by_key``, for uniqueness rules)
    buckets of the columns' hash, so that every copy of a key lands in the same chunk."""
    n = max(1, -(-frame.height // GX_CHUNK_ROWS))
    if n == 1 or not by_key:
        for offset in range(0, max(frame.height, 1), GX_CHUNK_ROWS):
            pdf = frame.slice(offset, GX_CHUNK_ROWS).select(columns).to_pandas()
            pdf.index = range(offset, offset + len(pdf))
            yield pdf
        return
    keyed = frame.select(columns).with_row_index(POSITION).with_columns(
        (pl.struct(columns).hash(seed=0) % n).alias("_bucket"))
    for bucket in range(n):
        part = keyed.filter(pl.col("_bucket") == bucket)
        pdf = part.select(columns).to_pandas()
        pdf.index = part[POSITION].to_numpy()
        yield pdf


def _run_gx(frame: pl.DataFrame, name: str, suite: list[Any]) -> list[RuleResult]:
    """Validate ``frame`` with GX, ``GX_CHUNK_ROWS`` rows at a time; each run gets a
    pandas copy of only the columns its rules read. Why chunks: GX's pandas copy of a day
    (Python strings) was ~5x the file, more than everything else an ingest holds; a chunk's
    copy is bounded. The pandas index is the row's position in ``frame``, so GX's
    ``unexpected_index_list`` is too, whatever the chunk (uniqueness rules: chunks by key
    hash, so every copy of a key is in one chunk)."""
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (context.data_sources.add_pandas("landing")
                 .add_dataframe_asset(name)
                 .add_batch_definition_whole_dataframe("days"))
    whole = {i for i, e in enumerate(suite) if "unique" in type(e).__name__.lower()}
    # (part, its rules, chunked by key hash): uniqueness rules see every copy of a key
    parts = [(f"{name}_rows", [i for i in range(len(suite)) if i not in whole], False),
             (f"{name}_keys", sorted(whole), True)] if frame.height > GX_CHUNK_ROWS else \
        [(name, list(range(len(suite))), False)]  # one chunk: one run of every rule
    merged: dict[int, RuleResult] = {}
    for part, indices, by_key in parts:
        if not indices:
            continue
        rules = [suite[i] for i in indices]
        gx_suite = context.suites.add(gx.ExpectationSuite(name=f"{part}_suite"))
        for expectation in rules:
            gx_suite.add_expectation(expectation.copy(update={"id": None}))  # (run again)
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{part}_validation", data=batch_def, suite=gx_suite))
        columns = list(dict.fromkeys(c for e in rules for c in _columns(e)))
        for pdf in _chunks(frame, columns, by_key):
            run = validation.run(batch_parameters={"dataframe": pdf},
                                 result_format={"result_format": "COMPLETE"})
            del pdf
            for key, r in zip(indices, run.results, strict=True):
                got = merged.setdefault(key, RuleResult(r.expectation_config, True,
                                                        {"unexpected_index_list": []}))
                got.success = got.success and bool(r.success)
                got.result["unexpected_index_list"] += list(
                    r.result.get("unexpected_index_list") or [])
    del context, batch_def
    if frame.height >= GX_CHUNK_ROWS // 4:  # (a small run leaves little behind)
        gc.collect()  # GX's objects hold each chunk's pandas copy in reference cycles
    return [merged[i] for i in sorted(merged)]


def _plain(value: Any) -> Any:
    """GX hands back numpy scalars and timestamps; metadata wants plain JSON-able values."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def _with_helpers(frame: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """The event time's offset in days from the row's partition day (what the event-time
    rules check)."""
    et = contract.roles.event_time
    if et is None:
        return frame
    event_day = pl.col(et.output).cast(pl.Date) if frame.schema[et.output] != pl.Date \
        else pl.col(et.output)
    return frame.with_columns((event_day - pl.col(DAY)).dt.total_days().alias(EVENT_OFFSET))


def _repeats(values: pl.Series) -> pl.Series:
    """Whether each value occurs more than once, found by sorting a copy: ``is_duplicated``
    builds a table of every row's position (~170 MB for 2M hashes, ~40 MB this way)."""
    ordered = values.sort()
    twice = ordered.filter(ordered == ordered.shift(1)).unique()
    return values.is_in(twice.implode())


def _day_row(day: pl.Expr, row: pl.Expr) -> pl.Expr:
    """A row's (day, row number) as one integer: a set of bad rows is then looked up, where
    an anti-join on both columns hashed every row of the days (~120 MB at 2M rows)."""
    return (day.cast(pl.Int64) * (1 << 32)) + row.cast(pl.Int64)


def _day_summary(frame: pl.DataFrame, bad: pl.DataFrame, contract: Contract,
                 min_rows: dict[dt.date, int], max_rows: dict[dt.date, int | None]
                 ) -> pl.DataFrame:
    """One row per day: rows landed, the row-count margin over the day's minimum, and each
    batch-rule column's mean over the rows that passed the row rules (and are finite): a
    single absurd value is quarantined by its row rule, not allowed to move the day's mean."""
    days = pl.DataFrame({DAY: list(min_rows), MIN_ROWS: list(min_rows.values()),
                         MAX_ROWS: [max_rows.get(d) for d in min_rows]},
                        schema={DAY: pl.Date, MIN_ROWS: pl.Int64, MAX_ROWS: pl.Int64})
    means = [pl.col(c).filter(pl.col(c).is_finite()).mean().alias(_mean_column(c))
             for c in contract.batch.mean_between]
    accepted = frame.select(DAY, ROW_NUMBER, *contract.batch.mean_between).filter(
        ~_day_row(pl.col(DAY), pl.col(ROW_NUMBER)).is_in(
            bad.select(_day_row(pl.col(DAY), pl.col(ROW_NUMBER)).implode()).to_series()))
    # (narrowed first: an aggregation over the whole frame copied every column, ~1.7x the file)
    counts = frame.select(DAY).group_by(DAY).agg(pl.len().cast(pl.Int64).alias(ROWS))
    summary = days.join(counts, on=DAY, how="left").with_columns(pl.col(ROWS).fill_null(0))
    if means:
        summary = summary.join(accepted.group_by(DAY).agg(means), on=DAY, how="left")
    return summary.with_columns((pl.col(ROWS) - pl.col(MIN_ROWS)).alias(ROW_MARGIN),
                                (pl.col(ROWS) - pl.col(MAX_ROWS)).alias(ROW_EXCESS)).sort(DAY)


class RowChecks:
    """Validation fed a block of typed rows at a time (a day's blocks, or many small days'),
    so no day is held whole: the rules a row breaks alone run on chunks of about
    ``GX_CHUNK_ROWS`` rows as blocks arrive; the rules that need every row of a day (the
    key's uniqueness, the batch rules) run in ``finish`` on what each block leaves behind,
    a narrow frame of each row's day, number, key and batch-rule columns (~0.2x the typed
    rows, where the typed day was ~2.4x the file)."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.rules = _row_rules(contract)
        self.kept = list(dict.fromkeys([DAY, ROW_NUMBER, *contract.key,
                                        *contract.batch.mean_between]))
        self.read = list(dict.fromkeys(c for rule in self.rules
                                       for c in [*_columns(rule), *_shown(rule)]))
        self.narrow: list[pl.DataFrame] = []
        self.flagged: list[pl.DataFrame] = []  # (day, row, reason)
        self.hits: list[list[pl.DataFrame]] = [[] for _ in self.rules]  # (day, row) a rule
        self.samples: list[dict[dt.date, list[Any]]] = [{} for _ in self.rules]
        self.pending: list[pl.DataFrame] = []  # rows the row rules have not seen yet

    def add(self, block: pl.DataFrame) -> None:
        """Typed rows (``_day``, ``_row``, ``_parse_errors`` and the contract's columns; see
        ``lakeloop.ingest.landed.TypedBlocks``): checked once enough rows are pending."""
        block = _with_helpers(block, self.contract)
        # unparseable values first: "amount: not a float64" explains the "amount is null"
        self.flagged.append(block.select(DAY, ROW_NUMBER, pl.col(PARSE_ERRORS).alias(REASON))
                            .explode(REASON).drop_nulls(REASON))
        self.narrow.append(block.select(self.kept))
        self.pending.append(block.select(DAY, ROW_NUMBER, *self.read))
        if sum(p.height for p in self.pending) >= GX_CHUNK_ROWS:
            self._check_pending()

    def forget(self, day: dt.date) -> None:
        """Drop a day refused before validation (a column mostly unparseable, an unreadable
        file found after its first blocks were added)."""
        def without(frames: list[pl.DataFrame]) -> list[pl.DataFrame]:
            return [f.filter(pl.col(DAY) != day) for f in frames]

        self.narrow, self.flagged, self.pending = (
            without(self.narrow), without(self.flagged), without(self.pending))
        self.hits = [without(h) for h in self.hits]
        for samples in self.samples:
            samples.pop(day, None)

    def _check_pending(self) -> None:
        if not self.pending:
            return
        frame = pl.concat(self.pending, rechunk=False) if len(self.pending) > 1 \
            else self.pending[0]
        self.pending = []
        if not frame.height:
            return
        for i, r in enumerate(_run_gx(frame, self.contract.name, self.rules)):
            hit = _hits(frame, r)
            if not hit.height:
                continue
            self.hits[i].append(hit)
            self.flagged.append(_reasons(hit, (r.expectation_config.meta or {})["reason"]))
            _sample(self.samples[i], frame, hit, self.rules[i])

    def finish(self, min_rows: dict[dt.date, int],
               max_rows: dict[dt.date, int | None] | None = None
               ) -> dict[dt.date, ValidationResult]:
        """Every day's result: the row rules' (checked as blocks came), the key's, and the
        batch rules' on the per-day summary of the rows that passed. ``min_rows``: each
        day's row-count floor (every day to judge); ``max_rows``: its ceiling, if any."""
        self._check_pending()
        narrow = pl.concat(self.narrow, rechunk=False) if self.narrow else \
            pl.DataFrame(schema={DAY: pl.Date, ROW_NUMBER: pl.UInt32})
        self.narrow = []
        contract = self.contract
        key = [*contract.key, DAY]
        # The key rule is judged by GX on the rows whose key hash repeats within the day:
        # every copy of a key shares its hash, so they hold every duplicate, and they are a
        # few rows where the day is millions (GX's pandas copy of every key was most of an
        # ingest's working memory). Hashing the keys once costs far less than a distinct.
        repeated = narrow.select(*dict.fromkeys([*key, ROW_NUMBER])).filter(_repeats(
            narrow.select(pl.struct(key).hash(seed=0)).to_series())) if narrow.height else narrow
        key_rule = _key_rule(contract, max(narrow[DAY].n_unique(), 1) if narrow.height else 1)
        [key_result] = _run_gx(repeated, f"{contract.name}_key", [key_rule]) \
            if narrow.height else [None]
        key_hits = _hits(repeated, key_result)
        key_samples: dict[dt.date, list[Any]] = {}
        _sample(key_samples, repeated, key_hits, key_rule)
        # Duplicates: GX flags every copy; keep the first occurrence, quarantine the others.
        dup = repeated.filter(~pl.struct(key).is_first_distinct()).select(DAY, ROW_NUMBER) \
            if repeated.height else narrow.select(DAY, ROW_NUMBER).head(0)
        flagged = self.flagged
        if dup.height:
            flagged.append(_reasons(dup, f"duplicate {', '.join(contract.key)}"))
        bad = (pl.concat(flagged).unique(maintain_order=True)
               .group_by(DAY, ROW_NUMBER, maintain_order=True).agg(pl.col(REASON).str.join("; "))
               .sort(DAY, ROW_NUMBER)) if flagged else \
            pl.DataFrame(schema={DAY: pl.Date, ROW_NUMBER: pl.UInt32, REASON: pl.String})
        self.flagged = []
        summary = _day_summary(narrow, bad, contract, min_rows, max_rows or {})
        del narrow
        batch_result = _run_gx(summary, f"{contract.name}_days", _batch_expectations(contract))

        rules = [*self.rules, key_rule]
        hits = [pl.concat(h) if h else key_hits.head(0) for h in self.hits] + [key_hits]
        samples = [*self.samples, key_samples]
        results = {}
        heights = dict(zip(summary[DAY], summary[ROWS], strict=True))
        for i, day in enumerate(summary[DAY].to_list()):
            height = heights.get(day, 0)
            outcomes = [_row_outcome(rule, hit.filter(pl.col(DAY) == day),
                                     sample.get(day, []), height, day)
                        for rule, hit, sample in zip(rules, hits, samples, strict=True)]
            outcomes += [_batch_outcome(r, summary.row(i, named=True), i)
                         for r in batch_result]
            day_bad = bad.filter(pl.col(DAY) == day).drop(DAY)
            problems = [f"{o.reason} (observed {o.observed})" for o in outcomes
                        if o.level == "batch" and not o.success]
            limit = contract.batch.max_bad_row_fraction
            if height and day_bad.height / height > limit:
                problems.append(f"{day_bad.height} of {height} rows broke row rules "
                                f"({day_bad.height / height:.1%} > {limit:.0%}): "
                                "a batch problem")
            results[day] = ValidationResult(height, outcomes, day_bad, problems)
        return results


def validate_days(frame: pl.DataFrame, contract: Contract, min_rows: dict[dt.date, int],
                  max_rows: dict[dt.date, int | None] | None = None
                  ) -> dict[dt.date, ValidationResult]:
    """Validate typed rows of one or many days held as one frame (``_day``: each row's
    partition day; see ``lakeloop.ingest.landed.coerce``): ``RowChecks`` fed the frame at once."""
    checks = RowChecks(contract)
    checks.add(frame)
    return checks.finish(min_rows, max_rows)


def _shown(rule: Any) -> list[str]:  # noqa: ANN401 - a GX expectation
    """The columns whose values a rule's sample shows: the contract's column it is about
    (the event time for an offset rule), without the day."""
    meta = rule.meta or {}
    column = meta.get("column") or getattr(rule, "column", None)
    return [column] if column else [c for c in getattr(rule, "column_list", None) or []
                                    if c != DAY]


def _hits(frame: pl.DataFrame, result: RuleResult | None) -> pl.DataFrame:
    """The (day, row) of the rows of ``frame`` a rule's result flags (GX gives their
    positions in the frame); none when the rule passed or did not run."""
    idx = [] if result is None or result.success else \
        result.result.get("unexpected_index_list") or []
    return frame.select(DAY, ROW_NUMBER).with_row_index("_i").filter(
        pl.col("_i").is_in(idx)).drop("_i")


def _sample(samples: dict[dt.date, list[Any]], frame: pl.DataFrame, hit: pl.DataFrame,
            rule: Any) -> None:  # noqa: ANN401 - a GX expectation
    """Add the values ``rule`` shows of the offending rows (``hit``: day, row) of ``frame``
    to each day's sample, up to ``SAMPLE_SIZE`` a day, in row order."""
    if not hit.height:
        return
    shown = _shown(rule)
    values = frame.select(DAY, ROW_NUMBER, *shown).join(hit, on=[DAY, ROW_NUMBER], how="semi")
    for (day,), rows in values.sort(DAY, ROW_NUMBER).group_by(DAY, maintain_order=True):
        got = samples.setdefault(day, [])
        for v in rows.select(shown).head(SAMPLE_SIZE - len(got)).iter_rows():
            got.append(_plain(v[0] if len(v) == 1 else ", ".join(map(str, v))))


def _reasons(hit: pl.DataFrame, reason: str) -> pl.DataFrame:
    """Offending rows with the rule's reason, its ``{day}`` filled in with each row's day."""
    text = pl.lit(reason) if "{day}" not in reason else pl.format(
        reason.replace("{day}", "{}"), pl.col(DAY).cast(pl.String))
    return hit.select(DAY, ROW_NUMBER, text.cast(pl.String).alias(REASON))


def _row_outcome(rule: Any, hit: pl.DataFrame, sample: list[Any], height: int,  # noqa: ANN401
                 day: dt.date) -> ExpectationOutcome:
    """A row rule's outcome on one day (``height`` rows): its offending rows that day
    (``hit``), with a sample of their values."""
    meta = rule.meta or {}
    column = ",".join(_shown(rule)) or None
    return ExpectationOutcome(
        expectation=rule.expectation_type,
        column=column, level="row",
        reason=meta["reason"].replace("{day}", day.isoformat()), success=not hit.height,
        unexpected_count=hit.height,
        unexpected_percent=round(100 * hit.height / max(height, 1), 4),
        sample=sample)


def _batch_outcome(r: Any, day: dict[str, Any], i: int) -> ExpectationOutcome:
    """A batch rule's outcome on one day: the summary row of that day, with the value the
    rule judged."""
    cfg, meta = r.expectation_config, r.expectation_config.meta or {}
    failed = not r.success and i in (r.result.get("unexpected_index_list") or [])
    return ExpectationOutcome(
        expectation=cfg.type, column=meta.get("column"), level="batch",
        reason=meta["reason"].replace("{min_rows}", str(day[MIN_ROWS]))
        .replace("{max_rows}", str(day[MAX_ROWS])), success=not failed,
        observed=_plain(day[meta["observed"]]))


def validate(frame: pl.DataFrame, contract: Contract, day: dt.date, min_rows: int,
             max_rows: int | None = None) -> ValidationResult:
    """One day's typed frame (see ``landed.coerce``): ``validate_days`` for a day."""
    return validate_days(frame.with_columns(pl.lit(day).alias(DAY)), contract,
                         {day: min_rows}, {day: max_rows})[day]
