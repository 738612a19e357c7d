"""Card transactions and their chargebacks, simulated with the structure fraud teams see.

Everything is vectorised NumPy; each day draws from its own generator seeded by
``(seed, stream, date)``, so a given date's data does not depend on which range was asked for.

Fraud patterns (about 0.5% of transactions on quiet days):
- card testing: a stolen card makes a burst of tiny e-commerce payments within minutes;
- account takeover: a few high-value e-commerce payments abroad from a new device;
- compromised merchant: for ten-day spells some merchants process inflated fraudulent sales;
- bot ring (only with ``concept`` drift): night-time bursts on leaked cards from emulated
  devices, about 4% of traffic; reported fast (1-4 days).
Chargebacks (labels) are reported 1-30 days after the transaction (median about a week).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from lakeloop.simulate.calendar import EPOCH  # fixes phases: a date is independent of --start

BASE_TRANSACTIONS_PER_DAY = 50_000
MAX_LABEL_DELAY_DAYS = 30

COUNTRIES = np.array(["DE", "FR", "GB", "US", "NL", "ES", "IT", "SE", "PL", "CH"])
COUNTRY_P = np.array([0.22, 0.15, 0.14, 0.12, 0.08, 0.08, 0.08, 0.05, 0.05, 0.03])
CURRENCY = {"DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR", "IT": "EUR", "GB": "GBP",
            "US": "USD", "SE": "SEK", "PL": "PLN", "CH": "CHF"}
# category: (share of merchants, median amount, channel probabilities pos/ecom/contactless/atm)
CATEGORIES: dict[str, tuple[float, float, tuple[float, float, float, float]]] = {
    "grocery": (0.20, 32.0, (0.45, 0.05, 0.50, 0.0)),
    "restaurant": (0.15, 28.0, (0.40, 0.05, 0.55, 0.0)),
    "fuel": (0.07, 55.0, (0.60, 0.0, 0.40, 0.0)),
    "retail": (0.15, 45.0, (0.40, 0.30, 0.30, 0.0)),
    "electronics": (0.06, 180.0, (0.40, 0.50, 0.10, 0.0)),
    "travel": (0.05, 260.0, (0.10, 0.85, 0.05, 0.0)),
    "online_services": (0.08, 15.0, (0.0, 1.0, 0.0, 0.0)),
    "gaming": (0.04, 20.0, (0.0, 1.0, 0.0, 0.0)),
    "pharmacy": (0.06, 22.0, (0.45, 0.10, 0.45, 0.0)),
    "entertainment": (0.07, 35.0, (0.30, 0.50, 0.20, 0.0)),
    "jewelry": (0.02, 400.0, (0.70, 0.25, 0.05, 0.0)),
    "cash_advance": (0.05, 120.0, (0.0, 0.0, 0.0, 1.0)),
}
CATEGORY_NAMES = np.array(list(CATEGORIES))
CATEGORY_ORDER = np.argsort(CATEGORY_NAMES)
CATEGORY_MEDIAN = np.array([c[1] for c in CATEGORIES.values()])
CHANNELS = np.array(["pos", "ecom", "contactless", "atm"])
DEVICES = {  # channel -> (devices, probabilities)
    "pos": (["chip", "swipe"], [0.9, 0.1]),
    "ecom": (["web_browser", "mobile_app"], [0.55, 0.45]),
    "contactless": (["contactless_card", "mobile_wallet"], [0.6, 0.4]),
    "atm": (["chip"], [1.0]),
}
HOUR_PROFILE = np.array([0.6, 0.35, 0.25, 0.2, 0.25, 0.5, 1.2, 2.5, 4.0, 4.8, 5.2, 6.0,
                         7.0, 6.2, 5.4, 5.2, 5.6, 6.5, 7.2, 6.8, 5.4, 3.8, 2.4, 1.3])
HOUR_P = HOUR_PROFILE / HOUR_PROFILE.sum()
WEEKDAY_FACTOR = np.array([0.95, 0.97, 1.0, 1.03, 1.1, 1.15, 0.85])  # Mon..Sun

TRANSACTION_SCHEMA = {
    "transaction_id": pl.String, "ts": pl.Datetime("us"), "card_id": pl.String,
    "merchant_id": pl.String, "merchant_category": pl.String, "amount": pl.Float64,
    "currency": pl.String, "country": pl.String, "channel": pl.String, "device": pl.String,
}


@dataclass(frozen=True)
class Population:
    """Cards and merchants: fixed by the seed and the volume, shared by every day."""

    card_country: np.ndarray
    card_activity: np.ndarray  # probability of being the payer of a transaction
    card_amount_scale: np.ndarray
    merchant_category: np.ndarray
    merchant_country: np.ndarray
    merchant_popularity: np.ndarray

    @property
    def merchant_category_code(self) -> np.ndarray:
        return np.searchsorted(CATEGORY_NAMES, self.merchant_category, sorter=CATEGORY_ORDER)

    @property
    def n_cards(self) -> int:
        return len(self.card_country)

    @property
    def n_merchants(self) -> int:
        return len(self.merchant_category)


def make_population(seed: int, transactions_per_day: int) -> Population:
    rng = np.random.default_rng([seed, 0])
    n_cards = max(400, 2 * transactions_per_day)
    n_merchants = max(150, transactions_per_day // 25)
    activity = rng.gamma(0.8, 1.0, n_cards)
    shares = np.array([c[0] for c in CATEGORIES.values()])
    popularity = rng.pareto(1.3, n_merchants) + 1.0
    return Population(
        card_country=rng.choice(COUNTRIES, n_cards, p=COUNTRY_P),
        card_activity=activity / activity.sum(),
        card_amount_scale=rng.lognormal(0.0, 0.45, n_cards),
        merchant_category=rng.choice(CATEGORY_NAMES, n_merchants, p=shares / shares.sum()),
        merchant_country=rng.choice(COUNTRIES, n_merchants, p=COUNTRY_P),
        merchant_popularity=popularity / popularity.sum(),
    )


def _rng(seed: int, stream: int, day: dt.date) -> np.random.Generator:
    return np.random.default_rng([seed, stream, day.toordinal()])


def _times(rng: np.random.Generator, day: dt.date, n: int, hour_p: np.ndarray) -> np.ndarray:
    hours = rng.choice(24, n, p=hour_p)
    seconds = hours * 3600 + rng.integers(0, 3600, n)
    base = np.datetime64(day.isoformat(), "s")
    return base + seconds.astype("timedelta64[s]")


def _devices(rng: np.random.Generator, channels: np.ndarray) -> np.ndarray:
    out = np.empty(len(channels), dtype="U20")
    for channel, (names, probs) in DEVICES.items():
        mask = channels == channel
        out[mask] = rng.choice(names, mask.sum(), p=probs)
    return out


def _merchant_channel(rng: np.random.Generator, categories: np.ndarray, ecom_boost: float
                      ) -> np.ndarray:
    out = np.empty(len(categories), dtype="U20")
    for name, (_, _, probs) in CATEGORIES.items():
        mask = categories == name
        p = np.array(probs, dtype=float)
        p[1] *= ecom_boost
        out[mask] = rng.choice(CHANNELS, mask.sum(), p=p / p.sum())
    return out


def _frame(cols: dict[str, np.ndarray | list], pattern: np.ndarray) -> dict:
    cols["pattern"] = pattern
    return cols


def simulate_transactions(
    pop: Population, seed: int, day: dt.date, per_day: int, drift: frozenset[str]
) -> pl.DataFrame:
    """One day's transactions, sorted by time, with ground truth in ``pattern`` ('' = genuine).

    ``pattern`` is simulator truth: only the chargebacks (labels) reveal it to the pipeline.
    """
    rng = _rng(seed, 1, day)
    scale = per_day / 5_000  # fraud volumes below are tuned per 5k transactions
    covariate = "covariate" in drift
    n = rng.poisson(per_day * WEEKDAY_FACTOR[day.weekday()])

    # genuine traffic
    card = rng.choice(pop.n_cards, n, p=pop.card_activity)
    merchant = rng.choice(pop.n_merchants, n, p=pop.merchant_popularity)
    category = pop.merchant_category[merchant]
    median = CATEGORY_MEDIAN[pop.merchant_category_code[merchant]]
    amount = median * pop.card_amount_scale[card] * rng.lognormal(0.0, 0.6, n)
    tail = rng.random(n) < 0.02
    amount[tail] *= rng.pareto(1.6, tail.sum()) + 1.0
    if covariate:
        amount *= 1.6
    parts = [_frame({
        "ts": _times(rng, day, n, HOUR_P),
        "card": card,
        "merchant": merchant,
        "amount": amount,
        "channel": _merchant_channel(rng, category, 3.0 if covariate else 1.0),
    }, np.full(n, "", dtype="U20"))]

    # card testing: bursts of tiny e-commerce payments, then one big one
    online = np.flatnonzero(np.isin(pop.merchant_category, ["online_services", "gaming"]))
    big_ticket = np.flatnonzero(np.isin(pop.merchant_category, ["electronics", "jewelry"]))
    for _ in range(rng.poisson(1.0 * scale)):
        k = int(rng.integers(5, 16))
        start = _times(rng, day, 1, HOUR_P)[0]
        offsets = np.sort(rng.integers(0, 20 * 60, k)).astype("timedelta64[s]")
        c = rng.integers(pop.n_cards)
        parts.append(_frame({
            "ts": np.append(start + offsets, start + offsets[-1] + np.timedelta64(900, "s")),
            "card": np.full(k + 1, c),
            "merchant": np.append(rng.choice(online, k), rng.choice(big_ticket)),
            "amount": np.append(rng.uniform(0.5, 3.0, k), rng.uniform(300, 1500)),
            "channel": np.full(k + 1, "ecom", dtype="U20"),
        }, np.full(k + 1, "card_testing", dtype="U20")))

    # account takeover: a few high-value e-commerce payments abroad
    for _ in range(rng.poisson(1.5 * scale)):
        k = int(rng.integers(2, 7))
        c = rng.integers(pop.n_cards)
        start = _times(rng, day, 1, HOUR_P)[0]
        offsets = np.sort(rng.integers(0, 6 * 3600, k)).astype("timedelta64[s]")
        parts.append(_frame({
            "ts": start + offsets,
            "card": np.full(k, c),
            "merchant": rng.choice(big_ticket, k),
            "amount": pop.card_amount_scale[c] * rng.uniform(250, 900, k),
            "channel": np.full(k, "ecom", dtype="U20"),
        }, np.full(k, "account_takeover", dtype="U20")))

    # compromised merchants: ten-day spells, inflated fraudulent sales among genuine ones
    # a seed word must be non-negative: days before EPOCH wrap (days after keep their stream)
    spell_rng = np.random.default_rng([seed, 2, ((day - EPOCH).days // 10) % 2**32])
    bad = spell_rng.choice(pop.n_merchants, max(1, round(2 * scale)), replace=False)
    k = rng.poisson(8.0 * scale)
    if k:
        parts.append(_frame({
            "ts": _times(rng, day, k, np.roll(HOUR_P, 6)),  # skewed to night time
            "card": rng.choice(pop.n_cards, k, p=pop.card_activity),
            "merchant": rng.choice(bad, k),
            "amount": rng.uniform(150, 700, k),
            "channel": rng.choice(["pos", "ecom"], k),
        }, np.full(k, "compromised_merchant", dtype="U20")))

    # concept drift: a bot ring nobody has seen before works through a batch of leaked
    # cards, one burst per card, at night, from emulated devices (~4% of the day's traffic)
    if "concept" in drift:
        for _ in range(rng.poisson(30 * scale)):
            k = int(rng.integers(4, 11))
            start = _times(rng, day, 1, np.roll(HOUR_P, 10))[0]
            offsets = np.sort(rng.integers(0, 3600, k)).astype("timedelta64[s]")
            parts.append(_frame({
                "ts": start + offsets,
                "card": np.full(k, rng.integers(pop.n_cards)),
                "merchant": rng.choice(online, k),
                "amount": rng.uniform(20, 200, k),
                "channel": np.full(k, "ecom", dtype="U20"),
            }, np.full(k, "bot_ring", dtype="U20")))

    cols = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    device = _devices(rng, cols["channel"])
    device[cols["pattern"] == "account_takeover"] = "web_browser"
    device[cols["pattern"] == "bot_ring"] = "emulator"
    merchant = cols["merchant"]
    country = pop.merchant_country[merchant]
    ato = cols["pattern"] == "account_takeover"
    country[ato] = rng.choice(["US", "GB", "ES"], ato.sum())
    # end-of-day bursts must not spill into tomorrow's file
    end = np.datetime64(day.isoformat(), "s") + np.timedelta64(86_399, "s")
    ts = np.minimum(cols["ts"], end)
    frame = pl.DataFrame({
        "ts": ts.astype("datetime64[us]"),
        "card": cols["card"],
        "merchant": merchant,
        "merchant_category": pop.merchant_category[merchant],
        "amount": np.round(np.clip(cols["amount"], 0.01, 50_000.0), 2),
        "country": country,
        "channel": cols["channel"],
        "device": device,
        "pattern": cols["pattern"],
    }).sort(["ts", "card", "merchant", "amount"])
    return frame.with_columns(
        transaction_id=pl.lit(f"t{day:%Y%m%d}") + pl.int_range(pl.len()).cast(pl.String)
        .str.zfill(7),
        card_id=pl.lit("c") + pl.col("card").cast(pl.String).str.zfill(6),
        merchant_id=pl.lit("m") + pl.col("merchant").cast(pl.String).str.zfill(5),
        currency=pl.col("country").replace_strict(CURRENCY),
    ).select([*TRANSACTION_SCHEMA, "pattern"])


def chargebacks(transactions: pl.DataFrame, seed: int, day: dt.date) -> pl.DataFrame:
    """Chargebacks for ``day``'s fraudulent transactions, each with its reporting date."""
    fraud = transactions.filter(pl.col("pattern") != "")
    rng = _rng(seed, 3, day)
    delay = 1 + np.minimum(MAX_LABEL_DELAY_DAYS - 1, rng.gamma(2.0, 4.0, fraud.height).astype(int))
    # issuers flag bot attacks within days: their chargebacks arrive after 1-4 days
    bots = (fraud["pattern"] == "bot_ring").to_numpy()
    delay[bots] = 1 + np.minimum(3, rng.poisson(1.0, bots.sum()))
    return fraud.select(
        chargeback_id=pl.lit("cb_") + pl.col("transaction_id"),
        transaction_id="transaction_id",
        card_id="card_id",
        merchant_id="merchant_id",
        tx_ts="ts",
        reported_date=pl.lit(day) + pl.duration(days=pl.lit(pl.Series(delay, dtype=pl.Int64))),
        amount="amount",
        reason_code="pattern",
    )
