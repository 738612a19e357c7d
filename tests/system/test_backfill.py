"""Loading history in one run: a single-run backfill of ingest + features over a range of days
reads, checks and featurizes them in one pass, one Delta commit per table, with the same rows
the day-by-day nightly runs write; a bad day refuses the range and changes nothing."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakeloop.settings import Settings
from lakeloop.storage import Lake
from pipelines.definitions import build_definitions
from tests.conftest import day

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
TABLES = ["bronze/transactions", "quarantine/transactions", "bronze/fraud_labels",
          "silver/fraud_features", "bronze/sales", "silver/demand_features"]
HISTORY = dg.AssetSelection.groups("fraud_ingest", "fraud_features", "demand_ingest",
                                   "demand_features")
DAYS = 8


def backfill(settings: Settings, first: int, last: int, instance: dg.DagsterInstance
             ) -> dg.ExecuteInProcessResult:
    """What the backfill daemon launches for a range under ``BackfillPolicy.single_run``: one
    run with the range's tags."""
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets or []), selection=HISTORY, instance=instance,
        resources=defs.resources, raise_on_error=False, run_config=QUIET,
        tags={"dagster/asset_partition_range_start": day(first).isoformat(),
              "dagster/asset_partition_range_end": day(last).isoformat()})


def nightly(settings: Settings, i: int, instance: dg.DagsterInstance) -> None:
    defs = build_definitions(settings)
    for domain in ("fraud", "demand"):
        job = defs.resolve_job_def(f"nightly_{domain}")
        assert job.execute_in_process(partition_key=day(i).isoformat(), instance=instance,
                                      run_config=QUIET).success


def table(lake: Lake, name: str) -> pl.DataFrame:
    frame = lake.scan(name).collect()
    return frame.sort(frame.columns)


def test_a_range_in_one_run_equals_its_days_run_one_by_one(settings: Settings,
                                                           tmp_path: Path) -> None:
    by_day = dataclasses.replace(settings, lake_root=str(tmp_path / "by_day"))
    with dg.instance_for_test() as instance:
        result = backfill(settings, 0, DAYS - 1, instance)
        assert result.success
        for i in range(DAYS):
            nightly(by_day, i, instance)
        # every partition of the range is materialized, and the check passed for the range
        materialized = [e.partition for e in result.get_asset_materialization_events()
                        if e.asset_key == dg.AssetKey("transactions_raw")]
        assert sorted(materialized) == [day(i).isoformat() for i in range(DAYS)]
        [check] = [c for c in result.get_asset_check_evaluations()
                   if c.asset_key == dg.AssetKey("transactions_raw")]
        assert check.passed and check.metadata["days_open"].value == DAYS
        by_day_table = check.metadata["by_day"].value
        assert all(f"| {day(i)} |" in by_day_table for i in range(DAYS))

    lake, reference = Lake(settings.lake_root), Lake(by_day.lake_root)
    for name in TABLES:
        assert lake.version(name) == 0, f"{name}: one commit for the whole range"
        # the same rows as the nightly runs wrote day by day (features see the same history)
        assert table(lake, name).equals(table(reference, name)), name


def test_a_bad_day_refuses_the_range_and_changes_nothing(settings: Settings) -> None:
    with dg.instance_for_test() as instance:
        assert backfill(settings, 0, 1, instance).success
        lake = Lake(settings.lake_root)
        refused = ["bronze/transactions", "quarantine/transactions", "silver/fraud_features"]
        before = {t: lake.version(t) for t in refused}
        bad = Path(settings.landing_root) / "transactions" / f"date={day(4)}" / "part-0.csv"
        shutil.copy(bad, bad.with_name("copy.csv"))
        bad.write_text(bad.read_text().replace("amount", "amt", 1))  # a renamed column
        result = backfill(settings, 2, DAYS - 1, instance)
        assert not result.success
        [check] = [c for c in result.get_asset_check_evaluations()
                   if c.asset_key == dg.AssetKey("transactions_raw")]
        assert not check.passed
        assert f"transactions {day(4)} refused: part-0.csv: required columns missing: amount" \
            in check.description
        assert f"| {day(3)} |" in check.metadata["by_day"].value  # the good days, listed too
    # nothing of the range written for that dataset, nor features built on it; the other
    # datasets of the range, which passed, are committed (their steps do not depend on it)
    assert {t: lake.version(t) for t in refused} == before
    assert lake.version("bronze/sales") == 1
    assert sorted(lake.partition_counts("bronze/transactions", day(0), day(9))) == \
        [day(0), day(1)]


