"""Bronze ingest assets: landing files -> validated Delta partition, with a blocking GX check.

A batch that fails its suite (or is structurally broken) records the failed check with its
reasons and fails the step: nothing is written and downstream assets of that day do not run.
"""


from collections.abc import Iterator

import dagster as dg

from assets.metadata import preview, table_metadata
from assets.partitions import partition_day
from lakeloop.bronze import (
    ClosedDay,
    DayBatch,
    bronze_table,
    process_day,
    quarantine_table,
    write_day,
)
from lakeloop.contracts import CalendarSpec, Contract
from lakeloop.domains import Domain, ingest_asset
from lakeloop.ingest import MissingLandingData
from resources import ContractsResource, LakeResource, LandingResource


def suite_check_name(dataset: str) -> str:
    return f"{dataset}_suite"


def _check_metadata(batch: DayBatch) -> dict[str, object]:
    meta: dict[str, object] = {
        "rows_landed": 0 if batch.landed.raw is None else batch.landed.raw.height,
        "files": dg.MetadataValue.json(batch.landed.files),
        "extra_columns": dg.MetadataValue.json(batch.landed.extra_columns),
        "kept_columns": batch.landed_kept_summary(),
        "min_rows": batch.min_rows,
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


def build_ingest_asset(contract: Contract, partitions: dg.PartitionsDefinition,
                       domain_calendar: CalendarSpec | None = None) -> dg.AssetsDefinition:
    dataset = contract.name
    name = ingest_asset(dataset)
    check = suite_check_name(dataset)
    docs = contract.column_docs()

    @dg.asset(
        name=name,
        partitions_def=partitions,
        group_name=f"{contract.domain}_ingest",
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
        day = partition_day(context)
        storage = lake.lake()
        try:
            batch = process_day(landing.store(), storage, contracts.get(dataset), day,
                                domain_calendar)
        except ClosedDay as exc:
            # no materialization (downstream steps of the day are skipped, the run succeeds);
            # the observation and the check say why, in the UI
            context.log.info(f"{dataset} {day} skipped: {exc.reason}")
            closed = {"closed": True, "reason": exc.reason}
            yield dg.AssetObservation(asset_key=name, partition=context.partition_key,
                                      metadata=closed)
            yield dg.AssetCheckResult(check_name=check, passed=True, metadata=closed,
                                      description=f"closed day, nothing to check: {exc.reason}")
            return
        except MissingLandingData as exc:
            raise dg.Failure(description=str(exc)) from exc
        meta = _check_metadata(batch)
        if not batch.passed:
            context.log.error(batch.message)
            yield dg.AssetCheckResult(check_name=check, passed=False, metadata=meta,
                                      severity=dg.AssetCheckSeverity.ERROR,
                                      description=batch.message)
            raise dg.Failure(description=batch.message, metadata={"problems": meta["problems"]})
        bronze_version, quarantine_version = write_day(storage, batch)
        assert batch.bronze is not None and batch.quarantine is not None
        context.log.info(batch.message)
        yield dg.MaterializeResult(
            metadata={
                **table_metadata(storage.uri(bronze_table(dataset)), bronze_version, batch.bronze,
                                 contract.column_docs()),
                "rows_quarantined": batch.quarantined,
                "quarantine_delta_version": quarantine_version,
                "quarantine_preview": preview(batch.quarantine),
                "extra_columns": dg.MetadataValue.json(batch.landed.extra_columns),
                "kept_columns": batch.landed_kept_summary(),
            },
            check_results=[dg.AssetCheckResult(check_name=check, passed=True, metadata=meta,
                                               description=batch.message)],
        )

    return _ingest


def ingest_assets(domain: Domain, partitions: dg.PartitionsDefinition
                  ) -> list[dg.AssetsDefinition]:
    return [build_ingest_asset(contract, partitions, domain.calendar)
            for contract in domain.datasets]
