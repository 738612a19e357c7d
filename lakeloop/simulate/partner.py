"""The ``partner`` profile: another team's data, shaped unlike the default simulator's.

Layout written (one folder per dataset and day)::

    payments/date=YYYY-MM-DD/part-0.csv         card payments, every day
    shop_sales/date=YYYY-MM-DD/part-0.parquet   a shop's daily sku sales; no file at all on
                                                Sundays and French public holidays (closed)

Payments (fraud domain): ``TransactionID``, ``isFraud`` (0/1, final in the file; the pipeline
may only trust it 7 days after the event), ``TransactionDT`` (UNIX epoch seconds),
``TransactionAmt``, ``ProductCD``, ``card1`` + ``addr1`` (together: the card), ``P_emaildomain``,
``DeviceInfo`` (hundreds of device strings, mostly missing) and ``V1``..``V60``: anonymous
numbers in six blocks of ten that go missing together; each block's missing share drifts
slowly over the weeks, on quiet days too. About 2% fraud on quiet days:

- risky-looking traffic (product C, anonymous mail domains, big amounts) that turns out
  fraudulent, with V3, V17, V29 and V45 off their usual values;
- stolen-card bursts: 3-8 payments within an hour on one card, product C, high V8 counts;
- synthetic identities: new (card1, addr1) pairs buying big W/R tickets, high V38 and V52;
- ``concept`` drift only: a ring on product S paying from ``mail.com`` with V55-V58 far off
  their usual range (about 3.5% of traffic), which no earlier fraud looked like.

Shop sales (demand domain): ``day``, ``sku``, ``qty`` (intermittent zeros for slow skus,
negative on days returns exceed sales), ``unit_price`` (0.0 for give-aways).

Each day draws from generators seeded by ``(seed, stream, date)`` and phases count from
``EPOCH``, so a date's data does not depend on the simulated range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import holidays
import numpy as np
import polars as pl

from lakeloop.simulate.calendar import EPOCH
from lakeloop.simulate.config import EXTENSIONS, SimConfig, SimSummary, encode
from lakeloop.simulate.drift import active_kinds
from lakeloop.simulate.fraud import HOUR_P
from lakeloop.storage.objects import ObjectStore

PAYMENTS = "payments"
SHOP_SALES = "shop_sales"

# -- payments -------------------------------------------------------------------------------
PRODUCTS = np.array(["C", "H", "R", "S", "W"])
PRODUCT_P = np.array([0.12, 0.06, 0.05, 0.03, 0.74])
PRODUCT_P_COVARIATE = np.array([0.24, 0.07, 0.13, 0.06, 0.50])
PRODUCT_MEDIAN = np.array([28.0, 45.0, 95.0, 32.0, 60.0])
PRODUCT_RISK = np.array([1.7, 0.4, 0.6, 0.5, 0.0])  # log-odds of the scattered fraud
DEVICE_MISSING = np.array([0.15, 0.3, 0.35, 0.3, 0.92])  # W payments carry no identity
EMAILS = np.array(["gmail.com", "yahoo.com", "hotmail.com", "anonymous.com", "aol.com",
                   "outlook.com", "comcast.net", "icloud.com", "mail.com", "protonmail.com"])
EMAIL_P = np.array([0.40, 0.17, 0.12, 0.08, 0.06, 0.05, 0.05, 0.04, 0.02, 0.01])
EMAIL_RISK = np.array([0.0, 0.1, 0.2, 0.9, 0.1, 0.2, 0.0, 0.0, 0.3, 1.3])
WEEKDAY_FACTOR = np.array([1.02, 1.0, 0.98, 1.0, 1.05, 1.0, 0.95])  # Mon..Sun
N_V = 60
V_BLOCK = 10  # V1-V10, V11-V20, ...: a block goes missing together
SCATTERED_SIGNAL = {3: 2.5, 17: 2.0, 29: -1.8, 45: 2.2}  # V column -> shift (in sds)
BURST_SIGNAL = {8: 4.0, 17: 1.5}
SYNTHETIC_SIGNAL = {38: 2.8, 52: -2.2}
CONCEPT_SIGNAL = {55: 6.0, 56: -5.0, 57: 5.5, 58: 7.0}
EPOCH_1970 = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class PartnerPopulation:
    """Cards, devices and the V columns' parameters: fixed by the seed and the volume."""

    card1: np.ndarray
    addr1: np.ndarray
    activity: np.ndarray
    amount_scale: np.ndarray
    email: np.ndarray  # index into EMAILS, -1 = none given
    device: np.ndarray  # index into devices
    devices: np.ndarray
    device_p: np.ndarray
    card1_pool: np.ndarray
    v_count: np.ndarray  # True: a count column (Poisson), else a continuous one
    v_loc: np.ndarray  # Poisson mean / normal mean
    v_sd: np.ndarray
    block_low: np.ndarray  # missing share of each block swings between low and high ...
    block_high: np.ndarray
    block_period: np.ndarray  # ... over this many days (a triangle wave)
    block_phase: np.ndarray

    @property
    def n_cards(self) -> int:
        return len(self.card1)


