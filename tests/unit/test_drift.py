"""Drift maths with Evidently on real frames: quiet vs shifted data, sampling, reports."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from lakeloop.monitoring.drift import compute_drift
from lakeloop.monitoring.measure import DriftConfig


def _frame(n: int, seed: int, amount_scale: float = 1.0, ecom: float = 0.2) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "amount": rng.lognormal(3.0, 0.8, n) * amount_scale,
        "hour": rng.integers(0, 24, n),
        "count_24h": rng.poisson(2.0, n),
        "channel": rng.choice(["pos", "ecom"], n, p=[1 - ecom, ecom]),
        "is_night": rng.random(n) < 0.1,
        "score": rng.beta(1, 30, n) * amount_scale,
    })


COLUMNS = ["amount", "hour", "count_24h", "channel", "is_night"]


def test_quiet_day_is_not_drift_and_a_shift_is() -> None:
    cfg = DriftConfig(sample_size=3_000)
    reference = _frame(20_000, 1)
    quiet = compute_drift(reference, _frame(6_000, 2), COLUMNS, cfg, prediction="score")
    assert not quiet.dataset_drift and quiet.drifted_columns == []
    assert quiet.prediction_drift is False
    assert quiet.reference_rows == quiet.current_rows == 3_000  # fixed-size samples

    shifted = compute_drift(reference, _frame(6_000, 3, amount_scale=2.5, ecom=0.7), COLUMNS,
                            cfg, prediction="score")
    assert shifted.dataset_drift
    assert set(shifted.drifted_columns) == {"amount", "channel"}
    assert shifted.column_drift["amount"] > 10 * quiet.column_drift["amount"]
    assert shifted.prediction_drift is True
    figures = shifted.figures()
    assert figures["drifted_columns"] == 2 and figures["drift_share"] == 0.4
    # the Evidently run is kept for the workspace (no HTML), and its small JSON
    assert shifted.snapshot.json() == shifted.json and '"metrics"' in shifted.json


def test_columns_empty_on_one_side_are_left_out() -> None:
    reference = _frame(2_000, 1).with_columns(pl.lit(None, dtype=pl.Float64).alias("lag_7"))
    current = _frame(2_000, 2).with_columns(pl.lit(1.0).alias("lag_7"))
    result = compute_drift(reference, current, [*COLUMNS, "lag_7"], DriftConfig())
    assert set(result.column_drift) == set(COLUMNS)  # measured what can be measured
    # ... and said what was not, and why; going all-null is itself drift (by missingness)
    assert result.skipped == {
        "lag_7": "all values missing in reference (missingness still measured)"}
    assert result.missing_drift["lag_7"] == 1.0 and "lag_7 (missing)" in result.drifted_columns


def test_reference_moves_to_the_newest_week_a_champion_was_trained_on() -> None:
    import dataclasses
    import datetime as dt

    from lakeloop.monitoring.domain_monitor import reference_window
    from lakeloop.registry.model_registry import ModelVersion
    from lakeloop.training.split import SplitWindow

    window = SplitWindow(window_days=28, label_window_days=4, val_days=1, test_days=2)
    fraud = ModelVersion("fraud", "v0002", {"training_set": {
        "as_of": "2026-03-20", "window": dataclasses.asdict(window)}})
    # fraud: the newest feature days of its training set (labels needed 4 days to mature)
    assert reference_window(fraud, 7) == (dt.date(2026, 3, 10), dt.date(2026, 3, 16))
    demand = ModelVersion("demand", "v0002", {"training_set": {"as_of": "2026-03-20"}})
    assert reference_window(demand, 7) == (dt.date(2026, 3, 14), dt.date(2026, 3, 20))
    short = ModelVersion("fraud", "v0001", {"training_set": {
        "as_of": "2026-03-20", "window": dataclasses.asdict(
            SplitWindow(window_days=5, label_window_days=4, val_days=1, test_days=2))}})
    assert reference_window(short, 7) == (dt.date(2026, 3, 12), dt.date(2026, 3, 16))


def test_prediction_reference_is_the_champions_first_week() -> None:
    import datetime as dt

    from lakeloop.monitoring.domain_monitor import first_week

    start = dt.date(2026, 3, 1)
    rows = [{"date": start + dt.timedelta(days=i), "model_version": v, "v": float(i)}
            for i in range(12) for v in (["v0001"] if i < 3 else ["v0002"])]
    frame = pl.DataFrame(rows).lazy()

    def values(first: dt.date, last: dt.date) -> pl.LazyFrame:
        return frame.filter(pl.col("date").is_between(first, last))

    trained = start + dt.timedelta(days=2)  # v0002's as-of day: it serves from day 3
    # v0002 scored from day 3: its reference week is days 3..9, so day 9 is not measured yet
    assert first_week(values, "v0002", trained, start + dt.timedelta(days=9)) is None
    reference, current = first_week(values, "v0002", trained, start + dt.timedelta(days=10))
    assert sorted(reference.to_list()) == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert current.to_list() == [10.0]
    # pooled days: the current side spans since..day, but never reaches into the first week
    _, pooled = first_week(values, "v0002", trained, start + dt.timedelta(days=11),
                           since=start + dt.timedelta(days=8))
    assert sorted(pooled.to_list()) == [10.0, 11.0]
    # days it scored on or before its as-of day (a re-scored history) are not its first week
    reference, _ = first_week(values, "v0002", start + dt.timedelta(days=3),
                              start + dt.timedelta(days=11))
    assert sorted(reference.to_list()) == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]


def test_an_old_champions_first_week_stays_its_first_week() -> None:
    """A champion a year old is still compared with its own first week, read a window at a
    time from its as-of day (a look-back from the day lost that week once it was older than
    the look-back, and the reference slid with the days)."""
    import datetime as dt

    from lakeloop.monitoring.domain_monitor import FIRST_WEEK_SEARCH_DAYS, first_week

    start = dt.date(2025, 1, 1)
    frame = pl.DataFrame([{"date": start + dt.timedelta(days=i), "model_version": "v0003",
                           "v": float(i)} for i in range(40, 400)]).lazy()  # first served day 40
    windows: list[tuple[dt.date, dt.date]] = []

    def values(first: dt.date, last: dt.date) -> pl.LazyFrame:
        windows.append((first, last))
        return frame.filter(pl.col("date").is_between(first, last))

    reference, current = first_week(values, "v0003", start, start + dt.timedelta(days=399))
    assert sorted(reference.to_list()) == [float(i) for i in range(40, 47)]
    assert current.to_list() == [399.0]
    searched = windows[:-2]  # then the day, then the week
    assert all((last - first).days < FIRST_WEEK_SEARCH_DAYS for first, last in searched)
    assert searched[-1][1] < start + dt.timedelta(days=46 + FIRST_WEEK_SEARCH_DAYS)  # stops


def test_a_thin_day_is_pooled_with_the_days_before_it(tmp_path) -> None:  # noqa: ANN001
    """A day with fewer rows than ``min_current_rows`` grows back, newest day first, at most
    ``max_current_days`` and never onto the reference; a full day stands alone."""
    import datetime as dt

    from lakeloop.monitoring.domain_monitor import current_since
    from lakeloop.storage import Lake

    lake = Lake(str(tmp_path / "lake"))
    start = dt.date(2026, 3, 1)
    for i, n in enumerate([500, 60, 60, 60, 60, 60, 300]):
        day = start + dt.timedelta(days=i)
        lake.overwrite_partition("silver/x", pl.DataFrame({"v": np.arange(n, dtype=float)})
                                 .with_columns(pl.lit(day).alias("date")), day)
    cfg = DriftConfig(min_current_rows=200, max_current_days=7)
    before = start - dt.timedelta(days=1)
    assert current_since(lake, "silver/x", start + dt.timedelta(days=6), cfg, before) \
        == start + dt.timedelta(days=6)  # 300 rows: the day alone
    assert current_since(lake, "silver/x", start + dt.timedelta(days=5), cfg, before) \
        == start + dt.timedelta(days=2)  # 4 x 60 = 240 rows
    assert current_since(lake, "silver/x", start + dt.timedelta(days=5), cfg,
                         start + dt.timedelta(days=3)) == start + dt.timedelta(days=4)
    short = DriftConfig(min_current_rows=200, max_current_days=2)
    assert current_since(lake, "silver/x", start + dt.timedelta(days=5), short, before) \
        == start + dt.timedelta(days=4)
    assert current_since(lake, "silver/x", start + dt.timedelta(days=5),
                         DriftConfig(), before) == start + dt.timedelta(days=5)  # 0: off
    only_small = pl.col("v") < 30  # a filter (regular-price rows) counts what is compared
    assert current_since(lake, "silver/x", start + dt.timedelta(days=5), cfg, before,
                         only_small) == start  # 6 x 30 < 200: back to the reference's edge


def test_quality_reports_are_evidently_runs_with_our_figures() -> None:
    from lakeloop.models.metrics import classification_metrics, wape
    from lakeloop.monitoring.quality_reports import classification_report, regression_report

    def values(js: str) -> dict[str, float]:
        return {m["metric_name"]: m["value"] for m in json.loads(js)["metrics"]}

    rng = np.random.default_rng(3)
    y = (rng.random(3_000) < 0.02).astype(int)
    scored = pl.DataFrame({"y": y, "fraud_score": np.clip(y * 0.6 + rng.random(3_000) * 0.5,
                                                          0, 1)})
    snapshot, js = classification_report(scored, "y", "fraud_score")
    assert "RocAuc" in js and snapshot.json() == js  # a ranking report on real outcomes
    # the figures the decay rule and the asset metadata use, in Evidently's report too
    ours = classification_metrics(y, scored["fraud_score"].to_numpy())
    got = values(js)
    assert got["PrAuc(target=y,score=fraud_score)"] == pytest.approx(ours["pr_auc"])
    assert got["RecallAtAlertRate(target=y,score=fraud_score,rate=0.01)"] == pytest.approx(
        ours["recall_at_1pct"])
    assert classification_report(scored.with_columns(pl.lit(0).alias("y")), "y",
                                 "fraud_score") is None  # no fraud yet: nothing to rank
    units = rng.poisson(20, 500).astype(float)
    snapshot, js = regression_report(pl.DataFrame({"units": units, "p50": units + 1.0}), "units",
                                     "p50")
    assert "MAE" in js.upper()
    assert values(js)["Wape(target=units,prediction=p50)"] == pytest.approx(
        wape(units, units + 1.0))
