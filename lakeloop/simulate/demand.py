"""Store x item daily unit sales with trend, weekly and yearly seasonality, price and promotions.

Series parameters are fixed by the seed; each day draws from its own generator seeded by
``(seed, stream, date)``; trend and yearly phase count from a fixed epoch. So a date's sales do
not depend on the simulated range.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from lakeloop.simulate.calendar import EPOCH, is_holiday

WEEKLY_USUAL = np.array([0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 0.8])  # Mon..Sun
WEEKLY_DRIFTED = np.array([1.0, 1.35, 1.3, 1.0, 0.9, 0.85, 0.7])


@dataclass(frozen=True)
class SeriesParams:
    stores: np.ndarray  # store id per series
    items: np.ndarray  # item id per series
    level: np.ndarray  # base units per day
    growth: np.ndarray  # yearly trend
    weekly_weight: np.ndarray  # how strongly the weekly pattern applies
    yearly_amp: np.ndarray
    yearly_phase: np.ndarray
    base_price: np.ndarray
    elasticity: np.ndarray
    promo_lift: np.ndarray
    item_index: np.ndarray
    store_index: np.ndarray

    @property
    def n(self) -> int:
        return len(self.stores)


def make_series(seed: int, n_stores: int, n_items: int) -> SeriesParams:
    rng = np.random.default_rng([seed, 10])
    store_size = rng.lognormal(0.0, 0.35, n_stores)
    item_level = rng.lognormal(np.log(18.0), 0.8, n_items)
    item_price = np.round(rng.uniform(1.5, 40.0, n_items), 2)
    s_idx, i_idx = (a.ravel() for a in np.meshgrid(np.arange(n_stores), np.arange(n_items),
                                                   indexing="ij"))
    n = n_stores * n_items
    return SeriesParams(
        stores=np.array([f"s{s:02d}" for s in s_idx]),
        items=np.array([f"i{i:03d}" for i in i_idx]),
        level=store_size[s_idx] * item_level[i_idx] * rng.lognormal(0.0, 0.2, n),
        growth=rng.uniform(-0.05, 0.2, n_items)[i_idx],
        weekly_weight=rng.uniform(0.5, 1.2, n_items)[i_idx],
        yearly_amp=rng.uniform(0.0, 0.35, n_items)[i_idx],
        yearly_phase=rng.uniform(0, 2 * np.pi, n_items)[i_idx],
        base_price=item_price[i_idx],
        elasticity=rng.uniform(-1.8, -0.6, n_items)[i_idx],
        promo_lift=rng.uniform(1.15, 1.9, n_items)[i_idx],
        item_index=i_idx,
        store_index=s_idx,
    )


def simulate_sales(params: SeriesParams, seed: int, day: dt.date, drift: frozenset[str]
                   ) -> pl.DataFrame:
    """One row per series for ``day``."""
    t = (day - EPOCH).days
    n_items = int(params.item_index.max()) + 1
    # chain-wide promotions, decided per item and ISO week
    week_rng = np.random.default_rng([seed, 11, (t // 7) % 2**32])  # before EPOCH: wraps
    promo_items = week_rng.random(n_items) < 0.12
    price_noise = week_rng.normal(1.0, 0.02, n_items)
    on_promo = promo_items[params.item_index]
    price = np.round(params.base_price * price_noise[params.item_index]
                     * np.where(on_promo, 0.8, 1.0), 2)

    weekly = WEEKLY_DRIFTED if "seasonality" in drift else WEEKLY_USUAL
    dow = weekly[day.weekday()] ** params.weekly_weight
    yearly = 1.0 + params.yearly_amp * np.sin(2 * np.pi * t / 365.25 + params.yearly_phase)
    trend = 1.0 + params.growth * t / 365.25
    holiday = is_holiday(day)
    mean = (params.level * trend * dow * yearly
            * np.where(on_promo, params.promo_lift, 1.0)
            * (price / params.base_price) ** params.elasticity
            * (1.4 if holiday else 1.0))
    if "demand_level" in drift:
        mean = mean * np.where(params.store_index % 2 == 0, 1.5, 1.0)

    rng = np.random.default_rng([seed, 12, day.toordinal()])
    units = rng.poisson(mean * rng.gamma(12.0, 1 / 12.0, params.n))  # negative binomial
    return pl.DataFrame({
        "date": [day] * params.n,
        "store_id": params.stores,
        "item_id": params.items,
        "units": units.astype(np.int64),
        "price": price,
        "on_promo": on_promo,
        "is_holiday": [holiday] * params.n,
    })
