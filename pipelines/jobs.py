"""Jobs, one set per enabled domain: ``nightly_<domain>`` and ``retrain_<domain>``."""

from __future__ import annotations

import dagster as dg

from lakeloop.domains import Domain

NIGHTLY_STAGES = ("ingest", "features", "scoring", "monitoring")


def nightly_job(domain: Domain, partitions: dg.PartitionsDefinition
                ) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        f"nightly_{domain.name}",
        selection=dg.AssetSelection.groups(*(f"{domain.name}_{s}" for s in NIGHTLY_STAGES)),
        partitions_def=partitions,
        description=f"One {domain.name} day end to end: ingest + blocking GX checks, features, "
        "scoring with the champion, monitoring. A day the calendar closes is skipped.",
    )


def retrain_job(domain: Domain) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        f"retrain_{domain.name}",
        selection=dg.AssetSelection.assets(f"{domain.name}_training_set", f"{domain.name}_model"),
        description=f"Rebuild the {domain.name} training set, train and evaluate a challenger, "
        "promote it if it wins.",
    )
