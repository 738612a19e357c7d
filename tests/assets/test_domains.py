"""One-domain deployments, closed days and forecasting on the second simulator profile, through
real Dagster runs: a sales-only team never sees a fraud step, and a closed day is no failure."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakeloop.contracts import BUILTIN_DIR
from lakeloop.contracts.calendar import BusinessCalendar
from lakeloop.features import lookback_days, series_features
from lakeloop.ingest.bronze import process_day, write_day
from lakeloop.models.compute import compute
from lakeloop.models.forecast.backtest import BacktestPlan
from lakeloop.models.forecast.lifecycle import train_and_promote_demand
from lakeloop.models.forecast.nhits import DemandConfig, to_pandas
from lakeloop.names import bronze_table
from lakeloop.registry.model_registry import ModelRegistry
from lakeloop.settings import Settings
from lakeloop.simulate import SimConfig, profile_contracts, simulate
from lakeloop.storage import Lake, ObjectStore
from pipelines.definitions import build_definitions
from resources import build_resources
from tests.conftest import START, write_landing

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
PARTNER = profile_contracts("partner")


def asset_names(defs: dg.Definitions) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}


def run(defs: dg.Definitions, job: str, day: dt.date, instance: dg.DagsterInstance
        ) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=day.isoformat(), instance=instance, raise_on_error=False, run_config=QUIET)


def test_a_fraud_only_deployment_runs_without_any_sales_file(tmp_path: Path) -> None:
    landing = write_landing(tmp_path / "landing", days=2)
    shutil.rmtree(landing / "sales")  # this team has no sales at all
    settings = Settings(lake_root=str(tmp_path / "lake"), landing_root=str(landing),
                        dagster_home=tmp_path / "home", partitions_start=START.isoformat(),
                        domains=("fraud",))
    defs = build_definitions(settings)
    names = asset_names(defs)
    assert "transactions_raw" in names and not any("sales" in n or "demand" in n for n in names)
    assert {j.name for j in defs.jobs} == {"nightly_fraud", "retrain_fraud"}
    assert [s.name for s in defs.schedules] == ["nightly_fraud_schedule"]
    assert {s.name for s in defs.sensors} == {"fraud_drift_sensor", "run_failure_alert",
                                              "alert_outbox"}
    with dg.instance_for_test() as instance:
        for i in range(2):
            assert run(defs, "nightly_fraud", START + dt.timedelta(days=i), instance).success


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A sales-only team: the partner profile's shop (closed Sundays and French holidays)
    with its own contracts folder holding nothing but its sales contract."""
    root = tmp_path_factory.mktemp("shop")
    contracts = root / "contracts"
    contracts.mkdir()
    shutil.copy(PARTNER / "shop_sales.yaml", contracts)
    simulate(SimConfig(start=START, days=100, profile="partner", scale=0.01, skus=6),
             ObjectStore(str(root / "landing")))
    shutil.rmtree(root / "landing" / "payments")
    return Settings(lake_root=str(root / "lake"), landing_root=str(root / "landing"),
                    dagster_home=root / "home", partitions_start=START.isoformat(),
                    contracts_dir=contracts)


def test_a_sales_only_team_never_sees_fraud_and_closed_days_are_no_failure(
        shop: Settings) -> None:
    defs = build_definitions(shop)
    names = asset_names(defs)
    assert "shop_sales_raw" in names and not any("fraud" in n or "transactions" in n
                                                 for n in names)
    assert {j.name for j in defs.jobs} == {"nightly_demand", "retrain_demand"}
    days = [START + dt.timedelta(days=i) for i in range(4)]  # Jan 1 (holiday) .. Jan 4 (Sunday)
    with dg.instance_for_test() as instance:
        results = {d: run(defs, "nightly_demand", d, instance) for d in days}
        assert all(r.success for r in results.values())  # no failed run, so no failure alert
        for closed, reason in ((days[0], "public holiday New Year's Day"),
                               (days[3], "closed on Sundays")):
            r = results[closed]
            assert r.get_asset_materialization_events() == []  # nothing computed, nothing green
            [obs] = [e for e in r.all_events if e.event_type_value == "ASSET_OBSERVATION"]
            meta = obs.event_specific_data.asset_observation.metadata
            assert meta["closed"].value and reason in meta["reason"].value
            [check] = r.get_asset_check_evaluations()
            assert check.passed and "closed day" in check.description
        opened = results[days[1]].asset_materializations_for_node("demand_features")
        assert opened and opened[0].metadata["series"].value == 6
        assert opened[0].metadata["series_absent_today"].value == 0
        # a missing file on an *open* day is still an error
        missing = Path(shop.landing_root) / "shop_sales" / f"date={days[2]}"
        moved = missing.rename(missing.with_name("hidden"))
        try:
            assert not run(defs, "nightly_demand", days[2], instance).success
        finally:
            moved.rename(missing)
    assert not Lake(shop.lake_root).exists("alerts/log")


