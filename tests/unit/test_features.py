"""Feature functions: point-in-time correctness, look-back-only reads, determinism."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakeloop.contracts import load_contract
from lakeloop.contracts.calendar import BusinessCalendar
from lakeloop.features import (
    EVENT_LOOKBACK_DAYS,
    event_features,
    events,
    known_labels_from_dataset,
    lookback_days,
    series_features,
)
from lakeloop.features.events import one_run_per_entity
from lakeloop.ingest.bronze import process_day, write_day
from lakeloop.names import bronze_table
from lakeloop.storage import Lake, ObjectStore
from tests.conftest import day

pytestmark = pytest.mark.slow  # builds weeks of simulated features: make test only

TX = load_contract("transactions")
LABELS = load_contract("fraud_labels")
SALES = load_contract("sales")
CATEGORICAL = ["merchant_category", "currency", "country", "channel", "device"]


@pytest.fixture(scope="module")
def bronze(tiny_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Ten days of bronze (transactions, labels, sales) built by the real ingest code."""
    lake = Lake(str(tmp_path_factory.mktemp("lake")))
    store = ObjectStore(str(tiny_landing))
    for dataset in ("transactions", "fraud_labels", "sales"):
        for i in range(10):
            write_day(lake, process_day(store, lake, load_contract(dataset), day(i)))
    return lake


def _tx_features(history: pl.LazyFrame, labels: pl.LazyFrame | None, d: dt.date
                 ) -> pl.DataFrame:
    known = None if labels is None else known_labels_from_dataset(labels, TX, LABELS)
    return event_features(history, known, d, TX).collect()


def test_no_transaction_feature_uses_data_after_the_row(bronze: Lake) -> None:
    """Cut history at time T: features of every row at or before T must not change."""
    d = day(7)
    history = bronze.scan(bronze_table("transactions"), d - dt.timedelta(days=7), d).collect()
    labels = bronze.scan(bronze_table("fraud_labels"), d - dt.timedelta(days=30),
                         d - dt.timedelta(days=1))
    full = _tx_features(history.lazy(), labels, d)
    for cut in ("06:00:00", "12:00:00", "18:30:00"):
        t = dt.datetime.fromisoformat(f"{d}T{cut}")
        cut_history = history.filter(pl.col("ts") <= t)
        partial = _tx_features(cut_history.lazy(), labels, d)
        before = full.filter(pl.col("ts") <= t)
        assert partial.height == before.height > 10
        assert_frame_equal(partial, before)
    # and the labels of the day itself (reported later that day) are never used
    same_day = bronze.scan(bronze_table("fraud_labels"), d, d)
    with_today = _tx_features(history.lazy(), pl.concat([labels, same_day]), d)
    assert same_day.collect().height > 0
    assert with_today.equals(full)  # a label known on the day itself counts from D+1 only


def test_rows_in_any_order_and_chunking_give_the_same_features(bronze: Lake) -> None:
    """Features are computed in event order whatever order the rows come in (sorted only
    when they are not in it), and a history read from many files (many chunks) is no
    different from one contiguous frame."""
    d = day(7)
    history = bronze.scan(bronze_table("transactions"), d - dt.timedelta(days=7), d).collect()
    labels = bronze.scan(bronze_table("fraud_labels"), d - dt.timedelta(days=30),
                         d - dt.timedelta(days=1))
    in_order = _tx_features(history.sort("ts", "transaction_id").rechunk().lazy(), labels, d)
    shuffled = _tx_features(history.sample(fraction=1.0, shuffle=True, seed=7).lazy(), labels, d)
    parts = pl.concat([history.slice(i, 40) for i in range(0, history.height, 40)],
                      rechunk=False)
    assert parts.n_chunks() > 3 and in_order.height > 100
    assert in_order["card_labels_30d"].sum() > 0  # the label history is exercised too
    assert_frame_equal(shuffled, in_order)
    assert_frame_equal(_tx_features(parts.lazy(), labels, d), in_order)


def test_entity_runs_tell_a_hash_collision() -> None:
    """The check that guards the hash ordering of the windows: rows ordered by the key's
    hash hold each entity in one run, unless two keys share a hash -- caught whether their
    rows interleave or not (``shared``: a hash where a and b collide)."""
    contiguous = pl.DataFrame({"card": ["a", "a", "b", "b", "c"], "zip": [1, 1, 1, 2, 2]})
    shared = pl.when(pl.col("card") == "c").then(9).otherwise(7)
    assert one_run_per_entity(contiguous, ["card"])
    assert one_run_per_entity(contiguous, ["zip", "card"])  # composite keys: 4 runs, 4 hashes
    assert not one_run_per_entity(contiguous, ["card"], hashed=shared)
    assert not one_run_per_entity(contiguous.with_columns(pl.Series(
        "card", ["a", "b", "a", "b", "c"])), ["card"], hashed=shared)
    assert one_run_per_entity(contiguous.clear(), ["card"])


