"""Reading landing files under a contract, and the Great Expectations suites (no Dagster)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from lakeloop.contracts import load_contract, load_contract_file
from lakeloop.ingest.bronze import process_day
from lakeloop.ingest.landed import MissingLandingData
from lakeloop.ingest.validation import _repeats
from lakeloop.storage import Lake, ObjectStore
from tests.conftest import day

TX = "transactions/date=2026-01-02/part-0.csv"


def _process(landing: Path, tmp_path: Path, dataset: str = "transactions", i: int = 1):
    return process_day(ObjectStore(str(landing)), Lake(str(tmp_path / "lake")),
                       load_contract(dataset), day(i))


def _rewrite_csv(path: Path, edit) -> None:  # noqa: ANN001 - a frame -> frame function
    frame = pl.read_csv(path, infer_schema=False)
    edit(frame).write_csv(path)


def test_clean_day_passes_with_every_row(landing_copy: Path, tmp_path: Path) -> None:
    batch = _process(landing_copy, tmp_path)
    assert batch.passed, batch.problems
    landed = pl.read_csv(landing_copy / TX).height
    assert batch.bronze.height == landed and batch.quarantined == 0
    assert batch.bronze.schema["ts"] == pl.Datetime("us")
    assert batch.bronze.schema["amount"] == pl.Float64
    assert batch.validation.outcomes and all(o.success for o in batch.validation.outcomes)


@pytest.mark.parametrize("chunk_rows", [None, 100])
def test_bad_rows_are_quarantined_with_reasons_and_nothing_is_lost(
    landing_copy: Path, tmp_path: Path, chunk_rows: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """... the same whether GX sees the day at once or in chunks (a large file: 100 rows
    here, so the duplicate at the end is in another slice than its first copy)."""
    if chunk_rows:
        monkeypatch.setattr("lakeloop.ingest.validation.GX_CHUNK_ROWS", chunk_rows)
    path = landing_copy / TX
    original = pl.read_csv(path, infer_schema=False)

    def break_rows(frame: pl.DataFrame) -> pl.DataFrame:
        idx = pl.int_range(pl.len())
        return frame.with_columns(
            amount=pl.when(idx == 0).then(pl.lit("-12.50"))
            .when(idx == 1).then(pl.lit("12,5x")).otherwise("amount"),
            currency=pl.when(idx == 2).then(pl.lit("XXX")).otherwise("currency"),
            card_id=pl.when(idx == 3).then(None).otherwise("card_id"),
            ts=pl.when(idx == 4).then(pl.lit("2026-01-09T10:00:00")).otherwise("ts"),
        ).vstack(frame.slice(10, 1))  # a duplicate transaction id

    _rewrite_csv(path, break_rows)
    batch = _process(landing_copy, tmp_path)
    assert batch.passed, batch.problems  # 6 bad rows of ~1,000 is a row problem, not a batch one
    reasons = dict(zip(batch.quarantine["_row"], batch.quarantine["reason"], strict=True))
    assert "amount outside [0.0, 100000.0]" in reasons[0]
    assert reasons[1] == "amount: not a float64; amount is null"
    assert "currency not in allowed values" in reasons[2]
    assert "card_id is null" in reasons[3]
    assert "ts in the future (after 2026-01-02)" in reasons[4]
    assert reasons[original.height] == "duplicate transaction_id"
    assert len(reasons) == 6
    # nothing lost: bronze + quarantine = landed, and the raw text is kept verbatim
    assert batch.bronze.height + batch.quarantined == original.height + 1
    record = json.loads(batch.quarantine.filter(pl.col("_row") == 1)["record"][0])
    assert record["amount"] == "12,5x" and record["transaction_id"] == original["transaction_id"][1]
    # check metadata ingredients: counts, percent and a sample of the bad values
    failed = {o.expectation: o for o in batch.validation.failed_expectations}
    assert failed["expect_column_values_to_be_in_set"].sample == ["XXX"]
    assert failed["expect_column_values_to_be_unique"].unexpected_count == 2  # both copies


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("missing_column", "required columns missing: amount"),
        ("wrong_type", "column amount: "),
        ("empty_file", "empty file"),
        ("truncated", "truncated CSV: last line has"),
        ("collapse", "row count below"),
        ("mean_shift", "mean amount outside"),
        ("many_bad_rows", "rows broke row rules"),
    ],
)
def test_broken_batches_are_refused_with_a_clear_message(
    landing_copy: Path, tmp_path: Path, breakage: str, message: str
) -> None:
    path = landing_copy / TX
    # day 1 in bronze gives the row-count rule its recent history
    first = _process(landing_copy, tmp_path, i=0)
    from lakeloop.ingest.bronze import write_day

    write_day(Lake(str(tmp_path / "lake")), first)
    text = path.read_text()
    match breakage:
        case "missing_column":
            _rewrite_csv(path, lambda f: f.drop("amount"))
        case "wrong_type":
            _rewrite_csv(path, lambda f: f.with_columns(amount=pl.lit("n/a")))
        case "empty_file":
            path.write_bytes(b"")
        case "truncated":
            path.write_text(text[: len(text) // 2 - 7])
        case "collapse":
            _rewrite_csv(path, lambda f: f.head(20))
        case "mean_shift":
            _rewrite_csv(path, lambda f: f.with_columns(
                amount=(pl.col("amount").cast(pl.Float64) * 50).round(2).cast(pl.String)))
        case "many_bad_rows":
            _rewrite_csv(path, lambda f: f.with_columns(
                currency=pl.when(pl.int_range(pl.len()) % 5 == 0).then(pl.lit("ZZZ"))
                .otherwise("currency")))
    batch = _process(landing_copy, tmp_path)
    assert not batch.passed
    assert message in batch.message, batch.message
    assert "part-0.csv" in batch.message or breakage in {"wrong_type", "collapse", "mean_shift",
                                                          "many_bad_rows"}
    assert batch.bronze is None and batch.quarantine is None  # nothing to write


def test_missing_day_is_an_error_not_an_empty_day(landing_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingLandingData, match="no landing files for 2026-01-30"):
        _process(landing_copy, tmp_path, i=29)


def test_another_teams_data_is_a_contract_edit(landing_copy: Path, tmp_path: Path) -> None:
    """Other column names, an extra column and Parquet instead of CSV: no code change."""
    theirs = pl.read_csv(landing_copy / TX).rename(
        {"transaction_id": "txn_ref", "amount": "amt_eur", "ts": "event_time"}
    ).with_columns(pl.lit("web").alias("acquirer_region"))
    folder = tmp_path / "their_landing" / "card_payments" / "date=2026-01-02"
    folder.mkdir(parents=True)
    theirs.write_parquet(folder / "batch-001.parquet")

    contract = load_contract("transactions").model_dump()
    contract["landing_dir"] = "card_payments"
    contract["columns"]["transaction_id"]["source"] = "txn_ref"
    contract["columns"]["amount"]["source"] = "amt_eur"
    contract["columns"]["ts"]["source"] = "event_time"
    contract_path = tmp_path / "contracts" / "transactions.yaml"
    contract_path.parent.mkdir()
    import yaml

    contract_path.write_text(yaml.safe_dump(contract))
    batch = process_day(ObjectStore(str(tmp_path / "their_landing")), Lake(str(tmp_path / "l")),
                        load_contract_file(contract_path), day(1))
    assert batch.passed, batch.problems
    assert batch.landed.extra_columns == ["acquirer_region"]
    assert batch.bronze.height == theirs.height
    assert set(batch.bronze.columns) >= {"transaction_id", "amount", "ts"}
    assert batch.bronze["amount"].sum() == pytest.approx(theirs["amt_eur"].sum())


def test_repeated_key_hashes_are_every_copy_and_nothing_else() -> None:
    """The key rule is judged on the rows whose key hash repeats: every copy of a repeated
    value (first one included) is found, a value seen once is not, wherever they stand."""
    values = pl.Series([3, 1, 3, 2, 1, 5, 3], dtype=pl.UInt64)
    assert _repeats(values).to_list() == [True, True, True, False, True, False, True]
    assert _repeats(values.head(0)).to_list() == []
