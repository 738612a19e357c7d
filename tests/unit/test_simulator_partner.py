"""The ``partner`` simulator profile: another team's data, deterministic and shaped as promised."""

from __future__ import annotations

import datetime as dt
import filecmp
import io
from contextlib import redirect_stdout
from pathlib import Path

import holidays
import polars as pl
import pytest

from lakeloop.app.cli import main
from lakeloop.contracts import load_contract_file
from lakeloop.simulate import SimConfig, parse_drift, simulate
from lakeloop.storage import ObjectStore

START = dt.date(2026, 4, 20)  # a Monday; 30 days span May 1, May 8 and Ascension (FR)
DAYS = 30
PROFILE_DIR = Path(__file__).parents[2] / "lakeloop" / "contracts" / "profiles" / "partner"
V_COLUMNS = [f"V{i}" for i in range(1, 61)]


def _write(root: Path, days: int = DAYS, **kw: object) -> Path:
    cfg = SimConfig(start=START, days=days, profile="partner", **{"scale": 0.01, "skus": 20, **kw})
    simulate(cfg, ObjectStore(str(root)))
    return root


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _day(path: str) -> str:
    return path.split("date=")[1][:10]


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("partner"))


@pytest.fixture(scope="module")
def payments(landing: Path) -> pl.DataFrame:
    return pl.read_csv(landing / "payments" / "**" / "*.csv", include_file_paths="path",
                       infer_schema_length=None)


@pytest.fixture(scope="module")
def sales(landing: Path) -> pl.DataFrame:
    return pl.read_parquet(landing / "shop_sales" / "**" / "*.parquet")


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(landing: Path,
                                                                  tmp_path: Path) -> None:
    again = _write(tmp_path / "again", days=4)
    other = _write(tmp_path / "other", days=4, seed=8)
    files = _files(again)
    assert files == _files(other)
    assert {f.split("/")[0] for f in files} == {"payments", "shop_sales"}
    # a date's data does not depend on the range asked for: the first 4 days match the 30
    match, mismatch, errors = filecmp.cmpfiles(landing, again, files, shallow=False)
    assert not mismatch and not errors and len(match) == len(files)
    _, mismatch, _ = filecmp.cmpfiles(again, other, files, shallow=False)
    assert mismatch


def test_no_shop_file_on_sundays_and_french_holidays(landing: Path) -> None:
    fr = holidays.country_holidays("FR", years=START.year)
    days = [START + dt.timedelta(days=i) for i in range(DAYS)]
    closed = {d for d in days if d.weekday() == 6 or d in fr}
    assert {dt.date(2026, 5, 1), dt.date(2026, 5, 8), dt.date(2026, 5, 14)} <= closed
    shop_days = {dt.date.fromisoformat(_day(f)) for f in _files(landing / "shop_sales")}
    assert shop_days == set(days) - closed
    assert not any((landing / "shop_sales" / f"date={d}").exists() for d in closed)
    pay_days = {dt.date.fromisoformat(_day(f)) for f in _files(landing / "payments")}
    assert pay_days == set(days)  # card payments happen every day


def test_payments_columns_and_label(payments: pl.DataFrame) -> None:
    assert payments.columns[:9] == ["TransactionID", "isFraud", "TransactionDT", "TransactionAmt",
                                    "ProductCD", "card1", "addr1", "P_emaildomain", "DeviceInfo"]
    assert [c for c in payments.columns if c.startswith("V")] == V_COLUMNS
    assert "merchant_id" not in payments.columns
    assert payments["TransactionID"].n_unique() == payments.height
    assert set(payments["isFraud"].unique().to_list()) == {0, 1}
    assert 0.01 <= payments["isFraud"].mean() <= 0.03
    assert payments["ProductCD"].n_unique() == 5
    assert payments["TransactionAmt"].min() > 0
    assert payments["TransactionAmt"].max() > 20 * payments["TransactionAmt"].median()  # tail
    assert payments["DeviceInfo"].n_unique() >= 100  # hundreds at the default scale
    assert payments["DeviceInfo"].null_count() > payments.height / 3
    assert 0 < payments["P_emaildomain"].null_count() < payments.height / 4


def test_epoch_seconds_fall_inside_the_partition_day(payments: pl.DataFrame) -> None:
    ts = payments.select(day=pl.col("path").str.extract(r"date=([\d-]+)").str.to_date(),
                         at=pl.from_epoch("TransactionDT", time_unit="s"))
    assert payments["TransactionDT"].dtype == pl.Int64
    assert (ts["at"].dt.date() == ts["day"]).all()


