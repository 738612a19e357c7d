"""Models: device choice, reproducible training sets, tiny real training, promotion rules."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from polars.testing import assert_frame_equal

from lakeloop.contracts import load_contract
from lakeloop.contracts.domains import load_domains
from lakeloop.features import event_features, event_schema, known_labels_from_dataset
from lakeloop.ingest.bronze import process_day, write_day
from lakeloop.models.classification.config import FraudConfig, TabMConfig
from lakeloop.models.classification.lifecycle import (
    load_classifier,
    load_fraud_model,
    train_and_promote,
)
from lakeloop.models.classification.network import FraudModel, FraudNet, Preprocessor
from lakeloop.models.classification.tabm import EMBEDDING_CHOICES, TabMModel, train_tabm
from lakeloop.models.compute import compute, pick_device
from lakeloop.registry.model_registry import ModelRegistry
from lakeloop.registry.promotion import Decision, decide, decide_paired
from lakeloop.storage import Lake, ObjectStore
from lakeloop.training.split import SplitWindow
from lakeloop.training.training_sets import LABEL, classification_training_set
from tests.conftest import day, write_landing

pytestmark = pytest.mark.slow  # trains networks and trees: make test, not make test-fast

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = load_domains()["fraud"]
MODEL_NAME = DOMAIN.name
FRAUD_FEATURES = DOMAIN.features_table
WINDOW = SplitWindow(window_days=8, label_window_days=3, val_days=1, test_days=2)
AS_OF = day(11)
FAST = TabMConfig(max_epochs=3, batch_size=512, patience=2, k=4, d_block=32)


def fraud_training_set(lake: Lake, as_of: dt.date, window: SplitWindow,
                       versions: dict[str, int] | None = None):  # noqa: ANN201
    return classification_training_set(lake, DOMAIN, as_of, window, versions)


def inputs(frame: pl.DataFrame) -> tuple[list[str], list[str]]:
    schema = event_schema(DOMAIN.main, frame.drop(LABEL, "split").schema)
    return schema.categorical, schema.numeric


def build_features(lake: Lake, store: ObjectStore, i: int) -> None:
    for dataset in ("transactions", "fraud_labels"):
        write_day(lake, process_day(store, lake, load_contract(dataset), day(i)))
    d = day(i)
    labels = known_labels_from_dataset(
        lake.scan("bronze/fraud_labels", d - dt.timedelta(days=30), d - dt.timedelta(days=1)),
        DOMAIN.main, load_contract("fraud_labels")) if i else None
    frame = event_features(lake.scan("bronze/transactions", d - dt.timedelta(days=7), d),
                           labels, d, DOMAIN.main, ["card", "merchant"]).collect()
    lake.overwrite_partition(FRAUD_FEATURES, frame, d)


@pytest.fixture(scope="module")
def fraud_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Twelve days at 2,500 transactions a day through the real ingest and feature code."""
    root = tmp_path_factory.mktemp("fraud")
    store = ObjectStore(str(write_landing(root / "landing", days=12, scale=0.05)))
    lake = Lake(str(root / "lake"))
    for i in range(12):
        build_features(lake, store, i)
    return lake


