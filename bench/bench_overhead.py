"""Dagster overhead vs calling the same functions: one domain's nightly assets (ingest,
features, scoring, monitoring) for a few days, (a) as a ``nightly_<domain>`` run in process,
(b) the same asset bodies invoked directly, without a run, and (c) optionally, as a run
submitted to ``dagster dev`` (webserver + daemon) and launched by the daemon in its own
process. Prints a table and writes ``bench/results/overhead.json``; asserts nothing.

    .venv/bin/python bench/bench_overhead.py [--domain fraud] [--days 5] [--no-daemon]

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
(Direct invocation does not take the check result an ingest asset returns inside its
``MaterializeResult`` and raises once the body has run to its end; that error is ignored.)
(c) ``pipelines.dagster_dev.DagsterDev``, as ``lakeloop demo`` drives it: submit through
GraphQL, wait for SUCCESS (polled every 0.1 s); the instance's ``dagster.yaml`` is the demo's
(dequeue every 1 s; Dagster's default is 5 s). Split from the run's own record: submit to run
start (queue, run worker start-up, code loading), its steps (GraphQL step statistics) and the
rest of the run. Each run is a fresh process: imports and first calls (Evidently, GX, the
model) are paid every night, unlike (a) and (b). Sensors tick at most once a day
(``LAKELOOP_SENSOR_INTERVAL_S``) so no retrain runs alongside.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
import results_file  # bench/, on the path when a bench is run as a script
from bench_nightly import QUIET, TRAIN_AFTER_DAYS, Nights, day, step_seconds

from lakeloop.contracts.domains import Domain
from lakeloop.names import ingest_asset
from pipelines.dagster_dev import DagsterDev
from pipelines.demo import demo_environment
from pipelines.instance import DAGSTER_YAML

RESULTS = Path(__file__).parent / "results" / "overhead.json"
RUN_TIMES = """
query RunTimes($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status creationTime startTime endTime
                 stepStats { stepKey status startTime endTime } }
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
            try:
                if inspect.isgenerator(out):
                    list(out)
            except dg.DagsterInvariantViolationError as exc:
                # Direct invocation does not read check results carried by a
                # MaterializeResult (the ingest assets' blocking check): it complains once
                # the body has run to its end. Anything else is a real failure.
                if "did not return an output for non-optional output" not in str(exc) \
                        or not asset.check_specs:
                    raise
            took[name] = time.perf_counter() - t0
        for name, check in self.checks:
            t0 = time.perf_counter()
            check(**{k: r for k, r in self.resources.items() if k in check.required_resource_keys})
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
    SUCCESS (``wall``), submit to the worker's start (``queued``), its start to end
    (``running``) and its steps' seconds (the run's own step statistics)."""
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
            steps = {st["stepKey"]: st["endTime"] - st["startTime"]
                     for st in run.get("stepStats") or []
                     if st["status"] == "SUCCESS" and st["startTime"] and st["endTime"]}
            runs.append({"partition": partition, "status": status, "wall": wall,
                         "queued": (run.get("startTime") or submitted) - submitted,
                         "running": (run.get("endTime") or 0) - (run.get("startTime") or 0),
                         "steps": steps})
            print(f"  daemon run {partition}: {status} in {wall:.2f} s", flush=True)
    return started, runs


def mean_by_key(nights: list[dict[str, float]]) -> dict[str, float]:
    keys = dict.fromkeys(k for n in nights for k in n)
    return {k: round(statistics.mean(n.get(k, 0.0) for n in nights), 3) for k in keys}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--domain", choices=["fraud", "demand"], default="fraud")
    p.add_argument("--days", type=int, default=5, help="measured days")
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--no-daemon", action="store_true", help="skip (c), the dagster dev runs")
    p.add_argument("--root", type=Path, default=None, help="work folder (default: a temp one)")
    args = p.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="lakeloop-overhead-"))
    first = TRAIN_AFTER_DAYS[args.domain]
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
    c: dict[str, float] = {}
    if not args.no_daemon:
        started, runs = through_daemon(nights, root, measured)
        ok = [r for r in runs if r["status"] == "SUCCESS"]
        daemon = {"server_start_s": round(started, 1), "runs": [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in runs]}
        if ok:
            c = {**mean_by_key([r["steps"] for r in ok]),
                 **{k: round(statistics.mean(r[k] for r in ok), 3)
                    for k in ("wall", "queued", "running")}}
            daemon |= {"steps_s": {k: v for k, v in c.items()
                                   if k not in ("wall", "queued", "running")},
                       **{f"{k}_s": c[k] for k in ("wall", "queued", "running")}}

    steps = [s for s in a if s != "run"]
    outside = a["run"] - sum(a[s] for s in steps)
    overhead, ratio = a["run"] - b["run"], a["run"] / b["run"]
    dev = (lambda k: f"{c[k]:12.3f}") if c else (lambda k: "")
    print(f"\n{'seconds a night (mean of ' + str(args.days) + ')':34s} {'in process':>10s} "
          f"{'direct':>8s} {'diff':>7s}" + (f" {'dagster dev':>12s}" if c else ""))
    for s in steps:
        print(f"{s:34s} {a[s]:10.3f} {b.get(s, 0):8.3f} {a[s] - b.get(s, 0):7.3f}"
              + (f"{c.get(s, 0):13.3f}" if c else ""))
    if c:
        c["outside"] = c["running"] - sum(c.get(s, 0) for s in steps)
    print(f"{'(run, outside steps)':34s} {outside:10.3f} {'':8s} {outside:7.3f}"
          + (" " + dev("outside") if c else ""))
    if c:
        print(f"{'(submit -> run start)':34s} {'':10s} {'':8s} {'':7s} {dev('queued')}")
    print(f"{'night (wall)':34s} {a['run']:10.3f} {b['run']:8.3f} {overhead:7.3f}"
          + (" " + dev("wall") if c else ""))
    print(f"{'ratio to direct':34s} {ratio:9.2f}x {'':8s} {'':7s}"
          + (f" {c['wall'] / b['run']:11.2f}x" if c else ""))
    if daemon:
        print(f"dagster dev: server start {daemon['server_start_s']:.0f} s (once); runs "
              + ", ".join(f"{r['partition']} {r['status']}" for r in daemon["runs"]))
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
    results_file.save(RESULTS, args.domain, out)
    if args.root is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
