"""Peak memory: (1) one large landing file through ingest (read, type, GX, split, commit),
against the file's size; (2) a nightly run at ``--scale 10`` (500,000 transactions a day).
Each measurement runs in its own process, so its peak resident set (``ru_maxrss``) is its
own; the process's memory right after its imports is reported beside it. Prints a table and
writes ``bench/results/memory.json``; asserts nothing.

    .venv/bin/python bench/bench_memory.py [--file-mb 190] [--scale 10] [--skip-nightly]

The large file is a simulated day of transactions repeated (fresh transaction ids) until it
holds ``--file-mb`` MB of CSV: the shape of issue 13's 193 MB file. The nightly run is a
full ``nightly_fraud`` (ingest, features, scoring, monitoring of one day at that scale) in a
process of its own, after 13 days of history loaded by a single-run backfill and a champion
trained on them (LightGBM, ``bench_nightly.py``'s short window) in another.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "memory.json"
DAY = dt.date(2026, 1, 1)
HISTORY_DAYS, NIGHTLY_DAYS = 13, 14  # the champion needs 12 days (bench_nightly's window)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def make_file(root: Path, mb: float) -> Path:
    """A transactions day of about ``mb`` MB of CSV under ``root``'s landing zone."""
    import polars as pl

    from lakeloop.simulate import SimConfig, simulate
    from lakeloop.storage import ObjectStore

    landing = root / "landing"
    simulate(SimConfig(start=DAY, days=1, scale=0.1), ObjectStore(str(landing)))
    path = next((landing / "transactions").rglob("*.csv"))
    one = pl.read_csv(path, infer_schema=False)
    reps = max(1, round(mb * 1e6 / path.stat().st_size))
    pl.concat([one.with_columns(pl.col("transaction_id") + f"-{i}") for i in range(reps)]) \
        .write_csv(path)
    return path


def ingest_child(root: Path) -> dict:
    """In a fresh process: ingest the large day as the asset does, peak RSS vs after imports."""
    import great_expectations  # noqa: F401 - imported before the baseline, as in a run

    from lakeloop.ingest.bronze import process_days, write_days
    from lakeloop.settings import Settings
    from lakeloop.storage import Lake, ObjectStore

    domain = Settings.from_env().load_domains()["fraud"]
    base = _rss_mb()
    t0 = time.perf_counter()
    read = process_days(ObjectStore(str(root / "landing")), Lake(str(root / "lake")),
                        domain.main, [DAY], domain.calendar)
    assert not read.refused, read.refused
    write_days(Lake(str(root / "lake")), domain.main, read, DAY, DAY)
    batch = read.batches[DAY]
    return {"seconds": round(time.perf_counter() - t0, 1), "rows": batch.landed.rows,
            "after_imports_mb": round(base),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def prepare_child(root: Path, scale: float) -> dict:
    """In a process of its own: 8 days of history (one backfill) and a champion."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_nightly import Nights

    t0 = time.perf_counter()
    nights = Nights(root, "fraud", NIGHTLY_DAYS, scale)
    for start in range(0, HISTORY_DAYS, 3):  # backfill runs of 3 days (1.5M rows each)
        nights.done = start
        nights.backfill(min(start + 3, HISTORY_DAYS))
    nights.done = HISTORY_DAYS
    nights.train()
    nights.close()
    return {"seconds": round(time.perf_counter() - t0, 1),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def nightly_child(root: Path, scale: float) -> dict:
    """In a fresh process: the next day's full nightly run on the prepared lake."""
    sys.path.insert(0, str(Path(__file__).parent))
    import dagster as dg  # noqa: F401 - imported before the baseline, as in a run worker
    import great_expectations  # noqa: F401
    from bench_nightly import Nights

    nights = Nights(root, "fraud", NIGHTLY_DAYS, scale, landing=False)
    nights.done = HISTORY_DAYS
    base = _rss_mb()
    t0 = time.perf_counter()
    took = nights.night()
    nights.close()
    return {"seconds": round(time.perf_counter() - t0, 1), "after_imports_mb": round(base),
            "steps": {k: round(v, 2) for k, v in took.items()},
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def run_child(kind: str, root: Path, scale: float) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--root", str(root),
                          "--scale", str(scale)], capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{kind} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--file-mb", type=float, default=190.0)
    p.add_argument("--scale", type=float, default=10.0)
    p.add_argument("--skip-nightly", action="store_true")
    p.add_argument("--child", choices=["ingest", "prepare", "nightly"], help=argparse.SUPPRESS)
    p.add_argument("--root", type=Path, default=None)
    args = p.parse_args()
    if args.child:
        got = {"ingest": lambda: ingest_child(args.root),
               "prepare": lambda: prepare_child(args.root, args.scale),
               "nightly": lambda: nightly_child(args.root, args.scale)}[args.child]()
        print(json.dumps(got))
        return
    work = Path(args.root or tempfile.mkdtemp(prefix="lakeloop-memory-"))
    path = make_file(work / "file", args.file_mb)
    size_mb = path.stat().st_size / 1e6
    ingest = run_child("ingest", work / "file", args.scale)
    added = ingest["peak_mb"] - ingest["after_imports_mb"]
    out: dict = {"file_mb": round(size_mb, 1), "ingest": ingest,
                 "ingest_added_vs_file": round(added / size_mb, 2)}
    print(f"\n{'':34s} {'MB':>8s}")
    print(f"{'landing file (CSV)':34s} {size_mb:8.0f}   ({ingest['rows']:,} rows)")
    print(f"{'ingest: process after imports':34s} {ingest['after_imports_mb']:8d}")
    print(f"{'ingest: peak':34s} {ingest['peak_mb']:8d}   ({ingest['seconds']} s)")
    print(f"{'ingest: peak - after imports':34s} {added:8d}   "
          f"= {out['ingest_added_vs_file']}x the file")
    if not args.skip_nightly:
        prepared = run_child("prepare", work / "nightly", args.scale)
        nightly = run_child("nightly", work / "nightly", args.scale)
        out["nightly"] = {"scale": args.scale, "prepare": prepared, **nightly}
        print(f"{f'nightly_fraud at --scale {args.scale}: peak':34s} {nightly['peak_mb']:8d}"
              f"   ({nightly['seconds']} s; after imports {nightly['after_imports_mb']} MB)")
        print(f"{'  (history backfill + training)':34s} {prepared['peak_mb']:8d}"
              f"   ({prepared['seconds']} s, a process of its own)")
    out |= {"machine": f"{platform.processor() or platform.machine()}, "
                       f"{len(os.sched_getaffinity(0))} cores",
            "date": dt.date.today().isoformat()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
