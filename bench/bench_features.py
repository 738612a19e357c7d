"""Event featurization: the project's Polars code (``lakeloop.features.events.event_features``,
what the nightly asset and a single-run backfill call) vs an equivalent pandas implementation
of the same features, on ~1M and ~10M transactions. Outputs are checked equal (every column,
nulls included; floats to a relative 1e-6 or an absolute 1e-4); prints a table and writes
``bench/results/features.json``; asserts nothing else. Goal (issue): Polars >= 8x faster,
<= 0.5x the memory.

    .venv/bin/python bench/bench_features.py [--rows 1000000 10000000] [--days 100]
        [--root DIR] [--repeat 1]

Input: the fraud domain's landing zone simulated for ``--days`` days at the scale that gives
``--rows`` transactions (``scale = rows / (days x 50,000)``: 1M = scale 0.2, 10M = scale 2.0;
the simulator's card and merchant populations grow with the volume, so per-entity density is
the same at both sizes), typed and validated by the project's own ingest
(``lakeloop.ingest.bronze.process_days``, in chunks of days) into the bronze frames of
``transactions`` and ``fraud_labels``, cached as Parquet under ``--root`` (default
``$TMPDIR/lakeloop-bench-features``) so re-runs skip generation.

Both sides featurize the whole input as ONE range, as a backfill does: ``day`` = the first
day, ``until`` = the last; labels known in ``day - 30 .. until - 1``. Each side runs in its own
fresh subprocess that first loads the input from Parquet (``pl.read_parquet`` /
``pd.read_parquet``, pandas' default dtypes; load time reported apart), then times the
featurization only (best of ``--repeat``). Memory: the child's peak resident set during the
featurization (``ru_maxrss``, its high-water mark reset after loading via
``/proc/self/clear_refs``) minus its resident set right after loading (``MB``), and the
child's absolute peak (``abs MB``, load included); the ratio is on the former. ``cpu s`` is
user + system CPU time of the featurization (Polars uses every core, pandas one): on a shared
machine wall times move with the load (the JSON has the load average before each size).

The pandas side (``pandas_features``) is written from the contract's roles like the Polars
code: per entity, ``groupby(key).rolling(window, on=time, closed="left")`` for the 1h / 24h /
7d counts and amount statistics, ``groupby().diff()`` for the seconds since the previous event,
``groupby().shift()`` for "same merchant as the card's previous event", and two
``merge_asof`` on cumulative per-entity label counts for the label history (positives known
in the 30 days before the event's day, days since the last one). Every output column of the
Polars code is reproduced. It supports a reported-labels dataset (the fraud domain), not a
label column (``known_labels_from_column``). Why the absolute tolerance: pandas' rolling
variance adds and removes values as the window slides, so a 7-day window of two equal amounts
reached after unequal ones has a std of ~4e-5 where Polars gives 0.0 (one value in the 10M
run; the JSON's ``comparison`` counts such values per column).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from polars.testing import assert_series_equal

from lakeloop.contracts.domains import Domain
from lakeloop.features.events import (
    AMOUNT_STATS,
    COUNT_WINDOWS,
    EVENT_LOOKBACK_DAYS,
    KNOWN_ON,
    LABEL_LOOKBACK_DAYS,
    WEEK_SECONDS,
    event_features,
    key_columns,
    known_labels_from_dataset,
    label_history_entities,
)
from lakeloop.ingest.bronze import process_days
from lakeloop.names import PARTITION_COLUMN
from lakeloop.settings import Settings
from lakeloop.simulate import SimConfig, simulate
from lakeloop.simulate.fraud import BASE_TRANSACTIONS_PER_DAY
from lakeloop.storage import Lake, ObjectStore

START = dt.date(2024, 1, 1)
CHUNK_DAYS = 10  # ingest this many days per process_days call (bounded memory)
RTOL = 1e-6
ATOL = 1e-4  # below a hundredth of a cent: pandas' rolling std of equal amounts (see above)
RESULTS = Path(__file__).parent / "results" / "features.json"


def fraud_domain() -> Domain:
    return Settings.from_env().load_domains()["fraud"]


# ---------------------------------------------------------------- input (cached as Parquet)

def build_input(folder: Path, rows: int, days: int) -> dict:
    """Simulate, ingest (the project's bronze functions) and cache ``folder``'s input."""
    meta_file = folder / "meta.json"
    if meta_file.exists():
        return json.loads(meta_file.read_text())
    domain = fraud_domain()
    assert domain.labels is not None
    scale = rows / (days * BASE_TRANSACTIONS_PER_DAY)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="landing-", dir=folder.parent))
    t0 = time.perf_counter()
    simulate(SimConfig(start=START, days=days, scale=scale), ObjectStore(str(work / "landing")))
    simulate_s = time.perf_counter() - t0
    store, lake = ObjectStore(str(work / "landing")), Lake(str(work / "lake"))
    all_days = [START + dt.timedelta(days=i) for i in range(days)]
    t0 = time.perf_counter()
    for contract in (domain.main, domain.labels):
        frames = []
        for i in range(0, days, CHUNK_DAYS):
            read = process_days(store, lake, contract, all_days[i:i + CHUNK_DAYS],
                                domain.calendar)
            assert not read.refused, read.refused
            frames += [b.bronze for b in read.batches.values() if b.bronze is not None]
        folder.mkdir(parents=True, exist_ok=True)
        pl.concat(frames).write_parquet(folder / f"{contract.name}.parquet")
        del frames
    ingest_s = time.perf_counter() - t0
    shutil.rmtree(work)
    tx = pl.scan_parquet(folder / f"{domain.main.name}.parquet")
    meta = {"rows": tx.select(pl.len()).collect().item(), "days": days,
            "scale": round(scale, 4), "first_day": START.isoformat(),
            "last_day": all_days[-1].isoformat(),
            "labels": pl.scan_parquet(folder / f"{domain.labels.name}.parquet")
            .select(pl.len()).collect().item(),
            "simulate_s": round(simulate_s, 1), "ingest_s": round(ingest_s, 1)}
    meta_file.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


# ---------------------------------------------------------------- the two implementations

def polars_features(tx: pl.DataFrame, labels: pl.DataFrame, domain: Domain, day: dt.date,
                    until: dt.date) -> pl.DataFrame:
    """The project's code, called as the features asset calls it for a range of days."""
    main, lab = domain.main, domain.labels
    assert lab is not None
    date = pl.col(PARTITION_COLUMN)
    first = day - dt.timedelta(days=7)
    label_first = day - dt.timedelta(days=LABEL_LOOKBACK_DAYS)
    known = known_labels_from_dataset(
        labels.lazy().filter(date.is_between(label_first, until - dt.timedelta(days=1))),
        main, lab)
    return event_features(tx.lazy().filter(date.is_between(first, until)), known, day, main,
                          label_history_entities(main, lab), until=until).collect()


def _pd_key(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    """An entity's key: its column, or its columns joined with "|" (missing if any is)."""
    key = df[cols[0]]
    for c in cols[1:]:
        key = key.astype("str") + "|" + df[c].astype("str")
    return key


def _previous_visible(df: pd.DataFrame, key: str) -> pd.Series:
    """The entity's previous event lies within ``EVENT_LOOKBACK_DAYS`` of the row's day."""
    day = df[PARTITION_COLUMN]
    previous = df.groupby(key, sort=False, dropna=False)[PARTITION_COLUMN].shift(1)
    return previous >= day - pd.Timedelta(days=EVENT_LOOKBACK_DAYS)


def _pd_windows(df: pd.DataFrame, name: str, key: str, time_col: str, amount: str | None
                ) -> None:
    """Per-entity rolling windows (closed="left": events strictly before the row), in place;
    ``df`` is sorted by (key, time, id), so a group-by-rolling result is in ``df``'s order.
    One rolling object per window over (ones, amount): the count is the sum of the ones."""
    has_key = df[key].notna()
    sub = df if has_key.all() else df[has_key]  # rows without a key share no history
    values = ["_one", *([amount] if amount is not None else [])]
    groups = sub[[key, time_col, *values]].groupby(key, sort=True)
    stats: dict[tuple[str, str], np.ndarray] = {}
    for p in COUNT_WINDOWS:
        rolling = groups.rolling(p[:-1] + "D" if p.endswith("d") else p, on=time_col,
                                 closed="left")
        sums = rolling.sum()  # indexed (key, row), in ``sub``'s order
        assert np.array_equal(sums.index.get_level_values(-1), sub.index)
        stats[p, "count"] = sums["_one"].fillna(0).to_numpy()
        for stat in {s for w, s in AMOUNT_STATS if w == p} if amount is not None else ():
            # an empty window sums to 0 (as in Polars), its other statistics are missing
            agg = sums if stat == "sum" else getattr(rolling, stat)()
            stats[p, stat] = agg[amount].fillna(0.0 if stat == "sum" else np.nan).to_numpy()
    out = {f"{name}_count_{p}": stats[p, "count"] for p in COUNT_WINDOWS}
    if amount is not None:
        out |= {f"{name}_amount_{stat}_{p}": stats[p, stat] for p, stat in AMOUNT_STATS}
    seconds = sub.groupby(key, sort=False)[time_col].diff() // pd.Timedelta(seconds=1)
    # the previous event counts only within the row's night's look-back (as in Polars)
    out[f"{name}_seconds_since_prev"] = seconds.where(_previous_visible(sub, key)).to_numpy()
    for col, column in out.items():
        df[col] = column if sub is df else pd.Series(column, index=sub.index)


def _pd_label_history(df: pd.DataFrame, known: pd.DataFrame, name: str, cols: list[str]
                      ) -> pd.DataFrame:
    """Positives of the entity known in the 30 days before each event's day, and days since
    the last one: cumulative label counts per entity, looked up with ``merge_asof`` at the
    day (strictly before) and at the window's start (strictly before)."""
    date = PARTITION_COLUMN
    daily = (known.dropna(subset=cols).groupby([*cols, KNOWN_ON]).size()
             .rename("_n").reset_index())  # sorted by entity, then day
    daily["_cum"] = daily.groupby(cols)["_n"].cumsum()
    daily = daily.sort_values(KNOWN_ON)
    pairs = df[[*cols, date]].drop_duplicates().sort_values(date)
    pairs = pd.merge_asof(pairs, daily[[*cols, KNOWN_ON, "_cum"]], left_on=date,
                          right_on=KNOWN_ON, by=cols, allow_exact_matches=False)
    pairs["_start"] = (pairs[date] - pd.Timedelta(days=LABEL_LOOKBACK_DAYS)).astype(
        daily[KNOWN_ON].dtype)
    pairs = pd.merge_asof(pairs.sort_values("_start"),
                          daily[[*cols, KNOWN_ON, "_cum"]].rename(
                              columns={KNOWN_ON: "_before", "_cum": "_cum_before"}),
                          left_on="_start", right_on="_before", by=cols,
                          allow_exact_matches=False)
    count = (pairs["_cum"].fillna(0) - pairs["_cum_before"].fillna(0)).astype("int64")
    pairs[f"{name}_labels_30d"] = count
    pairs[f"{name}_days_since_label"] = ((pairs[date] - pairs[KNOWN_ON]).dt.days
                                         .where(count > 0, LABEL_LOOKBACK_DAYS + 1)
                                         .astype("int64"))
    return df.merge(pairs[[*cols, date, f"{name}_labels_30d", f"{name}_days_since_label"]],
                    on=[*cols, date], how="left")


def pandas_features(tx: pd.DataFrame, labels: pd.DataFrame, domain: Domain, day: dt.date,
                    until: dt.date) -> pd.DataFrame:
    """The same features as ``event_features`` for ``day .. until``, in pandas."""
    main, lab = domain.main, domain.labels
    assert lab is not None
    r = main.roles
    assert r.event_time is not None
    time_col, amount, ids, date = r.event_time.output, r.amount, r.id, PARTITION_COLUMN
    day_ts, until_ts = pd.Timestamp(day), pd.Timestamp(until)
    first = day_ts - pd.Timedelta(days=7)
    df = tx[(tx[date] >= first) & (tx[date] <= until_ts)].copy()
    original = list(df.columns)
    df["_one"] = 1.0
    if amount is not None:
        df[amount] = df[amount].astype("float64")
    names = list(r.entities)
    keys = {}
    for name, cols in r.entities.items():
        keys[name] = cols[0] if len(cols) == 1 else f"_key_{name}"
        if len(cols) > 1:
            df[keys[name]] = _pd_key(df, cols)
    for name in names:
        df = df.sort_values([keys[name], time_col, *ids], na_position="last",
                            ignore_index=True)
        _pd_windows(df, name, keys[name], time_col, amount)
        if name == names[0]:  # does the card hop between the other entities?
            for other in names[1:]:
                prev = df.groupby(keys[name], sort=False, dropna=False)[keys[other]].shift(1)
                df[f"{name}_same_{other}_as_prev"] = (
                    prev.eq(df[keys[other]]).fillna(False) & _previous_visible(df, keys[name])
                    & df[keys[name]].notna())  # an unknown card hops nowhere
    for other in names[1:]:  # after every entity's windows, as in the Polars output
        df[f"{names[0]}_same_{other}_as_prev"] = df.pop(f"{names[0]}_same_{other}_as_prev")
    df = df[(df[date] >= day_ts) & (df[date] <= until_ts)]
    label_entities = label_history_entities(main, lab)
    label_cols = [c for cols in r.entities.values() for c in cols if c in lab.columns]
    known = labels[(labels[date] >= day_ts - pd.Timedelta(days=LABEL_LOOKBACK_DAYS))
                   & (labels[date] <= until_ts - pd.Timedelta(days=1))]
    known = known[list(dict.fromkeys(label_cols))].assign(**{KNOWN_ON: known[date]})
    for name, cols in r.entities.items():
        if name in label_entities:
            df = _pd_label_history(df, known, name, cols)
    for name in names:
        seconds = df[f"{name}_seconds_since_prev"]
        df[f"{name}_first_seen_7d"] = seconds.isna()
        df[f"{name}_seconds_since_prev"] = seconds.fillna(WEEK_SECONDS).astype("int64")
        if amount is not None:
            mean = df[f"{name}_amount_mean_7d"]
            df[f"{name}_amount_vs_mean_7d"] = np.where(mean > 0, df[amount] / mean, 1.0)
    if amount is not None:
        df["log_amount"] = np.log1p(df[amount].clip(lower=0))
    hour = df[time_col].dt.hour
    df["hour"], df["weekday"], df["is_night"] = hour, df[time_col].dt.weekday + 1, hour < 6
    key_cols = key_columns(main)
    passthrough = [c for c in main.feature_columns(original) if c not in key_cols]
    raw_amount = [amount] if amount and amount not in key_cols and amount not in passthrough \
        else []
    generated = [c for c in df.columns
                 if c not in original and c != "_one" and not c.startswith("_key_")]
    label_col = r.label.column if r.label else None
    columns = [c for c in [*key_cols, *raw_amount, *passthrough, *generated] if c != label_col]
    return df[columns].sort_values([time_col, *ids], ignore_index=True)


# ---------------------------------------------------------------- one side, in a child process

def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def child(impl: str, folder: Path, repeat: int) -> None:
    """Load the input, featurize it ``repeat`` times, write the output; one JSON line out."""
    domain = fraud_domain()
    assert domain.labels is not None
    meta = json.loads((folder / "meta.json").read_text())
    day, until = dt.date.fromisoformat(meta["first_day"]), dt.date.fromisoformat(meta["last_day"])
    tx_file = folder / f"{domain.main.name}.parquet"
    labels_file = folder / f"{domain.labels.name}.parquet"
    t0 = time.perf_counter()
    if impl == "polars":
        tx, labels = pl.read_parquet(tx_file), pl.read_parquet(labels_file)
        run = polars_features
    else:
        tx, labels = pd.read_parquet(tx_file), pd.read_parquet(labels_file)
        for frame in (tx, labels):  # Parquet dates come back as objects
            frame[PARTITION_COLUMN] = pd.to_datetime(frame[PARTITION_COLUMN])
        run = pandas_features  # type: ignore[assignment]
    load_s = time.perf_counter() - t0
    gc.collect()
    load_peak, loaded = _peak_mb(), _rss_mb()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS to the current
        reset = True
    except OSError:
        reset = False
    times, cpus, out = [], [], None
    for _ in range(repeat):
        out = None
        gc.collect()
        c0, t0 = _cpu_s(), time.perf_counter()
        out = run(tx, labels, domain, day, until)  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
        cpus.append(_cpu_s() - c0)
    peak = _peak_mb()
    assert out is not None
    out_file = folder / f"out-{impl}.parquet"
    if impl == "polars":
        out.write_parquet(out_file)
    else:
        out.to_parquet(out_file, index=False)
    print(json.dumps({
        "seconds": round(min(times), 2), "all_seconds": [round(t, 2) for t in times],
        "cpu_s": round(min(cpus), 2), "load_s": round(load_s, 2),
        "rss_after_load_mb": round(loaded), "peak_over_loaded_mb": round(peak - loaded),
        "abs_peak_mb": round(max(peak, load_peak)), "peak_reset": reset,
        "output_rows": len(out), "output_columns": len(out.columns),
    }))


def run_child(impl: str, folder: Path, repeat: int) -> dict:
    cmd = [sys.executable, __file__, "--child", impl, "--root", str(folder),
           "--repeat", str(repeat)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-2000:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def outputs_equal(folder: Path) -> tuple[bool, str]:
    """Both outputs, sorted by the id columns, compared column by column (one column of each
    in memory at a time): numbers as Float64 to a relative ``RTOL`` or an absolute ``ATOL``,
    everything else exactly (pandas' types cast to Polars'); the values that needed ``ATOL``
    are counted in the detail."""
    r = fraud_domain().main.roles
    assert r.event_time is not None
    order = [r.event_time.output, *r.id, PARTITION_COLUMN]
    files = [folder / "out-polars.parquet", folder / "out-pandas.parquet"]
    schemas = [pl.read_parquet_schema(f) for f in files]
    if list(schemas[0]) != list(schemas[1]):
        return False, f"columns differ: {list(schemas[0])} vs {list(schemas[1])}"

    def column(i: int, name: str, rows: pl.Series) -> pl.Series:
        s = pl.read_parquet(files[i], columns=[name])[name].gather(rows)
        left, right = schemas[0][name], schemas[1][name]
        return s.cast(pl.Float64 if left.is_numeric() and right.is_numeric() else left)

    keys = [pl.read_parquet(f, columns=order).with_row_index("_i")
            .with_columns(*(pl.col(c).cast(schemas[0][c]) for c in order)).sort(order)
            for f in files]
    rows = [k["_i"] for k in keys]
    loose: dict[str, int] = {}  # values equal only within ATOL (not RTOL), per column
    try:
        for name in schemas[0]:
            left, right = column(0, name, rows[0]), column(1, name, rows[1])
            assert_series_equal(left, right, rel_tol=RTOL, abs_tol=ATOL)
            if left.dtype == pl.Float64:
                n = ((left - right).abs() > 1e-8 + RTOL * left.abs()).sum()
                if n:
                    loose[name] = n
    except AssertionError as exc:
        return False, f"{name}: " + " ".join(str(exc).split())[:500]
    detail = f"{len(rows[0])} rows x {len(schemas[0])} columns"
    return True, detail + (f"; equal only within {ATOL:g} absolute: {loose}" if loose else "")


# ---------------------------------------------------------------- main

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--days", type=int, default=100)
    p.add_argument("--repeat", type=int, default=1, help="featurizations per side (best kept)")
    p.add_argument("--root", type=Path,
                   default=Path(tempfile.gettempdir()) / "lakeloop-bench-features",
                   help="work folder: cached inputs and the outputs compared")
    p.add_argument("--child", choices=["polars", "pandas"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.root, args.repeat)
        return
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results = []
    for rows in args.rows:
        folder = args.root / f"rows-{rows}-days-{args.days}"
        meta = build_input(folder, rows, args.days)
        print(f"input {folder}: {meta}", flush=True)
        load_avg = os.getloadavg()[0]  # the machine may be shared: wall times move with it
        sides = {impl: run_child(impl, folder, args.repeat) for impl in ("polars", "pandas")}
        for impl, side in sides.items():
            print(f"  {impl}: {side}", flush=True)
        ok = all("error" not in s for s in sides.values())
        equal, detail = outputs_equal(folder) if ok else (False, "a side failed")
        for impl in sides:
            (folder / f"out-{impl}.parquet").unlink(missing_ok=True)
        pol, pan = sides["polars"], sides["pandas"]
        res = {"rows": meta["rows"], "input": meta, "polars": pol, "pandas": pan,
               "outputs_equal": equal, "comparison": detail,
               "load_avg_1m_before": round(load_avg, 1)}
        if ok:
            res["speedup"] = round(pan["seconds"] / pol["seconds"], 1)
            res["cpu_speedup"] = round(pan["cpu_s"] / pol["cpu_s"], 1)
            res["memory_ratio"] = round(pol["peak_over_loaded_mb"]
                                        / pan["peak_over_loaded_mb"], 2)
            res["goal_8x_faster"] = res["speedup"] >= 8
            res["goal_half_memory"] = res["memory_ratio"] <= 0.5
        results.append(res)
        saved[str(rows)] = {**res, "machine": f"{platform.processor() or platform.machine()}, "
                            f"{len(os.sched_getaffinity(0))} cores",
                            "date": dt.date.today().isoformat()}
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    cols = ["rows", "polars s", "pandas s", "speed-up", "polars cpu s", "pandas cpu s",
            "cpu speed-up", "polars MB", "pandas MB", "mem ratio", "polars abs MB",
            "pandas abs MB", "equal"]
    table, failed = [cols], []
    for res in results:
        pol, pan = res["polars"], res["pandas"]
        if "speedup" not in res:
            failed.append(f"{res['rows']:,} rows failed: {pol.get('error') or pan.get('error')}")
            continue
        table.append([f"{res['rows']:,}", f"{pol['seconds']:.1f}", f"{pan['seconds']:.1f}",
                      f"{res['speedup']:.1f}x", f"{pol['cpu_s']:.1f}", f"{pan['cpu_s']:.1f}",
                      f"{res['cpu_speedup']:.1f}x", f"{pol['peak_over_loaded_mb']:,}",
                      f"{pan['peak_over_loaded_mb']:,}", f"{res['memory_ratio']:.2f}",
                      f"{pol['abs_peak_mb']:,}", f"{pan['abs_peak_mb']:,}",
                      str(res["outputs_equal"])])
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    print()
    for row in table:
        print(" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    for line in failed:
        print(line)
    for res in results:
        if "speedup" in res:
            print(f"{res['rows']:,} rows: >= 8x faster: "
                  f"{'met' if res['goal_8x_faster'] else 'NOT met'}; <= 0.5x memory: "
                  f"{'met' if res['goal_half_memory'] else 'NOT met'}; outputs "
                  f"{'equal' if res['outputs_equal'] else 'DIFFER: ' + res['comparison']}")


if __name__ == "__main__":
    main()
