"""Jobs, one set per enabled domain: ``nightly_<domain>`` and ``retrain_<domain>``."""

from __future__ import annotations

import dagster as dg

from lakeloop.domains import Domain

NIGHTLY_STAGES = ("ingest", "features", "scoring", "monitoring")
# A step that failed on something that may pass (S3 or the network gone for a few seconds:
# delta-rs spends its own retries in about 2 s) runs again, twice, 5 then 10 s later (+-
# jitter). Every step replaces what it writes, so a retry never duplicates. A refusal of bad
# data or a missing upstream raises ``Failure(allow_retries=False)``: it fails at once.
STEP_RETRIES = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL,
                              jitter=dg.Jitter.PLUS_MINUS)


def nightly_job(domain: Domain, partitions: dg.PartitionsDefinition
                ) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        f"nightly_{domain.name}",
        selection=dg.AssetSelection.groups(*(f"{domain.name}_{s}" for s in NIGHTLY_STAGES)),
        partitions_def=partitions,
        op_retry_policy=STEP_RETRIES,
        description=f"One {domain.name} day end to end: ingest + blocking GX checks, features, "
        "scoring with the champion, monitoring. A day the calendar closes is skipped.",
    )


def retrain_job(domain: Domain) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        f"retrain_{domain.name}",
        selection=dg.AssetSelection.assets(f"{domain.name}_training_set", f"{domain.name}_model"),
        op_retry_policy=STEP_RETRIES,
        description=f"Rebuild the {domain.name} training set, train and evaluate a challenger, "
        "promote it if it wins.",
    )
