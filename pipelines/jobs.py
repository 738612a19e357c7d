"""Jobs, one set per enabled domain: ``nightly_<domain>`` and ``retrain_<domain>``."""

from __future__ import annotations

import re
import warnings

import dagster as dg

from lakeloop import names
from lakeloop.contracts.domains import Domain
from lakeloop.settings import TrainingSettings

NIGHTLY_STAGES = ("ingest", "features", "scoring", "monitoring")
# A nightly job holds single-run assets (ingest and features read and commit a backfill's
# range in one pass) and per-day ones (scoring and monitoring); Dagster then warns on every
# load that the policies vary and runs the job at the smallest - one day a run, which is
# what a nightly is. By design, so not shown to every user of every command.
warnings.filterwarnings("ignore", message=f"Asset job {re.escape(names.nightly_job(''))}"
                        r"\w+ materializes assets with varying BackfillPolicies")
# A step that failed on something that may pass (S3 or the network gone for a few seconds:
# delta-rs spends its own retries in about 2 s) runs again, twice, 5 then 10 s later (+-
# jitter). Every step replaces what it writes, so a retry never duplicates. A refusal of bad
# data or a missing upstream raises ``Failure(allow_retries=False)``: it fails at once.
STEP_RETRIES = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL,
                              jitter=dg.Jitter.PLUS_MINUS)


def nightly_job(domain: Domain, partitions: dg.PartitionsDefinition
                ) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        names.nightly_job(domain.name),
        selection=dg.AssetSelection.groups(*(f"{domain.name}_{s}" for s in NIGHTLY_STAGES)),
        partitions_def=partitions,
        op_retry_policy=STEP_RETRIES,
        description=f"One {domain.name} day end to end: ingest + blocking GX checks, features, "
        "scoring with the champion, monitoring. A day the calendar closes is skipped.",
    )


def retrain_job(domain: Domain) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        names.retrain_job(domain.name),
        selection=dg.AssetSelection.assets(names.training_set_asset(domain.name),
                                           names.model_asset(domain.name)),
        op_retry_policy=STEP_RETRIES,
        description=f"Rebuild the {domain.name} training set, train and evaluate a challenger, "
        "promote it if it wins.",
    )


def retrain_run_config(training: TrainingSettings, domain: Domain, as_of: str,
                       drift: bool = False) -> dict:
    """The ``ops`` run config of ``retrain_<domain>`` as of a day (``drift``: requested by the
    drift sensor, which already waited ``drift_wait_days``, so the same matured-label rules
    apply). Keyed by asset name, so it lives with the jobs, not in the core."""
    name = names.training_set_asset(domain.name)
    if domain.kind == "classification":
        label = domain.main.roles.label
        reported = label is not None and label.dataset is not None
        window = {"label_window_days": training.label_window_days} if reported else {}
        return {name: {"config": {"as_of": as_of, **window}}}
    return {name: {"config": {
        "as_of": as_of, "horizon": training.forecast_horizon,
        "encoder_length": training.encoder_length,
        "backtest_origins": training.backtest_origins}}}
