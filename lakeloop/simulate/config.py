"""Simulator settings, the run summary and file encoding, shared by every profile."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

import polars as pl

from lakeloop.simulate.drift import Drift
from lakeloop.simulate.fraud import BASE_TRANSACTIONS_PER_DAY

# profile -> the datasets (landing folders) it writes
PROFILES: dict[str, tuple[str, ...]] = {
    "simulator": ("transactions", "fraud_labels", "sales"),
    "partner": ("payments", "shop_sales"),
}


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
    profile: str = "simulator"  # simulator | partner (see PROFILES)
    skus: int = 60  # partner profile: the shop's skus

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown simulator profile {self.profile!r}: one of "
                             f"{sorted(PROFILES)}")

    @property
    def transactions_per_day(self) -> int:
        return max(200, round(BASE_TRANSACTIONS_PER_DAY * self.scale))

    @property
    def series(self) -> int:
        return self.skus if self.profile == "partner" else self.stores * self.items

    def day(self, i: int) -> dt.date:
        return self.start + dt.timedelta(days=i)


@dataclass
class SimSummary:
    days: int = 0
    transactions: int = 0  # transactions (simulator) or payments (partner)
    fraudulent: int = 0  # simulator truth, or the partner's isFraud = 1 rows
    labels: int = 0  # chargebacks (simulator only: the partner labels in a column)
    label_delays: list[int] = field(default_factory=list)
    sales_rows: int = 0
    series: int = 0
    files: list[str] = field(default_factory=list)
    profile: str = "simulator"
    closed_days: int = 0  # partner: days the shop was closed (no shop_sales file)

    @property
    def fraud_rate(self) -> float:
        return self.fraudulent / self.transactions if self.transactions else 0.0


def encode(frame: pl.DataFrame, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "csv":
        frame.write_csv(buf, datetime_format="%Y-%m-%dT%H:%M:%S")
    elif fmt == "parquet":
        frame.write_parquet(buf, statistics=False)
    else:
        raise ValueError(f"unknown format {fmt!r}: csv or parquet")
    return buf.getvalue()


EXTENSIONS = {"csv": "csv", "parquet": "parquet"}
