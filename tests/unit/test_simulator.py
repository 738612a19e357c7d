"""The simulator: deterministic bytes, and the rates its help text promises."""

from __future__ import annotations

import filecmp
import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import polars as pl
import pytest

from lakeloop.app.cli import build_parser, main
from lakeloop.simulate import parse_drift
from tests.conftest import START, write_landing


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    a = write_landing(tmp_path / "a", days=3)
    b = write_landing(tmp_path / "b", days=3)
    c = write_landing(tmp_path / "c", days=3, seed=8)
    assert _files(a) == _files(b) and len(_files(a)) == 9
    match, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in _files(a)], shallow=False)
    assert not mismatch and not errors and len(match) == 9
    _, mismatch_c, _ = filecmp.cmpfiles(a, c, [str(f) for f in _files(a)], shallow=False)
    assert mismatch_c  # the seed matters


def test_cli_simulate_is_deterministic(tmp_path: Path) -> None:
    for name in ("x", "y"):
        with redirect_stdout(io.StringIO()):
            assert main(["simulate", "--landing", str(tmp_path / name), "--days", "2",
                         "--scale", "0.01", "--quiet"]) == 0
    x, y = tmp_path / "x", tmp_path / "y"
    assert [(f, (x / f).read_bytes()) for f in _files(x)] == \
        [(f, (y / f).read_bytes()) for f in _files(y)]


def _help() -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices["simulate"].format_help()


def test_rates_match_the_help_text(tmp_path: Path) -> None:
    """Fraud rate, label delay and series count are what `lakeloop simulate --help` says."""
    text = _help()
    low, high = (float(x) for x in re.search(r"\((\d\.\d)-(\d)%", text).groups())
    first, last = (int(x) for x in re.search(r"(\d+)-(\d+) days after", text).groups())
    stores, items, series = (int(x) for x in re.search(r"default (\d+) x (\d+) = (\d+)\)", text)
                             .groups())

    root = write_landing(tmp_path / "land", days=40, scale=0.1, stores=stores, items=items)
    tx = pl.read_csv(root / "transactions" / "**" / "*.csv")
    labels = pl.read_csv(root / "fraud_labels" / "**" / "*.csv", try_parse_dates=True)
    # transactions of the first 10 days have all their labels inside the 40 simulated days
    early = tx.filter(pl.col("ts").str.slice(0, 10) < "2026-01-11")
    fraud = early.join(labels, on="transaction_id", how="semi").height
    assert low / 100 <= fraud / early.height <= high / 100

    delay = (labels["reported_date"] - labels["tx_ts"].dt.date()).dt.total_days()
    assert delay.min() >= first and delay.max() <= last
    assert 4 <= delay.median() <= 10  # "median about a week"
    # every label points at a simulated transaction (or one before the range)
    in_range = labels.filter(pl.col("tx_ts").dt.date() >= START)
    assert in_range.join(tx, on="transaction_id", how="anti").height == 0

    sales = pl.read_parquet(root / "sales" / "**" / "*.parquet")
    assert sales.select(pl.struct("store_id", "item_id").n_unique()).item() == series == 300
    assert sales.group_by("date").len()["len"].unique().to_list() == [series]


def test_drift_changes_data_only_from_its_day(tmp_path: Path) -> None:
    quiet = write_landing(tmp_path / "q", days=6)
    drift = write_landing(tmp_path / "d", days=6,
                          drifts=(parse_drift("concept@3", START), parse_drift("demand_level@3",
                                                                                START)))
    for f in _files(quiet):
        same = (quiet / f).read_bytes() == (drift / f).read_bytes()
        day = str(f).split("date=")[1][:10]
        if "fraud_labels" in str(f):
            continue  # labels of drifted days arrive later
        assert same == (day < "2026-01-04"), f
    tx = pl.read_csv(drift / "transactions" / "**" / "*.csv")
    bots = tx.filter(pl.col("device") == "emulator")
    assert bots.height > 0 and bots["ts"].min() >= "2026-01-04"
    q = pl.read_parquet(quiet / "sales" / "date=2026-01-05" / "*.parquet")["units"].sum()
    d = pl.read_parquet(drift / "sales" / "date=2026-01-05" / "*.parquet")["units"].sum()
    assert d > 1.15 * q


def test_bad_drift_spec_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="KIND@DAY"):
        parse_drift("sideways@3", START)
    with pytest.raises(ValueError, match="day number or YYYY-MM-DD"):
        parse_drift("concept@soon", START)


@pytest.mark.parametrize("profile", ["simulator", "partner"])
def test_history_before_the_simulators_epoch(tmp_path: Path, profile: str) -> None:
    """Two years back from today reach before the simulator's fixed phase origin (EPOCH,
    2024-01-01): those days simulate like any other (a backfill benchmark needs them)."""
    with redirect_stdout(io.StringIO()):
        assert main(["simulate", "--profile", profile, "--landing", str(tmp_path),
                     "--start", "2023-12-20", "--days", "16", "--scale", "0.01",
                     "--quiet"]) == 0
    days = {p.parent.name for p in tmp_path.rglob("*.csv")} | \
        {p.parent.name for p in tmp_path.rglob("*.parquet")}
    assert "date=2023-12-20" in days and "date=2024-01-04" in days
