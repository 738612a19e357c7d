"""The model registry: versions, champion pointer, rollback, crash safety, safe loading."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from lakeloop.registry import ModelRegistry, RegistryError
from lakeloop.storage import ObjectStore


def _state(value: float) -> dict[str, torch.Tensor]:
    return {"w": torch.full((3,), value), "b": torch.zeros(1)}


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(ObjectStore(str(tmp_path / "lake")))


def test_versions_promote_and_rollback(registry: ModelRegistry) -> None:
    v1 = registry.register("fraud", _state(1.0), {"metrics": {"pr_auc": 0.5}, "seed": 7})
    v2 = registry.register("fraud", _state(2.0), {"metrics": {"pr_auc": 0.6}, "seed": 7})
    assert (v1.version, v2.version) == ("v0001", "v0002")
    assert registry.versions("fraud") == ["v0001", "v0002"]
    assert registry.champion("fraud") is None
    registry.promote("fraud", "v0001", "first model beats baseline")
    registry.promote("fraud", "v0002", "beats champion")
    assert registry.champion_version("fraud") == "v0002"
    weights = registry.load_weights(registry.champion("fraud"))
    assert torch.equal(weights["w"], torch.full((3,), 2.0))
    assert registry.rollback("fraud", "v0002 misbehaves") == "v0001"
    assert registry.champion_version("fraud") == "v0001"
    assert [h["version"] for h in registry.history("fraud")] == ["v0001", "v0002", "v0001"]
    assert registry.get("fraud", "v0002").meta["metrics"]["pr_auc"] == 0.6
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback("fraud")


class CrashingStore(ObjectStore):
    """A real local store whose next write of ``name`` dies after the temp file is written."""

    crash_on: str | None = None

    def write_bytes(self, data: bytes, *parts: str) -> str:
        if self.crash_on and parts[-1] == self.crash_on:
            path = Path(self.uri(*parts))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_name(f".{path.name}.tmp").write_bytes(data[: len(data) // 2])
            raise OSError("injected crash mid-promotion")
        return super().write_bytes(data, *parts)


def test_crash_mid_promotion_leaves_the_old_champion(tmp_path: Path) -> None:
    store = CrashingStore(str(tmp_path / "lake"))
    registry = ModelRegistry(store)
    registry.register("fraud", _state(1.0), {})
    registry.register("fraud", _state(2.0), {})
    registry.promote("fraud", "v0001", "first")
    store.crash_on = "champion.json"
    with pytest.raises(OSError, match="injected crash"):
        registry.promote("fraud", "v0002", "better")
    store.crash_on = None
    fresh = ModelRegistry(ObjectStore(str(tmp_path / "lake")))  # a new process
    assert fresh.champion_version("fraud") == "v0001"
    assert torch.equal(fresh.load_weights(fresh.champion("fraud"))["w"], torch.full((3,), 1.0))


def test_tampered_weights_are_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    mv = registry.register("fraud", _state(1.0), {})
    path = tmp_path / "lake" / "registry" / "fraud" / "versions" / mv.version / "weights.pt"
    buf = io.BytesIO()
    torch.save(_state(9.0), buf)
    path.write_bytes(buf.getvalue())
    with pytest.raises(RegistryError, match="does not match the sha256"):
        registry.load_weights(registry.get("fraud", mv.version))


class Payload:
    def __reduce__(self):  # noqa: ANN204 - what an attacker's pickle does
        return (os.system, ("echo pwned > /dev/null",))


def test_foreign_pickle_is_refused_even_with_a_matching_checksum(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    mv = registry.register("fraud", _state(1.0), {})
    folder = tmp_path / "lake" / "registry" / "fraud" / "versions" / mv.version
    evil = pickle.dumps({"w": Payload()}, protocol=2)
    (folder / "weights.pt").write_bytes(evil)
    meta = json.loads((folder / "meta.json").read_text())
    meta["files_sha256"]["weights.pt"] = hashlib.sha256(evil).hexdigest()  # checksum "fixed"
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match="not a plain tensor state_dict"):
        registry.load_weights(registry.get("fraud", mv.version))


def test_models_cli_lists_promotes_and_rolls_back(registry: ModelRegistry, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from lakeloop.cli import main

    lake = str(tmp_path / "lake")
    registry.register("fraud", _state(1.0), {"metrics": {"pr_auc": 0.5},
                                             "decision": {"reason": "first"}})
    registry.register("fraud", _state(2.0), {"metrics": {"pr_auc": 0.7},
                                             "decision": {"reason": "better"}})
    assert main(["models", "--lake", lake, "promote", "fraud", "v0001"]) == 0
    assert main(["models", "--lake", lake, "promote", "fraud", "v0002", "--reason", "test"]) == 0
    capsys.readouterr()
    assert main(["models", "--lake", lake, "list", "fraud"]) == 0
    out = capsys.readouterr().out
    assert "champion: v0002" in out and "* v0002  torch          pr_auc=0.7000" in out
    assert main(["models", "--lake", lake, "rollback", "fraud"]) == 0
    assert registry.champion_version("fraud") == "v0001"
    assert main(["models", "--lake", lake, "show", "fraud", "v0002"]) == 0
    assert '"pr_auc": 0.7' in capsys.readouterr().out
    assert main(["models", "--lake", lake, "promote", "fraud", "v0009"]) == 2  # clear error
    assert "no version v0009" in capsys.readouterr().err
