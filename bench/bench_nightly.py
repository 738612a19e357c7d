"""A night's cost as history grows: the same nightly run with 30, 180 and 365 days of history
in every table it reads (bronze, features, labels, predictions, monitoring), by asset. Prints
a table and writes ``bench/results/nightly.json``; asserts nothing.

    .venv/bin/python bench/bench_nightly.py [--domain fraud] [--history 30 180 365]

How the history is built, so that each measured night finds exactly that much of it: the days
before a checkpoint are loaded the way a team loads them (a single-run backfill of ingest +
features), then scored and monitored one night at a time (scoring and monitoring run one day
per run). The checkpoint's ``--measure-days`` nights are then full ``nightly_<domain>`` runs,
timed step by step from the run's own event log (step start to step success); a night's
"run" time is its wall time in process, Dagster's per-run work included.

The champion is trained once, on the first ``TRAIN_AFTER_DAYS`` days, with a short window
(fraud: LightGBM on 8 days; demand: horizon 3, encoder 7), early enough that at the first
checkpoint it has its first week of predictions and matured labels (every monitoring asset
measures, as in steady state), and serves every checkpoint: what
a night reads back (the champion's reference week, its first week of predictions, the label
window) then only depends on the lake's history, which is what is measured. The scale is the
default (``--scale 0.1``: 5,000 transactions a day; demand 20 stores x 15 items).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import dagster as dg
import results_file  # bench/, on the path when a bench is run as a script

from lakeloop.settings import Settings
from lakeloop.simulate import SimConfig, simulate
from lakeloop.storage import ObjectStore
from pipelines.definitions import build_definitions
from pipelines.jobs import retrain_run_config

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
START = dt.date(2024, 1, 1)
# days before the champion's training: early enough that at the first checkpoint it has a
# complete first week of predictions and matured labels to be judged on (steady state)
TRAIN_AFTER_DAYS = {"fraud": 12, "demand": 20}
RESULTS = Path(__file__).parent / "results" / "nightly.json"
SHORT_TRAINING = {
    "fraud": {"fraud_training_set": {"config": {"window_days": 8, "label_window_days": 4,
                                                "val_days": 2, "test_days": 2}},
              "fraud_model": {"config": {"families": ["lightgbm"]}}},
    "demand": {"demand_training_set": {"config": {"horizon": 3, "encoder_length": 7,
                                                  "backtest_origins": 1}},
               "demand_model": {"config": {"max_epochs": 3}}},
}


def day(i: int) -> str:
    return (START + dt.timedelta(days=i)).isoformat()


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds from each step's start to its success, from the run's event log."""
    started: dict[str, float] = {}
    took: dict[str, float] = {}
    for record in instance.get_records_for_run(run_id).records:
        entry = record.event_log_entry
        kind = entry.dagster_event_type
        if kind == dg.DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif kind == dg.DagsterEventType.STEP_SUCCESS and entry.step_key in started:
            took[entry.step_key] = entry.timestamp - started[entry.step_key]
    return took


