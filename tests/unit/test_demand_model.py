"""The demand forecaster on a Sunday-closed, French-holiday calendar, in silver's own names.

Frames are built directly in the silver series schema (``lakeloop.features.series``), so these
tests pin the model's contract with the features: open-day time, calendar holidays, known
covariates passed in as a list, zero / negative targets, fallbacks and a rebuild from meta.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
import torch

from lakeloop.contracts.calendar import BusinessCalendar, CalendarSpec, HolidaySource
from lakeloop.models.compute import compute
from lakeloop.models.forecast.backtest import BacktestPlan, backtest, forecast_metrics, mase_scale
from lakeloop.models.forecast.baselines import seasonal_naive, weekday_mean
from lakeloop.models.forecast.lifecycle import (
    forecast_with_fallback,
    load_demand_model,
    train_and_promote_demand,
)
from lakeloop.models.forecast.nhits import (
    DemandConfig,
    DemandModel,
    check_finite,
    future_rows,
    to_pandas,
    train_demand,
)
from lakeloop.registry.model_registry import ModelRegistry
from lakeloop.storage import ObjectStore

pytestmark = pytest.mark.slow  # trains N-HiTS: make test, not make test-fast

CAL = BusinessCalendar(CalendarSpec(closed_weekdays=["sun"], holidays=HolidaySource(country="FR"),
                                    closed_on_holidays=True))
SEASON = CAL.periods_per_week  # 6
KNOWN = ["promo", "temperature"]
CFG = DemandConfig(horizon=3, encoder_length=12, hidden_size=8, max_epochs=2, batch_size=64,
                   patience=2, season=SEASON)
START, END = dt.date(2026, 1, 5), dt.date(2026, 4, 30)  # the day after END is May Day
NAME = "shop"  # a domain's name is its registry name


def _value(sid: str, day: dt.date, promo: bool, rng: np.random.Generator) -> float:
    if sid == "a":
        return 20 + 8 * (day.weekday() == 5) + 10 * promo + rng.normal(0, 2)
    if sid == "b":
        return 5 + 2 * math.sin(day.weekday()) + rng.normal(0, 1)
    if sid == "zero":  # intermittent: mostly zero
        return float(rng.poisson(0.3))
    if sid == "ret":  # net of returns: often negative
        return rng.normal(1, 3)
    if sid == "never":  # a series that never sold
        return 0.0
    return 3 + rng.normal(0, 1)


def silver(days: list[dt.date], ids: list[str], calendar: BusinessCalendar = CAL,
           seed: int = 0) -> pl.DataFrame:
    """Rows in the silver series schema: one per series and open day."""
    rng = np.random.default_rng(seed)
    rows = []
    for sid in ids:
        for d in days:
            promo = bool(rng.random() < 0.2)
            rows.append({"date": d, "series_id": sid, "store": "s1", "item": sid,
                         "target": _value(sid, d, promo, rng), "promo": promo,
                         "temperature": 10 + 10 * math.sin(d.toordinal() / 58),
                         "price_ratio": 1.0 - 0.2 * promo})
    frame = pl.DataFrame(rows)
    return frame.with_columns(
        calendar.index_series(frame["date"]).alias("t"),
        pl.col("date").dt.weekday().alias("weekday"),
        pl.col("date").dt.month().alias("month"),
        pl.col("date").dt.ordinal_day().alias("day_of_year"),
        calendar.holiday_flags(frame["date"]).alias("holiday"),
    ).sort("series_id", "t").with_columns(
        pl.col("target").shift(1).over("series_id").alias("target_lag_1"),
        pl.col("target").shift(1).rolling_mean(SEASON).over("series_id")
        .alias(f"target_mean_{SEASON}"),
    )


@pytest.fixture(scope="module")
def pdf() -> pd.DataFrame:
    days = CAL.open_days(START, END)
    frame = silver(days, ["a", "b", "zero", "ret", "never"])
    short = silver(days[-5:], ["short"], seed=1)  # a cold start: five days of history
    return to_pandas(pl.concat([frame, short]), KNOWN)


def force_network(mp: pytest.MonkeyPatch) -> None:
    """Make the network the chosen candidate whatever its MASE: these tests are about the
    network's registration, and a 2-epoch network may well lose to a baseline rule (which
    then serves instead: tests/assets/test_demand_champion.py)."""
    import lakeloop.models.forecast.lifecycle as lifecycle

    mp.setattr(lifecycle, "choose_family", lambda _m: ("nhits", "forced by the test"))


@pytest.fixture(scope="module")
def trained(pdf: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    registry = ModelRegistry(ObjectStore(str(tmp_path_factory.mktemp("registry"))))
    plan = BacktestPlan.for_history(int(pdf["time_idx"].max()), CFG.horizon, 2)
    with pytest.MonkeyPatch.context() as mp:
        force_network(mp)
        run = train_and_promote_demand(pdf, plan, registry, compute("cpu"), CFG, 0.0,
                                       {"test": 1}, log=lambda _m: None, refit=False,
                                       model_name=NAME)
    return run, registry, plan


def test_to_pandas_schema(pdf: pd.DataFrame) -> None:
    assert list(pdf.columns) == ["series_id", "date", "target", "time_idx", "promo",
                                 "temperature", "price_ratio", "holiday", "dow_sin",
                                 "dow_cos"]
    assert pdf["time_idx"].dtype == "int64" and set(pdf["promo"].unique()) <= {0.0, 1.0}
    dates = pd.to_datetime(pdf["date"])
    assert (dates.dt.weekday != 6).all()  # silver holds open days only
    monday = pdf[dates.dt.weekday == 0].iloc[0]
    assert monday["dow_sin"] == pytest.approx(0.0) and monday["dow_cos"] == pytest.approx(1.0)
    # consecutive open days differ by exactly 1 in time_idx, across Sundays and Easter Monday
    steps = pdf[pdf["series_id"] == "a"]["time_idx"].diff().dropna()
    assert (steps == 1).all()
    with pytest.raises(ValueError, match="target"):
        to_pandas(silver(CAL.open_days(START, START), ["a"]), ["target"])  # a reserved name
    with pytest.raises(ValueError, match="missing_col"):
        to_pandas(silver(CAL.open_days(START, START), ["a"]), ["missing_col"])


def test_train_backtest_metrics_are_finite(trained, pdf: pd.DataFrame) -> None:
    run, registry, plan = trained
    assert set(run.metrics) == {"nhits", "seasonal_naive", "weekday_mean", "moving_average"}
    for m in run.metrics.values():
        assert all(math.isfinite(m[k]) for k in ("mae", "smape", "mase", "pinball")), m
        assert m["points"] > 0
    # the never-sold series has no MASE scale: left out of MASE rather than dividing by ~0
    assert run.metrics["nhits"]["mase_series"] == run.metrics["nhits"]["series"] - 1
    assert not run.backtest[["q0.1", "q0.5", "q0.9"]].isna().any().any()
    meta = registry.get(NAME, run.version.version).meta
    assert meta["known_reals"] == ["promo", "temperature", "price_ratio", "holiday",
                                   "dow_sin", "dow_cos"]
    assert meta["config"]["season"] == SEASON and meta["backtest"]["origins"] == list(
        plan.origins)
    # returns make a target negative: that series' forecasts are not clipped at 0, the others'
    assert meta["negative_series"] == ["ret"] == run.result.model.negative_series
    nn = run.backtest[run.backtest["model"] == "nhits"]
    assert (nn[nn["series_id"] != "ret"]["q0.1"] >= 0).all()
    assert registry.versions("demand") == []  # registered under the domain's name only
    # the first model always serves; every candidate's metrics and the choice are recorded
    assert meta["family"] == "nhits" and registry.champion_version(NAME) == run.version.version
    assert meta["candidates"] == run.metrics and meta["metrics"] == run.metrics["nhits"]
    assert meta["decision"]["family"] == "nhits" and meta["family_reason"]


def test_mase_scale_uses_the_open_day_season(pdf: pd.DataFrame) -> None:
    frame = pdf[pdf["series_id"] == "a"]
    scale = mase_scale(frame, SEASON)["a"]
    lagged = frame.set_index("time_idx")["target"]
    expected = (lagged - lagged.shift(SEASON)).abs().mean()  # t has no gaps: row lag = t lag
    assert scale == pytest.approx(expected)


def test_future_rows_step_over_sundays_and_holidays(pdf: pd.DataFrame) -> None:
    fut = future_rows(pdf, 10, CAL)
    last = pdf.groupby("series_id")["time_idx"].max()
    assert len(fut) == 10 * pdf["series_id"].nunique() and fut["target"].isna().all()
    for sid, g in fut.groupby("series_id"):
        g = g.sort_values("time_idx")
        assert list(g["time_idx"]) == list(range(last[sid] + 1, last[sid] + 11))
        days = [pd.Timestamp(d).date() for d in g["date"]]
        assert all(d.weekday() != 6 and not CAL.is_holiday(d) for d in days)
        assert days == CAL.next_open_days(END, 10)
        assert [CAL.index(d) for d in days] == list(g["time_idx"])
    assert dt.date(2026, 5, 1) not in {pd.Timestamp(d).date() for d in fut["date"]}
    # known covariates carried forward from each series' last row
    a_last = pdf[pdf["series_id"] == "a"].iloc[-1]
    a_fut = fut[fut["series_id"] == "a"]
    assert (a_fut["promo"] == a_last["promo"]).all()
    assert (a_fut["temperature"] == a_last["temperature"]).all()

    # a calendar where holidays are a feature, not a closure: May Day is forecast, flagged
    open_cal = BusinessCalendar(CalendarSpec(closed_weekdays=["sun"],
                                             holidays=HolidaySource(country="FR")))
    hist = to_pandas(silver(open_cal.open_days(dt.date(2026, 4, 20), END), ["a"], open_cal),
                     KNOWN)
    ahead = future_rows(hist, 3, open_cal)
    flags = {pd.Timestamp(d).date(): h for d, h in zip(ahead["date"], ahead["holiday"],
                                                       strict=True)}
    assert flags == {dt.date(2026, 5, 1): 1.0, dt.date(2026, 5, 2): 0.0,
                     dt.date(2026, 5, 4): 0.0}
    # history indexed with another calendar is refused, not silently misaligned
    with pytest.raises(ValueError, match="disagree"):
        future_rows(hist, 3, CAL)


def test_seasonal_naive_uses_the_open_day_season() -> None:
    days = CAL.open_days(dt.date(2026, 1, 5), dt.date(2026, 3, 20))  # no holiday in there
    hist = to_pandas(silver(days, ["a"]), KNOWN).assign(
        target=lambda f: f["time_idx"].astype(float))
    origin = int(hist["time_idx"].max())
    fc = seasonal_naive(hist, origin, 8, SEASON)
    for h, value in zip(fc["horizon"], fc["forecast"], strict=True):
        assert value == origin + h - SEASON * math.ceil(h / SEASON)
    # six open days back is the same weekday one week back
    src = CAL.day_at(int(fc["forecast"].iloc[0]))
    assert src == CAL.day_at(origin + 1) - dt.timedelta(days=7)
    wm = weekday_mean(hist, origin, 2, SEASON, weeks=2)
    assert wm["forecast"].iloc[0] == pytest.approx(origin + 1 - SEASON - SEASON / 2)


def test_check_finite_names_the_column(pdf: pd.DataFrame) -> None:
    bad = pdf.copy()
    bad.loc[bad.index[3], "temperature"] = np.inf
    with pytest.raises(ValueError, match=r"'temperature'.*\('a', '2026-01-08'\)"):
        check_finite(bad, ["promo", "temperature"], "test")
    with pytest.raises(ValueError, match="temperature"):
        train_demand(bad, 50, CFG, compute("cpu"), log=lambda _m: None)
    check_finite(pdf, ["promo", "temperature", "target"], "test")  # clean: no error


def test_fallbacks_for_new_and_short_series(trained, pdf: pd.DataFrame) -> None:
    run, _registry, _plan = trained
    model = run.result.model
    new = pdf[pdf["series_id"] == "a"].assign(series_id="new")  # unknown to the model
    b_short = pdf[pdf["series_id"] == "b"].tail(8)  # known, but shorter than the encoder
    others = pdf[~pdf["series_id"].isin(["b"])]
    fc = forecast_with_fallback(model, pd.concat([others, b_short, new]), compute("cpu"), CAL)
    assert list(fc.columns) == ["series_id", "time_idx", "horizon", "q0.1", "q0.5", "q0.9",
                                "method", "target_date"]
    assert len(fc) == CFG.horizon * 7 and not fc[["q0.1", "q0.5", "q0.9"]].isna().any().any()
    method = fc.groupby("series_id")["method"].agg(set)
    assert method["new"] == {"seasonal_naive"} and method["b"] == {"seasonal_naive"}
    assert all(method[s] == {"nhits"} for s in ("a", "ret", "zero", "never"))
    # five days of history, less than a season: the first step has no seasonal-naive value
    short = fc[fc["series_id"] == "short"].sort_values("horizon")
    assert list(short["method"]) == ["last_value", "seasonal_naive", "seasonal_naive"]
    short_hist = pdf[pdf["series_id"] == "short"]["target"]
    assert short["q0.5"].iloc[0] == short_hist.iloc[-1]
    assert short["q0.5"].iloc[1] == short_hist.iloc[0]  # origin + 2 - 6 = the first day
    new_fc = fc[fc["series_id"] == "new"].sort_values("horizon")
    a_hist = pdf[pdf["series_id"] == "a"].set_index("time_idx")["target"]
    origin = int(a_hist.index.max())
    assert list(new_fc["q0.5"]) == [a_hist[origin + h - SEASON] for h in (1, 2, 3)]
    # every forecast lands on an open day, the right one for its time_idx
    assert dt.date(2026, 5, 1) not in set(fc["target_date"])
    assert set(fc["target_date"]) == {dt.date(2026, 5, 2), dt.date(2026, 5, 4),
                                      dt.date(2026, 5, 5)}
    assert all(CAL.index(d) == t for d, t in zip(fc["target_date"], fc["time_idx"],
                                                 strict=True))
    assert (fc["q0.1"] <= fc["q0.9"] + 1e-9).all()


def test_rebuild_from_meta_forecasts_the_same(trained, pdf: pd.DataFrame) -> None:
    run, registry, _plan = trained
    cpu = compute("cpu")
    first = forecast_with_fallback(run.result.model, pdf, cpu, CAL)
    mv = registry.get(NAME, run.version.version)
    rebuilt = DemandModel.rebuild(mv.meta, registry.load_weights(mv))  # no data, no contract
    pd.testing.assert_frame_equal(first, forecast_with_fallback(rebuilt, pdf, cpu, CAL))
    loaded = load_demand_model(registry, mv, pdf)
    pd.testing.assert_frame_equal(first, forecast_with_fallback(loaded, pdf, cpu, CAL))
    with pytest.raises(ValueError, match="temperature"):  # the contract dropped a covariate
        load_demand_model(registry, mv, pdf.drop(columns="temperature"))


def test_champion_is_judged_on_the_same_origins(trained, pdf: pd.DataFrame) -> None:
    run, registry, plan = trained
    assert registry.champion_version(NAME) == run.version.version  # the first one serves
    cfg = dataclasses.replace(CFG, max_epochs=1)
    second = train_and_promote_demand(pdf, plan, registry, compute("cpu"), cfg, 0.0, {"t": 2},
                                      log=lambda _m: None, refit=False, model_name=NAME)
    assert second.champion_version == registry.get(NAME, second.version.version).meta[
        "champion_at_training"]
    assert second.champion_metrics is not None
    assert second.champion_metrics["points"] == run.metrics["nhits"]["points"]
    assert second.champion_metrics["mase"] == pytest.approx(run.metrics["nhits"]["mase"])
    # backtest in open days: every scored day is a time_idx of the history
    scored = backtest(second.result.model, pdf, plan, compute("cpu"))
    assert set(scored["time_idx"]) <= set(pdf["time_idx"])
    metrics = forecast_metrics(scored, pdf[pdf["time_idx"] < plan.val_from], cfg.quantiles,
                               SEASON)
    assert math.isfinite(metrics["nhits"]["mase"])


def test_a_winner_is_registered_as_its_refit_and_a_loser_as_judged(
        trained, pdf: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """The refit branch: which decision comes out is the promotion rule's business (tested in
    tests/unit/test_models.py); here the decision is fixed to exercise both branches."""
    import lakeloop.models.forecast.lifecycle as lifecycle
    from lakeloop.registry.promotion import Decision

    run, registry, plan = trained
    cfg = dataclasses.replace(CFG, max_epochs=1)
    outcomes = {}
    force_network(monkeypatch)
    for promote in (True, False):
        monkeypatch.setattr(lifecycle, "decide_demand", lambda *_a, p=promote, **_k: Decision(
            p, "fixed by the test", "mase", 0.5, None, 1.0, "nhits"))
        outcomes[promote] = train_and_promote_demand(
            pdf, plan, registry, compute("cpu"), cfg, 0.0, {"t": 3}, log=lambda _m: None,
            refit=True, model_name=NAME)
    won, lost = outcomes[True], outcomes[False]
    won_meta = registry.get(NAME, won.version.version).meta
    lost_meta = registry.get(NAME, lost.version.version).meta
    # a winner is refitted on all history (the backtest held the newest days out)...
    assert won_meta["refit"] is not None and won.deployed is not won.result
    assert won_meta["refit"]["val_from"] > plan.val_from
    assert won_meta["metrics"] == won.metrics["nhits"]  # ...its recorded metrics: the backtest's
    # ...a loser is kept exactly as judged
    assert lost_meta["refit"] is None and lost.deployed is lost.result
    assert registry.champion_version(NAME) == won.version.version


def test_cached_windows_are_pytorch_forecastings_own_batches(pdf: pd.DataFrame) -> None:
    """The window cache serves exactly the windows ``to_dataloader`` builds, in its format:
    every key and shape, every window once per epoch, a new order each epoch."""
    from lakeloop.models.forecast.nhits import (
        _with_target,
        known_reals_of,
        make_dataset,
        series_scales,
    )
    from lakeloop.models.forecast.window_cache import cached_loader

    data = _with_target(pdf, series_scales(pdf))
    ds = make_dataset(data, CFG, known_reals_of(pdf))
    plain = list(ds.to_dataloader(train=False, batch_size=len(ds)))
    (x_ref, (y_ref, w_ref)), = plain
    loader = cached_loader(ds, batch_size=16, seed=1)
    epochs = [list(loader) for _ in range(2)]
    x, (y, w) = epochs[0][0]
    assert set(x) == set(x_ref) and w is None and w_ref is None
    assert all(x[k].shape[1:] == x_ref[k].shape[1:] for k in x_ref
               if isinstance(x_ref[k], torch.Tensor))
    assert x["encoder_cont"].shape[0] == 16 and y.shape[1:] == y_ref.shape[1:]

    def windows(batches: list) -> torch.Tensor:  # one row per window, by series and time
        rows = torch.cat([torch.cat([b[0]["encoder_cont"].flatten(1), b[1][0]], 1)
                          for b in batches])
        key = torch.cat([b[0]["groups"][:, 0] * 100_000 + b[0]["decoder_time_idx"][:, 0]
                         for b in batches])
        assert len(key.unique()) == len(key)
        return rows[torch.argsort(key)]

    n = len(ds) - len(ds) % 16  # the last partial batch is dropped, as train=True does
    assert sum(b[0]["encoder_cont"].shape[0] for b in epochs[0]) == n
    assert not torch.equal(epochs[0][0][1][0], epochs[1][0][1][0])  # reshuffled
    full = list(cached_loader(ds, batch_size=len(ds), seed=1))
    torch.testing.assert_close(windows(full), windows(plain))


def test_windows_built_by_worker_processes_are_the_same(pdf: pd.DataFrame) -> None:
    """``num_workers`` (a GPU machine's spare cores) changes who builds the windows, not
    which windows: the same tensors, window for window."""
    from lakeloop.models.forecast.nhits import (
        _with_target,
        known_reals_of,
        make_dataset,
        series_scales,
    )
    from lakeloop.models.forecast.window_cache import cached_loader

    ds = make_dataset(_with_target(pdf, series_scales(pdf)), CFG, known_reals_of(pdf))
    (x, (y, _w)), = list(cached_loader(ds, batch_size=len(ds), seed=1))
    (xw, (yw, _ww)), = list(cached_loader(ds, batch_size=len(ds), seed=1, num_workers=2))
    torch.testing.assert_close(yw, y)
    for key, value in x.items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(xw[key], value)


def test_forecasts_are_issued_for_days_after_the_forecast_day_only() -> None:
    """A series whose newest row is two open days old is forecast from its own last day; as
    the forecast issued on ``day`` its steps on or before ``day`` are dropped and the rest
    are counted from ``day`` (closed Sundays skipped), never a horizon 1 for ``day`` itself."""
    from lakeloop.models.forecast.lifecycle import from_day

    cal = BusinessCalendar(CalendarSpec(closed_weekdays=["sun"]))
    day = dt.date(2026, 3, 14)  # a Saturday: the next open day is Monday
    current = [cal.shift(day, k) for k in (1, 2, 3)]
    stale = [cal.shift(day, k) for k in (-1, 0, 1)]  # its last row: two open days before
    fc = pd.DataFrame({"series_id": ["a"] * 3 + ["b"] * 3, "horizon": [1, 2, 3] * 2,
                       "q0.5": [1.0] * 6, "target_date": [*current, *stale]})
    out = from_day(fc, day, cal)
    assert out[out["series_id"] == "a"]["horizon"].tolist() == [1, 2, 3]
    b = out[out["series_id"] == "b"]
    assert b["horizon"].tolist() == [1] and b["target_date"].tolist() == [dt.date(2026, 3, 16)]
    assert (pd.to_datetime(out["target_date"]).dt.date > day).all()