def test_device_is_chosen_not_hard_coded(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    monkeypatch.setenv("LAKELOOP_DEVICE", "cpu")
    assert compute().device.type == "cpu" and compute().amp_dtype is None
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            pick_device("cuda")
    literal = re.compile(r"\.cuda\(|[\"']cpu[\"']|[\"']cuda[\"']")
    # model code never names a device: ``models/compute.py`` is the one place that chooses
    for path in (ROOT / "lakeloop" / "models").rglob("*.py"):
        if path.name != "compute.py":
            assert not literal.search(path.read_text()), f"device literal in {path}"


def test_training_set_rebuilds_identically_from_recorded_versions(fraud_lake: Lake,
                                                                   tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    import shutil

    shutil.copytree(fraud_lake.root, lake.root)
    first = fraud_training_set(lake, AS_OF, WINDOW)
    assert set(first.frame["split"].unique()) == {"train", "validation", "test"}
    dates = first.frame.group_by("split").agg(pl.col("date").min().alias("lo"),
                                              pl.col("date").max().alias("hi"))
    spans = {r["split"]: (r["lo"], r["hi"]) for r in dates.iter_rows(named=True)}
    assert spans["train"][1] < spans["validation"][0] <= spans["validation"][1] < spans["test"][0]
    assert spans["test"][1] == AS_OF - dt.timedelta(days=WINDOW.label_window_days)
    assert first.frame[LABEL].sum() > 0

    # the lake moves on: a day of features is rewritten and more labels arrive
    changed = lake.scan(FRAUD_FEATURES, day(5), day(5)).collect().head(100)
    lake.overwrite_partition(FRAUD_FEATURES, changed, day(5))
    later = fraud_training_set(lake, AS_OF, WINDOW)
    assert later.source_versions != first.source_versions
    assert later.frame.height != first.frame.height

    rebuilt = fraud_training_set(lake, AS_OF, WINDOW, versions=first.source_versions)
    assert_frame_equal(rebuilt.frame, first.frame)


def test_tiny_training_is_deterministic_and_survives_the_registry(fraud_lake: Lake,
                                                                  tmp_path: Path) -> None:
    ts = fraud_training_set(fraud_lake, AS_OF, WINDOW)
    cpu = compute("cpu")
    cats, nums = inputs(ts.frame)
    assert "hour" in cats and "card_count_1h" in nums and "transaction_id" not in cats + nums
    a = train_tabm(ts.part("train"), ts.part("validation"), cats, nums, cpu, FAST,
                   log=lambda _m: None)
    b = train_tabm(ts.part("train"), ts.part("validation"), cats, nums, cpu, FAST,
                   log=lambda _m: None)
    for key, value in a.model.state().items():
        assert torch.equal(value, b.model.state()[key]), key
    assert 1 <= a.epochs <= FAST.max_epochs and a.samples_per_s > 0
    test = ts.part("test")
    scores = a.model.score(test, cpu)
    assert scores.shape == (test.height,) and np.all((scores >= 0) & (scores <= 1))

    registry = ModelRegistry(ObjectStore(str(tmp_path / "lake")))
    mv = registry.register(MODEL_NAME, a.model.state(), a.model.meta())
    again = load_fraud_model(registry, registry.get(MODEL_NAME, mv.version))
    assert isinstance(again, TabMModel) and mv.meta["architecture"] == "tabm"
    np.testing.assert_allclose(again.score(test, cpu), scores, rtol=1e-6)

    # a version registered before TabM (the MLP, no "architecture") still loads and scores
    train = ts.part("train")
    pre = Preprocessor.fit(train, cats, nums, max_vocab=50)
    mlp = FraudModel(FraudConfig(), pre, FraudNet([len(pre.vocab[c]) for c in cats],
                                                  pre.width, FraudConfig()), (0.5, -1.0))
    old = registry.register(MODEL_NAME, mlp.state(), mlp.meta())
    assert "architecture" not in old.meta
    np.testing.assert_allclose(load_classifier(registry, old).score(test, cpu),
                               mlp.score(test, cpu), rtol=1e-6)


def test_promotion_rules() -> None:
    assert decide("pr_auc", 0.6, 0.5, None, 0.01).promote  # first model beats baseline
    assert not decide("pr_auc", 0.45, 0.5, None, 0.01).promote  # ... or not
    assert decide("pr_auc", 0.7, 0.5, 0.6, 0.01).promote  # better champion
    worse = decide("pr_auc", 0.55, 0.5, 0.6, 0.01)
    assert not worse.promote and "does not beat champion" in worse.reason
    assert not decide("pr_auc", 0.605, 0.5, 0.6, 0.01).promote  # inside the margin
    assert not decide("pr_auc", math.nan, 0.5, 0.6, 0.01).promote


def test_paired_promotion_needs_a_win_beyond_the_noise_and_enough_positives() -> None:
    iv = {"low": 0.5, "high": 0.7, "mean": 0.6, "level": 0.9, "resamples": 200}
    clear = {"low": 0.02, "high": 0.08, "mean": 0.05, "level": 0.9, "resamples": 200}
    noisy = {"low": -0.03, "high": 0.13, "mean": 0.05, "level": 0.9, "resamples": 200}

    def rule(champion: float | None, diff: dict | None, positives: int = 80) -> Decision:
        return decide_paired("pr_auc", "lightgbm", 0.65, iv, 0.3, champion, diff, 0.005,
                             positives, 50)

    first = rule(None, None, positives=10)  # a champion always serves, even on thin evidence
    assert first.promote and "first model" in first.reason and "only 10 test positives" \
        in first.reason
    assert rule(0.60, clear).promote
    within = rule(0.60, noisy)
    assert not within.promote and "within the noise" in within.reason
    assert not rule(0.648, clear).promote  # under the margin
    few = rule(0.60, clear, positives=49)
    assert not few.promote and "fewer than the 50" in few.reason
    assert few.as_dict()["difference"] == clear and few.as_dict()["test_positives"] == 49


def test_candidates_serve_from_their_own_format_and_the_champion_is_judged_fairly(
        fraud_lake: Lake, tmp_path: Path) -> None:
    ts = fraud_training_set(fraud_lake, AS_OF, WINDOW)
    registry = ModelRegistry(ObjectStore(str(tmp_path / "lake")))
    cpu = compute("cpu")
    quiet = {"log": lambda _m: None}
    cats, nums = inputs(ts.frame)
    # a tree champion: registered as LightGBM's own text model, no pickle, no weights.pt
    trees = train_and_promote(ts, registry, cpu, cats, nums, FAST, 0.0, {"t": 1},
                              families=("lightgbm",), **quiet)
    assert trees.decision.promote and "first model" in trees.decision.reason  # always serves
    champion = registry.champion(MODEL_NAME)
    assert champion is not None and champion.family == "lightgbm"
    folder = tmp_path / "lake" / "registry" / MODEL_NAME / "versions" / champion.version
    assert sorted(p.name for p in folder.iterdir()) == ["claim.json", "meta.json", "model.txt"]
    assert (folder / "model.txt").read_text().startswith("tree")
    served = load_classifier(registry, champion).score(ts.part("test"), cpu)
    np.testing.assert_allclose(served, trees.challenger.test_scores, rtol=1e-9)
    meta = champion.meta
    assert meta["test_window"]["positives"] == int(ts.part("test")[LABEL].sum())
    assert meta["metric_interval"]["low"] <= meta["metrics"]["pr_auc"] \
        <= meta["metric_interval"]["high"]
    # a crippled network challenger: one epoch at a learning rate that barely moves weights
    bad_cfg = replace(FAST, max_epochs=1, lr=1e-7, warmup_epochs=0, seed=3)
    bad = train_and_promote(ts, registry, cpu, cats, nums, bad_cfg, 0.0, {"t": 1},
                            families=("torch",), **quiet)
    assert not bad.decision.promote
    assert registry.champion_version(MODEL_NAME) == champion.version
    meta = registry.get(MODEL_NAME, bad.version.version).meta
    assert meta["family"] == "torch" and meta["champion_family"] == "lightgbm"
    assert meta["decision"]["promote"] is False and meta["decision"]["reason"]
    assert meta["decision"]["difference"]["high"] < 0.0 < meta["decision"]["interval"]["low"]
    assert meta["champion_at_training"] == champion.version
    assert meta["training_set"] == {"t": 1} and meta["seed"] == 3
    assert meta["metrics"]["pr_auc"] < trees.test_metrics["pr_auc"]
    assert meta["champion_metrics_on_test"]["pr_auc"] == pytest.approx(
        trees.test_metrics["pr_auc"])


def test_test_window_grows_back_until_it_holds_the_minimum_positives(fraud_lake: Lake) -> None:
    plain = fraud_training_set(fraud_lake, AS_OF, WINDOW)
    have = int(plain.part("test")[LABEL].sum())
    grown = fraud_training_set(fraud_lake, AS_OF, replace(WINDOW, min_test_positives=have + 1))
    test = grown.part("test")
    assert grown.window.test_days > WINDOW.test_days  # grew back in time ...
    assert int(test[LABEL].sum()) >= have + 1  # ... until it had them
    assert test["date"].max() == plain.part("test")["date"].max()  # same newest matured day
    assert grown.window.window_days - WINDOW.window_days == grown.window.test_days \
        - WINDOW.test_days  # training kept its length
    # rebuilt from its recorded lineage: the same set, no second growth
    again = fraud_training_set(fraud_lake, AS_OF, grown.window, grown.source_versions)
    assert_frame_equal(again.frame, grown.frame)


def test_few_positives_choose_the_numeric_embedding_on_validation(fraud_lake: Lake,
                                                                  tmp_path: Path) -> None:
    """Below ``choose_embedding_below`` training positives the network is trained with each
    numeric embedding; the better validation PR-AUC is kept, and the version it registers
    rebuilds that network (the choice is in its config)."""
    ts = fraud_training_set(fraud_lake, AS_OF, WINDOW)
    cpu = compute("cpu")
    cats, nums = inputs(ts.frame)
    train, val = ts.part("train"), ts.part("validation")
    assert 0 < train[LABEL].sum() < FAST.choose_embedding_below
    runs = {kind: train_tabm(train, val, cats, nums, cpu,
                             replace(FAST, numeric_kind=kind, choose_embedding_below=0),
                             log=lambda _m: None) for kind in EMBEDDING_CHOICES}
    lines: list[str] = []
    chosen = train_tabm(train, val, cats, nums, cpu, FAST, log=lines.append)
    best = max(EMBEDDING_CHOICES, key=lambda k: runs[k].val_metrics["pr_auc"])
    assert chosen.model.config.numeric_kind == best
    assert chosen.val_metrics == runs[best].val_metrics
    assert any("numeric embedding chosen on validation" in line for line in lines)
    assert sum("epochs in" in line for line in lines) == len(EMBEDDING_CHOICES)  # trainings

    registry = ModelRegistry(ObjectStore(str(tmp_path / "lake")))
    mv = registry.register(MODEL_NAME, chosen.model.state(), chosen.model.meta())
    again = load_fraud_model(registry, registry.get(MODEL_NAME, mv.version))
    test = ts.part("test")
    np.testing.assert_allclose(again.score(test, cpu), chosen.model.score(test, cpu),
                               rtol=1e-6)
