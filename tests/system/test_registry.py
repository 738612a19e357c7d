"""The model registry: versions, champion pointer, rollback, crash safety, safe loading,
concurrent writers (threads and processes, on a folder and on S3), corrupt files refused."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
import torch

import lakeloop.registry.model_registry
from lakeloop.registry.model_registry import ModelRegistry, RegistryError
from lakeloop.settings import S3Settings
from lakeloop.storage import ObjectStore
from tests.registry_worker import payload
from tests.servers import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]


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

    def _crash(self, data: bytes, parts: tuple[str, ...]) -> None:
        if self.crash_on and parts[-1] == self.crash_on:
            path = Path(self.uri(*parts))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_name(f".{path.name}.tmp").write_bytes(data[: len(data) // 2])
            raise OSError("injected crash mid-promotion")

    def write_bytes(self, data: bytes, *parts: str) -> str:
        self._crash(data, parts)
        return super().write_bytes(data, *parts)

    def write_bytes_if_tag(self, data: bytes, tag: str | None, *parts: str) -> bool:
        self._crash(data, parts)
        return super().write_bytes_if_tag(data, tag, *parts)


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
    from lakeloop.app.cli import main

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


# -- concurrent writers: a folder and S3 ----------------------------------------------------

# moto's own S3 application, served one request at a time. Why not the threaded moto_server:
# it checks a PUT's If-None-Match / If-Match and then stores the object as two steps with no
# lock between them, so two racing conditional PUTs could both pass - a gap in the emulator,
# not S3's behaviour (S3 evaluates the condition and the write atomically). Serving requests
# one at a time gives that atomicity; the clients still race each other freely.
SERIAL_MOTO = """
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                           create_backend_app)
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app),
           threaded=False, request_handler=MotoRequestHandler)
