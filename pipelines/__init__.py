"""Dagster assembly: Definitions, jobs, schedules, sensors, and the lakeloop CLI's Dagster side."""
