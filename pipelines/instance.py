"""The local Dagster instance's configuration: what ``lakeloop init``, ``make dev`` and the demo
write into ``DAGSTER_HOME`` when it has none, so a laptop instance retries dead runs and
notices dead workers like the deployed one (``infra/dagster.yaml``) - and Dagster does not
warn about a missing ``dagster.yaml``."""

from __future__ import annotations

import os
from pathlib import Path

DAGSTER_YAML = """\
# Written by `lakeloop init` (and `lakeloop demo`): a local SQLite instance. See infra/
# for PostgreSQL.
run_queue:
  max_concurrent_runs: 4  # the nightly run of each domain, and their retrains
  dequeue_interval_seconds: 1  # a submitted run starts within a second (Dagster's default: 5)
run_monitoring:  # a run whose worker died (killed, out of memory) is marked failed, so
  enabled: true  # run_failure_alert tells someone instead of a run STARTED forever
  start_timeout_seconds: 300
  poll_interval_seconds: 30
  max_resume_run_attempts: 0
run_retries:  # ... and re-executed once (only runs that died; failed steps retry themselves)
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
telemetry:
  enabled: false
"""


def prepare_home(home: Path) -> Path:
    """Make DAGSTER_HOME exist with a dagster.yaml, and point this process at it."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home