"""
BUCKET = "registry-tests"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERIAL_MOTO, str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, server, "moto server")
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
    yield url
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:  # single-threaded werkzeug mid-request: kill it
        server.kill()
        server.wait()


StoreFactory = Callable[[], ObjectStore]


@pytest.fixture(params=["local", "s3"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> StoreFactory:
    """A factory of independent stores on one root (each writer gets its own, as separate
    processes would): a folder, or a fresh prefix of a bucket on moto."""
    if request.param == "local":
        root, s3 = str(tmp_path / "lake"), None
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                           "AWS_REGION": "us-east-1"}.items():
            monkeypatch.setenv(key, value)  # subprocess workers inherit them
        root, s3 = f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}", S3Settings(endpoint_url=endpoint)
    return lambda: ObjectStore(root, s3)


def _assert_serial_history(registry: ModelRegistry, expected: set[str]) -> None:
    """Every promotion landed once, each on top of the one before: no update was lost."""
    history = registry.history("fraud")
    assert sorted(h["version"] for h in history) == sorted(expected)
    assert [h["previous"] for h in history] == [None] + [h["version"] for h in history[:-1]]
    assert registry.champion_version("fraud") == history[-1]["version"]


def test_concurrent_registrations_from_threads_get_distinct_versions(
        new_store: StoreFactory) -> None:
    writers, each = 6, 2
    barrier = threading.Barrier(writers)
    got: dict[str, tuple[int, int]] = {}
    errors: list[BaseException] = []

    def work(writer: int) -> None:
        try:
            registry = ModelRegistry(new_store())
            barrier.wait()
            for n in range(each):
                mv = registry.register("fraud", _state(writer * 10 + n),
                                       {"writer": writer, "n": n, "code_version": "test"},
                                       files={"model.txt": payload(writer, n)})
                got[mv.version] = (writer, n)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    expected = [f"v{i:04d}" for i in range(1, writers * each + 1)]
    assert sorted(got) == expected  # 12 registrations, 12 distinct numbers
    registry = ModelRegistry(new_store())
    assert registry.versions("fraud") == expected
    for version, (writer, n) in got.items():  # every version holds its own writer's files
        mv = registry.get("fraud", version)
        assert (mv.meta["writer"], mv.meta["n"]) == (writer, n)
        assert registry.load_file(mv, "model.txt") == payload(writer, n)
        assert torch.equal(registry.load_weights(mv)["w"], torch.full((3,), writer * 10.0 + n))


def test_concurrent_registrations_and_promotions_from_processes(
        new_store: StoreFactory, tmp_path: Path) -> None:
    store = new_store()
    endpoint = store.s3.endpoint_url or "-"
    start = tmp_path / "go"
    workers = [subprocess.Popen(
        [sys.executable, "-m", "tests.registry_worker", store.root, endpoint, str(w), "2",
         str(start)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(3)]
    time.sleep(0.5)  # let them all start and wait
    start.touch()
    got: dict[str, tuple[int, int]] = {}
    for writer, worker in enumerate(workers):
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-2000:]
        for n, version in enumerate(json.loads(out)):
            got[version] = (writer, n)
    expected = [f"v{i:04d}" for i in range(1, 7)]
    assert sorted(got) == expected  # six processes' versions, six numbers
    registry = ModelRegistry(new_store())
    assert registry.versions("fraud") == expected
    for version, (writer, n) in got.items():
        mv = registry.get("fraud", version)
        assert (mv.meta["writer"], mv.meta["n"]) == (writer, n)
        assert registry.load_file(mv, "model.txt") == payload(writer, n)
    _assert_serial_history(registry, set(expected))


def test_concurrent_promotions_from_threads_all_land(new_store: StoreFactory) -> None:
    registry = ModelRegistry(new_store())
    versions = [registry.register("fraud", None, {"code_version": "test"},
                                  files={"model.txt": b"x"}).version for _ in range(6)]
    barrier = threading.Barrier(len(versions))
    errors: list[BaseException] = []

    def work(version: str) -> None:
        try:
            mine = ModelRegistry(new_store())
            barrier.wait()
            mine.promote("fraud", version, f"promote {version}")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    _assert_serial_history(registry, set(versions))


class RacedStore(ObjectStore):
    """A real store with a competitor that acts at the worst moment: right after this store
    lists the versions (``on_list``) or reads the champion pointer (``on_read``)."""

    on_list: Callable[[], None] | None = None
    on_read: Callable[[], None] | None = None

    def list(self, *parts: str) -> list[str]:
        found = super().list(*parts)
        if self.on_list:
            self.on_list()
        return found

    def read_with_tag(self, uri: str) -> tuple[bytes, str]:
        try:
            return super().read_with_tag(uri)
        finally:
            if self.on_read and uri.endswith("champion.json"):
                self.on_read()


def _raced(new_store: StoreFactory) -> tuple[ModelRegistry, ModelRegistry, RacedStore]:
    plain = new_store()
    raced = RacedStore(plain.root, plain.s3)
    return ModelRegistry(raced), ModelRegistry(new_store()), raced


def test_a_number_claimed_meanwhile_is_skipped(new_store: StoreFactory) -> None:
    registry, competitor, raced = _raced(new_store)

    def compete() -> None:
        raced.on_list = None  # once
        competitor.register("fraud", None, {"who": "competitor"}, files={"model.txt": b"c"})

    raced.on_list = compete  # it registers between our listing and our claim
    mine = registry.register("fraud", None, {"who": "me"}, files={"model.txt": b"m"})
    assert mine.version == "v0002"
    assert registry.versions("fraud") == ["v0001", "v0002"]
    assert registry.get("fraud", "v0001").meta["who"] == "competitor"
    assert registry.load_file(registry.get("fraud", "v0001"), "model.txt") == b"c"
    assert registry.load_file(registry.get("fraud", "v0002"), "model.txt") == b"m"


def test_a_promotion_that_lost_the_race_is_reapplied_on_top(new_store: StoreFactory) -> None:
    registry, competitor, raced = _raced(new_store)
    for _ in range(3):
        registry.register("fraud", None, {}, files={"model.txt": b"x"})
    registry.promote("fraud", "v0001", "first")

    def compete() -> None:
        raced.on_read = None  # once
        competitor.promote("fraud", "v0002", "the competitor's")

    raced.on_read = compete  # it promotes between our read and our write
    registry.promote("fraud", "v0003", "mine")
    assert [(h["version"], h["previous"]) for h in registry.history("fraud")] == [
        ("v0001", None), ("v0002", "v0001"), ("v0003", "v0002")]  # neither update lost
    assert registry.champion_version("fraud") == "v0003"


def test_a_promotion_that_always_loses_gives_up_clearly(
        new_store: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lakeloop.registry.model_registry, "POINTER_ATTEMPTS", 3)
    registry, competitor, raced = _raced(new_store)
    for _ in range(2):
        registry.register("fraud", None, {}, files={"model.txt": b"x"})
    raced.on_read = lambda: competitor.promote("fraud", "v0001", "the competitor's")
    with pytest.raises(RegistryError, match="champion.json changed under us 3 times"):
        registry.promote("fraud", "v0002", "mine")
    raced.on_read = None
    assert [h["version"] for h in registry.history("fraud")] == ["v0001"] * 3  # not ours


# -- corrupt registry files -----------------------------------------------------------------

CORRUPT = {
    "not UTF-8": (b'{"version": "v\xff0001"}',
                  r"not valid UTF-8 \(invalid start byte at byte 14\)"),
    "not JSON": (b"", r"not valid JSON: Expecting value: line 1 column 1 \(char 0\)"),
    "truncated": (b'{"version": "v0001", "hist', r"not valid JSON: Unterminated string"),
    "a list": (b'["v0001"]', r"expected a JSON object, found list"),
}
POINTER_SHAPES = {
    "no history": (b'{"version": "v0001"}', r"not a champion pointer \(no history\)"),
    "version a number": (b'{"version": 1, "history": []}', r"'version' should be a string"),
    "history of strings": (b'{"version": "v0001", "history": ["v0001"]}',
                           r"'history' should be a list of objects with a 'version'"),
}
META_SHAPES = {
    "sums a list": (b'{"files_sha256": ["abc"]}', r"'files_sha256' should be an object"),
    "sums not hex": (b'{"files_sha256": {"model.txt": 1}}',
                     r"'files_sha256' should map file names"),
    "metrics a string": (b'{"metrics": "good"}', r"'metrics' should be an object"),
}


@pytest.mark.parametrize("case", [*CORRUPT, *POINTER_SHAPES])
def test_a_corrupt_champion_pointer_is_refused_with_its_name(
        registry: ModelRegistry, tmp_path: Path, case: str) -> None:
    data, why = {**CORRUPT, **POINTER_SHAPES}[case]
    registry.register("fraud", None, {}, files={"model.txt": b"x"})
    path = tmp_path / "lake" / "registry" / "fraud" / "champion.json"
    path.write_bytes(data)
    for read in (registry.champion_version, registry.history, registry.champion):
        with pytest.raises(RegistryError, match=f"^{re.escape(str(path))}: {why}"):
            read("fraud")
    with pytest.raises(RegistryError, match=f"^{re.escape(str(path))}: {why}"):
        registry.promote("fraud", "v0001", "over a corrupt pointer")
    assert path.read_bytes() == data  # refused, not silently replaced


@pytest.mark.parametrize("case", [*CORRUPT, *META_SHAPES])
def test_a_corrupt_meta_is_refused_with_its_name(registry: ModelRegistry, tmp_path: Path,
                                                 case: str) -> None:
    data, why = {**CORRUPT, **META_SHAPES}[case]
    mv = registry.register("fraud", None, {}, files={"model.txt": b"x"})
    registry.promote("fraud", mv.version, "first")
    path = tmp_path / "lake" / "registry" / "fraud" / "versions" / mv.version / "meta.json"
    path.write_bytes(data)
    assert registry.versions("fraud") == [mv.version]  # it exists, and says it is broken
    for read in (lambda: registry.get("fraud", mv.version), lambda: registry.champion("fraud")):
        with pytest.raises(RegistryError, match=f"^{re.escape(str(path))}: {why}"):
            read()
