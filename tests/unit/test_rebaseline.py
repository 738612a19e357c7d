"""Re-baselining: accepted baselines are kept as history beside the champion pointer (a
folder and S3), the active one belongs to the current champion, and the CLI records and
shows them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from lakeloop.monitoring.rebaseline import (
    BASELINE,
    Baseline,
    accept_baseline,
    active_baseline,
    baselines,
    reference_id,
)
from lakeloop.registry.model_registry import ModelRegistry, RegistryError
from lakeloop.storage import ObjectStore
from tests.system.test_registry import StoreFactory, new_store, s3_endpoint  # noqa: F401 - fixtures

MARCH = dt.date(2026, 3, 1)


def _champion(registry: ModelRegistry, model: str = "fraud") -> str:
    """A registered and promoted version (a baseline rule: no weights needed)."""
    version = registry.register(model, None, {"family": "baseline",
                                              "metrics": {"pr_auc": 0.5}}).version
    registry.promote(model, version, "test champion")
    return version


def test_accept_keeps_history_and_a_promotion_supersedes_it(
        new_store: StoreFactory) -> None:  # noqa: F811 - the fixture imported above
    registry = ModelRegistry(new_store())
    with pytest.raises(ValueError, match="fraud: no champion to re-baseline"):
        accept_baseline(registry, "fraud", MARCH)
    assert active_baseline(registry, "fraud") is None and baselines(registry, "fraud") == []

    v1 = _champion(registry)
    assert reference_id(registry, "fraud") == v1
    first = accept_baseline(registry, "fraud", MARCH, "new merchant mix")
    assert first.reference_id == f"{v1}+baseline:2026-03-01"
    assert dt.datetime.fromisoformat(first.recorded_at).utcoffset() == dt.timedelta(0)
    second = accept_baseline(ModelRegistry(new_store()), "fraud", MARCH + dt.timedelta(days=9))
    assert active_baseline(registry, "fraud") == second  # the newest for this champion
    assert reference_id(registry, "fraud") == f"{v1}+baseline:2026-03-10"
    assert baselines(registry, "fraud") == [first, second]  # history kept, oldest first

    v2 = _champion(registry)  # a promoted retrain: its own reference applies again
    assert active_baseline(registry, "fraud") is None
    assert reference_id(registry, "fraud") == v2
    assert len(baselines(registry, "fraud")) == 2
    registry.rollback("fraud")  # the old champion serves again, with its baseline
    assert active_baseline(registry, "fraud") == second
    assert baselines(registry, "demand") == []  # per model


def test_the_file_sits_beside_the_champion_pointer(tmp_path: Path) -> None:
    registry = ModelRegistry(ObjectStore(str(tmp_path / "lake")))
    _champion(registry)
    accept_baseline(registry, "fraud", MARCH, "why")
    stored = json.loads((tmp_path / "lake" / "registry" / "fraud" / BASELINE).read_text())
    assert [{k: r[k] for k in ("champion", "start", "note")} for r in stored["baselines"]] == [
        {"champion": "v0001", "start": "2026-03-01", "note": "why"}]
    assert (tmp_path / "lake" / "registry" / "fraud" / "champion.json").exists()


def test_a_corrupt_baseline_file_is_refused_with_its_name(tmp_path: Path) -> None:
    registry = ModelRegistry(ObjectStore(str(tmp_path / "lake")))
    _champion(registry)
    path = tmp_path / "lake" / "registry" / "fraud" / BASELINE
    path.write_text('{"baselines": [{"champion": "v0001", "start": "March"}]}')
    with pytest.raises(RegistryError, match=r"baseline\.json: baseline 'start' is not a date"):
        active_baseline(registry, "fraud")
    path.write_text('{"baselines": {}}')
    with pytest.raises(RegistryError, match="'baselines' should be a list"):
        accept_baseline(registry, "fraud", MARCH)  # nothing written over it
    assert path.read_text() == '{"baselines": {}}'


def test_monitoring_cli_accepts_and_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from lakeloop.app.cli import main

    monkeypatch.setenv("LAKELOOP_HOME", str(tmp_path))  # the lake: <home>/lake
    monkeypatch.delenv("LAKELOOP_LAKE", raising=False)
    registry = ModelRegistry(ObjectStore(str(tmp_path / "lake")))

    assert main(["monitoring", "accept", "fraud", "--from", "2026-03-01"]) == 2
    assert "no champion to re-baseline" in capsys.readouterr().err
    assert main(["monitoring", "accept", "frod", "--from", "2026-03-01"]) == 2
    assert "no domain 'frod'" in capsys.readouterr().err

    _champion(registry)
    assert main(["monitoring", "show", "fraud"]) == 0
    out = capsys.readouterr().out
    assert "champion: v0001" in out and "active baseline: none" in out
    assert main(["monitoring", "accept", "fraud", "--from", "2026-03-01",
                 "--note", "new merchant mix"]) == 0
    out = capsys.readouterr().out
    assert "recorded baseline v0001+baseline:2026-03-01" in out
    assert "uses the 7 days from 2026-03-01 to 2026-03-07 as its reference" in out
    assert "resolves at the next sensor tick" in out
    assert active_baseline(registry, "fraud") == Baseline(
        "fraud", "v0001", MARCH, active_baseline(registry, "fraud").recorded_at,
        "new merchant mix")

    lake = str(tmp_path / "lake")  # --lake names the lake explicitly, as `models` does
    assert main(["monitoring", "--lake", lake, "accept", "fraud", "--from", "2026-03-10"]) == 0
    capsys.readouterr()
    assert main(["monitoring", "show", "fraud"]) == 0
    out = capsys.readouterr().out
    assert "active baseline: v0001+baseline:2026-03-10" in out and "history (2):" in out
    assert "new merchant mix" in out  # the older record stays in the history

    with pytest.raises(SystemExit):  # argparse refuses a malformed day
        main(["monitoring", "accept", "fraud", "--from", "March"])
    assert "not a date (YYYY-MM-DD): 'March'" in capsys.readouterr().err