@pytest.mark.parametrize("per_run", [None, 3])
def test_the_backfill_policy_is_one_run_unless_configured(settings: Settings,
                                                          per_run: int | None) -> None:
    defs = build_definitions(dataclasses.replace(settings, backfill_days_per_run=per_run))
    for key in ("transactions_raw", "fraud_features", "sales_raw", "demand_features"):
        policy = defs.resolve_assets_def(key).backfill_policy
        assert policy is not None and policy.max_partitions_per_run == per_run, key


LAUNCH = """mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) { __typename
    ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL = """query Backfill($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } } }"""
RUNS = """query Runs($id: String!) { runsOrError(filter: {tags: [{key: "dagster/backfill",
  value: $id}]}) { ... on Runs { results { status tags { key value } } } } }"""


def test_the_ui_backfill_of_a_range_is_one_run(settings: Settings, tmp_path: Path) -> None:
    """What *Materialize…* with a date range does in the UI, through the same GraphQL call:
    the backfill daemon launches ONE run for the range (the assets' single-run policy)."""
    from pipelines.dagster_dev import DagsterDev
    from pipelines.instance import prepare_home

    env = {"DAGSTER_HOME": str(prepare_home(tmp_path / "home")),
           "LAKELOOP_LAKE": settings.lake_root, "LAKELOOP_LANDING": settings.landing_root,
           "LAKELOOP_DOMAINS": "fraud", "LAKELOOP_PARTITIONS_START": day(0).isoformat(),
           "LAKELOOP_PARTITIONS_END": day(DAYS).isoformat()}
    assets = [{"path": [a]} for a in ("transactions_raw", "fraud_labels_raw", "fraud_features")]
    with DagsterDev(env, log=tmp_path / "dagster_dev.log") as server:
        launched = server.query(LAUNCH, {"params": {
            "assetSelection": assets,
            "partitionNames": [day(i).isoformat() for i in range(DAYS)]}})
        backfill_id = launched["launchPartitionBackfill"]["backfillId"]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = server.query(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
            if status["status"] in ("COMPLETED", "COMPLETED_SUCCESS", "FAILED",
                                    "COMPLETED_FAILED", "CANCELED"):
                break
            time.sleep(2)
        runs = server.query(RUNS, {"id": backfill_id})["runsOrError"]["results"]
    assert status["status"].startswith("COMPLETED"), status
    [run] = runs
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert run["status"] == "SUCCESS"
    assert (tags["dagster/asset_partition_range_start"],
            tags["dagster/asset_partition_range_end"]) == (day(0).isoformat(),
                                                           day(DAYS - 1).isoformat())
    lake = Lake(settings.lake_root)
    assert lake.version("silver/fraud_features") == 0  # one commit for the range
    assert len(lake.partition_counts("silver/fraud_features", day(0), day(DAYS))) == DAYS


def test_a_missing_lookback_day_is_flagged_or_refused_by_configuration(
        settings: Settings) -> None:
    """Day 6's 7-day windows need day 5. Day 5 never reached bronze: by default the features
    are built and their ``lookback_complete`` check warns naming the day, for each domain;
    with ``missing_lookback="fail"`` they are refused, the features table unchanged. A day the
    calendar closes is no hole (demand's stores close on New Year's Day, day 0)."""
    with dg.instance_for_test() as instance:
        assert backfill(settings, 0, 4, instance).success
        flagged = backfill(settings, 6, 6, instance)
        assert flagged.success
        checks = {c.asset_key.to_user_string(): c for c in flagged.get_asset_check_evaluations()
                  if c.check_name == "lookback_complete"}
        assert set(checks) == {"fraud_features", "demand_features"}
        for check in checks.values():
            assert not check.passed
            assert check.severity == dg.AssetCheckSeverity.WARN
            assert check.metadata["missing_days"].value == [day(5).isoformat()]
            assert day(5).isoformat() in check.description
        complete = backfill(settings, 5, 5, instance)  # the hole filled: every check passes
        assert all(c.passed for c in complete.get_asset_check_evaluations()
                   if c.check_name == "lookback_complete")

        strict = dataclasses.replace(settings, missing_lookback="fail",
                                     lake_root=settings.lake_root + "_strict")
        assert backfill(strict, 0, 4, instance).success
        lake = Lake(strict.lake_root)
        before = lake.version("silver/fraud_features")
        refused = backfill(strict, 6, 6, instance)
        assert not refused.success
        failures = {e.step_key: str(e.event_specific_data.error)
                    for e in refused.all_events if e.event_type_value == "STEP_FAILURE"}
        assert set(failures) == {"fraud_features", "demand_features"}
        for step, dataset in (("fraud_features", "transactions"), ("demand_features", "sales")):
            assert day(5).isoformat() in failures[step]
            assert f"materialize {dataset}_raw" in failures[step]
        assert lake.version("silver/fraud_features") == before
    with pytest.raises(ValueError, match="LAKELOOP_MISSING_LOOKBACK"):
        build_definitions(dataclasses.replace(settings, missing_lookback="warn"))
