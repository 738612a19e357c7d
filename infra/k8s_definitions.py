"""The code location as the Kubernetes deployment serves it: lakeloop's Definitions, every step
in its own pod.

Why a second entry point instead of a switch in ``pipelines.definitions``: the laptop, the tests
and docker compose run steps inside the run worker (``LAKELOOP_EXECUTOR``) and must not need a
cluster; only the Helm deployment (``infra/helm/values.yaml`` points its code
server at this file) wants ``k8s_job_executor``. There a run pod (``K8sRunLauncher``)
orchestrates and every step becomes its own Kubernetes Job, so a training step can ask for a GPU
node (its ``dagster-k8s/config`` op tag, ``assets/k8s_tags.py``) while ingest, features, scoring
and monitoring stay on CPU nodes with the defaults below.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster_k8s import k8s_job_executor

from lakeloop.settings import Settings
from pipelines.definitions import build_definitions

# Every step pod that does not say otherwise (its op tag merges over this): the nightly steps
# are Polars/Delta work of a day's partition - small, CPU only.
STEP_DEFAULTS: dict[str, Any] = {
    "container_config": {
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "8Gi"}},
    },
}
EXECUTOR_CONFIG: dict[str, Any] = {
    # steps of one run at once (a nightly run is ~10 steps in a chain of 4 stages)
    "max_concurrent": 4,
    "step_k8s_config": STEP_DEFAULTS,
}


def cluster_definitions(settings: Settings | None = None) -> dg.Definitions:
    """lakeloop's Definitions with ``k8s_job_executor`` as the executor of every job."""
    executor = k8s_job_executor.configured(EXECUTOR_CONFIG, name="k8s")
    return build_definitions(settings, executor=executor)


@dg.definitions
def defs() -> dg.Definitions:
    return cluster_definitions()
