"""``lakeloop demo``: simulate a landing zone and run the nightly job day by day in Dagster.

The demo starts ``dagster dev`` on loopback (``pipelines.dagster_dev``) and submits each day's
nightly runs through its GraphQL API, as the schedule would; the daemon launches them and ticks
the drift sensors, whose retrain runs the demo waits for before the next day. Everything goes to
the persistent instance in DAGSTER_HOME (SQLite unless its dagster.yaml says otherwise), so
``make dev`` afterwards shows every run under its job, every sensor tick and alert.

The demo's calendar is fixed (``lakeloop.app.cli.DEMO_START``): the same days, data and
models on every run, so the same story. The history before the first model is loaded as a
team brings it - one single-run backfill per domain - and the days after it night by night.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import shutil
import time
from pathlib import Path

import dagster as dg

from lakeloop import names
from lakeloop.contracts.domains import Domain
from lakeloop.registry.model_registry import ModelRegistry
from lakeloop.settings import Settings, to_env
from lakeloop.storage import ObjectStore
from lakeloop.storage.objects import is_s3
from pipelines.dagster_dev import DagsterDev
from pipelines.instance import prepare_home
from pipelines.jobs import retrain_run_config

# The console shows the progress bar and errors; every event is still in the instance.
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
# a run over a range of partitions, as a single-run backfill launches it
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def history_assets(domain: Domain) -> list[str]:
    """What a history backfill materializes: the domain's datasets and features (their
    backfill policy reads and commits a range in one pass). Scoring and monitoring need a
    champion, which the history is for."""
    return [*(names.ingest_asset(c.name) for c in domain.datasets), domain.features_asset]


def _wipe(*roots: str | Path) -> None:
    for root in roots:
        if not is_s3(str(root)) and Path(root).exists():
            shutil.rmtree(root)


def _retrain_record(instance: dg.DagsterInstance, run_id: str, domain: str, day: str) -> dict:
    run = instance.get_run_by_id(run_id)
    record = {"day": run.tags.get("lakeloop/as_of", day), "run_id": run_id,
              "trigger": "drift" if "lakeloop/episode" in run.tags else "warm-up",
              "episode": run.tags.get("lakeloop/episode"),
              "success": run.status == dg.DagsterRunStatus.SUCCESS}
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    for event in events:
        materialization = event.asset_materialization
        if materialization and materialization.asset_key == dg.AssetKey(names.model_asset(domain)):
            meta = materialization.metadata
            record |= {"version": meta["model_version"].value,
                       "promoted": meta["promoted"].value, "decision": meta["decision"].value}
    return record


def demo_environment(settings: Settings) -> dict[str, str]:
    """What the code location reads (``Settings.from_env``) to load the demo's definitions:
    every setting of ``settings`` (``lakeloop.settings.to_env``), with the drift sensors let
    tick every second - a simulated day takes seconds, not a day."""
    return to_env(dataclasses.replace(settings, sensor_interval_s=1))


@dataclasses.dataclass
class DemoRun:
    """What the closed loop did, for the report (``lakeloop.app.demo_report.report``)."""

    settings: Settings
    domains: dict
    start: dt.date
    last: dt.date
    drift_day: dt.date | None
    retrains: dict[str, list[dict]]
    champions: dict[str, list]
    failed: list[str]


def run_demo(args: argparse.Namespace) -> DemoRun:
    """Simulate the days, then drive them through ``dagster dev`` as a scheduler would."""
    from tqdm import tqdm

    from lakeloop.settings import TrainingSettings
    from lakeloop.simulate import config_from_args, profile_contracts, simulate
    from lakeloop.simulate.drift import Drift

    # without --start (a caller of run_demo): the last day is yesterday, as a nightly's is
    start = args.start or dt.date.today() - dt.timedelta(days=args.days)
    args = argparse.Namespace(**{**vars(args), "start": start})
    base = Settings.from_env()
    settings = dataclasses.replace(
        base, lake_root=args.lake, landing_root=args.landing,
        partitions_start=start.isoformat(),
        # the UI's partitions end with the simulated days (the demo's clock)
        partitions_end=(start + dt.timedelta(days=args.days)).isoformat(),
        contracts_dir=profile_contracts(args.profile) or base.contracts_dir,
        training=TrainingSettings(label_window_days=args.label_window, forecast_horizon=7,
                                  encoder_length=14, backtest_origins=2))
    if args.fresh:
        _wipe(settings.lake_root, settings.landing_root, settings.dagster_home)
    prepare_home(settings.dagster_home)
    cfg = config_from_args(args)
    drift_day = args.start + dt.timedelta(days=args.drift_day) \
        if 0 < args.drift_day < args.days else None  # a drift after the last day never happens
    if drift_day:
        cfg = dataclasses.replace(cfg, drifts=(*cfg.drifts, Drift("concept", drift_day),
                                               Drift("demand_level", drift_day)))
    with tqdm(total=cfg.days, desc="simulate", unit="day", disable=args.quiet) as bar:
        simulate(cfg, ObjectStore(settings.landing_root, settings.s3),
                 progress=lambda _d: bar.update())

    os.environ.update(demo_environment(settings))
    settings = Settings.from_env()
    domains = settings.load_domains()
    registry = ModelRegistry(ObjectStore(settings.lake_root, settings.s3))
    retrains: dict[str, list[dict]] = {d: [] for d in domains}
    champions: dict[str, list] = {d: [] for d in domains}
    failed: list[str] = []
    server = DagsterDev({**demo_environment(settings), "DAGSTER_HOME": str(settings.dagster_home)},
                        log=settings.dagster_home / "demo_dagster_dev.log")
    with server, dg.DagsterInstance.get() as instance, \
            tqdm(total=cfg.days, desc="closed loop", unit="day", disable=args.quiet) as bar:

        def phase(text: str) -> None:
            bar.set_description_str(text)

        def retrained(launched: dict[str, str], day: str) -> None:
            server.wait(launched)
            for run_id, domain in launched.items():
                record = _retrain_record(instance, run_id, domain, day)
                retrains[domain].append(record)
                if not record["success"]:
                    failed.append(f"{day} retrain_{domain}")
            for domain in domains:
                version = registry.champion_version(domain)
                if version and (not champions[domain] or champions[domain][-1][1] != version):
                    champions[domain].append((day, version))

        history = min(args.train_after, cfg.days)
        if history:  # the history a team brings: one backfill run per domain, then one training
            first, day = cfg.day(0).isoformat(), cfg.day(history - 1).isoformat()
            phase(f"history {first}..{day}: one backfill run per domain")
            backfills = {server.submit(
                names.nightly_job(d), {RANGE_START: first, RANGE_END: day,
                                       "lakeloop/trigger": "demo history backfill"},
                QUIET, assets=history_assets(spec)): d for d, spec in domains.items()}
            for run_id, status in server.wait(backfills).items():
                if status != "SUCCESS":
                    failed.append(f"{first}..{day} backfill_{backfills[run_id]}")
            bar.update(history)
            if history < cfg.days:
                phase(f"{day} first training")
                retrained({server.submit(
                    names.retrain_job(d), {"lakeloop/trigger": "warm-up"},
                    {**QUIET, "ops": retrain_run_config(settings.training, domains[d], day)}): d
                    for d in domains}, day)
        for i in range(history, cfg.days):  # then night by night, as the schedule runs them
            day = cfg.day(i).isoformat()
            phase(f"{day} nightly")
            nightly = {server.submit(names.nightly_job(d), {"dagster/partition": day,
                                                     "lakeloop/trigger": "demo clock"}, QUIET): d
                       for d in domains}  # the domains' runs side by side, as scheduled
            for run_id, status in server.wait(nightly).items():
                if status != "SUCCESS":
                    failed.append(f"{day} nightly_{nightly[run_id]}")
            ended = time.time()
            phase(f"{day} sensors")  # the daemon's tick after the nightly runs
            retrained({run_id: d for d in domains
                       for run_id in server.tick_after(names.drift_sensor(d), ended)}, day)
            bar.update()
    return DemoRun(settings=settings, domains=domains, start=cfg.start,
                   last=cfg.day(cfg.days - 1), drift_day=drift_day, retrains=retrains,
                   champions=champions, failed=failed)
