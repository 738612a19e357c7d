"""A day's lower bound on rows learnt from the same weekday's history
(``lakeloop.ingest.volume_bounds``, used by ingest's batch rules)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from lakeloop.contracts import Contract, load_contract
from lakeloop.ingest.bronze import _row_bounds, volume_history
from lakeloop.ingest.volume_bounds import learnt_floor
from lakeloop.names import bronze_table
from lakeloop.storage import Lake

MONDAY = dt.date(2026, 3, 2)


def _weeks(rng: np.random.Generator, weeks: int) -> dict[dt.date, int]:
    """A feed whose Saturdays hold a quarter of a weekday's rows, each day +-8 %."""
    out = {}
    for i in range(7 * weeks):
        day = MONDAY + dt.timedelta(days=i)
        base = 250 if day.weekday() == 5 else 1_000
        out[day] = int(base * rng.lognormal(0, 0.08))
    return out


def _bronze(lake: Lake, table: str, counts: dict[dt.date, int]) -> None:
    for day, n in counts.items():
        lake.overwrite_partition(table, pl.DataFrame({"i": range(n), "date": [day] * n}), day)


def test_the_floor_follows_the_weekday_and_keeps_the_budget() -> None:
    """Quiet days stay above the floor learnt from their weekday at about the budgeted
    rate, a half day falls below it, and too short a history learns nothing."""
    rng = np.random.default_rng(1)
    rate = 1 / 365
    refused, trials = 0, 2_000
    for _ in range(trials):
        history = [int(1_000 * rng.lognormal(0, 0.08)) for _ in range(8)]
        refused += int(1_000 * rng.lognormal(0, 0.08)) < learnt_floor(history, rate)
    assert refused / trials <= 3 * rate, refused  # a prediction interval: about ``rate``
    mondays = [int(1_000 * rng.lognormal(0, 0.08)) for _ in range(8)]
    assert 500 < learnt_floor(mondays, rate) < 1_000
    assert learnt_floor(mondays[:3], rate) is None


def _bounds(lake: Lake, contract: Contract, day: dt.date) -> tuple[int, int | None]:
    """A day's bounds as ingest computes them: bronze's history read, then judged."""
    return _row_bounds(contract, day, volume_history(lake, contract, [day]))


def test_ingest_bounds_learn_each_weekday(tmp_path: Path) -> None:
    """Through the lake: eight weeks of bronze counts. A Monday's floor is learnt from the
    Mondays (a half Monday is below it, where 30 % of the recent median was not), a
    Saturday's from the Saturdays (a normal Saturday, a quarter of a Monday, is above it);
    with two weeks of history the median-share rule decides."""
    contract = load_contract("transactions")
    table = bronze_table(contract.name)
    counts = _weeks(np.random.default_rng(2), 8)
    lake = Lake(str(tmp_path / "lake"))
    _bronze(lake, table, counts)
    monday = MONDAY + dt.timedelta(days=56)
    floor, ceiling = _bounds(lake, contract, monday)
    assert 500 < floor < 1_000 and ceiling is not None and ceiling > 1_000
    saturday_floor, _ = _bounds(lake, contract, monday + dt.timedelta(days=5))
    assert saturday_floor < 250 and saturday_floor < floor / 3
    young = Lake(str(tmp_path / "young"))
    _bronze(young, table, dict(list(counts.items())[:14]))
    share_floor, _ = _bounds(young, contract, MONDAY + dt.timedelta(days=14))
    assert 250 < share_floor < 350  # 30 % of a ~1,000-row median


def test_a_share_the_contract_sets_still_holds_beside_the_learnt_floor(tmp_path: Path) -> None:
    """The sales contract sets 80 % of the recent median ("series should not silently
    disappear"): a team's own stricter rule is kept once the floor is learnt too; with no
    floor rule at all the contract's minimum decides."""
    sales = load_contract("sales")
    assert "min_rows_vs_recent_median" in sales.batch.model_fields_set
    lake = Lake(str(tmp_path / "lake"))
    counts = {d: n for d, n in _weeks(np.random.default_rng(3), 8).items() if d.weekday() != 5}
    _bronze(lake, bronze_table(sales.name), counts)
    floor, _ = _bounds(lake, sales, MONDAY + dt.timedelta(days=56))
    assert floor >= 0.8 * 900
    bare = sales.model_copy(update={"batch": sales.batch.model_copy(update={
        "min_rows_vs_recent_median": None, "min_rows": 5})})
    empty = Lake(str(tmp_path / "empty"))
    _bronze(empty, bronze_table(sales.name), dict(list(counts.items())[:3]))
    assert _bounds(empty, bare, MONDAY + dt.timedelta(days=3))[0] == 5


def test_weeks_that_happen_to_agree_do_not_refuse_ordinary_sampling() -> None:
    """The bench's partner feed: eight Sundays within 0.6 % of each other (4,768-4,853
    rows), then a Sunday of 4,588 - 3.4 % under, about 2.4 of a Poisson count's spreads.
    A floor from the eight days' own spread (~4,734) refused it; a count varies at least
    as a Poisson count does, so the floor stays under such a day. Poisson days of the same
    mean are refused about at the budget's rate."""
    sundays = [4768, 4831, 4885, 4842, 4808, 4799, 4839, 4820]
    rate = 1 / 365
    floor = learnt_floor(sundays, rate)
    assert floor is not None and floor < 4588
    rng = np.random.default_rng(5)
    days = rng.poisson(4_820, 20_000)
    assert (days < floor).mean() < 5 * rate  # the floor still refuses a collapse
    assert learnt_floor(sundays, rate) > 4_820 * 0.9
