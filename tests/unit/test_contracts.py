"""Contracts say everything: roles, clocks, feature patterns, labels, validation messages, and
no simulator column name anywhere below lakeloop/ outside the simulator and the contracts."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest
import yaml

from lakeloop.contracts import Contract, ContractError, load_contract_file
from lakeloop.contracts.domains import load_domains
from lakeloop.features import event_features, event_schema, known_labels_from_column
from lakeloop.ingest.bronze import ClosedDay, process_day, write_day
from lakeloop.names import bronze_table
from lakeloop.storage import Lake, ObjectStore
from lakeloop.training.split import SplitWindow
from lakeloop.training.training_sets import LABEL, classification_training_set

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 3, 2)


def contract(**over: object) -> dict:
    """A small event contract in a team's own names; ``over`` replaces top-level fields."""
    base = {
        "name": "events", "domain": "risk", "landing_dir": "events", "key": ["EventID"],
        "columns": {"EventID": {"dtype": "string", "nullable": False},
                    "Clock": {"dtype": "int64", "nullable": False},
                    "Card": {"dtype": "string"}, "Zip": {"dtype": "string"},
                    "Amt": {"dtype": "float64", "min": 0.0},
                    "Flag": {"dtype": "int64"}},
        "extra_columns": {"keep": ["V*"], "drop": ["V9"]},
        "roles": {"id": ["EventID"], "event_time": {"column": "Clock", "unit": "s"},
                  "entities": {"card": ["Card", "Zip"]}, "amount": "Amt",
                  "label": {"column": "Flag", "maturity_days": 3},
                  "features": {"include": ["V*", "Card"], "categorical": ["Card"]}},
        "batch": {"max_bad_row_fraction": 0.5},  # tiny days: one bad row is a row problem
    }
    return {**base, **over}


def write(tmp_path: Path, spec: dict, folder_name: str = "contracts") -> Path:
    folder = tmp_path / folder_name  # contracts are cached per folder: a new spec, a new one
    folder.mkdir(exist_ok=True)
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def land(root: Path, name: str, day: dt.date, frame: pl.DataFrame) -> None:
    folder = root / name / f"date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_csv(folder / "part-0.csv")


def events(day: dt.date, n: int = 6, seed: int = 0) -> pl.DataFrame:
    base = int(dt.datetime.combine(day, dt.time()).replace(tzinfo=dt.UTC).timestamp())
    return pl.DataFrame({
        "EventID": [f"e{day:%m%d}{i}" for i in range(n)],
        "Clock": [base + 3600 * i + seed for i in range(n)],
        "Card": ["c1", "c1", "c2", "c1", "c2", "c1"][:n],
        "Zip": ["z1", "z2", "z1", "z1", "z1", "z1"][:n],
        "Amt": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0][:n],
        "Flag": [0, 1, 0, 0, 1, 0][:n],
        "V1": [0.5, None, 1.5, 2.0, None, 1.0][:n],
        "V2": ["a", "b", "a", "a", "b", "c"][:n],
        "V9": [1, 2, 3, 4, 5, 6][:n],
        "Other": ["x"] * n,
    })


# -- loading and validation ----------------------------------------------------------------

