"""GX and Evidently cost on 100k and 1M rows (goal: drift on 1M rows x 30 columns <= 20 s).
Prints a table and writes ``bench/results/checks.json``; asserts nothing.

    .venv/bin/python bench/bench_checks.py [--rows 100000 1000000] [--columns 30]

What is measured, each with the project's own code path:

* GX: ``lakeloop.ingest.validation.validate_days`` (what ``process_days`` runs at ingest: row rules
  over every row, then batch rules over the per-day summary, each in a GX 1.x ephemeral
  context) against the built-in ``transactions`` contract. The input is simulated
  (``SimConfig(scale=1.0)``: ~50,000 transactions a day, as many days as the rows need), read
  and typed by ``read_landed`` + ``coerce`` as ingest does, and cut to exactly ``--rows`` rows:
  a backfill's many days validated in one pass. ``gx_eval`` is ``ValidationDefinition.run`` (GX
  evaluating the suites), ``gx_setup`` the rest of the two GX runs (context, data source,
  suite, pandas conversion), ``polars`` the bookkeeping around them (quarantine reasons, day
  summary, per-day results).
* Evidently: ``lakeloop.monitoring.drift.compute_drift`` with the fraud domain's drift settings
  (``EventDriftConfig``: PSI, thresholds) on a synthetic reference and current of ``--rows``
  rows each and ``--columns`` columns (a fifth categorical, two of them high-cardinality and
  bucketed to top-20 + other; one integer column named as codes in ``categorical``; some
  nulls; 6 columns shifted in the current side): (a) as the pipeline runs it, on a seeded
  sample of 5,000 rows per side, and (b) on all rows (``sample_size`` = rows).
  ``evidently_run`` is ``Report.run``, the rest is lakeloop's planning (sampling, per-column
  checks, bucketing) and the snapshot's JSON.
* Evidently classification quality: ``lakeloop.monitoring.quality_reports.classification_report``
  (``ClassificationPreset`` + PR-AUC + recall at 1 % / 5 %) on ``--rows`` scored rows.

Imports and the first call of each library (GX, Evidently) are warmed up on a small input
first and reported apart (``*_cold_s``): a run worker pays them once per process. Peak RSS is
the process's resident set sampled every 10 ms during the call (inputs included); ``rss_mb``
before the call. The machine is shared: timings are single runs, not best-of.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lakeloop.ingest.landed import coerce, read_landed
from lakeloop.ingest.validation import DAY
from lakeloop.settings import Settings
from lakeloop.simulate import SimConfig, simulate
from lakeloop.storage import ObjectStore

START = dt.date(2024, 1, 1)
RESULTS = Path(__file__).parent / "results" / "checks.json"
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
GOAL_S = 20.0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_MB


@contextmanager
def peak_rss() -> Iterator[dict[str, float]]:
    """The process's resident set before and at its peak while the block runs."""
    out = {"rss_mb": rss_mb(), "peak_rss_mb": 0.0}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            out["peak_rss_mb"] = max(out["peak_rss_mb"], rss_mb())
            stop.wait(0.01)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        out["peak_rss_mb"] = max(out["peak_rss_mb"], rss_mb())


