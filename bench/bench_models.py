"""Training throughput of both models on every device present (CPU, and CUDA when there is
one), side by side in one run, plus the time to score a day on each. Prints a table, keeps the
figures in ``bench/results/training.json``; asserts nothing.

    .venv/bin/python bench/bench_models.py [--quick] [--epochs 3] [--json PATH]

The data are generated, so no lake is needed and the same command runs on a GPU machine that
has torch but neither Delta nor Dagster (the models import neither):

- fraud: ``bench/fraud_shapes.py``'s ``real-card-like`` shape (400k rows, 140 numeric + 6
  categorical columns, 3.5 % fraud, missing blocks; ``--quick``: 20k), trained by
  ``train_tabm`` - the torch family the nightly retrain runs - with the defaults, for exactly
  ``--epochs`` epochs (patience = epochs: no early stop, so both devices do the same work);
- demand: ``bench/bench_demand_epoch.py``'s panel (100 series x 660 days; ``--quick`` 20 x
  200) through ``to_pandas`` and ``train_demand`` (N-HiTS, the README's defaults, windows
  cached), also for exactly ``--epochs`` epochs.

``samples/s``: training rows (fraud) or windows (demand) seen per second of optimisation,
validation passes included, window building excluded; ``score s``: the fraud model scoring
the test split (80k rows) from its feature frame.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # sibling bench modules, run as a script

from bench_demand_epoch import KNOWN, panel  # noqa: E402
from fraud_shapes import generate, real_card_like  # noqa: E402
from results_file import save  # noqa: E402

from lakeloop.models.classification.config import TabMConfig  # noqa: E402
from lakeloop.models.classification.tabm import train_tabm  # noqa: E402
from lakeloop.models.compute import compute  # noqa: E402
from lakeloop.models.forecast.nhits import DemandConfig, to_pandas, train_demand  # noqa: E402

DEFAULT_JSON = ROOT / "bench" / "results" / "training.json"


def machine() -> dict[str, object]:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "gpu": gpu, "python": platform.python_version(),
            "date": dt.datetime.now().isoformat(timespec="seconds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data (a smoke run)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--devices", default="auto", help="auto (cpu + cuda if present) | "
                        "comma-separated list, e.g. cuda")
    parser.add_argument("--demand-workers", type=int, default=DemandConfig.num_workers,
                        help="processes that build the demand windows (DemandConfig.num_workers)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    devices = (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
               if args.devices == "auto" else args.devices.split(","))
    started = time.perf_counter()
    shape = real_card_like(args.quick)
    g = generate(shape)
    train, val, test = g.part("train"), g.part("validation"), g.part("test")
    series, days = (20, 200) if args.quick else (100, 660)
    pdf = to_pandas(panel(series, days), KNOWN)
    dcfg = DemandConfig(max_epochs=args.epochs, patience=args.epochs,
                        num_workers=args.demand_workers)
    val_from = int(pdf["time_idx"].max()) - dcfg.horizon + 1
    info = machine()
    print(f"machine: {info['cpus']} CPUs, torch {info['torch']} ({info['torch_threads']} "
          f"threads), GPU {info['gpu'] or 'none'}, {info['date'][:10]}; data generated in "
          f"{time.perf_counter() - started:.0f}s")
    print(f"fraud: {shape.name}, {train.height:,} training rows x {shape.features} columns; "
          f"demand: {series} series x {days} days, N-HiTS encoder {dcfg.encoder_length} "
          f"horizon {dcfg.horizon} batch {dcfg.batch_size}, windows built by "
          f"{dcfg.num_workers or 'the main'} process(es); {args.epochs} epochs each")
    print(f"{'device':>28s} | {'fraud samples/s':>15s} | {'fraud s':>7s} | {'score s':>7s} | "
          f"{'demand windows/s':>16s} | {'demand epoch s':>14s} | {'window build s':>14s}")
    rows: dict[str, dict[str, float]] = {}
    for name in devices:
        c = compute(name)
        cfg = TabMConfig(max_epochs=args.epochs, patience=args.epochs)
        r = train_tabm(train, val, g.categorical, g.numeric, c, cfg, log=lambda _m: None)
        t0 = time.perf_counter()
        scores = r.model.score(test, c)
        score_s = time.perf_counter() - t0
        d = train_demand(pdf, val_from, dcfg, c, log=lambda _m: None)
        epoch_s = (d.seconds - d.window_build_seconds) / max(d.epochs, 1)
        windows_per_s = d.train_samples / epoch_s if epoch_s else 0.0
        rows[name] = {"device": c.describe(), "fraud_samples_per_s": r.samples_per_s,
                      "fraud_train_s": r.seconds, "fraud_epochs": r.epochs,
                      "score_s": score_s, "scored_rows": len(scores),
                      "demand_windows_per_s": windows_per_s, "demand_epoch_s": epoch_s,
                      "demand_epochs": d.epochs, "demand_train_windows": d.train_samples,
                      "demand_window_build_s": d.window_build_seconds}
        print(f"{c.describe():>28s} | {r.samples_per_s:15,.0f} | {r.seconds:7.1f} | "
              f"{score_s:7.2f} | {windows_per_s:16,.0f} | {epoch_s:14.2f} | "
              f"{d.window_build_seconds:14.1f}")
    if "cpu" in rows and "cuda" in rows:
        cpu, gpu = rows["cpu"], rows["cuda"]
        print(f"GPU / CPU: fraud x{gpu['fraud_samples_per_s'] / cpu['fraud_samples_per_s']:.1f}"
              f", demand x{gpu['demand_windows_per_s'] / cpu['demand_windows_per_s']:.1f}, "
              f"scoring x{cpu['score_s'] / gpu['score_s']:.1f}")
    key = ("gpu" if "cuda" in rows else "cpu") + ("-quick" if args.quick else "") + (
        f"-{args.demand_workers}-workers" if args.demand_workers else "")
    save(args.json, key,
         {"machine": info, "command": " ".join(sys.argv), "epochs": args.epochs,
          "demand_workers": args.demand_workers,
          "fraud_shape": dataclasses.asdict(shape), "demand_panel": [series, days],
          "devices": rows})


if __name__ == "__main__":
    main()
