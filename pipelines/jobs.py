"""Jobs over the partitioned assets."""

from __future__ import annotations

import dagster as dg

NIGHTLY_GROUPS = ("ingest", "features")


def nightly_job(partitions: dg.PartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        "nightly",
        selection=dg.AssetSelection.groups(*NIGHTLY_GROUPS),
        partitions_def=partitions,
        description="One day end to end: ingest + blocking GX checks, then features.",
    )
