"""A demand champion always serves: the baseline rules are candidates that can be registered
and served, the median is the point forecast (0 for intermittent series), early stopping never
sees a backtest day, and the forecast metrics give the answers worked out by hand."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl
import pytest

from lakeloop.contracts import CalendarSpec
from lakeloop.contracts.calendar import BusinessCalendar
from lakeloop.contracts.domains import load_domains
from lakeloop.models.compute import compute
from lakeloop.models.forecast import nhits as demand_module
from lakeloop.models.forecast.backtest import BacktestPlan, forecast_metrics
from lakeloop.models.forecast.baselines import FAMILIES, BaselineRule, moving_average
from lakeloop.models.forecast.lifecycle import (
    NETWORK,
    forecast_with_fallback,
    load_demand_model,
    train_and_promote_demand,
)
from lakeloop.models.forecast.nhits import DemandConfig, to_pandas, train_demand
from lakeloop.models.metrics import mase, pinball_loss, smape, wape
from lakeloop.monitoring.domain_monitor import forecast_accuracy
from lakeloop.registry.model_registry import ModelRegistry, RegistryError
from lakeloop.settings import Settings
from lakeloop.storage import Lake, ObjectStore
from pipelines.definitions import build_definitions
from resources import build_resources

CAL = BusinessCalendar(CalendarSpec())  # open every day: a 7-day season
START = dt.date(2026, 1, 5)  # a Monday
DAYS = 70
CFG = DemandConfig(horizon=3, encoder_length=14, hidden_size=8, max_epochs=1, batch_size=64,
                   patience=1, season=CAL.periods_per_week, baseline_fit_days=28)
WEEK = [10.0, 12.0, 11.0, 13.0, 20.0, 30.0, 5.0]  # a shape per weekday, Monday first
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def weekly_frame(days: int = DAYS, levels: dict[str, float] | None = None,
                 known: tuple[str, ...] = ()) -> pl.DataFrame:
    """Silver series rows of series that repeat a weekly shape exactly, except for a spike on
    their first Tuesday (so seasonal naive has a positive in-sample error: a MASE scale): from
    the third week on, seasonal naive forecasts them perfectly and no network trained for one
    epoch can."""
    rows = []
    for sid, level in (levels or {"p": 1.0, "q": 3.0}).items():
        for i in range(days):
            d = START + dt.timedelta(days=i)
            spike = 40.0 if i == 1 else 0.0
            rows.append({"date": d, "series_id": sid, "target": level * WEEK[d.weekday()]
                         + spike, **{k: 0.0 for k in known}})
    frame = pl.DataFrame(rows)
    return frame.with_columns(CAL.index_series(frame["date"]).alias("t"),
                              CAL.holiday_flags(frame["date"]).alias("holiday"))


@pytest.fixture(scope="module")
def weekly() -> pd.DataFrame:
    return to_pandas(weekly_frame(), [])


@pytest.fixture(scope="module")
def rule_won(weekly: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    registry = ModelRegistry(ObjectStore(str(tmp_path_factory.mktemp("registry"))))
    plan = BacktestPlan.for_history(int(weekly["time_idx"].max()), CFG.horizon, 2)
    run = train_and_promote_demand(weekly, plan, registry, compute("cpu"), CFG, 0.01,
                                   {"test": 1}, log=lambda _m: None, model_name="shop")
    return run, registry, plan


# ---- a baseline champion ---------------------------------------------------------------------


def test_a_baseline_rule_is_registered_and_serves_when_the_network_loses(rule_won) -> None:
    run, registry, _plan = rule_won
    assert set(run.metrics) == {NETWORK, *FAMILIES}
    # seasonal naive is perfect on these series from the third week on; the network is not
    assert run.metrics["seasonal_naive"]["mase"] == 0.0 < run.metrics[NETWORK]["mase"]
    assert run.family == "seasonal_naive" and "lowest backtest MASE" in run.family_reason
    # no champion before: the best candidate serves at once
    assert run.decision.promote and registry.champion_version("shop") == run.version.version
    mv = registry.get("shop", run.version.version)
    assert mv.family == "seasonal_naive" and mv.meta["decision"]["family"] == "seasonal_naive"
    assert mv.meta["candidates"] == run.metrics and mv.meta["metrics"]["mase"] == 0.0
    assert mv.meta["rule"]["family"] == "seasonal_naive" and mv.meta["rule"]["season"] == 7
    assert mv.meta["refit"] is None and run.deployed is None  # a rule is never refitted
    assert mv.meta["files_sha256"] == {}  # meta.json only: no weights to tamper with
    with pytest.raises(RegistryError, match="no file"):
        registry.load_weights(mv)
    assert load_demand_model(registry, mv) == BaselineRule.from_params(mv.meta["rule"])


def test_lakeloop_models_says_which_family_serves_and_why(rule_won, capsys) -> None:  # noqa: ANN001
    from lakeloop.registry.describe import print_versions

    run, registry, _plan = rule_won
    print_versions(registry, {"shop": "forecast"})
    out = capsys.readouterr().out
    serving = next(line for line in out.splitlines() if "serving:" in line)
    assert f"serving: {run.version.version} (seasonal_naive) - first model" in serving
    assert "lowest backtest MASE of the candidates (seasonal_naive 0.0000" in serving
    assert f"* {run.version.version}  seasonal_naive" in out


def test_a_baseline_champion_forecasts_through_the_same_function(rule_won,
                                                                 weekly: pd.DataFrame) -> None:
    run, registry, _plan = rule_won
    rule = load_demand_model(registry, registry.champion("shop"))
    assert isinstance(rule, BaselineRule)
    newcomer = weekly[weekly["series_id"] == "p"].tail(2).assign(series_id="new")
    fc = forecast_with_fallback(rule, pd.concat([weekly, newcomer]), compute("cpu"), CAL)
    assert list(fc.columns) == ["series_id", "time_idx", "horizon", "q0.1", "q0.5", "q0.9",
                                "method", "target_date"]
    assert len(fc) == 3 * CFG.horizon
    q = fc[["q0.1", "q0.5", "q0.9"]].to_numpy()
    assert np.isfinite(q).all() and (q[:, 0] <= q[:, 1]).all() and (q[:, 1] <= q[:, 2]).all()
    method = fc.groupby("series_id")["method"].agg(set)
    assert method["p"] == method["q"] == {"seasonal_naive"}
    assert method["new"] == {"last_value"}  # two days: no season back, its last value
    # the rule continues the weekly shape exactly
    last = START + dt.timedelta(days=DAYS - 1)
    p = fc[fc["series_id"] == "q"].sort_values("horizon")
    assert list(p["q0.5"]) == [3.0 * WEEK[(last + dt.timedelta(days=h)).weekday()]
                               for h in (1, 2, 3)]
    assert list(p["target_date"]) == CAL.next_open_days(last, 3)


def test_a_baseline_champion_is_scored_by_rerunning_its_rule(rule_won,
                                                             weekly: pd.DataFrame) -> None:
    run, registry, plan = rule_won
    second = train_and_promote_demand(weekly, plan, registry, compute("cpu"), CFG, 0.01,
                                      {"test": 2}, log=lambda _m: None, model_name="shop")
    assert second.champion_version == run.version.version
    assert second.champion_metrics == run.metrics["seasonal_naive"]  # same rule, same plan
    # a tie does not beat the champion by the margin: it serves on
    assert not second.decision.promote and "does not beat champion" in second.decision.reason
    assert registry.champion_version("shop") == run.version.version
    meta = registry.get("shop", second.version.version).meta
    assert meta["champion_family"] == "seasonal_naive"


def test_the_network_is_refitted_only_when_it_is_chosen(weekly: pd.DataFrame,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import lakeloop.models.forecast.lifecycle as lifecycle

    calls: list[int] = []
    real = lifecycle.train_demand

    def counting(pdf: pd.DataFrame, val_from: int, *a: object, **k: object):  # noqa: ANN202
        calls.append(val_from)
        return real(pdf, val_from, *a, **k)

    monkeypatch.setattr(lifecycle, "train_demand", counting)
    registry = ModelRegistry(ObjectStore(str(tmp_path)))
    plan = BacktestPlan.for_history(int(weekly["time_idx"].max()), CFG.horizon, 2)
    run = train_and_promote_demand(weekly, plan, registry, compute("cpu"), CFG, 0.0, {"t": 1},
                                   log=lambda _m: None, refit=True, model_name="shop")
    assert run.family != NETWORK and run.decision.promote
    assert calls == [plan.val_from]  # the backtested network only: no refit for a rule


# ---- early stopping never sees a backtest day --------------------------------------------------


def test_early_stopping_validates_strictly_before_every_backtest_window(
        weekly: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    for last_t, horizon, n in ((100, 14, 3), (60, 7, 2), (30, 1, 5)):
        plan = BacktestPlan.for_history(last_t, horizon, n)
        validated = range(plan.val_from, plan.val_from + horizon)
        scored = {t for o in plan.origins for t in range(o + 1, o + horizon + 1)}
        assert max(validated) < min(scored) and max(scored) == last_t
    # and what train_demand actually hands pytorch-forecasting: no row after the validation
    # window, whose forecasts start at val_from
    seen: list[tuple[int, int | None]] = []
    real = demand_module.make_dataset

    def spy(pdf: pd.DataFrame, *a: object, **k: object):  # noqa: ANN202
        if "_skeleton" not in set(pdf["series_id"]):
            seen.append((int(pdf["time_idx"].max()), k.get("min_prediction_idx")))
        return real(pdf, *a, **k)

    monkeypatch.setattr(demand_module, "make_dataset", spy)
    plan = BacktestPlan.for_history(int(weekly["time_idx"].max()), CFG.horizon, 2)
    train_demand(weekly, plan.val_from, CFG, compute("cpu"), log=lambda _m: None)
    (train_max, _), (val_max, val_start) = seen
    assert train_max == plan.val_from - 1 and val_start == plan.val_from
    assert val_max == plan.val_from + CFG.horizon - 1 == plan.origins[0]  # < any scored day


# ---- the median is the point forecast ----------------------------------------------------------


def test_intermittent_series_get_a_zero_median_and_bands_never_cross() -> None:
    days = 42
    rng = np.random.default_rng(3)
    sparse = np.where(rng.random(days) < 0.3, rng.integers(1, 5, days), 0).astype(float)
    frame = pd.DataFrame({
        "series_id": ["sparse"] * days + ["busy"] * days + ["net"] * days,
        "time_idx": np.tile(np.arange(days), 3),
        "target": np.concatenate([sparse, 10 + rng.normal(0, 2, days),
                                  rng.normal(0, 3, days)])})
    assert (sparse == 0).mean() >= 0.5
    for family in FAMILIES:
        rule = BaselineRule(family, horizon=4, season=7, fit_days=28, window=7)
        fc = rule.forecast(frame).set_index("series_id")
        assert (fc.loc["sparse", "q0.5"] == 0).all(), family  # zero is the likelier value
        assert (fc.loc["sparse", "q0.9"] > 0).all(), family  # ... but sales do happen
        assert (fc.loc["busy", "q0.5"] > 5).all(), family
        q = fc[["q0.1", "q0.5", "q0.9"]].to_numpy()
        assert (q[:, 0] <= q[:, 1]).all() and (q[:, 1] <= q[:, 2]).all(), family
        assert (fc.loc[["sparse", "busy"], "q0.1"] >= 0).all(), family  # never below zero...
        assert (fc.loc["net", "q0.1"] < 0).any(), family  # ...unless the series went negative
    # the plain mean of the sparse series is what the zero rule replaces
    assert moving_average(frame, days - 1, 1, window=7).set_index("series_id").loc[
        "sparse", "forecast"] == pytest.approx(sparse[-7:].mean())
    with pytest.raises(ValueError, match="0.5"):
        DemandConfig(quantiles=(0.1, 0.9))  # the network's p50 is its q0.5 quantile


def test_rule_quantiles_come_from_its_own_residuals() -> None:
    """A moving average of one day on 0, 1, 2, ...: every one-step in-sample error is +1, so
    the band is [point, point + 1] and the median is the last value."""
    frame = pd.DataFrame({"series_id": "up", "time_idx": np.arange(30),
                          "target": np.arange(30, dtype=float)})
    rule = BaselineRule("moving_average", horizon=2, season=7, window=1, fit_days=10)
    fc = rule.forecast(frame)
    assert list(fc["q0.5"]) == [29.0, 29.0] and list(fc["q0.1"]) == [29.0, 29.0]
    assert list(fc["q0.9"]) == [30.0, 30.0] and list(fc["time_idx"]) == [30, 31]
    assert rule.history_days() == 11
    assert BaselineRule.from_params(rule.params()) == rule


# ---- metrics: known answers ------------------------------------------------------------------


def test_forecast_metrics_against_answers_worked_out_by_hand() -> None:
    actual, forecast = np.array([0.0, 2.0, 4.0, 0.0]), np.array([0.0, 1.0, 4.0, 3.0])
    # sMAPE terms: 0 (both zero: a perfect forecast), 2*1/3, 0, 2*3/3 = 2
    assert smape(actual, forecast) == pytest.approx((2 / 3 + 2) / 4)
    assert wape(actual, forecast) == pytest.approx(4 / 6)  # |errors| 0+1+0+3 over volume 6
    assert mase(actual, forecast, 2.0) == pytest.approx(0.5)  # MAE 1 over scale 2
    # pinball at q: under-forecasts cost q per unit, over-forecasts 1 - q
    assert pinball_loss(actual, forecast, 0.9) == pytest.approx((0.9 * 1 + 0.1 * 3) / 4)
    assert pinball_loss(actual, forecast, 0.5) == pytest.approx(0.5)  # half the MAE
    # the zero rules
    assert smape([0.0, 0.0], [0.0, 0.0]) == 0.0 and smape([0.0], [5.0]) == 2.0
    assert wape([0.0, 0.0], [0.0, 0.0]) == 0.0 and math.isnan(wape([0.0, 0.0], [1.0, 0.0]))
    assert math.isnan(mase([1.0], [2.0], 0.0)) and math.isnan(smape([], []))
    with pytest.raises(ValueError, match="length"):
        wape([1.0, 2.0], [1.0])

    # the backtest's table uses them: two models, one series (MASE scale: |4-2| = 2)
    results = pd.DataFrame({
        "model": ["m"] * 4 + ["z"] * 4, "series_id": "s", "actual": np.tile(actual, 2),
        "q0.1": np.concatenate([forecast, np.zeros(4)]),
        "q0.5": np.concatenate([forecast, np.zeros(4)]),
        "q0.9": np.concatenate([forecast, np.zeros(4)])})
    train = pd.DataFrame({"series_id": "s", "time_idx": [0, 1], "target": [2.0, 4.0]})
    m = forecast_metrics(results, train, (0.1, 0.5, 0.9), season=1)
    assert m["m"]["smape"] == pytest.approx((2 / 3 + 2) / 4)
    assert m["m"]["wape"] == pytest.approx(4 / 6) and m["m"]["mase"] == pytest.approx(0.5)
    assert m["z"]["wape"] == pytest.approx(1.0) and m["z"]["smape"] == pytest.approx(1.0)


def test_realised_accuracy_uses_the_same_metrics(tmp_path: Path) -> None:
    domain = load_domains()["demand"]
    lake = Lake(str(tmp_path / "lake"))
    day = dt.date(2026, 2, 2)
    series = ["s1", "s2", "s3", "s4"]
    actual, p50 = [0.0, 2.0, 4.0, 0.0], [0.0, 1.0, 4.0, 3.0]
    lake.overwrite(domain.predictions_table, pl.DataFrame({
        "date": [day - dt.timedelta(days=1)] * 4, "series_id": series,
        "target_date": [day] * 4, "horizon": [1] * 4, "p10": p50, "p50": p50,
        "p90": [v + 1 for v in p50], "method": ["nhits"] * 4, "model_version": ["v0001"] * 4}))
    lake.overwrite(domain.features_table, pl.DataFrame({
        "date": [day] * 4, "series_id": series, "target": actual}))
    figures = forecast_accuracy(lake, domain, day).figures
    assert figures["smape"] == pytest.approx(smape(actual, p50)) == pytest.approx(
        (2 / 3 + 2) / 4)
    assert figures["wape"] == pytest.approx(4 / 6) and figures["mae"] == pytest.approx(1.0)


# ---- through Dagster: nothing green before a model, a rule champion forecasts ------------------


@pytest.fixture
def demand_settings(tmp_path: Path) -> Settings:
    """The built-in demand domain with 40 days of silver features written directly."""
    settings = Settings(lake_root=str(tmp_path / "lake"), landing_root=str(tmp_path / "land"),
                        dagster_home=tmp_path / "home", partitions_start=START.isoformat(),
                        domains=("demand",))
    domain = settings.load_domains()["demand"]
    calendar = BusinessCalendar(domain.calendar)
    frame = weekly_frame(40, known=tuple(domain.main.roles.known))
    frame = frame.with_columns(calendar.index_series(frame["date"]).alias("t"),
                               calendar.holiday_flags(frame["date"]).alias("holiday"))
    Lake(settings.lake_root).overwrite(domain.features_table, frame)
    return settings


def materialize_forecasts(settings: Settings, day: dt.date, instance: dg.DagsterInstance
                          ) -> dg.ExecuteInProcessResult:
    [forecasts] = [a for a in build_definitions(settings).assets
                   if a.key.to_user_string() == "demand_forecasts"]
    return dg.materialize([forecasts], partition_key=day.isoformat(), instance=instance,
                          resources=build_resources(settings), run_config=QUIET)


def test_no_champion_forecasts_nothing_and_marks_nothing_materialized(
        demand_settings: Settings) -> None:
    day = START + dt.timedelta(days=39)
    key = dg.AssetKey("demand_forecasts")
    with dg.instance_for_test() as instance:
        result = materialize_forecasts(demand_settings, day, instance)
        assert result.success  # no failure: there is simply no model yet
        assert result.get_asset_materialization_events() == []
        assert instance.get_latest_materialization_event(key) is None
        [observed] = instance.fetch_observations(key, limit=1).records
        obs = observed.asset_observation
        assert obs.partition == day.isoformat() and not obs.metadata["scored"].value
        assert "no demand champion yet" in obs.metadata["reason"].value
    assert not Lake(demand_settings.lake_root).exists("gold/demand_forecasts")


def test_a_baseline_champion_forecasts_through_the_asset(demand_settings: Settings) -> None:
    registry = ModelRegistry(ObjectStore(demand_settings.lake_root))
    rule = BaselineRule("weekday_mean", horizon=3, season=7, weeks=2, fit_days=14)
    mv = registry.register("demand", None, {"family": rule.family, "rule": rule.params(),
                                            "training_set": {"test": 1}})
    registry.promote("demand", mv.version, "test")
    day = START + dt.timedelta(days=39)
    with dg.instance_for_test() as instance:
        result = materialize_forecasts(demand_settings, day, instance)
        assert result.success
        [event] = result.asset_materializations_for_node("demand_forecasts")
        assert event.partition == day.isoformat()
        meta = event.metadata
        assert meta["model_family"].value == "weekday_mean" and meta["series"].value == 2
        assert meta["fallback_series"].value == 0
        # it read what the rule needs: its fit window and lags, not an encoder
        assert meta["history_from"].value == (day - dt.timedelta(days=29)).isoformat()
    out = Lake(demand_settings.lake_root).scan("gold/demand_forecasts").collect()
    assert out.height == 2 * 3 and set(out["method"]) == {"weekday_mean"}
    assert set(out["model_version"]) == {mv.version}
    assert out.select((pl.col("p10") <= pl.col("p50")) & (pl.col("p50") <= pl.col("p90"))
                      ).to_series().all()
    # a weekly shape: the weekday mean of two identical weeks is that weekday's value
    p = out.filter(pl.col("series_id") == "p").sort("horizon")
    assert p["p50"].to_list() == [WEEK[d.weekday()] for d in p["target_date"].to_list()]


def test_explicit_backtest_ranges_with_a_gap_map_dates_to_open_days() -> None:
    import datetime as dt

    import polars as pl

    from assets.forecast_training import ForecastTrainingSetConfig, _plan
    from lakeloop.models.forecast.backtest import BacktestPlan

    # open days Mon-Sat only: t counts them, Sundays have no row
    days = [dt.date(2026, 1, 5) + dt.timedelta(days=i) for i in range(120)]
    open_days = [d for d in days if d.weekday() != 6]
    frame = pl.DataFrame({"date": open_days, "t": list(range(len(open_days)))})
    t = {d: i for i, d in enumerate(open_days)}
    cfg = ForecastTrainingSetConfig(horizon=6, encoder_length=12, val_start="2026-03-02",
                                    backtest_start="2026-03-16", backtest_end="2026-04-04")
    plan = _plan(frame, cfg)
    first = t[dt.date(2026, 3, 16)]
    assert plan.val_from == t[dt.date(2026, 3, 2)]
    assert plan.origins[0] == first - 1  # the first scored day is backtest_start
    assert all(b - a == 6 for a, b in zip(plan.origins, plan.origins[1:], strict=False))
    assert plan.origins[-1] + 6 <= t[dt.date(2026, 4, 4)]  # every window ends in range
    assert plan.val_from + 6 - 1 < first - 1  # validation ends before: a gap of open days
    # a closed start day maps to the next open day
    sunday = ForecastTrainingSetConfig(horizon=6, encoder_length=12,
                                       backtest_start="2026-03-15", backtest_end="2026-04-04")
    assert _plan(frame, sunday).origins[0] == first - 1
    with pytest.raises(ValueError, match="validation must end before"):
        BacktestPlan.explicit(50, 80, 6, val_from=46)
    with pytest.raises(ValueError, match="no full horizon"):
        BacktestPlan.explicit(50, 53, 6)
    with pytest.raises(ValueError, match="open days before validation"):
        _plan(frame, ForecastTrainingSetConfig(horizon=6, encoder_length=12,
                                               backtest_start="2026-01-20",
                                               backtest_end="2026-02-20"))
