"""The ``lakeloop`` command: ``init`` a Dagster home, ``simulate`` a landing zone, run the
``demo``, manage ``models``, re-baseline drift ``monitoring``.

Dagster is imported only by the commands that run it, so ``lakeloop simulate`` starts fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lakeloop.settings import Settings

SIMULATE_HELP = """\
Write a deterministic landing zone (same seed and arguments -> byte-identical files).
--profile simulator (the default):
  transactions/date=D/part-0.csv   card transactions, 50,000 x SCALE a day (default 5,000),
                                   about 0.4% fraudulent on quiet days (0.2-1%: card testing,
                                   account takeover, compromised merchants)
  fraud_labels/date=D/part-0.csv   chargebacks reported on D, 1-30 days after the transaction
                                   (median about a week); every fraudulent transaction gets one
  sales/date=D/part-0.parquet      daily units for STORES x ITEMS series (default 20 x 15 = 300)
--profile partner (another team's data, shaped differently):
  payments/date=D/part-0.csv       card payments every day, 50,000 x SCALE a day: TransactionID,
                                   isFraud (0/1 in the file, final after 7 days; about 2%),
                                   TransactionDT (epoch seconds), TransactionAmt, ProductCD,
                                   card1 + addr1 (the card), P_emaildomain, DeviceInfo,
                                   V1..V60 (anonymous; their missing shares drift by the week)
  shop_sales/date=D/part-0.parquet day, sku, qty, unit_price for SKUS skus (default 60); qty
                                   negative on returns, price 0.0 for give-aways; no file on
                                   Sundays and French public holidays (the shop is closed)
  Drift: covariate and concept act on payments (concept: a fraud ring on product S paying
  from mail.com), demand_level (half the skus) and seasonality on shop_sales.
Drift kinds for --drift KIND@DAY (DAY: YYYY-MM-DD or a day number from --start):
{drifts}"""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


# a Monday: the demo's days (and the partner profile's closed Saturdays and bank holidays)
# are the same whenever it runs, so it tells the same story every time
DEMO_START = dt.date(2026, 1, 5)


def _simulate_args(p: argparse.ArgumentParser, settings: Settings, days: int,
                   start: dt.date | None = dt.date(2026, 1, 1)) -> None:
    p.add_argument("--profile", choices=["simulator", "partner"], default="simulator",
                   help="which data to simulate: the built-in datasets or a partner team's "
                   "(default: %(default)s)")
    p.add_argument("--landing", default=settings.landing_root,
                   help="landing root: a folder or s3://bucket/prefix (default: %(default)s)")
    p.add_argument("--start", type=_date, default=start,
                   help="first day, YYYY-MM-DD (default: " + (
                       "%(default)s)" if start else "today - DAYS, so the last is yesterday)"))
    p.add_argument("--days", type=int, default=days, help="number of days (default: %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    p.add_argument("--scale", type=float, default=0.1,
                   help="transactions a day = 50,000 x SCALE (default: %(default)s)")
    p.add_argument("--stores", type=int, default=20, help="stores (default: %(default)s)")
    p.add_argument("--items", type=int, default=15, help="items per store (default: %(default)s)")
    p.add_argument("--skus", type=int, default=60,
                   help="partner profile: the shop's skus (default: %(default)s)")
    p.add_argument("--drift", action="append", default=[], metavar="KIND@DAY",
                   help="inject drift from DAY on; repeatable")
    p.add_argument("--transactions-format", choices=["csv", "parquet"], default="csv")


def cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lakeloop.simulate import config_from_args, simulate
    from lakeloop.storage import ObjectStore

    cfg = config_from_args(args)
    started = time.perf_counter()
    with tqdm(total=cfg.days, desc="simulate", unit="day", disable=args.quiet) as bar:
        summary = simulate(cfg, ObjectStore(args.landing, Settings.from_env().s3),
                           progress=lambda _day: bar.update())
    took = f"wrote {summary.days} days to {args.landing} in {time.perf_counter() - started:.1f}s"
    if summary.profile == "partner":
        print(f"{took} (profile partner): {summary.transactions:,} payments "
              f"({summary.fraud_rate:.2%} labelled isFraud=1), {summary.sales_rows:,} shop_sales "
              f"rows over {summary.series} skus on {summary.days - summary.closed_days} open days "
              f"({summary.closed_days} closed: no file)")
        return 0
    delays = sorted(summary.label_delays)
    median = delays[len(delays) // 2] if delays else 0
    print(f"{took}: "
          f"{summary.transactions:,} transactions ({summary.fraud_rate:.2%} fraudulent), "
          f"{summary.labels:,} chargebacks (delay {min(delays, default=0)}-"
          f"{max(delays, default=0)} days, median {median}), "
          f"{summary.sales_rows:,} sales rows over {summary.series} series")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from lakeloop.app.demo_report import report
    from pipelines.demo import run_demo

    run = run_demo(args)
    return report(run.settings, run.domains, run.start, run.last, run.drift_day, run.retrains,
                  run.champions, run.failed)


def cmd_init(args: argparse.Namespace) -> int:
    from pipelines.instance import prepare_home

    home = Path(args.dagster_home)
    existed = (home / "dagster.yaml").exists()
    prepare_home(home)
    print(f"{home / 'dagster.yaml'}: " + ("kept (already there)" if existed else
          "written (SQLite; dead runs retried once, dead workers noticed)"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from lakeloop.simulate.drift import DRIFT_KINDS

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="lakeloop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser(
        "simulate", help="write a simulated landing zone",
        description=SIMULATE_HELP.format(
            drifts="\n".join(f"  {k:13s} {v}" for k, v in DRIFT_KINDS.items())),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _simulate_args(sim, settings, days=14)
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(func=cmd_simulate)

    demo = sub.add_parser(
        "demo", help="simulate days and run the nightly pipeline through Dagster, day by day",
        description="Simulate a landing zone, start `dagster dev` on loopback and submit the "
        "`nightly` jobs for every day to the Dagster instance in DAGSTER_HOME (SQLite by "
        "default); its daemon launches them and ticks the drift sensors. Prints a summary.",
    )
    # the demo's calendar is fixed: the same days, data and story on every run
    _simulate_args(demo, settings, days=112, start=DEMO_START)
    demo.add_argument("--drift-day", type=int, default=70,
                      help="inject fraud concept drift and a demand level shift on this day "
                      "number (0 = none; default: %(default)s)")
    demo.add_argument("--train-after", type=int, default=56,
                      help="train the first fraud model after this many days (default: "
                      "%(default)s)")
    demo.add_argument("--label-window", type=int, default=14,
                      help="days after which the demo treats labels as matured (default: "
                      "%(default)s)")
    demo.add_argument("--lake", default=settings.lake_root, help="lake root (default: %(default)s)")
    demo.add_argument("--fresh", action="store_true",
                      help="delete the demo's lake, landing zone and Dagster home first")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_demo)

    init = sub.add_parser(
        "init", help="give DAGSTER_HOME a working instance config (run retries, monitoring)",
        description="Write dagster.yaml into the Dagster home unless it has one: a local "
        "SQLite instance that re-runs a dead run once and marks a dead worker's run failed.")
    init.add_argument("--dagster-home", default=str(settings.dagster_home),
                      help="default: %(default)s (DAGSTER_HOME)")
    init.set_defaults(func=cmd_init)

    from lakeloop.app.models_cli import add_models_parser
    from lakeloop.app.monitoring_cli import add_monitoring_parser

    add_models_parser(sub)
    add_monitoring_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"lakeloop {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
