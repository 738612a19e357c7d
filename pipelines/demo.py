"""``lakeloop demo``: simulate a landing zone and run the nightly job day by day in Dagster.

Runs go to the persistent instance in DAGSTER_HOME (SQLite unless its dagster.yaml says
otherwise), so ``dagster dev`` afterwards shows every run, check and materialization.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
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
# The console shows the progress bar and errors; every event is still in the instance.
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
TABLES = ["bronze/transactions", "bronze/fraud_labels", "bronze/sales",
          "quarantine/transactions", "quarantine/fraud_labels", "quarantine/sales",
          "silver/transaction_features", "silver/demand_features", "gold/fraud_scores",
          "gold/demand_forecasts"]


def retrain_configs(day: str, label_window: int) -> dict[str, dict]:
    """Run config of the retrain jobs for the demo's short history (weeks, not years)."""
    return {
        "retrain_fraud": {"fraud_training_set": {"config": {
            "as_of": day, "label_window_days": label_window}}},
        "retrain_demand": {"demand_training_set": {"config": {
            "as_of": day, "horizon": 7, "encoder_length": 14, "backtest_origins": 2}}},
    }


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


def run_demo(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lakeloop.cli import _sim_config
    from lakeloop.simulate import simulate
    from pipelines.definitions import build_definitions

    settings = dataclasses.replace(Settings.from_env(), lake_root=args.lake,
                                   landing_root=args.landing,
                                   partitions_start=args.start.isoformat())
    if args.fresh:
        _wipe(settings.lake_root, settings.landing_root, settings.dagster_home)
    prepare_home(settings.dagster_home)
    cfg = _sim_config(args)
    with tqdm(total=cfg.days, desc="simulate", unit="day", disable=args.quiet) as bar:
        simulate(cfg, ObjectStore(settings.landing_root, settings.s3),
                 progress=lambda _d: bar.update())

    defs = build_definitions(settings)
    nightly = defs.resolve_job_def("nightly")
    failed: list[str] = []
    with dg.DagsterInstance.get() as instance, \
            tqdm(total=cfg.days, desc="nightly", unit="day", disable=args.quiet) as bar:
        for i in range(cfg.days):
            day = cfg.day(i).isoformat()
            bar.set_postfix_str(day)
            result = nightly.execute_in_process(partition_key=day, instance=instance,
                                                raise_on_error=False, run_config=QUIET)
            if not result.success:
                failed.append(day)
            if i + 1 == args.train_after:  # warm-up done: first champions, scoring from tomorrow
                bar.set_postfix_str(f"{day} training")
                for job, ops in retrain_configs(day, args.label_window).items():
                    trained = defs.resolve_job_def(job).execute_in_process(
                        instance=instance, raise_on_error=False, run_config={**QUIET, "ops": ops})
                    if not trained.success:
                        failed.append(f"{job}@{day}")
            bar.update()
    lake = Lake(settings.lake_root, settings.s3)
    print_summary(lake, cfg.start, cfg.day(cfg.days - 1), failed)
    print_models(ModelRegistry(ObjectStore(settings.lake_root, settings.s3)))
    print(f"\nDagster home: {settings.dagster_home}  (see the runs: make dev)")
    return 1 if failed else 0


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
