"""A demand (N-HiTS) training epoch on ~60k windows: windows rebuilt every epoch (what
pytorch-forecasting's ``to_dataloader`` does) vs built once and served from memory
(``lakeloop.models.forecast.window_cache``, the default). Prints a table; asserts nothing.

    .venv/bin/python bench/bench_demand_epoch.py [--series 100] [--days 660] [--epochs 2]

The panel is generated in silver's series schema (every day open, a weekly pattern, promotions,
a temperature covariate) and goes through ``to_pandas`` and ``train_demand`` - the code the
retrain runs - with the README's defaults (encoder 28, horizon 14, batch 256). Both ways train
the same network on the same windows; ``epoch s`` is the wall time of the optimisation epochs
divided by their count, ``build s`` the one pass that builds the cached windows.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import time

import numpy as np
import polars as pl
import torch

from lakeloop.models.compute import compute
from lakeloop.models.forecast.nhits import DemandConfig, to_pandas, train_demand

KNOWN = ["promo", "temperature"]


def panel(n_series: int, n_days: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = dt.date(2024, 1, 1)
    days = pl.date_range(start, start + dt.timedelta(days=n_days - 1), eager=True)
    n = n_series * n_days
    sid = np.repeat([f"s{i:04d}" for i in range(n_series)], n_days)
    t = np.tile(np.arange(n_days), n_series)
    level = np.repeat(rng.gamma(2.0, 10.0, n_series), n_days)
    weekday = (t % 7).astype(float)
    promo = rng.random(n) < 0.15
    target = np.maximum(0.0, level * (1 + 0.3 * np.sin(2 * np.pi * weekday / 7) + 0.5 * promo)
                        + rng.normal(0, 0.2, n) * level)
    frame = pl.DataFrame({"date": pl.Series(np.tile(days.to_numpy(), n_series)),
                          "series_id": sid, "t": t, "target": target, "promo": promo,
                          "temperature": 10 + 10 * np.sin(t / 58.0), "holiday": False,
                          "price_ratio": 1.0 - 0.2 * promo})
    return frame.with_columns(pl.col("date").dt.weekday().alias("weekday"),
                              pl.col("date").dt.month().alias("month"),
                              pl.col("date").dt.ordinal_day().alias("day_of_year"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--days", type=int, default=660)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    args = parser.parse_args()
    pdf = to_pandas(panel(args.series, args.days), KNOWN)
    device = compute(None if args.device == "auto" else args.device)
    cfg = DemandConfig(max_epochs=args.epochs, patience=args.epochs)
    val_from = int(pdf["time_idx"].max()) - cfg.horizon + 1
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), device {device.describe()}, "
          f"{dt.datetime.now():%Y-%m-%d}")
    print(f"panel: {args.series} series x {args.days} days; N-HiTS encoder "
          f"{cfg.encoder_length}, horizon {cfg.horizon}, batch {cfg.batch_size}, "
          f"{args.epochs} epochs each")
    print(f"{'windows':>22s} | {'windows':>8s} | {'build s':>7s} | {'epoch s':>7s} | "
          f"{'windows/s':>9s} | {'best val loss':>13s}")
    epoch: dict[bool, float] = {}
    for cached in (False, True):
        started = time.perf_counter()
        r = train_demand(pdf, val_from, dataclasses.replace(cfg, cache_windows=cached),
                         device, log=lambda _m: None)
        wall = time.perf_counter() - started
        build = r.window_build_seconds if cached else 0.0
        epoch[cached] = (r.seconds - build) / max(r.epochs, 1)
        print(f"{'built once (default)' if cached else 'rebuilt every epoch':>22s} | "
              f"{r.train_samples:>8,} | {build:>7.1f} | {epoch[cached]:>7.1f} | "
              f"{r.train_samples / epoch[cached]:>9,.0f} | {r.best_val_loss:>13.4f}"
              f"   (whole call {wall:.0f}s)")
    print(f"epoch speed-up: x{epoch[False] / epoch[True]:.1f}")


if __name__ == "__main__":
    main()
