"""Training throughput of both models per device, and scoring time of a 50k-transaction day.

Run after `make demo` (it reads the demo lake):

    .venv/bin/python bench/bench_models.py [--lake .lakeloop/lake] [--epochs 3]

Every available device (CPU, and CUDA when present) is measured in the same run, so the
GPU/CPU ratios are side by side. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import polars as pl
import torch

from lakeloop.compute import compute
from lakeloop.features import event_schema
from lakeloop.models.classifier_config import TabMConfig
from lakeloop.models.demand import DemandConfig, to_pandas, train_demand
from lakeloop.models.demand_eval import BacktestPlan
from lakeloop.models.fraud_tabm import train_tabm
from lakeloop.settings import Settings
from lakeloop.storage import Lake
from lakeloop.training_sets import SplitWindow, classification_training_set


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", default=".lakeloop/lake")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--fraud-batch", type=int, default=4096)
    args = parser.parse_args()
    lake = Lake(args.lake)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    domains = Settings.from_env().load_domains()  # LAKELOOP_CONTRACTS picks the profile
    events = next(d for d in domains.values() if d.kind == "classification")
    series = next(d for d in domains.values() if d.kind == "forecast")
    newest = lake.scan(events.features_table).select(pl.col("date").max()).collect().item()
    ts = classification_training_set(lake, events, newest, SplitWindow(label_window_days=14))
    schema = event_schema(events.main, ts.frame.drop("label", "split").schema)
    pdf = to_pandas(lake.scan(series.features_table).collect(), series.main.roles.known)
    plan = BacktestPlan.for_history(int(pdf["time_idx"].max()), 7, 2)
    print(f"torch {torch.__version__}; devices: {devices}; fraud train rows "
          f"{ts.part('train').height:,}; demand series {pdf['series_id'].nunique()}")

    fraud_rate: dict[str, float] = {}
    demand_rate: dict[str, float] = {}
    for name in devices:
        c = compute(name)
        cfg = TabMConfig(max_epochs=args.epochs, patience=args.epochs,
                         batch_size=args.fraud_batch)
        r = train_tabm(ts.part("train"), ts.part("validation"), schema.categorical,
                        schema.numeric, c, cfg, log=lambda _m: None)
        fraud_rate[name] = r.samples_per_s
        dcfg = DemandConfig(horizon=7, encoder_length=14, max_epochs=args.epochs,
                            patience=args.epochs, batch_size=512)
        d = train_demand(pdf, plan.val_from, dcfg, c, log=lambda _m: None)
        demand_rate[name] = d.samples_per_s
        print(f"{c.describe():>24s}: fraud {r.samples_per_s:12,.0f} samples/s | demand "
              f"{d.samples_per_s:9,.0f} windows/s ({d.seconds / max(d.epochs, 1):.2f} s/epoch)")
    if "cuda" in devices:
        print(f"GPU/CPU: fraud x{fraud_rate['cuda'] / fraud_rate['cpu']:.1f}, "
              f"demand x{demand_rate['cuda'] / demand_rate['cpu']:.1f}")

    # scoring a 50,000-transaction day on the CPU, end to end from the feature frame
    day = lake.scan(events.features_table).collect()
    big = pl.concat([day] * (50_000 // day.height + 1)).head(50_000)
    model = r.model
    cpu = compute("cpu")
    started = time.perf_counter()
    scores = model.score(big, cpu)
    print(f"scoring 50,000 transactions on cpu: {time.perf_counter() - started:.2f}s "
          f"({len(scores):,} scores) at {dt.datetime.now():%Y-%m-%d}")


if __name__ == "__main__":
    main()