def _device_vocabulary(rng: np.random.Generator, n: int) -> np.ndarray:
    head = ["Windows", "iOS Device", "MacOS", "Trident/7.0", "rv:11.0", "Linux"]
    letters = np.array(list("ABGJNT"))
    names: dict[str, None] = dict.fromkeys(head)
    while len(names) < n:
        kind = rng.integers(6)
        num = int(rng.integers(100, 999))
        build = "".join(rng.choice(list("ABCDEFHKMNOPQRSTUVWXYZ"), 3)) + str(rng.integers(10, 99))
        if kind == 0:
            name = f"SM-{rng.choice(letters)}{num}{rng.choice(['F', 'U', 'W', 'M'])} Build/{build}"
        elif kind == 1:
            name = f"Moto {rng.choice(list('CEGXZ'))} ({rng.integers(2, 9)}) Build/{build}"
        elif kind == 2:
            name = f"LG-{rng.choice(letters)}{num}"
        elif kind == 3:
            name = f"HUAWEI {rng.choice(['ANE', 'VNS', 'PRA', 'FIG'])}-L{rng.integers(10, 40)}"
        elif kind == 4:
            name = f"Redmi Note {rng.integers(3, 12)} Build/{build}"
        else:
            name = f"Pixel {rng.integers(2, 8)}{rng.choice(['', ' XL', 'a'])} Build/{build}"
        names[name] = None
    return np.array(list(names))