@pytest.mark.parametrize(("change", "message"), [
    ({"roles": {"id": ["EventId"]}}, "roles.id names ['EventId'], not declared"),
    ({"rolez": {}}, "rolez: unknown field"),
    ({"roles": {"id": ["EventID"], "event_time": {"column": "Clock", "unit": "s"},
                "label": {"column": "Flag"}}}, "needs `maturity_days`"),
    ({"roles": {"event_time": {"column": "Card", "unit": "s"}}}, "needs a numeric column"),
    ({"roles": {"event_time": {"column": "Clock"}}}, "give `unit: s|ms`"),
    ({"roles": {"series": ["Card"]}}, "needs both `series` and `target`"),
    ({"roles": {"entities": {"card": ["Crd"]}}}, "roles.entities.card names ['Crd']"),
    ({"roles": {"features": {"include": ["W*"]}}, "extra_columns": {}},
     "roles.features names 'W*', which matches no declared column"),
    ({"roles": {"amount": "Card"}}, "roles.amount: Card is string; it must be int64"),
    ({"roles": {"id": ["EventID"], "event_time": {"column": "Clock", "unit": "s",
                                                   "origin": "yesterday"}}},
     "is not an ISO datetime"),
    ({"columns": {**contract()["columns"], "hour": {"dtype": "int64"}}},
     "columns ['hour'] use names lakeloop gives its own derived columns"),
    ({"columns": {**contract()["columns"], "Card2": {"dtype": "string", "source": "Card"}}},
     "mapped by more than one declared column"),
    ({"calendar": {"holidays": {"country": "XX"}}}, "XX"),
    ({"calendar": {"closed_weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
     "calendar"),
])
def test_contract_errors_name_the_file_the_field_and_the_fix(tmp_path: Path, change: dict,
                                                              message: str) -> None:
    path = write(tmp_path, contract(**change))
    with pytest.raises(ContractError) as err:
        load_contract_file(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_file_name_must_match_and_domains_resolve(tmp_path: Path) -> None:
    path = write(tmp_path, contract())
    renamed = path.with_name("other.yaml")
    path.rename(renamed)
    with pytest.raises(ContractError, match="rename the file to events.yaml"):
        load_contract_file(renamed)
    renamed.rename(path)
    [risk] = load_domains(path.parent).values()
    assert risk.name == "risk" and risk.kind == "classification" and risk.labels is None
    with pytest.raises(ContractError, match=r"LAKELOOP_DOMAINS names \['fraud'\]"):
        load_domains(path.parent, ["fraud"])
    write(tmp_path, contract(name="events2", landing_dir="events2"))  # two mains in one domain
    with pytest.raises(ContractError, match="exactly one main dataset"):
        load_domains(path.parent)


def test_one_column_serves_several_roles_and_patterns_pick_features() -> None:
    c = Contract.model_validate(contract())
    columns = ["EventID", "event_time", "Card", "Zip", "Amt", "Flag", "V1", "V2"]
    # Card: an entity key *and* a categorical feature; V9 excluded; Flag (label) never
    assert c.feature_columns(columns) == ["Card", "V1", "V2"]
    every = Contract.model_validate(contract(roles={
        **contract()["roles"], "features": {"include": ["*"], "exclude": ["V2"]}}))
    # "*": every column no other role claims (the keys, clock, amount and label are claimed)
    assert every.feature_columns(columns) == ["V1"]


# -- ingest: clocks, kept columns, inferred types ------------------------------------------

@pytest.mark.parametrize(("clock", "values", "expected"), [
    ({"column": "Clock", "unit": "s"}, [1772409600, 1772413200], ["00:00", "01:00"]),
    ({"column": "Clock", "unit": "ms"}, [1772409600000, 1772409601500], ["00:00", "00:00"]),
    ({"column": "Clock", "unit": "s", "origin": "2026-03-01T00:00:00"}, [86400, 90000],
     ["00:00", "01:00"]),
])
def test_event_time_from_epoch_and_offset_clocks(tmp_path: Path, clock: dict, values: list,
                                                 expected: list) -> None:
    spec = contract(roles={**contract()["roles"], "event_time": clock})
    frame = events(DAY, n=2).with_columns(pl.Series("Clock", values))
    land(tmp_path / "landing", "events", DAY, frame)
    c = Contract.model_validate(spec)
    batch = process_day(ObjectStore(str(tmp_path / "landing")), Lake(str(tmp_path / "lake")),
                        c, DAY)
    assert batch.passed, batch.message
    times = batch.bronze["event_time"]
    assert times.dt.date().to_list() == [DAY, DAY]
    assert times.dt.strftime("%H:%M").to_list() == expected


def test_event_time_from_date_and_time_columns(tmp_path: Path) -> None:
    spec = contract(columns={**contract()["columns"], "Clock": {"dtype": "string"},
                             "Day": {"dtype": "date"}},
                    roles={**contract()["roles"], "event_time": {"date": "Day", "time": "Clock"}})
    frame = events(DAY, n=3).with_columns(pl.lit(DAY).alias("Day"),
                                          pl.Series("Clock", ["08:15:00", "25:99:00", "23:59:59"]))
    land(tmp_path / "landing", "events", DAY, frame)
    batch = process_day(ObjectStore(str(tmp_path / "landing")), Lake(str(tmp_path / "lake")),
                        Contract.model_validate(spec), DAY)
    assert batch.passed
    assert batch.bronze["event_time"].to_list() == [
        dt.datetime(2026, 3, 2, 8, 15), dt.datetime(2026, 3, 2, 23, 59, 59)]
    [reason] = batch.quarantine["reason"].to_list()  # the bad time is quarantined, named
    assert "event_time: cannot derive from Day, Clock" in reason


def test_events_outside_the_day_are_quarantined_by_their_derived_time(tmp_path: Path) -> None:
    frame = events(DAY, n=3).with_columns(
        pl.Series("Clock", [1772409600, 1772409600 + 86400 * 2, 1772409600 + 60]))
    land(tmp_path / "landing", "events", DAY, frame)
    batch = process_day(ObjectStore(str(tmp_path / "landing")), Lake(str(tmp_path / "lake")),
                        Contract.model_validate(contract()), DAY)
    assert batch.bronze.height == 2
    assert batch.quarantine["reason"].to_list() == [
        "event_time (from Clock) in the future (after 2026-03-02)"]


def test_kept_columns_land_with_inferred_types_that_stay_stable(tmp_path: Path) -> None:
    lake, store = Lake(str(tmp_path / "lake")), ObjectStore(str(tmp_path / "landing"))
    c = Contract.model_validate(contract())
    land(tmp_path / "landing", "events", DAY, events(DAY))
    first = process_day(store, lake, c, DAY)
    write_day(lake, first)
    assert first.landed_kept_summary() == "V1: float64, V2: string"
    assert first.landed.extra_columns == ["Other", "V9"]  # not kept, and reported
    assert {"V1", "V2", "Card", "Zip", "event_time"} <= set(first.bronze.columns)
    assert "V9" not in first.bronze.columns and "Other" not in first.bronze.columns
    # the next day V1 is empty: its type still comes from bronze, not from an empty column
    nxt = DAY + dt.timedelta(days=1)
    land(tmp_path / "landing", "events", nxt, events(nxt).with_columns(pl.lit(None).alias("V1")))
    second = process_day(store, lake, c, nxt)
    assert second.inferred["V1"].dtype == "float64"
    write_day(lake, second)
    assert lake.scan(bronze_table("events")).collect().schema["V1"] == pl.Float64
    # upstream drops V2 and adds V3 (empty on its first day, then numbers): bronze follows
    for i, extra in ((2, pl.lit(None)), (3, pl.Series("V3", [1.5] * 6))):
        d = DAY + dt.timedelta(days=i)
        land(tmp_path / "landing", "events", d, events(d).drop("V2").with_columns(
            extra.alias("V3")))
        batch = process_day(store, lake, c, d)
        assert batch.passed, batch.message
        write_day(lake, batch)
    bronze = lake.scan(bronze_table("events")).collect()
    assert bronze.schema["V3"] == pl.Float64 and bronze.schema["V2"] == pl.String
    assert bronze.filter(pl.col("date") == DAY + dt.timedelta(days=3))["V3"].to_list() == [1.5] * 6
    assert bronze.filter(pl.col("date") == DAY + dt.timedelta(days=3))["V2"].null_count() == 6


def test_a_first_day_whose_kept_columns_are_all_empty_lands_without_them(tmp_path: Path
                                                                         ) -> None:
    """No value, no type: a kept column joins bronze on the first day it has a value."""
    lake, store = Lake(str(tmp_path / "lake")), ObjectStore(str(tmp_path / "landing"))
    c = Contract.model_validate(contract())
    land(tmp_path / "landing", "events", DAY, events(DAY).with_columns(
        pl.lit(None, dtype=pl.String).alias("V1"), pl.lit(None, dtype=pl.String).alias("V2")))
    first = process_day(store, lake, c, DAY)
    assert first.passed, first.message
    assert first.inferred == {} and first.bronze is not None
    assert "V1" not in first.bronze.columns and first.bronze.height == 6
    write_day(lake, first)
    nxt = DAY + dt.timedelta(days=1)
    land(tmp_path / "landing", "events", nxt, events(nxt))
    second = process_day(store, lake, c, nxt)
    write_day(lake, second)
    assert lake.scan(bronze_table("events")).collect().schema["V1"] == pl.Float64


# -- features and training from roles -------------------------------------------------------

def test_composite_entity_and_label_column_maturity(tmp_path: Path) -> None:
    lake, store = Lake(str(tmp_path / "lake")), ObjectStore(str(tmp_path / "landing"))
    path = write(tmp_path, contract())
    domain = load_domains(path.parent)["risk"]
    c = domain.main
    days = [DAY + dt.timedelta(days=i) for i in range(8)]
    for i, d in enumerate(days):
        land(tmp_path / "landing", "events", d, events(d, seed=i))
        write_day(lake, process_day(store, lake, c, d))
    d = days[5]
    history = lake.scan(bronze_table("events"), d - dt.timedelta(days=7), d)
    known = known_labels_from_column(lake.scan(bronze_table("events"), None, d), c)
    out = event_features(history, known, d, c).collect()
    # the card is (Card, Zip): c1/z1 and c1/z2 are different cards
    first = out.filter(pl.col("Card") == "c1", pl.col("Zip") == "z2")
    assert first["card_count_7d"].to_list() == [5]  # one per earlier day, same hour
    # labels of day D count from D + 3 (maturity): days 0..1 matured before day 5
    assert out.filter(pl.col("Card") == "c1", pl.col("Zip") == "z2")["card_labels_30d"][0] == 2
    assert "Flag" not in out.columns  # the label is never a feature
    schema = event_schema(c, out.schema)
    assert "Card" in schema.categorical and "V2" in schema.categorical
    assert {"V1", "card_count_1h", "log_amount"} <= set(schema.numeric)
    assert "Zip" not in schema.inputs and "EventID" not in schema.inputs
    for dd in days:
        frame = event_features(lake.scan(bronze_table("events"), dd - dt.timedelta(days=7), dd),
                               known_labels_from_column(lake.scan(bronze_table("events")), c),
                               dd, c).collect()
        lake.overwrite_partition(domain.features_table, frame, dd)
    # explicit ranges with a gap: labels are those known on as_of (maturity 3 days)
    window = SplitWindow(label_window_days=3, train_start=str(days[0]), train_end=str(days[1]),
                         val_start=str(days[2]), val_end=str(days[2]),
                         test_start=str(days[4]), test_end=str(days[4]))
    ts = classification_training_set(lake, domain, days[7], window)
    assert sorted(ts.frame["date"].unique().to_list()) == [days[0], days[1], days[2], days[4]]
    assert ts.frame[LABEL].sum() == 2 * 4  # Flag = 1 on two events a day, all matured
    with pytest.raises(ValueError, match="after the newest matured day"):
        classification_training_set(lake, domain, days[6], window)


def test_a_closed_calendar_day_is_skipped_with_its_reason(tmp_path: Path) -> None:
    spec = contract(calendar={"closed_weekdays": ["sun"], "holidays": {"country": "FR"},
                              "closed_on_holidays": True})
    c = Contract.model_validate(spec)
    store, lake = ObjectStore(str(tmp_path / "landing")), Lake(str(tmp_path / "lake"))
    with pytest.raises(ClosedDay, match="closed on Sundays"):
        process_day(store, lake, c, dt.date(2026, 3, 1))
    with pytest.raises(ClosedDay, match="public holiday Labor Day"):
        process_day(store, lake, c, dt.date(2026, 5, 1))
    no_files = Contract.model_validate(contract(calendar={"no_files_means_closed": True}))
    with pytest.raises(ClosedDay, match="no landing files"):
        process_day(store, lake, no_files, DAY)


# -- code names nothing --------------------------------------------------------------------

def simulator_columns() -> set[str]:
    """Every column name the built-in contracts and profiles declare."""
    names: set[str] = set()
    for path in (ROOT / "lakeloop" / "contracts").rglob("*.yaml"):
        spec = yaml.safe_load(path.read_text())
        names |= set(spec["columns"])
        names |= {c["source"] for c in spec["columns"].values() if c.get("source")}
    return names


def test_no_simulator_column_name_below_the_core() -> None:
    """A quoted simulator column name (``"card_id"``, ``'units'``) in code outside the
    simulator and the contracts means code that only works on our data."""
    # lakeloop's own words: the partition column, and "day" (progress bars, report records)
    names = simulator_columns() - {"date", "day"}
    assert {"card_id", "merchant_id", "units", "TransactionDT", "sku", "qty"} <= names
    alternatives = "|".join(sorted(map(re.escape, names)))
    pattern = re.compile(rf"""["']({alternatives})["']""")
    offenders = []
    for folder in ("lakeloop", "assets", "pipelines", "resources"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(("lakeloop/simulate/", "lakeloop/contracts/")):
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "simulator column names in code:\n" + "\n".join(offenders)


def test_monitoring_watches_the_model_inputs_narrowed_by_the_contract(tmp_path: Path) -> None:
    from lakeloop.monitoring.domain_monitor import monitored_columns, unmonitored
    from lakeloop.registry.model_registry import ModelVersion

    champion = ModelVersion("fraud", "v0001", {"preprocessor": {
        "categorical": ["device", "hour", "weekday"],
        "numeric": ["merchant_count_24h", "card_count_1h", "V7"]}})
    risk = load_domains(write(tmp_path, contract()).parent)["risk"]
    # default: every model input but the calendar ones, each left-out input with its reason
    assert monitored_columns(risk, champion) == (
        ["device", "hour", "merchant_count_24h", "card_count_1h", "V7"],
        {"device", "hour", "weekday"})
    assert "by construction" in unmonitored(risk, champion)["weekday"]
    narrowed = contract(roles={**contract()["roles"],
                               "monitoring": {"include": ["card_*", "V*"], "exclude": ["V7"]}})
    risk = load_domains(write(tmp_path, narrowed, "narrowed").parent)["risk"]
    assert monitored_columns(risk, champion)[0] == ["card_count_1h"]
    assert unmonitored(risk, champion)["V7"] == "left out by the contract's roles.monitoring"
    # the built-in contract watches every input: thresholds are learnt, not hand-picked
    fraud = load_domains()["fraud"]
    assert monitored_columns(fraud, champion)[0] == [
        "device", "hour", "merchant_count_24h", "card_count_1h", "V7"]
    budget = contract(roles={**contract()["roles"], "monitoring": {
        "false_alarm_budget": {"false_episodes": 1, "per_days": 90}}})
    risk = load_domains(write(tmp_path, budget, "budget").parent)["risk"]
    from lakeloop.monitoring.domain_monitor import budget_for
    from lakeloop.monitoring.measure import DriftConfig

    assert budget_for(risk, DriftConfig()).per_days == 90
    assert budget_for(fraud, DriftConfig(budget_days=30)).per_days == 30


def test_minimal_contracts_without_amount_or_covariates_and_with_unknown_ones(
        tmp_path: Path) -> None:
    """No amount and a single-column entity: windows are counts only. A forecasting contract
    with an unknown covariate: only yesterday's value of it is a feature."""
    from lakeloop.contracts.calendar import BusinessCalendar
    from lakeloop.features import series_features

    roles = {**contract()["roles"], "entities": {"card": ["Card"]}}
    roles.pop("amount")
    c = Contract.model_validate(contract(roles=roles))
    store, lake = ObjectStore(str(tmp_path / "landing")), Lake(str(tmp_path / "lake"))
    land(tmp_path / "landing", "events", DAY, events(DAY))
    write_day(lake, process_day(store, lake, c, DAY))
    out = event_features(lake.scan(bronze_table("events")), None, DAY, c).collect()
    assert "card_count_1h" in out.columns and "log_amount" not in out.columns
    assert not any("amount" in col for col in out.columns if col != "Amt")

    shop = Contract.model_validate({
        "name": "visits", "domain": "footfall", "landing_dir": "visits", "key": ["site"],
        "columns": {"d": {"dtype": "date"}, "site": {"dtype": "string"},
                    "visitors": {"dtype": "float64"}, "rain_mm": {"dtype": "float64"}},
        "roles": {"event_time": {"column": "d"}, "series": ["site"], "target": "visitors",
                  "unknown": ["rain_mm"]}})
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    history = pl.DataFrame({"d": days * 2, "site": ["a"] * 3 + ["b"] * 3,
                            "visitors": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                            "rain_mm": [0.0, 9.0, 7.0, 1.0, 2.0, 3.0], "date": days * 2})
    calendar = BusinessCalendar(shop.calendar)
    row = series_features(history, days[2], shop, calendar).row(0, named=True)
    assert row["series_id"] == "a" and row["target"] == 3.0
    assert row["rain_mm_lag_1"] == 9.0 and "rain_mm" not in row  # observed only: yesterday's
    assert row["target_lag_1"] == 2.0 and "price_ratio" not in row


def test_a_row_without_its_entity_key_gets_no_entity_history(tmp_path: Path) -> None:
    """Null keys are no entity: two unknown cards must not pool their history; and a card
    whose earlier amounts were all 0 gets a finite amount ratio."""
    c = Contract.model_validate(contract())
    frame = events(DAY).with_columns(
        pl.Series("Zip", [None, None, "z1", "z1", "z1", "z1"]),
        pl.Series("Amt", [1.0, 2.0, 0.0, 0.0, 5.0, 7.0]),
        pl.Series("Card", ["c1", "c1", "c3", "c3", "c3", "c9"]))
    store, lake = ObjectStore(str(tmp_path / "landing")), Lake(str(tmp_path / "lake"))
    land(tmp_path / "landing", "events", DAY, frame)
    write_day(lake, process_day(store, lake, c, DAY))
    out = event_features(lake.scan(bronze_table("events")), None, DAY, c).collect()
    assert out["card_count_24h"].to_list() == [None, None, 0, 1, 2, 0]
    assert out["card_amount_vs_mean_7d"].is_finite().all()  # 5.0 after two $0 payments


def test_rolling_splits_count_open_days() -> None:
    from lakeloop.contracts import CalendarSpec
    from lakeloop.contracts.calendar import BusinessCalendar

    weekdays = BusinessCalendar(CalendarSpec(closed_weekdays=["sat", "sun"]))
    window = SplitWindow(window_days=10, label_window_days=3, val_days=1, test_days=2,
                         gap_days=1)
    # as of Thursday 2026-03-05: labels matured up to Monday 03-02; test = Fri 02-27 + Mon
    r = window.ranges(dt.date(2026, 3, 5), weekdays)
    assert r["test"] == (dt.date(2026, 2, 27), dt.date(2026, 3, 2))
    assert r["validation"] == (dt.date(2026, 2, 25), dt.date(2026, 2, 25))  # Thu is the gap
    assert r["train"][0] == dt.date(2026, 2, 17)  # 10 open days back from Monday 03-02
    # every day open: the same counts in calendar days
    assert window.ranges(dt.date(2026, 3, 5))["test"] == (dt.date(2026, 3, 1),
                                                          dt.date(2026, 3, 2))


def test_a_feed_of_non_zero_rows_can_declare_missing_rows_as_zero() -> None:
    from lakeloop.contracts.calendar import BusinessCalendar
    from lakeloop.features import series_features

    spec = {"name": "sales", "domain": "shop", "landing_dir": "sales", "key": ["sku"],
            "columns": {"d": {"dtype": "date"}, "sku": {"dtype": "string"},
                        "qty": {"dtype": "float64"}, "p": {"dtype": "float64"}},
            "roles": {"event_time": {"column": "d"}, "series": ["sku"], "target": "qty",
                      "price": "p"}}
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    # "b" sold nothing on the 2nd day and today, so the feed has no row for it then
    history = pl.DataFrame({"d": days + days[:1], "date": days + days[:1],
                            "sku": ["a"] * 3 + ["b"], "qty": [1.0, 2.0, 3.0, 4.0],
                            "p": [1.0, 1.0, 1.0, 2.0]})
    calendar = BusinessCalendar(None)
    gap = series_features(history, days[2], Contract.model_validate(spec), calendar)
    assert gap["series_id"].to_list() == ["a"]  # default: a gap, not a zero
    zero = series_features(history, days[2], Contract.model_validate(
        {**spec, "roles": {**spec["roles"], "missing_rows": "zero"}}), calendar)
    b = zero.filter(pl.col("series_id") == "b").row(0, named=True)
    assert b["target"] == 0.0 and b["target_lag_1"] == 0.0 and b["price_ratio"] == 1.0


def test_the_ui_describes_each_column_from_its_contract(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Column descriptions and types come from the contract: a team's ``description`` first,
    then the rules the contract checks, on the bronze asset before any run."""
    import dagster as dg

    from pipelines.definitions import defs

    spec = contract()
    spec["columns"]["Amt"] = {"dtype": "float64", "min": 0.0, "source": "TransactionAmt",
                              "description": "Amount paid, in euros."}
    spec["columns"]["Zip"] = {"dtype": "string", "allowed": ["A", "B"], "nullable": False}
    path = write(tmp_path, spec)
    docs = load_contract_file(path).column_docs()
    assert docs["Amt"] == ("Amount paid, in euros. float64; optional; at least 0; "
                           "landing column 'TransactionAmt'")
    assert docs["Zip"] == "string; required; one of A, B"
    assert docs["EventID"] == "string; required; key"

    monkeypatch.setenv("LAKELOOP_CONTRACTS", str(path.parent))
    asset = defs().resolve_assets_def("events_raw")
    schema = asset.specs_by_key[dg.AssetKey("events_raw")].metadata["dagster/column_schema"]
    shown = {c.name: (c.type, c.description) for c in schema.columns}
    assert shown["Amt"] == ("float64", docs["Amt"]) and set(shown) == set(docs)
