"""Bronze ingest assets: landing files -> validated Delta partition, with a blocking GX check.

A batch that fails its suite (or is structurally broken) records the failed check with its
reasons and fails the step: nothing is written and downstream assets of that day do not run.
"""


import datetime as dt
from collections.abc import Iterator

import dagster as dg
import polars as pl

from assets.metadata import PREVIEW_ROWS, preview, refused, step_asset, table_metadata
from assets.partitions import backfill_policy, partition_days
from lakeloop import names
from lakeloop.contracts import CalendarSpec, Contract
from lakeloop.contracts.domains import Domain
from lakeloop.ingest.bronze import (
    DayBatch,
    DaysRead,
    bronze_table,
    process_days,
    quarantine_table,
    unpaired_ingests,
    write_days,
)
from lakeloop.names import ingest_asset
from lakeloop.storage import Lake
from resources import ContractsResource, LakeResource, LandingResource


def suite_check_name(dataset: str) -> str:
    return f"{dataset}_suite"


def _check_metadata(batch: DayBatch) -> dict[str, object]:
    meta: dict[str, object] = {
        "rows_landed": batch.landed.rows,
        "files": dg.MetadataValue.json(batch.landed.files),
        "extra_columns": dg.MetadataValue.json(batch.landed.extra_columns),
        "kept_columns": batch.landed_kept_summary(),
        "min_rows": batch.min_rows,
        "max_rows": batch.max_rows if batch.max_rows is not None else "none yet",
    }
    if batch.problems:
        meta["problems"] = dg.MetadataValue.md("\n".join(f"- {p}" for p in batch.problems))
    result = batch.validation
    if result is not None:
        failed = result.failed_expectations
        meta |= {
            "expectations_evaluated": len(result.outcomes),
            "expectations_failed": len(failed),
            "rows_quarantined": result.bad_rows.height,
            "quarantined_percent": round(100 * result.bad_rows.height / max(result.rows, 1), 3),
            "expectations": dg.MetadataValue.md(result.summary_markdown()),
            "unexpected": dg.MetadataValue.json({
                f"{o.expectation}:{o.column}": {
                    "count": o.unexpected_count, "percent": o.unexpected_percent,
                    "sample": o.sample, "observed": o.observed,
                } for o in failed
            }),
        }
    return meta


def _days_metadata(read: DaysRead) -> dict[str, object]:
    """The check's metadata for a range of days: a line per day (what a single day shows
    in detail: rows landed, accepted, quarantined, or why it was refused or closed)."""
    lines = ["| day | landed | accepted | quarantined | status |", "|---|---|---|---|---|"]
    rows = {**{d: f"| {d} | | | | closed: {r} |" for d, r in read.closed.items()},
            **{d: f"| {d} | | | | **missing**: no landing files |" for d in read.missing}}
    for day, b in read.batches.items():
        landed = b.landed.rows
        status = "ok" if b.passed else "**refused**: " + "; ".join(b.problems)
        accepted = "" if b.accepted is None else b.accepted
        rows[day] = f"| {day} | {landed} | {accepted} | {b.quarantined} | {status} |"
    meta: dict[str, object] = {
        "days": len(rows), "days_open": len(read.batches), "days_closed": len(read.closed),
        "days_refused": len(read.refused),
        "rows_landed": sum(b.landed.rows for b in read.batches.values()),
        "rows_quarantined": sum(b.quarantined for b in read.batches.values()),
        "by_day": dg.MetadataValue.md("\n".join([*lines, *(rows[d] for d in sorted(rows))])),
    }
    if read.refused:
        meta["problems"] = dg.MetadataValue.md("\n".join(f"- {p}" for p in read.refused))
    return meta