def make_partner_population(seed: int, transactions_per_day: int) -> PartnerPopulation:
    rng = np.random.default_rng([seed, 20])
    n_cards = max(400, 2 * transactions_per_day)
    n_card1 = max(100, n_cards // 4)  # several cards share a card1: the card is (card1, addr1)
    card1_pool = 1000 + rng.choice(17_400, n_card1, replace=False)
    code = rng.choice(n_card1 * 441, n_cards, replace=False)  # distinct (card1, addr1) pairs
    devices = _device_vocabulary(rng, 600)
    weight = 1.0 / np.arange(1, len(devices) + 1) ** 1.05  # a long tail
    weight[:6] *= 8.0
    device_p = weight / weight.sum()
    email = rng.choice(len(EMAILS), n_cards, p=EMAIL_P)
    email[rng.random(n_cards) < 0.08] = -1
    activity = rng.gamma(0.8, 1.0, n_cards)
    n_blocks = N_V // V_BLOCK
    # a quiet wander of a few points over months (a block going missing at once, or a
    # trend that builds up far enough, is what the drift monitor's missingness signal sees)
    low = rng.uniform(0.02, 0.25, n_blocks)
    high = np.minimum(0.9, low + rng.uniform(0.03, 0.08, n_blocks))
    high[0] = low[0] = 0.03  # the first block is almost always there
    return PartnerPopulation(
        card1=card1_pool[code // 441],
        addr1=100 + code % 441,
        activity=activity / activity.sum(),
        amount_scale=rng.lognormal(0.0, 0.5, n_cards),
        email=email,
        device=rng.choice(len(devices), n_cards, p=device_p),
        devices=devices,
        device_p=device_p,
        card1_pool=card1_pool,
        v_count=rng.random(N_V) < 0.4,
        v_loc=rng.uniform(0.3, 4.0, N_V),
        v_sd=rng.uniform(0.5, 3.0, N_V),
        block_low=low,
        block_high=high,
        block_period=rng.uniform(100, 200, n_blocks),
        block_phase=rng.uniform(0, 1, n_blocks),
    )


def block_missing_share(pop: PartnerPopulation, day: dt.date) -> np.ndarray:
    """Each V block's missing share on ``day``: a slow triangle wave between low and high."""
    cycle = ((day - EPOCH).days / pop.block_period + pop.block_phase) % 1.0
    tri = 1.0 - np.abs(2.0 * cycle - 1.0)  # 0 -> 1 -> 0
    return pop.block_low + (pop.block_high - pop.block_low) * tri


def _rng(seed: int, stream: int, day: dt.date) -> np.random.Generator:
    return np.random.default_rng([seed, stream, day.toordinal()])


def _seconds(rng: np.random.Generator, n: int, hour_p: np.ndarray) -> np.ndarray:
    return rng.choice(24, n, p=hour_p) * 3600 + rng.integers(0, 3600, n)


def simulate_payments(pop: PartnerPopulation, seed: int, day: dt.date, per_day: int,
                      drift: frozenset[str]) -> pl.DataFrame:
    """One day of payments, sorted by time; ``isFraud`` is the final label."""
    rng = _rng(seed, 21, day)
    scale = per_day / 5_000  # fraud volumes below are tuned per 5k payments
    covariate = "covariate" in drift
    n = rng.poisson(per_day * WEEKDAY_FACTOR[day.weekday()])
    parts: list[dict[str, np.ndarray]] = []

    def part(card: np.ndarray, secs: np.ndarray, product: np.ndarray, amount: np.ndarray,
             pattern: str, email: np.ndarray | None = None,
             card1: np.ndarray | None = None, addr1: np.ndarray | None = None) -> None:
        k = len(card)
        if email is None:
            email = pop.email[card].copy()
            switch = rng.random(k) < 0.1
            email[switch] = rng.choice(len(EMAILS), switch.sum(), p=EMAIL_P)
        parts.append({
            "card": card, "secs": secs, "product": product, "amount": amount, "email": email,
            "card1": pop.card1[card] if card1 is None else card1,
            "addr1": pop.addr1[card] if addr1 is None else addr1,
            "pattern": np.full(k, pattern, dtype="U12"),
        })

    # genuine traffic, part of which (risky-looking) turns out fraudulent below
    card = rng.choice(pop.n_cards, n, p=pop.activity)
    product = rng.choice(len(PRODUCTS), n, p=PRODUCT_P_COVARIATE if covariate else PRODUCT_P)
    amount = PRODUCT_MEDIAN[product] * pop.amount_scale[card] * rng.lognormal(0.0, 0.7, n)
    tail = rng.random(n) < 0.03
    amount[tail] *= rng.pareto(1.4, tail.sum()) + 1.0
    part(card, _seconds(rng, n, HOUR_P), product, amount, "")
    email = parts[0]["email"]
    logit = (-5.5 + PRODUCT_RISK[product] + np.where(email < 0, 0.4, EMAIL_RISK[email])
             + 0.45 * np.log(amount / 60.0).clip(-2, 4))
    scattered = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    parts[0]["pattern"][scattered] = "scattered"

    # stolen-card bursts: one card, 3-8 product-C payments within an hour
    for _ in range(rng.poisson(4.0 * scale)):
        k = int(rng.integers(3, 9))
        c = rng.integers(pop.n_cards)
        start = _seconds(rng, 1, HOUR_P)[0]
        part(np.full(k, c), start + np.sort(rng.integers(0, 3600, k)), np.zeros(k, int),
             rng.uniform(20, 400, k), "burst",
             email=rng.choice([3, 9, -1], k))  # anonymous.com, protonmail.com, none

    # synthetic identities: unseen (card1, addr1) pairs buying big W/R tickets
    k = rng.poisson(25.0 * scale)
    if k:
        part(rng.choice(pop.n_cards, k), _seconds(rng, k, np.roll(HOUR_P, 4)),
             rng.choice([2, 4], k), rng.lognormal(np.log(350.0), 0.5, k), "synthetic",
             card1=rng.choice(pop.card1_pool, k), addr1=rng.integers(100, 541, k))

    # concept drift: a ring on product S paying from mail.com, V55-V58 far off (~3.5%)
    if "concept" in drift:
        k = rng.poisson(0.035 * n)
        part(rng.choice(pop.n_cards, k, p=pop.activity), _seconds(rng, k, np.roll(HOUR_P, 9)),
             np.full(k, 3), rng.uniform(30, 150, k), "ring", email=np.full(k, 8))

    cols = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    m = len(cols["card"])
    pattern = cols["pattern"]
    if covariate:
        cols["amount"] = cols["amount"] * 1.6

    # devices: the card's usual one, sometimes another; missing for most W payments
    device = pop.device[cols["card"]].copy()
    other = rng.random(m) < 0.15
    other |= np.isin(pattern, ["burst", "synthetic"])  # fraud comes from strange devices
    device[other] = rng.choice(len(pop.devices), other.sum(), p=pop.device_p)
    device_name = pop.devices[device].astype(object)
    device_name[rng.random(m) < DEVICE_MISSING[cols["product"]]] = None
    email_name = np.where(cols["email"] < 0, 0, cols["email"])
    email_name = EMAILS[email_name].astype(object)
    email_name[(cols["email"] < 0) | (rng.random(m) < 0.04)] = None

    # V columns: counts or continuous values, shifted by the fraud patterns, missing in blocks
    v = np.where(pop.v_count, rng.poisson(np.broadcast_to(pop.v_loc, (m, N_V))).astype(float),
                 np.round(rng.normal(pop.v_loc, pop.v_sd, (m, N_V)), 4))
    for name, signal in (("scattered", SCATTERED_SIGNAL), ("burst", BURST_SIGNAL),
                         ("synthetic", SYNTHETIC_SIGNAL), ("ring", CONCEPT_SIGNAL)):
        rows = np.flatnonzero(pattern == name)
        for col, shift in signal.items():
            j = col - 1
            step = shift * (np.sqrt(pop.v_loc[j]) if pop.v_count[j] else pop.v_sd[j])
            noisy = step * rng.uniform(0.5, 1.5, len(rows))
            v[rows, j] = np.maximum(0, v[rows, j] + np.round(noisy)) if pop.v_count[j] \
                else np.round(v[rows, j] + noisy, 4)
    share = block_missing_share(pop, day)
    gone = rng.random((m, len(share))) < share
    gone[pattern == "ring", -1] = False  # the ring's odd values are there to be seen
    v[np.repeat(gone, V_BLOCK, axis=1)] = np.nan

    base = (day - EPOCH_1970).days * 86_400
    frame = pl.DataFrame({
        "isFraud": (pattern != "").astype(np.int64),
        "TransactionDT": base + cols["secs"].clip(0, 86_399).astype(np.int64),
        "TransactionAmt": np.round(np.clip(cols["amount"], 0.25, 30_000.0), 2),
        "ProductCD": PRODUCTS[cols["product"]],
        "card1": cols["card1"].astype(np.int64),
        "addr1": cols["addr1"].astype(np.int64),
        "P_emaildomain": pl.Series(email_name.tolist(), dtype=pl.String),
        "DeviceInfo": pl.Series(device_name.tolist(), dtype=pl.String),
        **{f"V{j + 1}": pl.Series(v[:, j], nan_to_null=True) for j in range(N_V)},
    }).sort(["TransactionDT", "card1", "addr1", "TransactionAmt"], maintain_order=True)
    ids = pl.lit(f"P{day:%Y%m%d}") + pl.int_range(pl.len()).cast(pl.String).str.zfill(6)
    return frame.select(ids.alias("TransactionID"), pl.all())


# -- shop sales -----------------------------------------------------------------------------
WEEKLY_OPEN = np.array([0.8, 0.85, 0.9, 1.0, 1.2, 1.5, 0.0])  # Mon..Sat, closed on Sunday
WEEKLY_OPEN_DRIFTED = np.array([1.35, 1.3, 1.15, 0.95, 0.8, 0.7, 0.0])


@cache
def french_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("FR", years=year))


def shop_closed(day: dt.date) -> bool:
    """Sundays and French public holidays: the shop is closed and writes no file."""
    return day.weekday() == 6 or day in french_holidays(day.year)


@dataclass(frozen=True)
class Shop:
    skus: np.ndarray
    level: np.ndarray
    growth: np.ndarray
    weekly_weight: np.ndarray
    yearly_amp: np.ndarray
    yearly_phase: np.ndarray
    base_price: np.ndarray

    @property
    def n(self) -> int:
        return len(self.skus)


def make_shop(seed: int, n_skus: int) -> Shop:
    rng = np.random.default_rng([seed, 30])
    return Shop(
        skus=np.array([f"sku-{i + 1:04d}" for i in range(n_skus)]),
        level=rng.lognormal(np.log(3.0), 1.2, n_skus),  # many slow skus: intermittent zeros
        growth=rng.uniform(-0.1, 0.3, n_skus),
        weekly_weight=rng.uniform(0.4, 1.3, n_skus),
        yearly_amp=rng.uniform(0.0, 0.3, n_skus),
        yearly_phase=rng.uniform(0, 2 * np.pi, n_skus),
        base_price=np.round(rng.lognormal(np.log(12.0), 0.8, n_skus), 2),
    )


def simulate_shop_sales(shop: Shop, seed: int, day: dt.date, drift: frozenset[str]
                        ) -> pl.DataFrame:
    """One row per sku for an open ``day``."""
    t = (day - EPOCH).days
    week_rng = np.random.default_rng([seed, 31, (t // 7) % 2**32])  # before EPOCH: wraps
    price = np.round(shop.base_price * week_rng.normal(1.0, 0.03, shop.n), 2)
    weekly = WEEKLY_OPEN_DRIFTED if "seasonality" in drift else WEEKLY_OPEN
    mean = (shop.level * (1.0 + shop.growth * t / 365.25)
            * weekly[day.weekday()] ** shop.weekly_weight
            * (1.0 + shop.yearly_amp * np.sin(2 * np.pi * t / 365.25 + shop.yearly_phase)))
    if "demand_level" in drift:
        mean = mean * np.where(np.arange(shop.n) % 2 == 0, 1.5, 1.0)
    rng = np.random.default_rng([seed, 32, day.toordinal()])
    qty = rng.poisson(mean * rng.gamma(4.0, 0.25, shop.n)).astype(float)  # negative binomial
    returns = rng.random(shop.n) < 0.08
    qty[returns] -= 1 + rng.poisson(0.8, returns.sum())  # net of returns: may go negative
    giveaway = ~returns & (rng.random(shop.n) < 0.03)
    price[giveaway] = 0.0
    qty[giveaway] = 1 + rng.poisson(1.0, giveaway.sum())
    return pl.DataFrame({
        "day": [day] * shop.n,
        "sku": shop.skus,
        "qty": qty,
        "unit_price": price,
    })


def simulate_partner(cfg: SimConfig, landing: ObjectStore,
                     progress: Callable[[dt.date], None] | None = None) -> SimSummary:
    """Write ``cfg.days`` days of payments and (on open days) shop sales into ``landing``."""
    pop = make_partner_population(cfg.seed, cfg.transactions_per_day)
    shop = make_shop(cfg.seed, cfg.skus)
    summary = SimSummary(series=shop.n, profile="partner")
    for i in range(cfg.days):
        day = cfg.day(i)
        stamp = f"date={day.isoformat()}"
        drift = active_kinds(cfg.drifts, day)
        pay = simulate_payments(pop, cfg.seed, day, cfg.transactions_per_day, drift)
        fmt = cfg.transactions_format
        summary.files.append(landing.write_bytes(encode(pay, fmt), PAYMENTS, stamp,
                                                 f"part-0.{EXTENSIONS[fmt]}"))
        summary.transactions += pay.height
        summary.fraudulent += int(pay["isFraud"].sum())
        if shop_closed(day):
            summary.closed_days += 1
        else:
            sales = simulate_shop_sales(shop, cfg.seed, day, drift)
            fmt = cfg.sales_format
            summary.files.append(landing.write_bytes(encode(sales, fmt), SHOP_SALES, stamp,
                                                     f"part-0.{EXTENSIONS[fmt]}"))
            summary.sales_rows += sales.height
        summary.days += 1
        if progress:
            progress(day)
    return summary
