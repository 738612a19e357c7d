"""The embedded default data source: a seeded simulator that writes a landing zone.

Layout written, as a real upstream would (one folder per dataset and day)::

    transactions/date=YYYY-MM-DD/part-0.csv     card transactions
    fraud_labels/date=YYYY-MM-DD/part-0.csv     chargebacks reported that day
    sales/date=YYYY-MM-DD/part-0.parquet        store x item unit sales

Same seed and arguments give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from lakeloop.simulate.demand import make_series, simulate_sales
from lakeloop.simulate.drift import DRIFT_KINDS, Drift, active_kinds, parse_drift
from lakeloop.simulate.fraud import (
    BASE_TRANSACTIONS_PER_DAY,
    MAX_LABEL_DELAY_DAYS,
    chargebacks,
    make_population,
    simulate_transactions,
)
from lakeloop.storage.objects import ObjectStore

__all__ = ["DRIFT_KINDS", "Drift", "SimConfig", "SimSummary", "parse_drift", "simulate"]


@dataclass(frozen=True)
class SimConfig:
    start: dt.date
    days: int
    seed: int = 7
    scale: float = 0.1  # 1.0 = 50,000 transactions a day
    stores: int = 20
    items: int = 15
    drifts: tuple[Drift, ...] = ()
    transactions_format: str = "csv"
    sales_format: str = "parquet"

    @property
    def transactions_per_day(self) -> int:
        return max(200, round(BASE_TRANSACTIONS_PER_DAY * self.scale))

    @property
    def series(self) -> int:
        return self.stores * self.items

    def day(self, i: int) -> dt.date:
        return self.start + dt.timedelta(days=i)


@dataclass
class SimSummary:
    days: int = 0
    transactions: int = 0
    fraudulent: int = 0
    labels: int = 0
    label_delays: list[int] = field(default_factory=list)
    sales_rows: int = 0
    series: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def fraud_rate(self) -> float:
        return self.fraudulent / self.transactions if self.transactions else 0.0


def _encode(frame: pl.DataFrame, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "csv":
        frame.write_csv(buf, datetime_format="%Y-%m-%dT%H:%M:%S")
    elif fmt == "parquet":
        frame.write_parquet(buf, statistics=False)
    else:
        raise ValueError(f"unknown format {fmt!r}: csv or parquet")
    return buf.getvalue()


def simulate(
    cfg: SimConfig,
    landing: ObjectStore,
    progress: Callable[[dt.date], None] | None = None,
) -> SimSummary:
    """Write ``cfg.days`` days of all three datasets into ``landing``."""
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

    for i in range(cfg.days):
        day = cfg.day(i)
        stamp = f"date={day.isoformat()}"
        tx = day_transactions(day)
        labels = pl.concat(pending.pop(day, []) or [chargebacks(tx.clear(), cfg.seed, day)])
        labels = labels.sort("chargeback_id")
        sales = simulate_sales(series, cfg.seed, day, active_kinds(cfg.drifts, day))
        ext = {"csv": "csv", "parquet": "parquet"}
        summary.files += [
            landing.write_bytes(_encode(tx.drop("pattern"), cfg.transactions_format),
                                "transactions", stamp, f"part-0.{ext[cfg.transactions_format]}"),
            landing.write_bytes(_encode(labels, "csv"), "fraud_labels", stamp, "part-0.csv"),
            landing.write_bytes(_encode(sales, cfg.sales_format), "sales", stamp,
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
