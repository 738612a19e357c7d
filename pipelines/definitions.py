"""The one Definitions object of lakeloop (``pipelines.definitions:defs``).

Built lazily by ``@dg.definitions`` so settings are read from the environment when Dagster
loads the code location, not at import time.
"""

from __future__ import annotations

import dagster as dg

from assets.demand_training import demand_model, demand_training_set
from assets.features import feature_assets
from assets.fraud_training import fraud_model, fraud_training_set
from assets.ingest import ingest_assets
from assets.monitoring import monitoring_assets
from assets.partitions import daily_partitions
from assets.scoring import scoring_assets
from lakeloop.settings import Settings
from pipelines.jobs import nightly_job, retrain_demand_job, retrain_fraud_job
from pipelines.schedules import nightly_schedule
from pipelines.sensors import drift_sensor, run_failure_alert
from resources import build_resources


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    partitions = daily_partitions(settings.partitions_start)
    nightly = nightly_job(partitions)
    return dg.Definitions(
        assets=[*ingest_assets(partitions), *feature_assets(partitions),
                *scoring_assets(partitions), *monitoring_assets(partitions),
                fraud_training_set, fraud_model, demand_training_set, demand_model],
        jobs=[nightly, retrain_fraud_job(), retrain_demand_job()],
        schedules=[nightly_schedule(nightly)],
        sensors=[drift_sensor("fraud", settings.training, interval_s=settings.sensor_interval_s),
                 drift_sensor("demand", settings.training, interval_s=settings.sensor_interval_s),
                 run_failure_alert],
        resources=build_resources(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