def test_windows_ordered_by_the_key_itself_are_the_same(bronze: Lake,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback taken on a hash collision (rows ordered by the key, not its hash) gives
    the same features."""
    d = day(7)
    history = bronze.scan(bronze_table("transactions"), d - dt.timedelta(days=7), d)
    hashed = _tx_features(history, None, d)
    monkeypatch.setattr(events, "one_run_per_entity", lambda *_: False)
    assert_frame_equal(_tx_features(history, None, d), hashed)


def test_an_unknown_card_hops_nowhere_and_a_feature_name_is_not_overwritten() -> None:
    """A row without its card has no "previous event" of the card, so it never repeats the
    previous merchant; a data column named like a generated feature is refused by name."""
    ts = [dt.datetime(2026, 1, 8, 10), dt.datetime(2026, 1, 8, 11)]
    frame = pl.DataFrame({
        "transaction_id": ["a", "b"], "ts": ts, "card_id": [None, None],
        "merchant_id": ["m1", "m1"], "date": [dt.date(2026, 1, 8)] * 2,
        "amount": [10.0, 20.0], **{c: ["x"] * 2 for c in CATEGORICAL},
    }, schema_overrides={"card_id": pl.String})
    out = _tx_features(frame.lazy(), None, dt.date(2026, 1, 8))
    assert out["card_same_merchant_as_prev"].to_list() == [False, False]
    assert out["card_count_24h"].to_list() == [None, None]
    assert out["merchant_count_24h"].to_list() == [0, 1]
    with pytest.raises(ValueError, match=r"\['card_count_1h'\] have the names of features"):
        _tx_features(frame.with_columns(pl.lit(1).alias("card_count_1h")).lazy(), None,
                     dt.date(2026, 1, 8))


def test_windows_count_only_strictly_earlier_transactions() -> None:
    ts = [dt.datetime(2026, 1, 8, 10, 0), dt.datetime(2026, 1, 8, 10, 30),
          dt.datetime(2026, 1, 8, 10, 30), dt.datetime(2026, 1, 8, 11, 15)]
    frame = pl.LazyFrame({
        "transaction_id": ["a", "b", "c", "d"], "ts": ts, "card_id": ["k"] * 4,
        "merchant_id": ["m1", "m1", "m2", "m1"], "date": [dt.date(2026, 1, 8)] * 4,
        "amount": [10.0, 20.0, 30.0, 40.0], **{c: ["x"] * 4 for c in CATEGORICAL},
    })
    out = _tx_features(frame, None, dt.date(2026, 1, 8))
    assert out["card_count_1h"].to_list() == [0, 1, 1, 2]  # (t-1h, t): 10:00 drops out at 11:00
    assert out["card_amount_sum_1h"].to_list() == [0.0, 10.0, 10.0, 50.0]
    assert out["card_count_24h"].to_list() == [0, 1, 1, 3]
    assert out["card_first_seen_7d"].to_list() == [True, False, False, False]
    assert out["merchant_count_24h"].to_list() == [0, 1, 0, 2]
    assert out["card_amount_vs_mean_7d"][3] == pytest.approx(40.0 / 20.0)
    assert out["card_same_merchant_as_prev"].to_list() == [False, True, False, False]


def test_a_row_without_a_time_is_in_no_window_and_a_null_amount_in_no_statistic() -> None:
    """A nullable event time: its row counts in no other row's window and has none of its
    own (counts 0, statistics null); a row without an amount counts as an event but adds
    nothing to the amount statistics."""
    ts = [None, dt.datetime(2026, 1, 8, 10, 0), dt.datetime(2026, 1, 8, 10, 30),
          dt.datetime(2026, 1, 8, 10, 45)]
    frame = pl.LazyFrame({
        "transaction_id": ["a", "b", "c", "d"], "ts": ts, "card_id": ["k"] * 4,
        "merchant_id": ["m1"] * 4, "date": [dt.date(2026, 1, 8)] * 4,
        "amount": [99.0, 10.0, None, 5.0], **{c: ["x"] * 4 for c in CATEGORICAL},
    })
    out = _tx_features(frame, None, dt.date(2026, 1, 8))
    assert out["transaction_id"].to_list() == ["a", "b", "c", "d"]
    assert out["card_count_1h"].to_list() == [0, 0, 1, 2]
    assert out["merchant_count_7d"].to_list() == [0, 0, 1, 2]
    assert out["card_amount_sum_1h"].to_list() == [None, 0.0, 10.0, 10.0]
    assert out["card_amount_mean_24h"].to_list() == [None, None, 10.0, 10.0]
    assert out["card_amount_max_24h"].to_list() == [None, None, 10.0, 10.0]
    assert out["card_seconds_since_prev"].to_list()[2:] == [1800, 900]


def test_a_range_sees_only_what_each_day_sees_at_night() -> None:
    """A card's previous event 9 days back is out of its night's 7-day look-back: in a
    backfill's range (which holds it) the card is still first seen in 7 days, as at night."""
    def rows(ids: list[str], days: list[int], merchants: list[str]) -> pl.DataFrame:
        when = [dt.datetime(2026, 1, 1, 12) + dt.timedelta(days=d) for d in days]
        return pl.DataFrame({
            "transaction_id": ids, "ts": when, "card_id": ["k"] * len(ids),
            "merchant_id": merchants, "date": [w.date() for w in when],
            "amount": [10.0] * len(ids), **{c: ["x"] * len(ids) for c in CATEGORICAL}})

    events = rows(["a", "b", "c"], [0, 9, 10], ["m1", "m1", "m1"])
    night = dt.date(2026, 1, 10)
    at_night = _tx_features(events.filter(pl.col("date") >= night - dt.timedelta(days=7))
                            .lazy(), None, night)
    in_range = event_features(events.lazy(), None, dt.date(2026, 1, 1), TX,
                              until=dt.date(2026, 1, 11)).collect()
    assert_frame_equal(in_range.filter(pl.col("date") == night), at_night)
    assert at_night["card_first_seen_7d"].to_list() == [True]
    assert at_night["card_same_merchant_as_prev"].to_list() == [False]
    assert in_range.filter(pl.col("date") == dt.date(2026, 1, 11))[
        "card_seconds_since_prev"].to_list() == [86_400.0]


def test_a_day_reads_only_its_look_back(bronze: Lake, tmp_path: Path) -> None:
    """Delete the files of the partitions before the look-back: the day still computes."""
    lake = Lake(str(Path(shutil.copytree(bronze.root, tmp_path / "lake"))))
    d = day(9)
    first = d - dt.timedelta(days=EVENT_LOOKBACK_DAYS)
    assert first == day(2)

    def compute() -> pl.DataFrame:
        return _tx_features(lake.scan(bronze_table("transactions"), first, d),
                            lake.scan(bronze_table("fraud_labels"), None, d - dt.timedelta(1)), d)

    expected = compute()
    table = Path(lake.uri(bronze_table("transactions")))
    removed = [f for i in (0, 1) for f in (table / f"date={day(i)}").glob("*.parquet")]
    for f in removed:
        f.unlink()
    assert len(removed) >= 2
    with pytest.raises(FileNotFoundError):  # a full-history scan would now fail...
        lake.scan(bronze_table("transactions")).collect()
    assert_frame_equal(compute(), expected)  # ...the day's look-back read never opens them


def test_demand_features_are_point_in_time_and_correct(bronze: Lake) -> None:
    d = day(7)
    calendar = BusinessCalendar(SALES.calendar)
    history = bronze.scan(bronze_table("sales"), lookback_days(calendar, d), d).collect()
    out = series_features(history, d, SALES, calendar)
    assert out.height == 20 and out["date"].unique().to_list() == [d]
    one = history.filter(pl.col("store_id") == "s00", pl.col("item_id") == "i000").sort("date")
    row = out.filter(pl.col("series_id") == "s00_i000").row(0, named=True)
    assert row["target"] == one["units"][-1]
    assert row["target_lag_1"] == one["units"][-2]
    assert row["target_lag_7"] == one["units"][-8]
    assert row["target_lag_14"] is None  # not in the 8 simulated days: null, never a wrong lag
    assert row["target_mean_7"] == pytest.approx(one["units"][-8:-1].mean())  # D-7..D-1
    assert row["t"] == calendar.index(d)
    # the simulator's recurring holidays come from the contract's calendar
    assert out["holiday"].to_list() == [calendar.is_holiday(d)] * 20
    # changing today's units changes no feature of today
    bumped = history.with_columns(pl.when(pl.col("date") == d).then(pl.col("units") * 10)
                                  .otherwise("units").alias("units"))
    again = series_features(bumped, d, SALES, calendar)
    assert_frame_equal(again.drop("target"), out.drop("target"))


def test_features_are_deterministic(bronze: Lake) -> None:
    d = day(6)
    args = (bronze.scan(bronze_table("transactions"), d - dt.timedelta(days=7), d),
            bronze.scan(bronze_table("fraud_labels"), d - dt.timedelta(30), d - dt.timedelta(1)))
    assert_frame_equal(_tx_features(*args, d), _tx_features(*args, d))
