"""Jobs over the partitioned assets."""

from __future__ import annotations

import dagster as dg

NIGHTLY_GROUPS = ("ingest", "features", "scoring", "monitoring")


def nightly_job(partitions: dg.PartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        "nightly",
        selection=dg.AssetSelection.groups(*NIGHTLY_GROUPS),
        partitions_def=partitions,
        description="One day end to end: ingest + blocking GX checks, features, scoring with "
        "the champion models, drift monitoring.",
    )


def retrain_fraud_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        "retrain_fraud",
        selection=dg.AssetSelection.assets("fraud_training_set", "fraud_model"),
        description="Rebuild the fraud training set, train a challenger, promote it if it wins.",
    )


def retrain_demand_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        "retrain_demand",
        selection=dg.AssetSelection.assets("demand_training_set", "demand_model"),
        description="Rebuild the demand history, train and backtest a challenger, promote it if "
        "it wins.",
    )
