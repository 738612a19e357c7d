"""The embedded default data source: a seeded simulator that writes a landing zone.

Layout written, as a real upstream would (one folder per dataset and day)::

    transactions/date=YYYY-MM-DD/part-0.csv     card transactions
    fraud_labels/date=YYYY-MM-DD/part-0.csv     chargebacks reported that day
    sales/date=YYYY-MM-DD/part-0.parquet        store x item unit sales

Same seed and arguments give byte-identical files. That is the default ``simulator`` profile;
``SimConfig(profile="partner")`` writes another team's data instead (see ``partner.py``)::

    payments/date=YYYY-MM-DD/part-0.csv         card payments with a 0/1 isFraud column
    shop_sales/date=YYYY-MM-DD/part-0.parquet   a shop's sku sales (no file on closed days)

Modules: ``config`` (settings, summary, file encoding), ``calendar`` (the simulator's clock
and holidays), ``fraud`` and ``demand`` (the default profile's two datasets), ``partner``
(the other team's profile), ``drift`` (``KIND@DAY`` injections).
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl

from lakeloop.simulate.config import EXTENSIONS, PROFILES, SimConfig, SimSummary, encode
from lakeloop.simulate.demand import make_series, simulate_sales
from lakeloop.simulate.drift import DRIFT_KINDS, Drift, active_kinds, parse_drift
from lakeloop.simulate.fraud import (
    MAX_LABEL_DELAY_DAYS,
    chargebacks,
    make_population,
    simulate_transactions,
)
from lakeloop.storage.objects import ObjectStore

__all__ = ["DRIFT_KINDS", "PROFILES", "Drift", "SimConfig", "SimSummary", "config_from_args",
           "parse_drift", "simulate"]


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The simulator settings of ``lakeloop simulate`` and ``lakeloop demo`` (their shared
    options: start, days, seed, scale, shape, drifts, format, profile)."""
    return SimConfig(
        start=args.start, days=args.days, seed=args.seed, scale=args.scale,
        stores=args.stores, items=args.items,
        drifts=tuple(parse_drift(d, args.start) for d in args.drift),
        transactions_format=args.transactions_format,
        profile=args.profile, skus=args.skus,
    )


def simulate(
    cfg: SimConfig,
    landing: ObjectStore,
    progress: Callable[[dt.date], None] | None = None,
) -> SimSummary:
    """Write ``cfg.days`` days of the profile's datasets into ``landing``."""
    if cfg.profile == "partner":
        from lakeloop.simulate.partner import simulate_partner

        return simulate_partner(cfg, landing, progress)
    pop = make_population(cfg.seed, cfg.transactions_per_day)
    series = make_series(cfg.seed, cfg.stores, cfg.items)
    summary = SimSummary(series=series.n)
    pending: dict[dt.date, list[pl.DataFrame]] = {}

    def day_transactions(day: dt.date) -> pl.DataFrame:
        tx = simulate_transactions(pop, cfg.seed, day, cfg.transactions_per_day,
                                   active_kinds(cfg.drifts, day))
        cb = chargebacks(tx, cfg.seed, day)
        for (reported,), part in cb.partition_by("reported_date", as_dict=True).items():
            pending.setdefault(reported, []).append(part)
        return tx

    # Chargebacks reported in the first month come from transactions before the start.
    for back in range(MAX_LABEL_DELAY_DAYS, 0, -1):
        day_transactions(cfg.start - dt.timedelta(days=back))

    ext = EXTENSIONS
    for i in range(cfg.days):
        day = cfg.day(i)
        stamp = f"date={day.isoformat()}"
        tx = day_transactions(day)
        labels = pl.concat(pending.pop(day, []) or [chargebacks(tx.clear(), cfg.seed, day)])
        labels = labels.sort("chargeback_id")
        sales = simulate_sales(series, cfg.seed, day, active_kinds(cfg.drifts, day))
        summary.files += [
            landing.write_bytes(encode(tx.drop("pattern"), cfg.transactions_format),
                                "transactions", stamp, f"part-0.{ext[cfg.transactions_format]}"),
            landing.write_bytes(encode(labels, "csv"), "fraud_labels", stamp, "part-0.csv"),
            landing.write_bytes(encode(sales, cfg.sales_format), "sales", stamp,
                                f"part-0.{ext[cfg.sales_format]}"),
        ]
        summary.days += 1
        summary.transactions += tx.height
        summary.fraudulent += tx.filter(pl.col("pattern") != "").height
        summary.labels += labels.height
        delays = (labels["reported_date"] - labels["tx_ts"].dt.date()).dt.total_days()
        summary.label_delays += delays.to_list()
        summary.sales_rows += sales.height
        if progress:
            progress(day)
    return summary


def profile_contracts(profile: str) -> Path | None:
    """The contracts folder of a built-in profile (None: the built-in default contracts)."""
    if profile == "simulator":
        return None
    from lakeloop.contracts import BUILTIN_DIR

    folder = BUILTIN_DIR / "profiles" / profile
    if not folder.is_dir():
        raise ValueError(f"no contracts for simulator profile {profile!r} under {folder}")
    return folder
