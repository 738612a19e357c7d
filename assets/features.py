"""Silver feature assets, one per domain: Polars features over the look-back they need, into
Delta. Column names come from the domain's contract (``lakeloop.features``)."""

import datetime as dt

import dagster as dg

from assets.metadata import refused, step_asset, table_metadata
from assets.partitions import backfill_policy, lookback, partition_days
from lakeloop import features, names
from lakeloop.contracts.domains import Domain
from lakeloop.ingest.bronze import missing_days
from lakeloop.names import PARTITION_COLUMN, SERIES_ID, bronze_table, ingest_asset
from lakeloop.storage import Lake
from resources import LakeResource, LandingResource

LOOKBACK_CHECK = "lookback_complete"
MISSING_LOOKBACK = ("flag", "fail")  # what an open day missing from a look-back does


def _require_days(lake: Lake, table: str, first: dt.date, last: dt.date) -> int:
    """The bronze version read; fails clearly when no day of ``first..last`` was ever
    accepted into bronze."""
    if not lake.partition_counts(table, first, last):
        days = str(first) if first == last else f"{first}..{last}"
        raise refused(f"{table} has no rows for {days}: materialize its ingest "
                         "asset for those days first (or its blocking check failed).")
    version = lake.version(table)
    assert version is not None
    return version


def _lookback_spec(domain: Domain) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        LOOKBACK_CHECK, asset=domain.features_asset, blocking=False,
        description=f"Every open day the features looked back on has {domain.main.name} rows "
        "in bronze; warns naming the missing days (LAKELOOP_MISSING_LOOKBACK=fail refuses "
        "the features instead).")


def _lookback_check(domain: Domain, lake: Lake, landing: LandingResource, first: dt.date,
                    last: dt.date, earliest: dt.date, on_missing: str) -> dg.AssetCheckResult:
    """Open days of the look-back (and of a backfill's range) with no bronze rows: flagged,
    or refused (``on_missing="fail"``). Days before the first partition are no hole."""
    first = max(first, earliest)
    missing = missing_days(lake, landing.store(), domain.main, first, last, domain.calendar)
    named = ", ".join(d.isoformat() for d in missing[:10]) + (" ..." if len(missing) > 10 else "")
    what = (f"{len(missing)} open day(s) of {first}..{last} have no "
            f"{bronze_table(domain.main.name)} rows: {named}; materialize "
            f"{ingest_asset(domain.main.name)} for them, then these features again")
    if missing and on_missing == "fail":
        raise refused(what + " (LAKELOOP_MISSING_LOOKBACK=fail)")
    return dg.AssetCheckResult(
        check_name=LOOKBACK_CHECK, passed=not missing, severity=dg.AssetCheckSeverity.WARN,
        description=what if missing else f"every open day of {first}..{last} has rows",
        metadata={"missing_days": dg.MetadataValue.json([d.isoformat() for d in missing]),
                  "lookback": f"{first}..{last}"})


def _label_window(domain: Domain) -> int:
    """Days of events a label column needs read back: label history + its maturity."""
    label = domain.main.roles.label
    return features.LABEL_LOOKBACK_DAYS + (label.maturity_days or 0) if label else 0