def test_forecasts_with_the_readme_defaults_and_before_a_closed_day(shop: Settings) -> None:
    """Encoder 28 and horizon 14 (the README's defaults) on a shop open six days a week: the
    forecast reads the history its encoder needs, and its 14 steps are the next open days."""
    [domain] = shop.load_domains().values()
    calendar = BusinessCalendar(domain.calendar)
    lake, store = Lake(shop.lake_root), ObjectStore(shop.landing_root)
    open_days = calendar.open_days(START, START + dt.timedelta(days=99))
    for d in open_days:
        write_day(lake, process_day(store, lake, domain.main, d))
        history = lake.scan(bronze_table(domain.main.name), lookback_days(calendar, d), d)
        frame = series_features(history.collect(), d, domain.main, calendar)
        assert frame.select(pl.col("price_ratio").is_finite().all()).item()  # give-aways: 0
        lake.overwrite_partition(domain.features_table, frame, d)
    prices = lake.scan(bronze_table(domain.main.name)).select("unit_price").collect()
    assert (prices["unit_price"] == 0).sum() > 0  # give-aways were there, and handled
    pdf = to_pandas(lake.scan(domain.features_table).collect(), domain.main.roles.known)
    assert (pdf["target"] < 0).any()  # returns reach the model, finite
    cfg = DemandConfig(horizon=14, encoder_length=28, hidden_size=8, max_epochs=1,
                       batch_size=64, season=calendar.periods_per_week)
    assert cfg.season == 6
    plan = BacktestPlan.for_history(int(pdf["time_idx"].max()), 14, 1)
    registry = ModelRegistry(ObjectStore(shop.lake_root))
    run_ = train_and_promote_demand(pdf, plan, registry, compute("cpu"), cfg, 0.0, {"t": 1},
                                    log=lambda _m: None, refit=False, model_name=domain.name)
    if registry.champion(domain.name) is None:  # the tiny model may lose: serve it anyway
        registry.promote(domain.name, run_.version.version, "test: operator override")

    saturday = max(d for d in open_days if d.weekday() == 5)
    [forecasts] = [a for a in build_definitions(shop).assets
                   if a.key.to_user_string() == "demand_forecasts"]
    with dg.instance_for_test() as instance:
        result = dg.materialize([forecasts], partition_key=saturday.isoformat(),
                                instance=instance, resources=build_resources(shop))
    assert result.success
    meta = result.asset_materializations_for_node("demand_forecasts")[0].metadata
    assert meta["fallback_series"].value == 0  # every series had its encoder's history
    out = lake.scan(domain.predictions_table, saturday, saturday).collect()
    assert out.height == 6 * 14
    targets = sorted(out["target_date"].unique().to_list())
    assert targets == calendar.next_open_days(saturday, 14)
    # Sunday is closed (and here Easter Monday too: the first step is Tuesday 2026-04-07)
    assert targets[0] - saturday >= dt.timedelta(days=2)
    assert out.select(pl.col("p50").is_finite().all()).item()
    assert not any(d.weekday() == 6 or calendar.is_holiday(d) for d in targets)
    assert BUILTIN_DIR in PARTNER.parents
