"""``lakeloop demo``: simulate a landing zone and run the nightly job day by day in Dagster.

The demo starts ``dagster dev`` on loopback (``pipelines.dagster_dev``) and submits each day's
nightly runs through its GraphQL API, as the schedule would; the daemon launches them and ticks
the drift sensors, whose retrain runs the demo waits for before the next day. Everything goes to
the persistent instance in DAGSTER_HOME (SQLite unless its dagster.yaml says otherwise), so
``make dev`` afterwards shows every run under its job, every sensor tick and alert.

The demo's clock: its days end yesterday by default (``--start`` = today - ``--days``), so the
UI's plots by partition, which look back from today, show them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg

from lakeloop.catalog import data_tables
from lakeloop.registry import ModelRegistry
from lakeloop.settings import Settings
from lakeloop.storage import Lake, ObjectStore
from lakeloop.storage.objects import is_s3
from pipelines.dagster_dev import DagsterDev

DAGSTER_YAML = """\
# Written by `lakeloop demo`: a local SQLite instance. See infra/ for Postgres.
run_queue:
  max_concurrent_runs: 4  # the nightly run of each domain, and their retrains
  dequeue_interval_seconds: 1  # a submitted run starts within a second (Dagster's default: 5)
run_monitoring:  # a run whose worker died (killed, out of memory) is marked failed, so
  enabled: true  # run_failure_alert tells someone instead of a run STARTED forever
  start_timeout_seconds: 300
  poll_interval_seconds: 30
  max_resume_run_attempts: 0
run_retries:  # ... and re-executed once (only runs that died; failed steps retry themselves)
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
telemetry:
  enabled: false
"""
# The console shows the progress bar and errors; every event is still in the instance.
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def prepare_home(home: Path) -> Path:
    """Make DAGSTER_HOME exist with a dagster.yaml, and point this process at it."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home


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
        if materialization and materialization.asset_key == dg.AssetKey(f"{domain}_model"):
            meta = materialization.metadata
            record |= {"version": meta["model_version"].value,
                       "promoted": meta["promoted"].value, "decision": meta["decision"].value}
    return record


def demo_environment(settings: Settings) -> dict[str, str]:
    """What the code location reads (``Settings.from_env``) to load the demo's definitions."""
    t = settings.training
    contracts = {"LAKELOOP_CONTRACTS": str(settings.contracts_dir)} \
        if settings.contracts_dir else {}
    return {**contracts,
            "LAKELOOP_LAKE": settings.lake_root, "LAKELOOP_LANDING": settings.landing_root,
            "LAKELOOP_PARTITIONS_START": settings.partitions_start,
            **({"LAKELOOP_PARTITIONS_END": settings.partitions_end}
               if settings.partitions_end else {}),
            "LAKELOOP_LABEL_WINDOW_DAYS": str(t.label_window_days),
            "LAKELOOP_FORECAST_HORIZON": str(t.forecast_horizon),
            "LAKELOOP_ENCODER_LENGTH": str(t.encoder_length),
            "LAKELOOP_BACKTEST_ORIGINS": str(t.backtest_origins),
            # a simulated day takes seconds, not a day: let the drift sensors tick every day
            "LAKELOOP_SENSOR_INTERVAL_S": "1"}


