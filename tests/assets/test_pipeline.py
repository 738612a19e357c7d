"""The Dagster wiring, run for real: in-process job runs on a test instance, real Delta tables."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakeloop.settings import Settings
from lakeloop.storage import Lake
from pipelines.definitions import build_definitions
from tests.conftest import day

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
BRONZE = ["bronze/transactions", "bronze/fraud_labels", "bronze/sales"]
SILVER = ["silver/fraud_features", "silver/demand_features"]


class DayRuns:
    """Both domains' nightly runs of one day, read as one."""

    def __init__(self, results: list[dg.ExecuteInProcessResult]) -> None:
        self.results = results
        self.success = all(r.success for r in results)
        self.all_events = [e for r in results for e in r.all_events]

    def get_asset_check_evaluations(self) -> list:
        return [c for r in self.results for c in r.get_asset_check_evaluations()]


def run_day(settings: Settings, instance: dg.DagsterInstance, i: int) -> DayRuns:
    defs = build_definitions(settings)
    return DayRuns([defs.resolve_job_def(f"nightly_{d}").execute_in_process(
        partition_key=day(i).isoformat(), instance=instance, raise_on_error=False,
        run_config=QUIET) for d in ("fraud", "demand")])


def counts(lake: Lake, table: str) -> dict:
    return lake.partition_counts(table, day(0), day(30))


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_days_land_one_partition_each_and_reruns_replace(settings: Settings, instance) -> None:
    lake = Lake(settings.lake_root)
    for i in range(3):
        assert run_day(settings, instance, i).success
    for table in BRONZE + SILVER:
        assert sorted(counts(lake, table)) == [day(0), day(1), day(2)], table
    before = {t: counts(lake, t) for t in BRONZE + SILVER}
    versions = {t: lake.version(t) for t in BRONZE + SILVER}
    landed = pl.read_csv(Path(settings.landing_root) / "transactions" / f"date={day(1)}" /
                         "part-0.csv").height
    assert before["bronze/transactions"][day(1)] == landed

    result = run_day(settings, instance, 1)  # re-materialize a day
    assert result.success
    for table in BRONZE + SILVER:
        assert counts(lake, table) == before[table], table  # replaced, never duplicated
        assert lake.version(table) == versions[table] + 1  # one new atomic commit
    # the materialization says which Delta version it wrote
    event = instance.get_latest_materialization_event(dg.AssetKey("transactions_raw"))
    meta = event.asset_materialization.metadata
    assert meta["delta_version"].value == lake.version("bronze/transactions")
    assert meta["dagster/row_count"].value == landed
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {"transactions_suite", "fraud_labels_suite",
                                              "sales_suite", "lookback_complete"}
    assert all(c.passed for c in checks)  # day 0 is in both look-backs: no hole
    assert checks[0].metadata["expectations_evaluated"].value > 5


def test_broken_file_fails_the_blocking_check_and_stops_downstream(settings: Settings,
                                                                  instance) -> None:
    lake = Lake(settings.lake_root)
    for i in range(2):
        assert run_day(settings, instance, i).success
    before = {t: counts(lake, t) for t in BRONZE + SILVER}
    versions = {t: lake.version(t) for t in BRONZE + SILVER}
    path = Path(settings.landing_root) / "transactions" / f"date={day(2)}" / "part-0.csv"
    pl.read_csv(path).drop("merchant_id").write_csv(path)  # a schema change upstream

    result = run_day(settings, instance, 2)
    assert not result.success
    check = next(c for c in result.get_asset_check_evaluations()
                 if c.check_name == "transactions_suite")
    assert not check.passed
    assert "required columns missing: merchant_id" in check.description
    assert "merchant_id" in check.metadata["problems"].value
    failed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert failed == {"transactions_raw"}
    ran = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert "fraud_features" not in ran  # blocked downstream
    assert {"sales_raw", "demand_features", "fraud_labels_raw"} <= ran  # other datasets go on
    # earlier days untouched, nothing written for the refused day
    assert lake.version("bronze/transactions") == versions["bronze/transactions"]
    assert counts(lake, "bronze/transactions") == before["bronze/transactions"]
    assert counts(lake, "silver/fraud_features") == before["silver/fraud_features"]


def test_bad_rows_are_quarantined_through_dagster(settings: Settings, instance) -> None:
    path = Path(settings.landing_root) / "sales" / f"date={day(0)}" / "part-0.parquet"
    sales = pl.read_parquet(path)
    sales.with_columns(units=pl.when(pl.int_range(pl.len()) == 3).then(-5)
                       .otherwise("units")).write_parquet(path)
    assert run_day(settings, instance, 0).success
    lake = Lake(settings.lake_root)
    quarantined = lake.scan("quarantine/sales").collect()
    assert quarantined.height == 1
    assert quarantined["reason"][0] == "units outside [0.0, None]"
    assert counts(lake, "bronze/sales")[day(0)] == sales.height - 1
    event = instance.get_latest_materialization_event(dg.AssetKey("sales_raw"))
    assert event.asset_materialization.metadata["rows_quarantined"].value == 1


def test_missing_day_fails_clearly(settings: Settings, instance) -> None:
    result = run_day(settings, instance, 25)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "no landing files for 2026-01-26" in str(failure.event_specific_data.error)