def event_feature_asset(domain: Domain, partitions: dg.TimeWindowPartitionsDefinition,
                        days_per_run: int | None = None, on_missing: str = "flag"
                        ) -> dg.AssetsDefinition:
    main, labels = domain.main, domain.labels
    main_back = max(features.EVENT_LOOKBACK_DAYS, _label_window(domain))
    deps = [dg.AssetDep(ingest_asset(main.name), partition_mapping=lookback(main_back))]
    if labels is not None:
        deps.append(dg.AssetDep(ingest_asset(labels.name), partition_mapping=lookback(
            features.LABEL_LOOKBACK_DAYS, until=-1)))

    @step_asset(
        name=domain.features_asset, partitions_def=partitions,
        group_name=names.group(domain.name, "features"),
        backfill_policy=backfill_policy(days_per_run),  # a backfill computes in one pass
        kinds={"delta", "polars"}, deps=deps, check_specs=[_lookback_spec(domain)],
        description=f"`{domain.features_table}`: per-entity windows (1h/24h/7d), label history "
        "known before the day, calendar and the contract's feature columns; one row per event.",
    )
    def _features(context: dg.AssetExecutionContext, lake: LakeResource,
                  landing: LandingResource) -> dg.MaterializeResult:
        days, storage = partition_days(context), lake.lake()
        day, last = days[0], days[-1]  # one night's day, or a backfill's range in one pass
        table = bronze_table(main.name)
        version = _require_days(storage, table, day, last)
        first = day - dt.timedelta(days=features.EVENT_LOOKBACK_DAYS)
        check = _lookback_check(domain, storage, landing, first, last,
                                partitions.start.date(), on_missing)
        label_first = day - dt.timedelta(days=features.LABEL_LOOKBACK_DAYS)
        known, sources = None, {table: version}
        if labels is not None and storage.exists(bronze_table(labels.name)):
            lt = bronze_table(labels.name)
            sources[lt] = storage.version(lt)  # type: ignore[assignment]
            known = features.known_labels_from_dataset(
                storage.scan(lt, label_first, last - dt.timedelta(days=1)), main, labels)
        elif labels is None:
            known = features.known_labels_from_column(storage.scan(
                table, day - dt.timedelta(days=_label_window(domain)), last, version=version),
                main)
        frame = features.event_features(
            storage.scan(table, first, last, version=version), known, day, main,
            features.events.label_history_entities(main, labels), until=last).collect()
        out = storage.overwrite_days(domain.features_table, frame, day, last)
        schema = features.event_schema(main, frame.schema)
        return dg.MaterializeResult(check_results=[check], metadata={
            **table_metadata(storage.uri(domain.features_table), out, frame,
                             main.column_docs()),
            "model_inputs": len(schema.inputs),
            "categorical_inputs": dg.MetadataValue.json(schema.categorical),
            "lookback_start": first.isoformat(),
            "source_versions": dg.MetadataValue.json(sources),
        })

    return _features


def series_feature_asset(domain: Domain, partitions: dg.TimeWindowPartitionsDefinition,
                         days_per_run: int | None = None, on_missing: str = "flag"
                         ) -> dg.AssetsDefinition:
    from lakeloop.contracts.calendar import BusinessCalendar

    main = domain.main
    calendar = BusinessCalendar(domain.calendar)
    # calendar days of the longest look-back in open days (a generous bound for the UI's
    # partition mapping; the asset reads exactly the open days it needs)
    back = (features.series.lookback_periods(calendar.periods_per_week) * 7
            ) // calendar.periods_per_week + 7

    @step_asset(
        name=domain.features_asset, partitions_def=partitions,
        group_name=names.group(domain.name, "features"),
        backfill_policy=backfill_policy(days_per_run),  # a backfill computes in one pass
        kinds={"delta", "polars"}, check_specs=[_lookback_spec(domain)],
        deps=[dg.AssetDep(ingest_asset(main.name), partition_mapping=lookback(back))],
        description=f"`{domain.features_table}`: per-series lags and rolling statistics in open "
        "days, calendar (the contract's holidays), price ratio and known covariates; one row "
        "per series and open day, with the day's target.",
    )
    def _features(context: dg.AssetExecutionContext, lake: LakeResource,
                  landing: LandingResource) -> dg.MaterializeResult:
        days, storage = partition_days(context), lake.lake()
        day, last = days[0], days[-1]  # one night's day, or a backfill's range in one pass
        table = bronze_table(main.name)
        version = _require_days(storage, table, day, last)
        first = features.lookback_days(calendar, day)
        check = _lookback_check(domain, storage, landing, first, last,
                                partitions.start.date(), on_missing)
        history = storage.scan(table, first, last, version=version).collect()
        frame = features.series_features(history, day, main, calendar, until=last)
        out = storage.overwrite_days(domain.features_table, frame, day, last)
        # a series seen in the look-back but absent on the last day is a gap, not a zero
        seen = history.select(features.series.series_key(main.roles.series)).to_series()
        on_last = frame.filter(frame[PARTITION_COLUMN] == last)[SERIES_ID].to_list()
        absent = sorted(set(seen.unique().to_list()) - set(on_last))
        if absent:
            context.log.warning(f"{len(absent)} series have no row on {last} (gaps, not "
                                f"zeros): {absent[:10]}")
        return dg.MaterializeResult(check_results=[check], metadata={
            **table_metadata(storage.uri(domain.features_table), out, frame,
                             main.column_docs()),
            "series": frame[SERIES_ID].n_unique(),
            "series_absent_today": len(absent),
            "lookback_start": first.isoformat(),
            "source_versions": dg.MetadataValue.json({table: version}),
        })

    return _features


def feature_assets(domain: Domain, partitions: dg.TimeWindowPartitionsDefinition,
                   days_per_run: int | None = None, on_missing: str = "flag"
                   ) -> list[dg.AssetsDefinition]:
    build = event_feature_asset if domain.kind == "classification" else series_feature_asset
    return [build(domain, partitions, days_per_run, on_missing)]
