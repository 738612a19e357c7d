"""Generated tabular fraud data sets of chosen shapes, for ``bench/bench_fraud.py``.

Each shape is a time-ordered table (column ``t`` in [0, 1), rows sorted by it) with a 0/1
``label``, string categoricals and float numerics, split by time 70 / 10 / 20 into train /
validation / test. What the generator puts in, so a model has something to find:

- numeric columns of mixed distributions (normal, log-normal amounts, counts, heavy tails,
  bounded, bimodal), correlated through a few latent factors; in wide shapes most are noise;
- categoricals with per-value risk, and (wide shapes) one with ~1,000 values in Zipf
  frequencies where a few rare values are risky (compromised merchants);
- the signal, a logit made of threshold rules (``x > q90 and y > q70``, a band), interactions
  (numeric x numeric, categorical x numeric) and a few smooth terms (sine, square, log);
  the intercept is solved so the mean fraud probability is the shape's fraud rate;
- a mild covariate drift: a third of the columns shift by ``drift`` standard deviations from
  the first row to the last (the rules hold in raw values, so the fraud rate moves a little);
- optional missingness: blocks of columns missing together on 30-80 % of rows, a little more
  often on fraud rows, and 25 % nulls in one categorical.

The true probability of every row is kept (``oracle``): its PR-AUC on the test split is the
best any model can reach on that shape. Seeded: the same shape gives the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from lakeloop.training.columns import LABEL, SPLIT

TIME = "t"
SPLITS = (("train", 0.7), ("validation", 0.1), ("test", 0.2))
SIGNAL = 1.5  # logit scale: the oracle test PR-AUC lands near 0.4-0.6
KINDS = ("normal", "lognormal", "count", "heavy", "bounded", "bimodal")


@dataclass(frozen=True)
class Shape:
    name: str
    rows: int
    fraud_rate: float
    n_numeric: int
    n_categorical: int  # 3 (narrow) or 6 (wide, with the ~1,000-value column)
    missing: bool
    drift: float = 0.3  # covariate shift of the drifting columns, in standard deviations
    seed: int = 11

    @property
    def features(self) -> int:
        return self.n_numeric + self.n_categorical


@dataclass
class Generated:
    shape: Shape
    frame: pl.DataFrame  # t, label, split, categoricals, numerics
    categorical: list[str]
    numeric: list[str]
    oracle: np.ndarray  # true fraud probability per row (frame order)

    def part(self, name: str) -> pl.DataFrame:
        return self.frame.filter(pl.col(SPLIT) == name).drop(SPLIT)

    def oracle_part(self, name: str) -> np.ndarray:
        return self.oracle[(self.frame[SPLIT] == name).to_numpy()]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _intercept(logit: np.ndarray, rate: float) -> float:
    """b with mean(sigmoid(logit + b)) == rate (bisection: the mean rises with b)."""
    lo, hi = -30.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _sigmoid(logit + mid).mean() < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _zipf_values(rng: np.random.Generator, n: int, values: int, a: float = 1.1) -> np.ndarray:
    p = 1.0 / np.arange(1, values + 1) ** a
    return rng.choice(values, size=n, p=p / p.sum())


def _numeric(rng: np.random.Generator, kind: str, z: np.ndarray, shift: np.ndarray
             ) -> np.ndarray:
    """A column of ``kind`` from a standard-normal driver ``z`` (already drifted by ``shift``)."""
    z = z + shift
    if kind == "normal":
        return 50.0 + 10.0 * z
    if kind == "lognormal":  # amounts: right-skewed, non-negative
        return np.exp(3.5 + 0.9 * z)
    if kind == "count":  # velocity counts
        return rng.poisson(np.exp(0.8 + 0.6 * z)).astype(float)
    if kind == "heavy":  # a heavy-tailed ratio
        return z + 0.3 * rng.standard_t(2.5, size=z.shape)
    if kind == "bounded":  # a score in [0, 1]
        return _sigmoid(1.3 * z)
    return np.where(z > 0.3, 5.0 + z, -2.0 + 0.5 * z)  # bimodal


def generate(shape: Shape) -> Generated:
    rng = np.random.default_rng(shape.seed)
    n, k = shape.rows, shape.n_numeric
    t = np.sort(rng.random(n))

    # numerics: drivers correlated through 6 latent factors, then shaped by kind
    factors = rng.standard_normal((n, 6))
    loadings = rng.normal(0.0, 0.45, (6, k)) * (rng.random((1, k)) < 0.6)
    drivers = factors @ loadings + rng.standard_normal((n, k))
    drivers /= drivers.std(axis=0, keepdims=True)
    drifting = np.arange(k) % 3 == 1
    numeric_names = [f"num_{j:03d}" for j in range(k)]
    values = np.empty((n, k))
    for j in range(k):
        shift = shape.drift * t if drifting[j] else np.zeros(n)
        values[:, j] = _numeric(rng, KINDS[j % len(KINDS)], drivers[:, j], shift)

    # categoricals: (name, values, zipf?) - the first three carry risk in every shape
    specs = [("cat_0", 5, False), ("cat_1", 20, False), ("cat_2", 50, True)]
    if shape.n_categorical >= 6:
        specs += [("cat_3", 1000, True), ("cat_4", 8, False), ("cat_5", 300, True)]
    specs = specs[:shape.n_categorical]
    codes = {name: (_zipf_values(rng, n, m) if zipf else rng.integers(0, m, n))
             for name, m, zipf in specs}

    # the signal. Informative columns are spread over the kinds; the rules use raw values.
    def col(j: int) -> np.ndarray:
        return values[:, j % k]

    def q(j: int, p: float) -> float:
        return float(np.quantile(col(j), p))

    def z(j: int) -> np.ndarray:
        x = col(j)
        return (x - x.mean()) / (x.std() + 1e-9)

    logit = np.zeros(n)
    logit += 2.2 * ((col(1) > q(1, 0.9)) & (col(2) > q(2, 0.7)))  # big amount + many tx
    logit += 1.3 * (col(3) < q(3, 0.08))  # a low tail
    logit += 0.9 * ((col(6) > q(6, 0.4)) & (col(6) < q(6, 0.55)))  # a band: non-monotonic
    logit += 1.6 * ((col(8) > q(8, 0.8)) & (codes["cat_0"] == 3))  # category-gated count
    logit += 1.0 * ((col(11) > q(11, 0.5)) & (col(13) < q(13, 0.3)))  # bimodal x bounded
    logit += 0.6 * z(4) * z(7)  # interactions
    logit += 0.5 * np.clip(z(9), -3, 3) * (codes["cat_1"] % 4 == 0)
    logit += 0.8 * np.sin(2.0 * z(0)) + 0.35 * (np.clip(z(10), -3, 3) ** 2 - 1.0)  # smooth
    logit += 0.5 * np.log1p(np.abs(z(5)))
    if k >= 40:  # wide shapes: a few more weak signals among the noise
        logit += 0.4 * z(25) - 0.4 * z(33) + 0.8 * (col(37) > q(37, 0.95))
    risk0 = rng.normal(0.0, 0.6, 5)
    risk1 = rng.normal(0.0, 0.5, 20)
    risk2 = np.where(rng.random(50) < 0.1, 1.2, 0.0)
    logit += risk0[codes["cat_0"]] + risk1[codes["cat_1"]] + risk2[codes["cat_2"]]
    if "cat_3" in codes:  # a few rare, risky values of the high-cardinality column
        risky = rng.choice(np.arange(20, 1000), size=40, replace=False)
        logit += 2.5 * np.isin(codes["cat_3"], risky)
    logit += 0.3 * (codes.get("cat_4", np.zeros(n)) == 2)
    logit *= SIGNAL
    p = _sigmoid(logit + _intercept(logit, shape.fraud_rate))
    y = (rng.random(n) < p).astype(np.int8)

    # missingness after the label: blocks go missing together, a little more often on fraud
    cat_null = np.zeros(n, dtype=bool)
    if shape.missing:
        block, rates = (4, (0.3, 0.6)) if k <= 30 else (15, (0.3, 0.45, 0.6, 0.7, 0.8))
        for b, base in enumerate(rates):  # every other block: some columns stay complete
            start = 2 + 2 * block * b
            logit_miss = np.log(base / (1 - base)) + 0.4 * y
            gone = rng.random(n) < _sigmoid(logit_miss)
            values[gone, start:start + block] = np.nan
        cat_null = rng.random(n) < 0.25

    split = np.empty(n, dtype=object)
    edge = 0
    for name, share in SPLITS:
        count = int(round(share * n)) if name != "test" else n - edge
        split[edge:edge + count] = name
        edge += count

    columns: dict[str, object] = {TIME: t, LABEL: y, SPLIT: split.astype(str)}
    for name, _m, _zipf in specs:
        text = np.char.add(f"{name[-1]}v", codes[name].astype(str)).astype(object)
        if name == "cat_2":
            text[cat_null] = None
        columns[name] = pl.Series(name, text.tolist(), dtype=pl.String)
    frame = pl.DataFrame(columns).hstack(
        pl.from_numpy(values, schema=numeric_names).fill_nan(None))
    return Generated(shape, frame, [s[0] for s in specs], numeric_names, p)


def shapes(quick: bool, rows: int | None = None) -> list[Shape]:
    """The generated shapes of a run: rates 0.1 / 1 / 5 %, narrow and wide, with and without
    missingness (six of the twelve combinations, each rate and width both ways); ``rows``
    each (default 200k, quick 20k)."""
    rows = rows or (20_000 if quick else 200_000)
    narrow, wide = (20, 3), (150, 6)
    grid = [
        ("narrow-1%", 0.01, narrow, False),
        ("wide-5%-missing", 0.05, wide, True),
    ] if quick else [
        ("narrow-0.1%", 0.001, narrow, False),
        ("narrow-1%", 0.01, narrow, False),
        ("narrow-5%-missing", 0.05, narrow, True),
        ("wide-0.1%-missing", 0.001, wide, True),
        ("wide-1%-missing", 0.01, wide, True),
        ("wide-5%", 0.05, wide, False),
    ]
    return [Shape(name, rows, rate, cols[0], cols[1], missing)
            for name, rate, cols, missing in grid]


def real_card_like(quick: bool) -> Shape:
    """~400k rows x 140 numeric + 6 categorical, 3.5 % fraud, with missing blocks: the size of
    the real card-transaction data set of issue 11 (its retrain should take at most 5 min)."""
    return Shape("real-card-like", 20_000 if quick else 400_000, 0.035, 140, 6, True)