def test_the_card_is_the_pair_card1_addr1(payments: pl.DataFrame) -> None:
    cards = payments.select("card1", "addr1").unique()
    # card1 alone does not identify a card: several cards share it, told apart by addr1
    assert cards["card1"].n_unique() < cards.height
    assert payments["card1"].null_count() == payments["addr1"].null_count() == 0


def test_v_columns_go_missing_by_the_week(payments: pl.DataFrame) -> None:
    week = payments.with_columns(d=pl.col("path").str.extract(r"date=([\d-]+)"))
    first = week.filter(pl.col("d") < str(START + dt.timedelta(days=7)))
    last = week.filter(pl.col("d") >= str(START + dt.timedelta(days=DAYS - 7)))
    share = [(first[c].null_count() / first.height, last[c].null_count() / last.height)
             for c in V_COLUMNS]
    assert all(a < 0.05 for a, _ in share[:10])  # V1-V10 are almost always there
    assert max(a for a, _ in share) > 0.2  # some blocks are mostly missing
    # each block's missing share wanders slowly (a few points over months, quiet days too)
    from lakeloop.simulate.partner import block_missing_share, make_partner_population

    pop = make_partner_population(7, 500)
    moves = [abs(a - b) for a, b in zip(block_missing_share(pop, START),
                                        block_missing_share(pop, START + dt.timedelta(days=60)),
                                        strict=True)]
    assert sum(m > 0.005 for m in moves) >= 4 and max(moves) < 0.1


def test_shop_sales_shape(sales: pl.DataFrame) -> None:
    assert sales.columns == ["day", "sku", "qty", "unit_price"]
    assert sales.schema["day"] == pl.Date
    assert sales["sku"].n_unique() == 20 and sales["sku"].str.starts_with("sku-").all()
    assert sales.group_by("day").len()["len"].unique().to_list() == [20]  # one key column
    assert (sales["qty"] < 0).any() and (sales["qty"] < 0).mean() < 0.1  # returns
    assert (sales["unit_price"] == 0.0).any() and (sales["unit_price"] == 0.0).mean() < 0.1
    assert (sales["qty"] == 0).mean() > 0.05  # slow skus: intermittent zeros
    assert (sales["unit_price"] >= 0).all()


def test_drifts_change_payments_from_their_day(tmp_path: Path) -> None:
    quiet = _write(tmp_path / "q", days=6)
    drift = _write(tmp_path / "d", days=6, drifts=(parse_drift("concept@3", START),
                                                   parse_drift("demand_level@3", START)))
    for f in _files(quiet):
        same = filecmp.cmp(quiet / f, drift / f, shallow=False)
        assert same == (_day(f) < str(START + dt.timedelta(days=3))), f
    pay = pl.read_csv(drift / "payments" / "**" / "*.csv", include_file_paths="path")
    ring = pay.filter((pl.col("ProductCD") == "S") & (pl.col("P_emaildomain") == "mail.com")
                      & (pl.col("isFraud") == 1))
    assert ring.height > 0 and ring["path"].str.extract(r"date=([\d-]+)").min() >= "2026-04-23"


def test_contracts_load_with_their_kinds() -> None:
    payments = load_contract_file(PROFILE_DIR / "payments.yaml")
    shop = load_contract_file(PROFILE_DIR / "shop_sales.yaml")
    assert (payments.kind, shop.kind) == ("classification", "forecast")
    assert payments.roles.entities == {"card": ["card1", "addr1"]}
    assert payments.roles.label.column == "isFraud" and payments.roles.label.maturity_days == 7
    assert shop.roles.series == ["sku"] and shop.calendar.holidays.country == "FR"


def test_cli_partner_profile(tmp_path: Path) -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["simulate", "--profile", "partner", "--landing", str(tmp_path),
                     "--start", "2026-05-01", "--days", "3", "--scale", "0.01", "--skus", "5",
                     "--quiet"]) == 0
    assert "labelled isFraud=1" in out.getvalue() and "chargebacks" not in out.getvalue()
    # May 1 is a holiday, May 3 a Sunday: one shop file, three payment files
    assert _files(tmp_path) == ["payments/date=2026-05-01/part-0.csv",
                                "payments/date=2026-05-02/part-0.csv",
                                "payments/date=2026-05-03/part-0.csv",
                                "shop_sales/date=2026-05-02/part-0.parquet"]


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="profile"):
        SimConfig(start=START, days=1, profile="nope")