def build_ingest_asset(contract: Contract, partitions: dg.PartitionsDefinition,
                       domain_calendar: CalendarSpec | None = None,
                       days_per_run: int | None = None) -> dg.AssetsDefinition:
    dataset = contract.name
    name = ingest_asset(dataset)
    check = suite_check_name(dataset)
    docs = contract.column_docs()

    @step_asset(
        name=name,
        partitions_def=partitions,
        backfill_policy=backfill_policy(days_per_run),  # a backfill reads and commits in one pass
        group_name=names.group(contract.domain, "ingest"),
        kinds={"delta", "polars"},
        output_required=False,  # a closed day materializes nothing, and that is no failure
        description=f"Bronze `{bronze_table(dataset)}`: one day of `{dataset}` landing files, "
        f"typed by its contract; rows breaking row rules go to `{quarantine_table(dataset)}`. "
        "A day the contract's calendar closes is skipped with its reason.",
        # shown before the first materialization: the contract's columns, typed and described
        metadata={"dagster/column_schema": dg.TableSchema(columns=[
            dg.TableColumn(c, spec.dtype, description=docs[c])
            for c, spec in contract.columns.items()])},
        check_specs=[dg.AssetCheckSpec(
            check, asset=name, blocking=True,
            description=f"Great Expectations suite for {dataset} (row and batch rules).",
        )],
    )
    def _ingest(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        landing: LandingResource,
        contracts: ContractsResource,
    ) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult | dg.AssetObservation]:
        days, storage = partition_days(context), lake.lake()
        read = process_days(landing.store(), storage, contracts.get(dataset), days,
                            domain_calendar)
        try:  # the staged rows go once written, or refused
            yield from _checked_and_written(context, read, storage, days)
        finally:
            read.discard()

    def _checked_and_written(context: dg.AssetExecutionContext, read: DaysRead,
                             storage: Lake, days: list[dt.date]
                             ) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult
                                           | dg.AssetObservation]:
        for day, reason in read.closed.items():  # each closed day says why, in the UI
            context.log.info(f"{dataset} {day} skipped: {reason}")
            yield dg.AssetObservation(asset_key=name, partition=day.isoformat(),
                                      metadata={"closed": True, "reason": reason})
        single = read.batches[days[0]] if len(days) == 1 and read.batches else None
        meta = _check_metadata(single) if single else _days_metadata(read)
        if read.refused:
            message = "; ".join(read.refused)
            context.log.error(message)
            yield dg.AssetCheckResult(check_name=check, passed=False, metadata=meta,
                                      severity=dg.AssetCheckSeverity.ERROR,
                                      description=message[:2000])
            raise refused(message[:4000],
                             metadata={"problems": meta.get("problems", message)})
        if not read.batches:  # every day closed: nothing materialized, and that is no failure
            reasons = "; ".join(r if len(days) == 1 else f"{d}: {r}"
                                for d, r in read.closed.items())
            yield dg.AssetCheckResult(check_name=check, passed=True,
                                      metadata={"closed": True, "reason": reasons[:2000]},
                                      description=f"closed day, nothing to check: {reasons}"
                                      [:2000])
            return
        bronze_version, quarantine_version = write_days(storage, contract, read, days[0],
                                                        days[-1])
        unpaired = [f"{a}..{b}" for a, b in unpaired_ingests(storage, contract)]
        if unpaired:  # an earlier run died between its two commits: those days need a re-run
            context.log.warning(f"{dataset}: quarantine holds rows of {unpaired} that bronze "
                                f"never committed (a run stopped between the two commits): "
                                f"re-run {name} for those days")
        quarantine = pl.concat([b.quarantine for b in read.batches.values()
                                if b.quarantine is not None], how="diagonal_relaxed")
        summary = single.message if single else \
            f"{dataset} {days[0]}..{days[-1]}: {read.accepted} rows accepted, " \
            f"{quarantine.height} quarantined, {len(read.batches)} open days"
        context.log.info(summary)
        assert bronze_version is not None
        yield dg.MaterializeResult(
            metadata={
                **table_metadata(storage.uri(bronze_table(dataset)), bronze_version,
                                 read.bronze_preview(PREVIEW_ROWS), contract.column_docs(),
                                 rows=read.accepted),
                "rows_quarantined": quarantine.height,
                "unpaired_ingests": dg.MetadataValue.json(unpaired),
                "quarantine_delta_version": quarantine_version,
                "quarantine_preview": preview(quarantine),
                "extra_columns": dg.MetadataValue.json(sorted(
                    {c for b in read.batches.values() for c in b.landed.extra_columns})),
                "kept_columns": single.landed_kept_summary() if single else
                ", ".join(sorted({k for b in read.batches.values() for k in b.inferred}))
                or "none",
            },
            check_results=[dg.AssetCheckResult(check_name=check, passed=True, metadata=meta,
                                               description=summary)],
        )

    return _ingest


def ingest_assets(domain: Domain, partitions: dg.PartitionsDefinition,
                  days_per_run: int | None = None) -> list[dg.AssetsDefinition]:
    return [build_ingest_asset(contract, partitions, domain.calendar, days_per_run)
            for contract in domain.datasets]
