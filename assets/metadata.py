"""Metadata helpers shared by assets, so every asset shows the same first things."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import polars as pl

from lakeloop import names
from lakeloop.registry.promotion import Decision

PREVIEW_ROWS = 5
DIGITS = 4  # floats in metadata: what a reader compares, not float noise


def rounded(metadata: dict[str, object], digits: int = DIGITS) -> dict[str, object]:
    """Plain floats rounded to ``digits`` decimals (other values, ``MetadataValue``s
    included, as they are)."""
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in metadata.items()}


def preview(frame: pl.DataFrame, rows: int = PREVIEW_ROWS) -> dg.MarkdownMetadataValue:
    """A markdown table of the first rows (built from Polars rows)."""
    head = frame.head(rows).with_columns(pl.col(pl.Float64, pl.Float32).round(3))
    cols = head.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |"
              for row in head.iter_rows()]
    return dg.MetadataValue.md("\n".join(lines))


def not_materialized(context: dg.AssetExecutionContext, reason: str, flag: str
                     ) -> dg.AssetObservation:
    """A partition with nothing to compute (no champion yet, nothing to measure) is observed
    with its reason, never materialized: it stays grey in the UI instead of green over nothing.
    ``flag`` names what did not happen (``scored``, ``measured``): False in the metadata."""
    context.log.warning(f"{context.asset_key.to_user_string()} {context.partition_key}: "
                        f"{reason}")
    return dg.AssetObservation(asset_key=context.asset_key, partition=context.partition_key,
                               metadata={flag: False, "reason": reason})


def column_schema(frame: pl.DataFrame, docs: dict[str, str] | None = None) -> dg.TableSchema:
    """The table's columns and types, each described from the contract (``docs``:
    ``Contract.column_docs``) where the contract names it."""
    docs = docs or {}
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype), description=docs.get(name))
                                   for name, dtype in frame.schema.items()])


def table_metadata(uri: str, version: int, frame: pl.DataFrame,
                   docs: dict[str, str] | None = None, rows: int | None = None
                   ) -> dict[str, object]:
    """Row count, where the table lives, the Delta version written, schema and a preview.
    ``rows``: the rows written, where ``frame`` is only their first rows (rows streamed
    from staged files are never one frame)."""
    return {
        "dagster/row_count": frame.height if rows is None else rows,
        "dagster/uri": uri,
        "dagster/column_schema": column_schema(frame, docs),
        "delta_version": version,
        "preview": preview(frame),
    }


def metrics_table(keys: list[str], rows: dict[str, dict[str, float] | None]
                  ) -> dg.MarkdownMetadataValue:
    """Models side by side on the same test data (rows that are None are left out)."""
    lines = ["| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    lines += [f"| {name} | " + " | ".join(f"{m[k]:.4f}" for k in keys) + " |"
              for name, m in rows.items() if m is not None]
    return dg.MetadataValue.md("\n".join(lines))


INTERRUPTED = ("interrupted (SIGTERM, a cancel or a shutdown): not retried; launch the run "
               "again when it should run")


def final_on_interrupt(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An asset body whose interruption ends its step for good. Dagster's step boundary turns
    an interrupt into a retry when the job has a retry policy (``user_code_error_boundary``:
    "respect retry policy when interrupts occur"), so a 33-minute training told to stop
    started again from scratch. Raised as a refusal, the interrupt fails the step at once; the
    run is marked failed and alerted like any other."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def steps(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError) as exc:
                raise refused(INTERRUPTED) from exc
        steps.final_on_interrupt = True  # type: ignore[attr-defined]
        return steps

    @functools.wraps(fn)
    def step(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError) as exc:
            raise refused(INTERRUPTED) from exc
    step.final_on_interrupt = True  # type: ignore[attr-defined]
    return step


def step_asset(**kwargs: Any) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """``dg.asset`` for a body whose interruption ends its step for good
    (``final_on_interrupt``): every asset of lakeloop is declared through it, so none
    can forget it."""
    def declare(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        with warnings.catch_warnings():  # backfill_policy is beta, and what a backfill needs
            warnings.filterwarnings("ignore", category=dg.BetaWarning,
                                    message=".*backfill_policy")
            return dg.asset(**kwargs)(final_on_interrupt(fn))
    return declare


def refused(description: str, metadata: dict[str, object] | None = None) -> dg.Failure:
    """A step failure that retrying cannot fix (bad data, a missing upstream, a wrong config):
    it fails at once, where the jobs' retry policy would run the step again."""
    return dg.Failure(description=description, metadata=metadata, allow_retries=False)


def promotion_check(model_asset: str) -> dg.AssetCheckSpec:
    """The champion/challenger gate, visible on the model asset: every retrain records
    whether its challenger was promoted and why, as the check's result."""
    return dg.AssetCheckSpec(
        names.PROMOTION_CHECK, asset=model_asset,
        description="Passes when the challenger was promoted (it beat the champion beyond "
        "the noise, or it is the first model); warns with the reason when the champion was "
        "kept - a valid outcome of a retrain, not a failure of it.")


def promotion_result(decision: Decision, version: str, champion_before: str | None
                     ) -> dg.AssetCheckResult:
    """The check's result from the retrain's promotion decision."""
    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.4f}"

    return dg.AssetCheckResult(
        check_name=names.PROMOTION_CHECK, passed=bool(decision.promote),
        severity=dg.AssetCheckSeverity.WARN,
        description=("promoted: " if decision.promote else "kept the champion: ")
        + decision.reason[:300],
        metadata={"challenger": f"{version} ({decision.family or '-'})",
                  "champion_before": champion_before or "none",
                  "metric": decision.metric,
                  "challenger_value": fmt(decision.challenger),
                  "champion_value": fmt(decision.champion),
                  "baseline_value": fmt(decision.baseline)})
