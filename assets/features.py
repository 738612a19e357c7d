"""Silver feature assets: Polars lazy features over the look-back they need, into Delta."""


import datetime as dt

import dagster as dg

from assets.metadata import table_metadata
from assets.partitions import lookback, partition_day
from lakeloop import features
from lakeloop.bronze import bronze_table
from lakeloop.storage import Lake
from resources import ContractsResource, LakeResource

TRANSACTION_FEATURES = "silver/transaction_features"
DEMAND_FEATURES = "silver/demand_features"


def _require_day(lake: Lake, table: str, day: dt.date) -> int:
    """The bronze version read; fails clearly when the day was never accepted into bronze."""
    if not lake.partition_counts(table, day, day):
        raise dg.Failure(description=f"{table} has no rows for {day}: materialize its ingest "
                         "asset for that day first (or its blocking check failed).")
    version = lake.version(table)
    assert version is not None
    return version


def feature_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=partitions,
        group_name="features",
        kinds={"delta", "polars"},
        deps=[
            dg.AssetDep("transactions_raw",
                        partition_mapping=lookback(features.TRANSACTION_LOOKBACK_DAYS)),
            dg.AssetDep("fraud_labels_raw",
                        partition_mapping=lookback(features.LABEL_LOOKBACK_DAYS, until=-1)),
        ],
        description=f"`{TRANSACTION_FEATURES}`: per-card/merchant windows (1h/24h/7d), "
        "chargeback history known before the day, calendar; one row per transaction.",
    )
    def transaction_features(
        context: dg.AssetExecutionContext, lake: LakeResource, contracts: ContractsResource
    ) -> dg.MaterializeResult:
        day, storage = partition_day(context), lake.lake()
        tx_table, cb_table = bronze_table("transactions"), bronze_table("fraud_labels")
        tx_version = _require_day(storage, tx_table, day)
        first = day - dt.timedelta(days=features.TRANSACTION_LOOKBACK_DAYS)
        cb_first = day - dt.timedelta(days=features.LABEL_LOOKBACK_DAYS)
        chargebacks = storage.scan(cb_table, cb_first, day - dt.timedelta(days=1)) \
            if storage.exists(cb_table) else None
        frame = features.transaction_features(
            storage.scan(tx_table, first, day, version=tx_version),
            chargebacks, day, contracts.get("transactions").with_role("categorical"),
        ).collect()
        version = storage.overwrite_partition(TRANSACTION_FEATURES, frame, day)
        return dg.MaterializeResult(metadata={
            **table_metadata(storage.uri(TRANSACTION_FEATURES), version, frame),
            "lookback_start": first.isoformat(),
            "source_versions": dg.MetadataValue.json({
                tx_table: tx_version, cb_table: storage.version(cb_table)}),
        })

    @dg.asset(
        partitions_def=partitions,
        group_name="features",
        kinds={"delta", "polars"},
        deps=[dg.AssetDep("sales_raw", partition_mapping=lookback(features.DEMAND_LOOKBACK_DAYS))],
        description=f"`{DEMAND_FEATURES}`: per-series lags, rolling stats, calendar, price and "
        "promotion; one row per store x item and day, with the day's units as target.",
    )
    def demand_features(context: dg.AssetExecutionContext, lake: LakeResource
                        ) -> dg.MaterializeResult:
        day, storage = partition_day(context), lake.lake()
        table = bronze_table("sales")
        sales_version = _require_day(storage, table, day)
        first = day - dt.timedelta(days=features.DEMAND_LOOKBACK_DAYS)
        frame = features.demand_features(
            storage.scan(table, first, day, version=sales_version), day).collect()
        version = storage.overwrite_partition(DEMAND_FEATURES, frame, day)
        return dg.MaterializeResult(metadata={
            **table_metadata(storage.uri(DEMAND_FEATURES), version, frame),
            "series": frame["series_id"].n_unique(),
            "lookback_start": first.isoformat(),
            "source_versions": dg.MetadataValue.json({table: sales_version}),
        })

    return [transaction_features, demand_features]
