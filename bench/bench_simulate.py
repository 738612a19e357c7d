"""How fast does the simulator write a year at full volume? Prints figures; asserts nothing.

    .venv/bin/python bench/bench_simulate.py [--days 365] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from lakeloop.simulate import SimConfig, simulate
from lakeloop.storage import ObjectStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    cfg = SimConfig(start=dt.date(2026, 1, 1), days=args.days, scale=args.scale)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = simulate(cfg, ObjectStore(tmp))
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    print(f"days={summary.days} scale={args.scale} transactions={summary.transactions:,} "
          f"series={summary.series} sales_rows={summary.sales_rows:,}")
    print(f"seconds={seconds:.1f} transactions_per_s={summary.transactions / seconds:,.0f} "
          f"written_MB={size / 1e6:.0f}")


if __name__ == "__main__":
    main()
