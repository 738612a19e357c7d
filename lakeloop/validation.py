"""Great Expectations 1.x suites built from dataset contracts, and their results as plain data.

Two kinds of expectation, marked in each expectation's ``meta``:
- ``row``: a rule a single row can break (null key, negative amount, unknown currency, future
  timestamp, duplicate id). Offending rows are quarantined with the reason; the batch passes
  unless too many rows are bad (``batch.max_bad_row_fraction``).
- ``batch``: a rule about the day as a whole (row-count collapse, mean amount out of range).
  Any failure fails the blocking check.

GX validates pandas (it rejects Polars frames); the suite runs in an ephemeral context, no
project folder. The suite is rebuilt per day because its bounds depend on the day.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lakeloop.contracts import Contract
from lakeloop.ingest import PARSE_ERRORS, ROW_NUMBER, SOURCE_FILE

REASON = "reason"
SAMPLE_SIZE = 5


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


def _expectations(contract: Contract, day: dt.date, min_rows: int) -> list[Any]:
    """The suite for ``contract`` on ``day``, readable as a list of GX expectations."""
    import great_expectations as gx

    ex = gx.expectations
    start = dt.datetime.combine(day, dt.time())
    end = start + dt.timedelta(days=1) - dt.timedelta(microseconds=1)

    def row(reason: str) -> dict:
        return {"meta": {"level": "row", "reason": reason}}

    def batch(reason: str) -> dict:
        return {"meta": {"level": "batch", "reason": reason}}

    suite: list[Any] = []
    for name, spec in contract.columns.items():
        if not spec.nullable:
            suite.append(ex.ExpectColumnValuesToNotBeNull(column=name, **row(f"{name} is null")))
        if spec.allowed is not None:
            suite.append(ex.ExpectColumnValuesToBeInSet(
                column=name, value_set=spec.allowed, **row(f"{name} not in allowed values")))
        if spec.min is not None or spec.max is not None:
            suite.append(ex.ExpectColumnValuesToBeBetween(
                column=name, min_value=spec.min, max_value=spec.max,
                **row(f"{name} outside [{spec.min}, {spec.max}]")))
    suite += _event_time_rules(contract, day, start, end, row)
    if len(contract.key) == 1:
        suite.append(ex.ExpectColumnValuesToBeUnique(
            column=contract.key[0], **row(f"duplicate {contract.key[0]}")))
    else:
        suite.append(ex.ExpectCompoundColumnsToBeUnique(
            column_list=contract.key, **row(f"duplicate key ({', '.join(contract.key)})")))
    suite.append(ex.ExpectTableRowCountToBeBetween(
        min_value=min_rows, **batch(f"row count below {min_rows} (collapse?)")))
    for name, (low, high) in contract.batch.mean_between.items():
        suite.append(ex.ExpectColumnMeanToBeBetween(
            column=name, min_value=low, max_value=high,
            **batch(f"mean {name} outside [{low}, {high}]")))
    return suite


def _event_time_rules(contract: Contract, day: dt.date, start: dt.datetime, end: dt.datetime,
                      row: Any) -> list[Any]:
    """The event time (as declared, or derived from an epoch clock / date + time) must fall
    on the partition's day: a row of another day is quarantined, not silently misfiled."""
    import great_expectations as gx

    et = contract.roles.event_time
    if et is None:
        return []
    name = et.output
    shown = name if not et.derived else f"{name} (from {', '.join(et.sources)})"
    is_date = not et.derived and contract.columns[name].dtype == "date"
    ex = gx.expectations
    if is_date:
        return [ex.ExpectColumnValuesToBeBetween(
            column=name, min_value=start, max_value=end, **row(f"{shown} is not {day}"))]
    return [
        ex.ExpectColumnValuesToBeBetween(
            column=name, max_value=end, **row(f"{shown} in the future (after {day})")),
        ex.ExpectColumnValuesToBeBetween(
            column=name, min_value=start, **row(f"{shown} before partition day {day}")),
        *([ex.ExpectColumnValuesToNotBeNull(column=name, **row(f"{shown} is missing"))]
          if et.derived else []),
    ]


def _run_gx(frame: pl.DataFrame, contract: Contract, suite: list[Any]) -> Any:
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (context.data_sources.add_pandas("landing")
                 .add_dataframe_asset(contract.name)
                 .add_batch_definition_whole_dataframe("day"))
    gx_suite = context.suites.add(gx.ExpectationSuite(name=f"{contract.name}_suite"))
    for expectation in suite:
        gx_suite.add_expectation(expectation)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{contract.name}_validation", data=batch_def, suite=gx_suite)
    )
    pdf = frame.drop(PARSE_ERRORS, ROW_NUMBER, SOURCE_FILE).to_pandas()
    return validation.run(batch_parameters={"dataframe": pdf},
                          result_format={"result_format": "COMPLETE"})


def _plain(value: Any) -> Any:
    """GX hands back numpy scalars and timestamps; metadata wants plain JSON-able values."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def validate(frame: pl.DataFrame, contract: Contract, day: dt.date, min_rows: int
             ) -> ValidationResult:
    """Run the contract's suite on a typed day frame (see ``lakeloop.ingest.coerce``)."""
    result = _run_gx(frame, contract, _expectations(contract, day, min_rows))
    outcomes: list[ExpectationOutcome] = []
    # unparseable values first: "amount: not a float64" explains the "amount is null" after it
    parse = frame.select(ROW_NUMBER, pl.col(PARSE_ERRORS).alias(REASON)).explode(REASON)
    flagged: list[pl.DataFrame] = [parse.drop_nulls(REASON)]
    rows = frame[ROW_NUMBER]
    for r in result.results:
        cfg, res = r.expectation_config, r.result
        meta = cfg.meta or {}
        column = cfg.kwargs.get("column") or ",".join(cfg.kwargs.get("column_list") or []) or None
        outcomes.append(ExpectationOutcome(
            expectation=cfg.type, column=column, level=meta["level"], reason=meta["reason"],
            success=bool(r.success),
            unexpected_count=_plain(res.get("unexpected_count")),
            unexpected_percent=_plain(res.get("unexpected_percent")),
            observed=_plain(res.get("observed_value")),
            sample=[_plain(v) for v in (res.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]],
        ))
        if meta["level"] == "row" and not r.success and "unique" not in cfg.type.lower():
            idx = res.get("unexpected_index_list") or []
            flagged.append(pl.DataFrame({ROW_NUMBER: rows.gather(idx), REASON: meta["reason"]},
                                        schema={ROW_NUMBER: rows.dtype, REASON: pl.String}))
    # Duplicates: GX flags every copy; keep the first occurrence, quarantine the others.
    dup = frame.filter(~pl.struct(contract.key).is_first_distinct()).select(ROW_NUMBER)
    if dup.height:
        flagged.append(dup.with_columns(pl.lit(f"duplicate {', '.join(contract.key)}")
                                        .alias(REASON)))

    bad_rows = (pl.concat(flagged).unique(maintain_order=True)
                .group_by(ROW_NUMBER, maintain_order=True)
                .agg(pl.col(REASON).str.join("; "))
                .sort(ROW_NUMBER))
    problems = [f"{o.reason} (observed {o.observed})" for o in outcomes
                if o.level == "batch" and not o.success]
    limit = contract.batch.max_bad_row_fraction
    if frame.height and bad_rows.height / frame.height > limit:
        problems.append(f"{bad_rows.height} of {frame.height} rows broke row rules "
                        f"({bad_rows.height / frame.height:.1%} > {limit:.0%}): a batch problem")
    return ValidationResult(frame.height, outcomes, bad_rows, problems)
