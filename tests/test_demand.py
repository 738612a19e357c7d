"""The demand forecaster on tiny real data: train, backtest, registry round trip, fallback."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lakeloop.bronze import process_day, write_day
from lakeloop.calendar import time_index
from lakeloop.compute import compute
from lakeloop.contracts import load_contract
from lakeloop.features import demand_features
from lakeloop.models.demand import DemandConfig, to_pandas
from lakeloop.models.demand_eval import BacktestPlan, pinball_loss
from lakeloop.models.demand_lifecycle import (
    MODEL_NAME,
    forecast_with_fallback,
    load_demand_model,
    train_and_promote_demand,
)
from lakeloop.promotion import decide
from lakeloop.registry import ModelRegistry
from lakeloop.storage import Lake, ObjectStore
from tests.conftest import day, write_landing

DAYS = 36
CFG = DemandConfig(horizon=3, encoder_length=7, hidden_size=16, max_epochs=2, batch_size=64)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("demand")
    store = ObjectStore(str(write_landing(root / "landing", days=DAYS, scale=0.004)))
    lake = Lake(str(root / "lake"))
    frames = []
    for i in range(DAYS):
        write_day(lake, process_day(store, lake, load_contract("sales"), day(i)))
        d = day(i)
        frames.append(demand_features(lake.scan("bronze/sales", d - dt.timedelta(days=28), d),
                                      d).collect())
    import polars as pl

    return to_pandas(pl.concat(frames))


def test_train_backtest_register_and_forecast(history: pd.DataFrame, tmp_path: Path) -> None:
    plan = BacktestPlan.for_history(time_index(day(DAYS - 1)), CFG.horizon, 2)
    registry = ModelRegistry(ObjectStore(str(tmp_path / "lake")))
    cpu = compute("cpu")
    run = train_and_promote_demand(history, plan, registry, cpu, CFG, 0.0, {"t": 1},
                                   log=lambda _m: None, refit=False)
    assert set(run.metrics) == {"nhits", "seasonal_naive", "weekday_mean"}
    for m in run.metrics.values():
        assert m["points"] == 20 * 2 * CFG.horizon and m["mae"] >= 0 and m["pinball"] >= 0
    meta = registry.get(MODEL_NAME, run.version.version).meta
    assert meta["decision"]["metric"] == "mase" and meta["backtest"]["origins"] == list(
        plan.origins)
    assert set(meta["scales"]) == set(history["series_id"])

    # rebuilt from the registry (JSON + state_dict, no pickle): the same forecasts
    past = history[history["time_idx"] <= plan.origins[-1]]
    first = forecast_with_fallback(run.result.model, past, cpu)
    rebuilt = load_demand_model(registry, run.version, history)
    again = forecast_with_fallback(rebuilt, past, cpu)
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 20 * CFG.horizon and (first["method"] == "nhits").all()
    assert (first["q0.1"] <= first["q0.9"] + 1e-6).all()

    # a second challenger is judged against the champion on the same backtest origins
    if not run.decision.promote:  # tiny model may lose to a baseline: make it champion anyway
        registry.promote(MODEL_NAME, run.version.version, "test: operator override")
    longer = dataclasses.replace(CFG, max_epochs=12, patience=12)  # good enough to win
    second = train_and_promote_demand(history, plan, registry, cpu, longer, -1.0, {"t": 2},
                                      log=lambda _m: None, refit=True)
    assert second.champion_version == run.version.version
    assert second.champion_metrics["points"] == run.metrics["nhits"]["points"]
    assert second.champion_metrics["mase"] == pytest.approx(run.metrics["nhits"]["mase"])
    second_meta = registry.get(MODEL_NAME, second.version.version).meta
    assert second_meta["champion_at_training"] == run.version.version
    # a winner is refitted on all history before it is registered; a loser is kept as judged
    assert second.decision.promote, second.decision.reason  # margin -1: beats the champion
    assert (second_meta["refit"] is not None) == second.decision.promote
    registered = registry.load_weights(second.version)
    judged = second.result.model.state()
    same = all(torch.equal(registered[k], judged[k].cpu()) for k in judged)
    assert same != second.decision.promote

    # a series the model has never seen gets the stated fallback, not an error
    stranger = past[past["series_id"] == "s00_i000"].assign(series_id="s99_i999")
    mixed = forecast_with_fallback(rebuilt, pd.concat([past, stranger]), cpu)
    new = mixed[mixed["series_id"] == "s99_i999"]
    assert len(new) == CFG.horizon and (new["method"] == "seasonal_naive").all()


def test_error_metrics_promote_downwards() -> None:
    assert decide("mase", 0.8, 0.9, None, 0.01, higher_is_better=False).promote
    assert not decide("mase", 0.95, 0.9, None, 0.01, higher_is_better=False).promote
    assert decide("mase", 0.7, 0.9, 0.75, 0.01, higher_is_better=False).promote
    assert not decide("mase", 0.745, 0.9, 0.75, 0.01, higher_is_better=False).promote
    assert pinball_loss(np.array([10.0]), np.array([8.0]), 0.9) == pytest.approx(1.8)
    assert pinball_loss(np.array([10.0]), np.array([12.0]), 0.9) == pytest.approx(0.2)
