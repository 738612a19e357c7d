"""``lakeloop demo``: simulate a landing zone and run the nightly job day by day in Dagster.

Runs go to the persistent instance in DAGSTER_HOME (SQLite unless its dagster.yaml says
otherwise), so ``dagster dev`` afterwards shows every run, check and materialization.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import dagster as dg

from lakeloop.registry import ModelRegistry
from lakeloop.settings import Settings
from lakeloop.storage import Lake, ObjectStore
from lakeloop.storage.objects import is_s3

DAGSTER_YAML = """\
# Written by `lakeloop demo`: a local SQLite instance. See infra/ for Postgres.
telemetry:
  enabled: false
"""
DOMAINS = ("fraud", "demand")
# The console shows the progress bar and errors; every event is still in the instance.
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
TABLES = ["bronze/transactions", "bronze/fraud_labels", "bronze/sales",
          "quarantine/transactions", "quarantine/fraud_labels", "quarantine/sales",
          "silver/transaction_features", "silver/demand_features", "gold/fraud_scores",
          "gold/demand_forecasts"]


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


def _retrain(defs: dg.Definitions, instance: dg.DagsterInstance, domain: str, ops: dict,
             tags: dict[str, str], day: str) -> dict:
    job = defs.resolve_job_def(f"retrain_{domain}")
    result = job.execute_in_process(instance=instance, raise_on_error=False, tags=tags,
                                    run_config={**QUIET, "ops": ops})
    record = {"day": day, "trigger": tags.get("lakeloop/trigger", "warm-up"),
              "success": result.success}
    if result.success:
        meta = result.asset_materializations_for_node(f"{domain}_model")[0].metadata
        record |= {"version": meta["model_version"].value, "promoted": meta["promoted"].value,
                   "decision": meta["decision"].value}
    return record


def run_demo(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lakeloop.cli import _sim_config
    from lakeloop.demo_report import build_summary, timeline_png
    from lakeloop.settings import TrainingSettings
    from lakeloop.simulate import simulate
    from lakeloop.simulate.drift import Drift
    from pipelines.definitions import build_definitions

    settings = dataclasses.replace(
        Settings.from_env(), lake_root=args.lake, landing_root=args.landing,
        partitions_start=args.start.isoformat(),
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

    defs = build_definitions(settings)
    nightly = defs.resolve_job_def("nightly")
    sensors = {d: defs.resolve_sensor_def(f"{d}_drift_sensor") for d in DOMAINS}
    registry = ModelRegistry(ObjectStore(settings.lake_root, settings.s3))
    cursors: dict[str, str | None] = {}
    launched: set[str] = set()
    retrains: dict[str, list[dict]] = {d: [] for d in DOMAINS}
    champions: dict[str, list] = {d: [] for d in DOMAINS}
    failed: list[str] = []
    with dg.DagsterInstance.get() as instance, \
            tqdm(total=cfg.days, desc="closed loop", unit="day", disable=args.quiet) as bar:
        for i in range(cfg.days):
            day = cfg.day(i).isoformat()
            bar.set_postfix_str(day)
            result = nightly.execute_in_process(partition_key=day, instance=instance,
                                                raise_on_error=False, run_config=QUIET)
            if not result.success:
                failed.append(day)
            if i + 1 == args.train_after:  # warm-up done: first champions
                bar.set_postfix_str(f"{day} first training")
                for domain in DOMAINS:
                    retrains[domain].append(_retrain(
                        defs, instance, domain, settings.training.run_config(domain, day),
                        {"lakeloop/trigger": "warm-up"}, day))
            elif i + 1 > args.train_after:  # sensors, evaluated as the daemon would
                for domain, sensor in sensors.items():
                    ctx = dg.build_sensor_context(instance=instance, cursor=cursors.get(domain),
                                                  resources=defs.resources)
                    tick = sensor(ctx)
                    if isinstance(tick, dg.SensorResult):
                        cursors[domain] = tick.cursor
                        for request in tick.run_requests or []:
                            if request.run_key in launched:
                                continue
                            launched.add(request.run_key)
                            bar.set_postfix_str(f"{day} retrain {domain}")
                            retrains[domain].append(_retrain(
                                defs, instance, domain, request.run_config["ops"],
                                {**request.tags, "lakeloop/trigger": "drift",
                                 "dagster/run_key": request.run_key}, day))
            for domain in DOMAINS:
                version = registry.champion_version(domain)
                if version and (not champions[domain] or champions[domain][-1][1] != version):
                    champions[domain].append((day, version))
            bar.update()
    lake = Lake(settings.lake_root, settings.s3)
    print_summary(lake, cfg.start, cfg.day(cfg.days - 1), failed)
    summary = build_summary(lake, cfg.start, cfg.day(cfg.days - 1), drift_day, retrains,
                            champions)
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
          f"{'retrains':>8s} {'metric':>12s} {'before':>7s} {'during':>7s} {'after':>7s}")
    for domain in DOMAINS:
        s = summary[domain]

        def fmt(v: object) -> str:
            return "-" if v is None else f"{v:.3f}"

        print(f"{domain:8s} {s['drift_detected_day'] or '-':>10s} "
              f"{'-' if s['detection_delay_days'] is None else s['detection_delay_days']:>5} "
              f"{s['alerts']:6d} {s['false_alarms']:5d} {len(s['retrains']):8d} "
              f"{s['metric']:>12s} {fmt(s['metric_before_drift']):>7s} "
              f"{fmt(s['metric_during_drift']):>7s} {fmt(s['metric_after_retrain']):>7s}")
        print(f"{'':8s} champions: " + ", ".join(f"{v} from {d}" for d, v in s["champions"]))


def print_summary(lake: Lake, first: dt.date, last: dt.date, failed: list[str]) -> None:
    print(f"\nlakeloop demo: {first} .. {last}")
    print(f"{'table':32s} {'days':>5s} {'rows':>10s} {'version':>8s}")
    for table in TABLES:
        counts = lake.partition_counts(table, first, last)
        version = lake.version(table)
        print(f"{table:32s} {len(counts):5d} {sum(counts.values()):10,d} "
              f"{'-' if version is None else version:>8}")
    print("failed: " + (", ".join(failed) if failed else "none"))


def print_models(registry: ModelRegistry) -> None:
    from lakeloop.models_cli import print_versions

    print()
    print_versions(registry)