@contextmanager
def timed(owner: Any, name: str, spent: list[float]) -> Iterator[None]:
    """Seconds spent in ``owner.name`` while the block runs, added to ``spent``."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - t0)

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def measure(fn: Callable[[], Any]) -> tuple[float, dict[str, float], Any]:
    with peak_rss() as mem:
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
    return seconds, mem, result


# --- GX ---------------------------------------------------------------------------------------

def transactions(root: Path, rows: int) -> pl.DataFrame:
    """``rows`` simulated transactions, read and typed as ingest does (``_day`` = each row's
    partition day), over as many days as they need."""
    contract = Settings.from_env().load_domains()["fraud"].main
    cfg = SimConfig(start=START, days=max(1, -(-rows // 45_000)), scale=1.0)
    store = ObjectStore(str(root / "landing"))
    simulate(cfg, store)
    frames, have = [], 0
    for i in range(cfg.days):
        typed, problems, _ = coerce(read_landed(store, contract, cfg.day(i)), contract)
        assert not problems, problems
        frames.append(typed.with_columns(pl.lit(cfg.day(i)).alias(DAY)))
        have += typed.height
        if have >= rows:
            break
    return pl.concat(frames, how="diagonal_relaxed").head(rows)


def gx_case(frame: pl.DataFrame) -> dict[str, Any]:
    import great_expectations as gx

    import lakeloop.ingest.validation as validation

    contract = Settings.from_env().load_domains()["fraud"].main
    days = frame[DAY].unique().sort().to_list()
    min_rows = dict.fromkeys(days, contract.batch.min_rows)  # no history yet: the floor
    gx_total: list[float] = []
    gx_eval: list[float] = []
    with timed(validation, "_run_gx", gx_total), \
            timed(gx.ValidationDefinition, "run", gx_eval):
        seconds, mem, results = measure(
            lambda: validation.validate_days(frame, contract, min_rows))
    return {"tool": "GX validate_days", "rows": frame.height, "columns": len(contract.columns),
            "seconds": seconds, "gx_eval_s": sum(gx_eval),
            "gx_setup_s": sum(gx_total) - sum(gx_eval), "polars_s": seconds - sum(gx_total),
            "days": len(days), "expectations": len(next(iter(results.values())).outcomes),
            "quarantined": sum(r.bad_rows.height for r in results.values()), **mem}


# --- Evidently --------------------------------------------------------------------------------

def drift_frames(rows: int, columns: int, seed: int = 7
                 ) -> tuple[pl.DataFrame, pl.DataFrame, list[str], set[str]]:
    """Reference and current of ``rows`` rows: numeric columns of several shapes, a fifth of
    them categorical (two high-cardinality), some nulls; six columns shifted in ``current``."""
    n_cat = max(1, columns // 5)
    n_num = columns - n_cat
    shifted_num = set(list(range(0, n_num, 5))[:5])  # 5 numeric columns shift

    def side(shift: bool, rng: np.random.Generator) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for i in range(n_num):
            move = shift and i in shifted_num
            match i % 4:
                case 0:
                    v = rng.normal(0.5 if move else 0.0, 1.0, rows)
                case 1:
                    v = rng.lognormal(3.0 + (0.3 if move else 0.0), 1.0, rows)
                case 2:
                    v = rng.poisson(4.0 if move else 3.0, rows).astype(float)
                case _:
                    v = rng.uniform(0, 1.3 if move else 1.0, rows)
            if i % 6 == 5:  # a few columns with missing values
                v[rng.random(rows) < 0.05] = np.nan
            data[f"num_{i:02d}"] = v
        for j in range(n_cat):
            k = 500 if j < 2 else 4 + 2 * j  # two high-cardinality columns: top-20 + other
            p = 1.0 / np.arange(1, k + 1) ** 1.1
            if shift and j == n_cat - 1:
                p = p[::-1].copy()  # one categorical column's mix turns over
            data[f"cat_{j}"] = np.char.add("v", rng.choice(k, rows, p=p / p.sum()).astype(str))
        return data

    ref = pl.DataFrame(side(False, np.random.default_rng(seed)))
    cur = pl.DataFrame(side(True, np.random.default_rng(seed + 1)))
    # a count read as codes (``categorical``), as a team would name a zip code
    return ref, cur, ref.columns, {"num_02"} if n_num > 2 else set()


def drift_config(sample_size: int | None) -> Any:
    from assets.monitoring import EventDriftConfig
    from lakeloop.monitoring.measure import DriftConfig

    cfg = DriftConfig(**EventDriftConfig().model_dump())  # what the fraud_drift asset runs
    return cfg if sample_size is None else DriftConfig(
        **{**EventDriftConfig().model_dump(), "sample_size": sample_size})


def drift_case(ref: pl.DataFrame, cur: pl.DataFrame, names: list[str], categorical: set[str],
               sample_size: int | None) -> dict[str, Any]:
    import evidently

    from lakeloop.monitoring.drift import compute_drift

    cfg = drift_config(sample_size)
    spent: list[float] = []
    with timed(evidently.Report, "run", spent):
        seconds, mem, result = measure(
            lambda: compute_drift(ref, cur, names, cfg, categorical=categorical))
    mode = "sampled (pipeline)" if sample_size is None else "all rows"
    return {"tool": f"Evidently drift, {mode}", "rows": ref.height, "columns": len(names),
            "seconds": seconds, "sample_size": cfg.sample_size,
            "evidently_run_s": sum(spent), "lakeloop_s": seconds - sum(spent),
            "drifted_columns": len(result.drifted_columns),
            "dataset_drift": result.dataset_drift, **mem}


def quality_case(rows: int, seed: int = 7) -> dict[str, Any]:
    from lakeloop.monitoring.quality_reports import classification_report

    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.02).astype(np.int64)
    score = np.clip(rng.beta(1, 30, rows) + y * rng.beta(3, 2, rows), 0, 1)
    frame = pl.DataFrame({"y": y, "score": score})
    seconds, mem, _ = measure(lambda: classification_report(frame, "y", "score"))
    return {"tool": "Evidently classification report", "rows": rows, "columns": 2,
            "seconds": seconds, **mem}


def warm_up(root: Path) -> dict[str, float]:
    """Import + first call of GX and Evidently on small inputs (what a fresh run worker pays
    once), so the measured calls are the steady state."""
    out = {}
    t0 = time.perf_counter()
    gx_case(transactions(root / "warm", 1_000))
    out["gx_cold_s"] = time.perf_counter() - t0
    ref, cur, names, cat = drift_frames(1_000, 10)
    t0 = time.perf_counter()
    drift_case(ref, cur, names, cat, None)
    quality_case(1_000)
    out["evidently_cold_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--columns", type=int, default=30)
    p.add_argument("--skip", nargs="*", default=[], choices=["gx", "drift", "quality"])
    p.add_argument("--root", type=Path, default=None, help="work folder (default: a temp one)")
    args = p.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="lakeloop-checks-"))
    cold = warm_up(root)
    print(f"warm-up (import + first call): GX {cold['gx_cold_s']:.1f} s (1,000-row input "
          f"simulated and typed included), Evidently {cold['evidently_cold_s']:.1f} s",
          flush=True)
    cases: list[dict[str, Any]] = []
    for rows in sorted(args.rows):
        if "gx" not in args.skip:
            t0 = time.perf_counter()
            frame = transactions(root / str(rows), rows)
            prepared = time.perf_counter() - t0
            cases.append({**gx_case(frame), "simulate_read_type_s": prepared})
            del frame
            print(f"{cases[-1]['tool']}, {rows:,} rows: {cases[-1]['seconds']:.1f} s", flush=True)
        if "drift" not in args.skip:
            ref, cur, names, cat = drift_frames(rows, args.columns)
            for sample_size in (None, rows):
                cases.append(drift_case(ref, cur, names, cat, sample_size))
                print(f"{cases[-1]['tool']}, {rows:,} rows: {cases[-1]['seconds']:.1f} s",
                      flush=True)
            del ref, cur
        if "quality" not in args.skip:
            cases.append(quality_case(rows))
            print(f"{cases[-1]['tool']}, {rows:,} rows: {cases[-1]['seconds']:.1f} s",
                  flush=True)
    print(f"\n{'tool':36s} {'rows':>10s} {'cols':>5s} {'seconds':>8s} {'peak MB':>8s}  detail")
    for c in cases:
        detail = ", ".join(f"{k.removesuffix('_s')} {c[k]:.1f} s" for k in (
            "gx_eval_s", "gx_setup_s", "polars_s", "evidently_run_s", "lakeloop_s") if k in c)
        print(f"{c['tool']:36s} {c['rows']:10,d} {c['columns']:5d} {c['seconds']:8.1f} "
              f"{c['peak_rss_mb']:8.0f}  {detail}")
    full = [c for c in cases if c["tool"] == "Evidently drift, all rows"
            and c["rows"] >= 1_000_000 and c["columns"] >= 30]
    sampled = [c for c in cases if c["tool"] == "Evidently drift, sampled (pipeline)"
               and c["rows"] >= 1_000_000 and c["columns"] >= 30]
    verdict = {}
    for label, found in (("sampled", sampled), ("all_rows", full)):
        if found:
            verdict[label] = {"seconds": round(found[0]["seconds"], 2),
                              "met": found[0]["seconds"] <= GOAL_S}
            print(f"goal: drift on 1M rows x {found[0]['columns']} columns <= {GOAL_S:.0f} s, "
                  f"{label.replace('_', ' ')}: {found[0]['seconds']:.1f} s, "
                  f"{'met' if verdict[label]['met'] else 'NOT met'}")
    out = {
        "cases": [{k: round(v, 2) if isinstance(v, float) else v for k, v in c.items()}
                  for c in cases],
        **{k: round(v, 1) for k, v in cold.items()},
        "goal": f"drift on 1M rows x 30 columns <= {GOAL_S:.0f} s", "goal_verdict": verdict,
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{len(os.sched_getaffinity(0))} cores (shared with other work)",
        "date": dt.date.today().isoformat(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    if args.root is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
