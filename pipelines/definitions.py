"""The one Definitions object of lakeloop (``pipelines.definitions:defs``).

Built lazily by ``@dg.definitions`` so settings are read from the environment when Dagster
loads the code location, not at import time. Assets, jobs, schedules and sensors exist per
enabled domain (``LAKELOOP_DOMAINS``; default: every domain of the contracts).
"""

from __future__ import annotations

import dagster as dg

from assets.classification_training import classification_training_assets
from assets.features import MISSING_LOOKBACK, feature_assets
from assets.forecast_training import forecast_training_assets
from assets.ingest import ingest_assets
from assets.monitoring import monitoring_assets
from assets.partitions import daily_partitions
from assets.scoring import scoring_assets
from lakeloop.contracts.domains import Domain
from lakeloop.settings import Settings
from pipelines.jobs import nightly_job, retrain_job
from pipelines.schedules import nightly_schedule
from pipelines.sensors import alert_outbox_sensor, drift_sensor, run_failure_alert
from resources import build_resources


def domain_assets(domain: Domain, partitions: dg.PartitionsDefinition, settings: Settings
                  ) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    training = classification_training_assets(domain, settings.training.label_window_days) \
        if domain.kind == "classification" else forecast_training_assets(domain)
    per_run = settings.backfill_days_per_run
    return [*ingest_assets(domain, partitions, per_run),
            *feature_assets(domain, partitions, per_run, settings.missing_lookback),
            *scoring_assets(domain, partitions), *monitoring_assets(domain, partitions),
            *training]


EXECUTORS: dict[str, dg.ExecutorDefinition] = {
    "in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


def build_definitions(settings: Settings | None = None,
                      executor: dg.ExecutorDefinition | None = None) -> dg.Definitions:
    """Everything of the enabled domains; ``executor`` replaces the one the settings name
    (``LAKELOOP_EXECUTOR``), as the Kubernetes code location does."""
    settings = settings or Settings.from_env()
    if executor is None and settings.executor not in EXECUTORS:
        raise ValueError(f"LAKELOOP_EXECUTOR={settings.executor!r}: expected one of "
                         f"{sorted(EXECUTORS)}")
    if settings.missing_lookback not in MISSING_LOOKBACK:
        raise ValueError(f"LAKELOOP_MISSING_LOOKBACK={settings.missing_lookback!r}: expected "
                         f"one of {list(MISSING_LOOKBACK)}")
    partitions = daily_partitions(settings.partitions_start, settings.partitions_end)
    domains = settings.load_domains()
    nightly = {name: nightly_job(d, partitions) for name, d in domains.items()}
    defined = [a for d in domains.values() for a in domain_assets(d, partitions, settings)]
    return dg.Definitions(
        assets=[a for a in defined if not isinstance(a, dg.AssetChecksDefinition)],
        asset_checks=[a for a in defined if isinstance(a, dg.AssetChecksDefinition)],
        jobs=[*nightly.values(), *(retrain_job(d) for d in domains.values())],
        schedules=[nightly_schedule(job) for job in nightly.values()],
        sensors=[*(drift_sensor(d, settings.training, interval_s=settings.sensor_interval_s)
                   for d in domains.values()), run_failure_alert,
                 alert_outbox_sensor(settings.alert_retry_interval_s)],
        resources=build_resources(settings),
        executor=executor or EXECUTORS[settings.executor],
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
