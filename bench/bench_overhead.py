"""Dagster overhead vs calling the same functions: one domain's nightly assets (ingest,
features, scoring, monitoring) for a few days, (a) as a ``nightly_<domain>`` run in process,
(b) the same asset bodies invoked directly, without a run, and (c) optionally, as a run
submitted to ``dagster dev`` (webserver + daemon) and launched by the daemon in its own
process. Prints a table and writes ``bench/results/overhead.json``; asserts nothing.

    .venv/bin/python bench/bench_overhead.py [--domain fraud] [--days 3] [--no-daemon]

The lake is built as ``bench_nightly.py`` builds it (its ``Nights``): the first
``TRAIN_AFTER_DAYS`` days loaded in a single-run backfill of ingest + features, a champion
trained on them with the short training config, every later day loaded, scored and
monitored once; then each measured day re-run (a) and (b), in alternating order (a re-run
overwrites the day's partitions, so both see the same data and do the same writes). One
warm-up day runs both ways first, unmeasured (imports, first model load, caches).

(a) ``job.execute_in_process(partition_key=day)``: the run's wall time, Dagster's per-run work
included (run and step events in the instance's SQLite event log, resource set-up, the
blocking check, retry policy wrapping, metadata); steps timed from the run's event log.
(b) Dagster's public direct invocation: each asset definition of the job called like a
function with ``dg.build_asset_context(partition_key=day, resources=defs.resources)`` (its
output generator drained), then the asset check called with its resource, in the job's
order: the same code, no run, no event log. Its wall time includes building the contexts.
(c) ``pipelines.dagster_dev.DagsterDev``, as ``lakeloop demo`` drives it: submit through
GraphQL, wait for SUCCESS (polled every 0.1 s); the instance's ``dagster.yaml`` is the demo's
(dequeue every 1 s; Dagster's default is 5 s). Split from the run's own record: queued (submit
to the run worker's start, worker start-up and code loading included) and running. Sensors
tick at most once a day (``LAKELOOP_SENSOR_INTERVAL_S``) so no retrain runs alongside.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
from bench_nightly import QUIET, TRAIN_AFTER_DAYS, Nights, day, step_seconds

from lakeloop.domains import Domain, ingest_asset
from pipelines.dagster_dev import DagsterDev
from pipelines.demo import DAGSTER_YAML, demo_environment

RESULTS = Path(__file__).parent / "results" / "overhead.json"
RUN_TIMES = """
query RunTimes($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status creationTime startTime endTime }
    ... on PythonError { message }
  }
}"""


def nightly_steps(domain: Domain) -> list[str]:
    """The nightly job's assets, in the order its run executes them."""
    realised = "performance" if domain.kind == "classification" else "accuracy"
    return [*(ingest_asset(c.name) for c in domain.datasets), domain.features_asset,
            domain.predictions_asset, f"{domain.name}_drift", f"{domain.name}_{realised}"]


class Direct:
    """The nightly job's asset bodies called directly (Dagster's direct invocation)."""

    def __init__(self, nights: Nights) -> None:
        defs = nights.defs
        domain = nights.settings.load_domains()[nights.domain]
        by_name = {a.key.to_user_string(): a for a in defs.assets or []
                   if isinstance(a, dg.AssetsDefinition)}
        self.assets = [(name, by_name[name]) for name in nightly_steps(domain)]
        self.checks = [(f"{ck.asset_key.to_python_identifier()}_{ck.name}", c)
                       for c in defs.asset_checks or [] for ck in c.check_keys
                       if ck.asset_key.to_user_string() in dict(self.assets)]
        self.resources = dict(defs.resources or {})

    def night(self, partition: str) -> dict[str, float]:
        took: dict[str, float] = {}
        t_run = time.perf_counter()
        for name, asset in self.assets:
            t0 = time.perf_counter()
            out = asset(dg.build_asset_context(partition_key=partition,
                                               resources=self.resources))
            if inspect.isgenerator(out):
                list(out)
            took[name] = time.perf_counter() - t0
        for name, check in self.checks:
            t0 = time.perf_counter()
            check(**{k: self.resources[k] for k in check.required_resource_keys})
            took[name] = time.perf_counter() - t0
        took["run"] = time.perf_counter() - t_run
        return took


def in_process(nights: Nights, partition: str) -> dict[str, float]:
    """One ``nightly_<domain>`` run of ``partition`` in process: seconds by step, and its wall
    time (``run``)."""
    job = nights.defs.resolve_job_def(f"nightly_{nights.domain}")
    t0 = time.perf_counter()
    result = job.execute_in_process(partition_key=partition, instance=nights.instance,
                                    run_config=QUIET)
    wall = time.perf_counter() - t0
    assert result.success
    return {**step_seconds(nights.instance, result.run_id), "run": wall}


