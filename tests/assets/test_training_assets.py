"""Training and scoring wired through Dagster: retrain jobs, promotion metadata, gold tables."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakeloop.monitoring.evidently_workspace import workspace_for
from lakeloop.registry.model_registry import ModelRegistry
from lakeloop.settings import Settings
from lakeloop.storage import Lake, ObjectStore
from pipelines.definitions import build_definitions
from tests.conftest import START, day, write_landing

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
DAYS = 22
FRAUD_RUN = {**QUIET, "ops": {
    "fraud_training_set": {"config": {"label_window_days": 10, "window_days": 12,
                                      "val_days": 2, "test_days": 3}},
    "fraud_model": {"config": {"max_epochs": 3}}}}
DEMAND_RUN = {**QUIET, "ops": {
    "demand_training_set": {"config": {"horizon": 3, "encoder_length": 7,
                                       "backtest_origins": 2}},
    "demand_model": {"config": {"max_epochs": 2, "hidden_size": 16}}}}


@pytest.fixture(scope="module")
def lake_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("closed")
    write_landing(root / "landing", days=DAYS, scale=0.05)
    return Settings(lake_root=str(root / "lake"), landing_root=str(root / "landing"),
                    dagster_home=root / "home", partitions_start=START.isoformat())


def _closed_loop(lake_settings: Settings) -> None:
    """A backfill, a night with no champion, both retrains, two nights scored and monitored
    - checked step by step as it goes."""
    defs = build_definitions(lake_settings)
    jobs = [defs.resolve_job_def(f"nightly_{d}") for d in ("fraud", "demand")]

    def nightly(i: int, instance: dg.DagsterInstance) -> list[dg.ExecuteInProcessResult]:
        return [job.execute_in_process(partition_key=day(i).isoformat(), instance=instance,
                                       run_config=QUIET) for job in jobs]

    with dg.instance_for_test() as instance:
        # history as a team loads it: one single-run backfill of ingest + features ...
        history = dg.AssetSelection.groups(*(f"{d}_{s}" for d in ("fraud", "demand")
                                             for s in ("ingest", "features")))
        assert dg.materialize(
            list(defs.assets or []), selection=history, instance=instance,
            resources=defs.resources, run_config=QUIET,
            tags={"dagster/asset_partition_range_start": day(0).isoformat(),
                  "dagster/asset_partition_range_end": day(DAYS - 4).isoformat()}).success
        assert all(r.success for r in nightly(DAYS - 3, instance))  # ... then a night
        lake = Lake(lake_settings.lake_root)
        assert not lake.exists("gold/fraud_scores")  # no champion yet: nothing scored ...
        scores_key = dg.AssetKey("fraud_scores")  # ... and nothing green in the UI
        assert instance.get_latest_materialization_event(scores_key) is None
        [observed] = instance.fetch_observations(scores_key, limit=1).records
        assert "no fraud champion yet" in str(
            observed.asset_observation.metadata["reason"].value)
        for key in ("fraud_drift", "fraud_performance"):  # nothing scored, nothing measured:
            assert instance.get_latest_materialization_event(dg.AssetKey(key)) is None  # grey

        fraud = defs.resolve_job_def("retrain_fraud").execute_in_process(
            instance=instance, run_config=FRAUD_RUN)
        demand = defs.resolve_job_def("retrain_demand").execute_in_process(
            instance=instance, run_config=DEMAND_RUN)
        assert fraud.success and demand.success
        fm = fraud.asset_materializations_for_node("fraud_model")[0].metadata
        dm = demand.asset_materializations_for_node("demand_model")[0].metadata
        for meta, metric in ((fm, "test_pr_auc"), (dm, "backtest_mase")):
            assert meta["model_version"].value == "v0001"
            assert isinstance(meta[metric].value, float)
            assert meta["decision"].value  # the reason is always stated
        assert Path(dm["forecast_plot"].value).read_bytes()[:4] == b"\x89PNG"
        # the first classification model always serves, whichever family won validation
        assert fm["promoted"].value and fm["family"].value in ("torch", "lightgbm")
        assert fm["serving"].value == f"v0001 ({fm['family'].value})"

        # whatever the decision, an operator can force a version (lakeloop models promote)
        registry = ModelRegistry(ObjectStore(lake_settings.lake_root))
        for name in ("fraud", "demand"):
            if registry.champion_version(name) is None:
                registry.promote(name, "v0001", "test: operator override")
        runs = [nightly(i, instance) for i in (DAYS - 2, DAYS - 1)]
        assert all(r.success for day_runs in runs for r in day_runs)
        fraud_run, demand_run = runs[1]
        # yesterday's next-day forecasts meet today's actuals
        accuracy = demand_run.asset_materializations_for_node("demand_accuracy")[0].metadata
        assert accuracy["measured"].value and accuracy["forecasts"].value == 20
        assert 0 <= accuracy["coverage_p10_p90"].value <= 1 and accuracy["mae"].value >= 0
        drift = fraud_run.asset_materializations_for_node("fraud_drift")[0].metadata
        assert drift["measured"].value and drift["current_sample"].value > 0
        # the champions saw too few days before their reference weeks to learn thresholds
        # from (fraud 2-3, demand 12 days of 20 series): the fixed ones decide, and the
        # metadata says why (tests/unit/test_monitoring_calibration.py: a champion that saw enough)
        for meta in (drift, demand_run.asset_materializations_for_node("demand_drift")[0]
                     .metadata):
            assert meta["thresholds"].value.startswith("fixed: not calibrated (") and \
                meta["thresholds"].value.endswith("at least 5 are needed)")
        # links that open: the day's snapshot in the Evidently UI, in its domain's project
        workspace = workspace_for(lake_settings.lake_root)
        for meta, kind in ((accuracy, "demand_accuracy"), (drift, "fraud_drift")):
            stored = workspace.day(kind, day(DAYS - 1))
            assert stored is not None and meta["report"].value == stored.url
            assert meta["dashboard"].value == stored.dashboard_url
            assert meta["report_json"].value.startswith("file:///")
            assert meta["report_bytes"].value < 1_000_000  # no multi-MB HTML a day
            assert json.loads(stored.path.read_text())["metadata"]["day"] == \
                day(DAYS - 1).isoformat()


@pytest.fixture(scope="module")
def closed_loop(lake_settings: Settings) -> Settings:
    """The lake after ``_closed_loop``: built once for the module, by whichever test asks
    first, so each test can also run alone."""
    _closed_loop(lake_settings)
    return lake_settings


def test_retrain_then_score_both_domains(closed_loop: Settings) -> None:
    lake, registry = Lake(closed_loop.lake_root), ModelRegistry(ObjectStore(closed_loop.lake_root))
    features = lake.scan("silver/fraud_features", day(DAYS - 1), day(DAYS - 1)).collect()
    expected = {"fraud": registry.champion_version("fraud"),
                "demand": registry.champion_version("demand")}
    from lakeloop.contracts.domains import load_domains
    from lakeloop.monitoring.domain_monitor import classification_performance

    realised = classification_performance(lake, registry, load_domains()["fraud"],
                                          day(DAYS - 1), maturity_days=1).figures
    assert realised["evaluated_day"] == day(DAYS - 2) and realised["rows"] > 1_000
    assert realised["model_version"] == "v0001"
    scores = lake.scan("gold/fraud_scores", day(DAYS - 1), day(DAYS - 1)).collect()
    assert scores.height == features.height
    assert scores["model_version"].unique().to_list() == [expected["fraud"]] == ["v0001"]
    assert scores["score"].is_between(0, 1).all()
    forecasts = lake.scan("gold/demand_forecasts", day(DAYS - 1), day(DAYS - 1)).collect()
    assert forecasts.height == 20 * 3
    assert forecasts["model_version"].unique().to_list() == [expected["demand"]] == ["v0001"]
    assert forecasts.select((pl.col("p10") <= pl.col("p90") + 1e-6).all()).item()


NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_notebooks_are_stored_without_outputs() -> None:
    import nbformat

    assert len(NOTEBOOKS) >= 2
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), path


def test_notebooks_run_against_this_lake(closed_loop: Settings,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Executed top to bottom in a real kernel against the closed loop's lake: every table
    listed, time travel rebuilds the champion's training set, versions and plots."""
    import nbformat
    from nbclient import NotebookClient

    lake_settings = closed_loop
    monkeypatch.setenv("LAKELOOP_LAKE", lake_settings.lake_root)
    monkeypatch.setenv("LAKELOOP_LANDING", lake_settings.landing_root)
    outputs = {}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        outputs[path.stem] = [o for c in notebook.cells if c.cell_type == "code"
                              for o in c.outputs]
    text = {name: "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                            for o in outs) for name, outs in outputs.items()}
    pngs = {name: sum("image/png" in o.get("data", {}) for o in outs)
            for name, outs in outputs.items()}
    lake_text, models_text = text["01_lake"], text["02_models_and_drift"]
    assert "silver/fraud_features" in lake_text and "gold/demand_forecasts" in lake_text
    assert "fraud v0001: trained as of" in lake_text and "identical: True" in lake_text
    assert "v0001" in models_text and "first model" in models_text  # versions, pointer
    assert pngs["01_lake"] >= 1 and pngs["02_models_and_drift"] >= 1
