"""Schedules, one per enabled domain."""

from __future__ import annotations

import dagster as dg


def nightly_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """02:00 UTC every day, for yesterday's partition (the day whose files are complete)."""
    return dg.build_schedule_from_partitioned_job(
        job, name=f"{job.name}_schedule", hour_of_day=2, minute_of_hour=0,
        description=f"Runs {job.name} at 02:00 UTC for yesterday's partition.",
    )
