"""Loading history: a single-run backfill of one domain's ingest + features (what the backfill
daemon launches under ``BackfillPolicy.single_run``, and what
``dg launch --partition-range`` runs) vs the same days as nightly runs, one day
at a time. Prints a table (the backfill's steps too, from its event log) and writes
``bench/results/backfill.json``; asserts nothing.

    .venv/bin/python bench/bench_backfill.py [--domain fraud] [--days 730] [--nightly-days 10]

The landing zone is simulated at the default scale (``--scale 0.1``: 5,000 transactions a
day; demand: 20 stores x 15 items). The nightly figure is the mean of ``--nightly-days``
in-process runs on the days right after the backfill (Dagster's own per-run cost included,
no run worker start-up), times the backfill's days: what loading history day by day costs.
Peak memory is the process's maximum resident set (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import dagster as dg
import results_file  # bench/, on the path when a bench is run as a script
from bench_nightly import step_seconds

from lakeloop.settings import Settings
from lakeloop.simulate import SimConfig, simulate
from lakeloop.storage import Lake, ObjectStore
from pipelines.definitions import build_definitions

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
START = dt.date(2024, 1, 1)
RESULTS = Path(__file__).parent / "results" / "backfill.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--domain", choices=["fraud", "demand"], default="fraud")
    p.add_argument("--days", type=int, default=730)
    p.add_argument("--nightly-days", type=int, default=10)
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--root", type=Path, default=None, help="work folder (default: a temp one)")
    args = p.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="lakeloop-backfill-"))
    total = args.days + args.nightly_days
    t0 = time.perf_counter()
    simulate(SimConfig(start=START, days=total, scale=args.scale),
             ObjectStore(str(root / "landing")))
    simulated = time.perf_counter() - t0
    end = START + dt.timedelta(days=total)
    settings = dataclasses.replace(
        Settings.from_env(), lake_root=str(root / "lake"), landing_root=str(root / "landing"),
        dagster_home=root / "home", partitions_start=START.isoformat(),
        partitions_end=end.isoformat(), domains=(args.domain,))
    defs = build_definitions(settings)
    groups = dg.AssetSelection.groups(f"{args.domain}_ingest", f"{args.domain}_features")
    last = START + dt.timedelta(days=args.days - 1)
    with dg.instance_for_test() as instance:
        t0 = time.perf_counter()
        result = dg.materialize(
            list(defs.assets or []), selection=groups, instance=instance,
            resources=defs.resources, run_config=QUIET,
            tags={"dagster/asset_partition_range_start": START.isoformat(),
                  "dagster/asset_partition_range_end": last.isoformat()})
        backfill_s = time.perf_counter() - t0
        assert result.success
        steps = step_seconds(instance, result.run_id)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        job = defs.resolve_job_def(f"nightly_{args.domain}")
        t0 = time.perf_counter()
        for i in range(args.days, total):
            day = (START + dt.timedelta(days=i)).isoformat()
            assert job.execute_in_process(partition_key=day, instance=instance,
                                          run_config=QUIET).success
        nightly_s = (time.perf_counter() - t0) / args.nightly_days
    lake = Lake(settings.lake_root)
    rows = {t: sum(lake.partition_counts(t, START, last).values())
            for t in (f"bronze/{'transactions' if args.domain == 'fraud' else 'sales'}",
                      f"silver/{args.domain}_features")}
    out = {
        "domain": args.domain, "days": args.days, "scale": args.scale, "rows": rows,
        "backfill_s": round(backfill_s, 1),
        "backfill_steps_s": {k: round(v, 1) for k, v in sorted(steps.items(),
                                                               key=lambda kv: -kv[1])},
        "nightly_s_per_day": round(nightly_s, 2),
        "day_by_day_s": round(nightly_s * args.days, 1),
        "speedup": round(nightly_s * args.days / backfill_s, 1),
        "peak_rss_mb": round(peak_mb), "simulate_s": round(simulated, 1),
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{len(__import__('os').sched_getaffinity(0))} cores",
        "date": dt.date.today().isoformat(),
    }
    print(f"\n{'':24s} {'seconds':>9s}")
    print(f"{'single-run backfill':24s} {backfill_s:9.1f}   ({args.days} days, {rows})")
    for step, took in out["backfill_steps_s"].items():
        print(f"  {step:22s} {took:9.1f}")
    print(f"{'day by day (nightly)':24s} {nightly_s * args.days:9.1f}   "
          f"({nightly_s:.2f} s a day x {args.days})")
    print(f"speed-up {out['speedup']}x, peak RSS {out['peak_rss_mb']} MB; goal: two years "
          f"<= 300 s: {'met' if backfill_s <= 300 else 'NOT met'}")
    results_file.save(RESULTS, args.domain, out)
    if args.root is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