class Nights:
    """One domain's lake, grown a stretch of days at a time."""

    def __init__(self, root: Path, domain: str, days: int, scale: float,
                 landing: bool = True) -> None:
        if landing:  # (False: the landing zone is there already)
            simulate(SimConfig(start=START, days=days, scale=scale),
                     ObjectStore(str(root / "landing")))
        self.settings = dataclasses.replace(
            Settings.from_env(), lake_root=str(root / "lake"),
            landing_root=str(root / "landing"), dagster_home=root / "home",
            partitions_start=START.isoformat(), partitions_end=day(days), domains=(domain,))
        self.domain = domain
        self.defs = build_definitions(self.settings)
        self.assets = list(self.defs.assets or [])
        self._instance = dg.instance_for_test()  # kept: its folder lives as long as it does
        self.instance = self._instance.__enter__()
        self.done = 0  # days 0 .. done-1 are in every table

    def close(self) -> None:
        self._instance.__exit__(None, None, None)

    def backfill(self, last: int) -> None:
        """Ingest + features of days ``done .. last - 1`` in one single-run backfill."""
        groups = dg.AssetSelection.groups(f"{self.domain}_ingest", f"{self.domain}_features")
        assert dg.materialize(
            self.assets, selection=groups, instance=self.instance,
            resources=self.defs.resources, run_config=QUIET,
            tags={"dagster/asset_partition_range_start": day(self.done),
                  "dagster/asset_partition_range_end": day(last - 1)}).success

    def train(self) -> None:
        job = self.defs.resolve_job_def(f"retrain_{self.domain}")
        config = retrain_run_config(self.settings.training,
                                    self.settings.load_domains()[self.domain], day(self.done - 1))
        for asset, extra in SHORT_TRAINING[self.domain].items():
            config.setdefault(asset, {"config": {}})["config"].update(extra["config"])
        assert job.execute_in_process(instance=self.instance,
                                      run_config={**QUIET, "ops": config}).success

    def score_and_monitor(self, last: int) -> None:
        """Days ``done .. last - 1`` (ingested already) scored and monitored, a night each."""
        groups = dg.AssetSelection.groups(f"{self.domain}_scoring",
                                          f"{self.domain}_monitoring")
        for i in range(self.done, last):
            assert dg.materialize(self.assets, selection=groups, instance=self.instance,
                                  resources=self.defs.resources, run_config=QUIET,
                                  partition_key=day(i)).success
        self.done = last

    def grow_to(self, last: int) -> None:
        if last > self.done:
            self.backfill(last)
            self.score_and_monitor(last)

    def night(self) -> dict[str, float]:
        """One full nightly run of the next day: seconds by step, and the run's wall time."""
        job = self.defs.resolve_job_def(f"nightly_{self.domain}")
        t0 = time.perf_counter()
        result = job.execute_in_process(partition_key=day(self.done), instance=self.instance,
                                        run_config=QUIET)
        wall = time.perf_counter() - t0
        assert result.success
        self.done += 1
        return {**step_seconds(self.instance, result.run_id), "run": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--domain", choices=["fraud", "demand"], default="fraud")
    p.add_argument("--history", type=int, nargs="+", default=[30, 180, 365])
    p.add_argument("--measure-days", type=int, default=3)
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--root", type=Path, default=None, help="work folder (default: a temp one)")
    args = p.parse_args()
    history = sorted(args.history)
    train_after = TRAIN_AFTER_DAYS[args.domain]
    assert history[0] > train_after + 7, f"checkpoints start after day {train_after + 7}"
    root = args.root or Path(tempfile.mkdtemp(prefix="lakeloop-nightly-"))
    nights = Nights(root, args.domain, history[-1] + args.measure_days, args.scale)
    t0 = time.perf_counter()
    nights.backfill(train_after)
    nights.done = train_after
    nights.train()
    by_history: dict[int, dict[str, float]] = {}
    for days in history:
        nights.grow_to(days)
        measured: dict[str, list[float]] = defaultdict(list)
        for _ in range(args.measure_days):
            for step, s in nights.night().items():
                measured[step].append(s)
        by_history[days] = {k: round(statistics.mean(v), 3) for k, v in measured.items()}
        print(f"{days} days of history: {by_history[days]['run']:.2f} s a night", flush=True)
    steps = sorted({s for m in by_history.values() for s in m if s != "run"},
                   key=lambda s: -by_history[history[-1]].get(s, 0))
    first, last = history[0], history[-1]
    ratio = by_history[last]["run"] / by_history[first]["run"]
    print(f"\n{'seconds a night, by step':40s}" + "".join(f"{d:>8d}d" for d in history))
    for s in [*steps, "run"]:
        print(f"{s:40s}" + "".join(f"{by_history[d].get(s, 0):9.2f}" for d in history))
    print(f"{last} / {first} days: {ratio:.2f}x (goal <= 1.2x: "
          f"{'met' if ratio <= 1.2 else 'NOT met'})")
    out = {"domain": args.domain, "scale": args.scale, "measure_days": args.measure_days,
           "seconds_by_history": {str(d): by_history[d] for d in history},
           f"ratio_{last}_vs_{first}": round(ratio, 3),
           "total_bench_s": round(time.perf_counter() - t0),
           "machine": f"{platform.processor() or platform.machine()}, "
                      f"{len(os.sched_getaffinity(0))} cores",
           "date": dt.date.today().isoformat()}
    results_file.save(RESULTS, args.domain, out)
    nights.close()
    if args.root is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