def run_demo(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lakeloop.cli import _sim_config
    from lakeloop.demo_report import build_summary, timeline_png
    from lakeloop.settings import TrainingSettings
    from lakeloop.simulate import profile_contracts, simulate
    from lakeloop.simulate.drift import Drift

    # the demo's clock: by default its last day is yesterday, as a nightly pipeline's is
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
    cfg = _sim_config(args)
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
        bar.set_postfix_str(f"dagster dev on {server.url}")
        for i in range(cfg.days):
            day = cfg.day(i).isoformat()
            bar.set_postfix_str(day)
            nightly = {server.submit(f"nightly_{d}", {"dagster/partition": day,
                                                     "lakeloop/trigger": "demo clock"}, QUIET): d
                       for d in domains}  # the domains' runs side by side, as scheduled
            for run_id, status in server.wait(nightly).items():
                if status != "SUCCESS":
                    failed.append(f"{day} nightly_{nightly[run_id]}")
            ended = time.time()
            if i + 1 == args.train_after:  # warm-up done: what a team does by hand once
                bar.set_postfix_str(f"{day} first training")
                launched = {server.submit(
                    f"retrain_{d}", {"lakeloop/trigger": "warm-up"},
                    {**QUIET, "ops": settings.training.run_config(domains[d], day)}): d
                    for d in domains}
            elif i + 1 > args.train_after:  # the daemon's sensor tick after the nightly runs
                bar.set_postfix_str(f"{day} sensors")
                launched = {run_id: d for d in domains
                            for run_id in server.tick_after(f"{d}_drift_sensor", ended)}
            else:
                launched = {}
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
            bar.update()
    lake = Lake(settings.lake_root, settings.s3)
    print_summary(lake, data_tables(domains), cfg.start, cfg.day(cfg.days - 1), failed)
    summary = build_summary(lake, domains, cfg.start, cfg.day(cfg.days - 1), drift_day,
                            retrains, champions)
    summary["failed"] = failed
    store = ObjectStore(settings.lake_root, settings.s3)
    summary_uri = store.write_bytes(json.dumps(summary, indent=2, default=str).encode(),
                                    "reports", "demo_summary.json")
    plot_uri = store.write_bytes(timeline_png(lake, summary), "reports", "demo_timeline.png")
    print_loop(summary)
    print_models(registry)
    print(f"\nsummary: {summary_uri}\ntimeline: {plot_uri}")
    print(f"Dagster home: {settings.dagster_home}  (see the runs: make dev)")
    return 1 if failed else 0


def print_loop(summary: dict) -> None:
    print(f"\nclosed loop: {summary['days']} days, drift injected on "
          f"{summary['drift_injected_day'] or 'never'}")
    print(f"{'':8s} {'detected':>10s} {'delay':>5s} {'alerts':>6s} {'false':>5s} "
          f"{'retrains':>8s} {'metric':>12s} {'before':>7s} {'during':>7s} {'after':>7s} "
          f"{'recovered':>9s}")
    for domain in summary["domains"]:
        s = summary[domain]

        def fmt(v: object) -> str:
            return "-" if v is None else f"{v:.3f}"

        print(f"{domain:8s} {s['drift_detected_day'] or '-':>10s} "
              f"{'-' if s['detection_delay_days'] is None else s['detection_delay_days']:>5} "
              f"{s['alerts']:6d} {s['false_alarms']:5d} {len(s['retrains']):8d} "
              f"{s['metric']:>12s} {fmt(s['metric_before_drift']):>7s} "
              f"{fmt(s['metric_during_drift']):>7s} {fmt(s['metric_after_retrain']):>7s} "
              f"{'-' if s['loss_recovered'] is None else format(s['loss_recovered'], '.0%'):>9s}")
        print(f"{'':8s} champions: " + ", ".join(f"{v} from {d}" for d, v in s["champions"]))
        print(f"{'':8s} episodes: " + (", ".join(
            f"{e['opened']} -> {e['resolved'] or 'still open'}" for e in s["episodes"])
            or "none"))


def print_summary(lake: Lake, tables: list[str], first: dt.date, last: dt.date,
                  failed: list[str]) -> None:
    print(f"\nlakeloop demo: {first} .. {last}")
    print(f"{'table':32s} {'days':>5s} {'rows':>10s} {'version':>8s}")
    for table in tables:
        counts = lake.partition_counts(table, first, last)
        version = lake.version(table)
        print(f"{table:32s} {len(counts):5d} {sum(counts.values()):10,d} "
              f"{'-' if version is None else version:>8}")
    print("failed: " + (", ".join(failed) if failed else "none"))


def print_models(registry: ModelRegistry) -> None:
    from lakeloop.models_cli import print_versions

    print()
    print_versions(registry)