def through_daemon(nights: Nights, root: Path, partitions: list[str]
                   ) -> tuple[float, list[dict[str, float]]]:
    """``dagster dev`` started on the same lake; a nightly run of each partition submitted and
    waited for, one at a time. Returns the server's start-up seconds and, per run, submit to
    SUCCESS (``wall``), submit to the worker's start (``queued``), and its start to end."""
    home = root / "dev_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {**demo_environment(nights.settings), "DAGSTER_HOME": str(home),
           "LAKELOOP_DOMAINS": nights.domain, "LAKELOOP_SENSOR_INTERVAL_S": "86400"}
    t0 = time.perf_counter()
    server = DagsterDev(env, log=root / "dagster_dev.log", poll_s=0.1)
    runs = []
    with server:
        started = time.perf_counter() - t0
        for partition in partitions:
            t0 = time.perf_counter()
            submitted = time.time()
            run_id = server.submit(f"nightly_{nights.domain}", {"dagster/partition": partition},
                                   QUIET)
            status = server.wait([run_id], timeout_s=600)[run_id]
            wall = time.perf_counter() - t0
            run = server.query(RUN_TIMES, {"runId": run_id})["runOrError"]
            runs.append({"partition": partition, "status": status, "wall": wall,
                         "queued": (run.get("startTime") or submitted) - submitted,
                         "running": (run.get("endTime") or 0) - (run.get("startTime") or 0)})
            print(f"  daemon run {partition}: {status} in {wall:.2f} s", flush=True)
    return started, runs


def mean_by_key(nights: list[dict[str, float]]) -> dict[str, float]:
    keys = dict.fromkeys(k for n in nights for k in n)
    return {k: round(statistics.mean(n.get(k, 0.0) for n in nights), 3) for k in keys}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--domain", choices=["fraud", "demand"], default="fraud")
    p.add_argument("--days", type=int, default=3, help="measured days")
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--no-daemon", action="store_true", help="skip (c), the dagster dev runs")
    p.add_argument("--root", type=Path, default=None, help="work folder (default: a temp one)")
    args = p.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="lakeloop-overhead-"))
    first = TRAIN_AFTER_DAYS
    measured = [day(i) for i in range(first + 1, first + 1 + args.days)]
    t_bench = time.perf_counter()
    nights = Nights(root, args.domain, first + 1 + args.days, args.scale)
    nights.backfill(first)
    nights.done = first
    nights.train()
    # every measured day is in every table before it is measured: (a) and (b) both re-run it
    nights.grow_to(first + 1 + args.days)
    direct = Direct(nights)
    ways = {"a": lambda partition: in_process(nights, partition), "b": direct.night}
    ways["a"](day(first))  # warm-up day, both ways, unmeasured
    ways["b"](day(first))
    got: dict[str, list[dict[str, float]]] = {"a": [], "b": []}
    for i, partition in enumerate(measured):
        for way in ("a", "b") if i % 2 == 0 else ("b", "a"):
            got[way].append(ways[way](partition))
        print(f"{partition}: Dagster run {got['a'][-1]['run']:.2f} s, direct "
              f"{got['b'][-1]['run']:.2f} s", flush=True)
    a_nights, b_nights = got["a"], got["b"]
    a, b = mean_by_key(a_nights), mean_by_key(b_nights)
    daemon: dict[str, Any] | None = None
    if not args.no_daemon:
        started, runs = through_daemon(nights, root, measured)
        ok = [r for r in runs if r["status"] == "SUCCESS"]
        daemon = {"server_start_s": round(started, 1), "runs": [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in runs]}
        if ok:
            daemon |= {f"{k}_s": round(statistics.mean(r[k] for r in ok), 3)
                       for k in ("wall", "queued", "running")}

    steps = [s for s in a if s != "run"]
    print(f"\n{'seconds a night (mean of ' + str(args.days) + ')':40s} {'Dagster':>8s} "
          f"{'direct':>8s} {'diff':>7s}")
    for s in steps:
        print(f"{s:40s} {a[s]:8.3f} {b.get(s, 0):8.3f} {a[s] - b.get(s, 0):7.3f}")
    outside = a["run"] - sum(a[s] for s in steps)
    print(f"{'(run, outside steps)':40s} {outside:8.3f} {'':8s} {outside:7.3f}")
    overhead, ratio = a["run"] - b["run"], a["run"] / b["run"]
    print(f"{'night':40s} {a['run']:8.3f} {b['run']:8.3f} {overhead:7.3f}   "
          f"ratio {ratio:.2f}x")
    if daemon and "wall_s" in daemon:
        print(f"{'night through dagster dev (submit->done)':40s} {daemon['wall_s']:8.3f} "
              f"{'':8s} {daemon['wall_s'] - b['run']:7.3f}   ratio "
              f"{daemon['wall_s'] / b['run']:.2f}x (queued + worker start "
              f"{daemon['queued_s']:.2f} s, running {daemon['running_s']:.2f} s; "
              f"server start {daemon['server_start_s']:.0f} s once)")
    out = {
        "domain": args.domain, "scale": args.scale, "days": measured,
        "in_process_s": a, "direct_s": b,
        "per_night": [{"day": d, "in_process_s": round(x["run"], 3),
                       "direct_s": round(y["run"], 3)}
                      for d, x, y in zip(measured, a_nights, b_nights, strict=True)],
        "overhead_s": round(overhead, 3), "ratio": round(ratio, 3),
        "run_outside_steps_s": round(outside, 3),
        "daemon": daemon, "total_bench_s": round(time.perf_counter() - t_bench),
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{len(os.sched_getaffinity(0))} cores (shared with other work)",
        "date": dt.date.today().isoformat(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved[args.domain] = out
    RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    if args.root is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
