"""Days of data for ``bench/bench_drift.py``: quiet days, then a drift injected from a known
day, in the shapes a drift monitor meets (event tables of both simulator profiles, generated
wide tables, demand series).

Every shape has the same timeline (calendar days, ``Timeline``): ``null`` days (the champion's
training days before its reference week: what calibration learns quiet from), the ``ref``
week (the newest 7 days of the history: what each day is measured against), ``quiet``
monitored days (nothing injected) and ``after`` monitored days from the drift's first day on.

Event shapes (one row per event, a ``date`` column):

* ``simulator_fraud`` / ``partner_fraud``: the simulator's own landing zone (``lakeloop
  simulate``, ``concept`` drift: the bot ring / the product-S ring), ingested into bronze by
  ``process_days`` + ``write_days`` and turned into event features by
  ``lakeloop.features.event_features`` in one pass (what a backfill of the features asset
  runs), after a 31-day warm-up so the 7-day windows and 30-day label history are full. The
  model inputs are ``event_schema``'s, the monitored ones ``monitored_columns``' (the
  contract's ``monitoring`` include narrows the simulator's to 12). Label: the chargebacks /
  ``isFraud`` known at the end (``known_positive_ids``).
* ``wide_*``: a generated table of 134 inputs (``WIDE_*`` below): sparse columns (mostly 0),
  few-valued integers (2-6 values), heavy-tailed amounts (log-normal, Pareto), often-missing
  numbers (20-60 % null), a few plain numbers and 4 categoricals (5 to 400 values, Zipf),
  correlated through a per-row activity factor. Days are *not* i.i.d.: each day draws its
  own random effects (volume, each column's location, each sparse rate, each missing share,
  each few-valued mix, each category mix) and weekends move a third of the amounts and the
  volume. The label is a logit of 10 columns (thresholds, a band, an interaction, a
  missingness flag, risky categories) at ~2.5 % positives.

Series shapes (one row per series and open day): intermittent demand (many zeros: a
negative binomial around a log-normal level, median 1.5 units), a weekly pattern each series
follows to its own degree, closed on Sundays (no rows), a common daily random effect and a
small trend; the drift is a +50 % level shift of half the series.

Seeded: the same arguments give the same days.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl

START = dt.date(2026, 1, 5)  # a Monday
NULL_DAYS = 21  # the training window (28 days) less the reference week
REF_DAYS = 7
QUIET_DAYS = 60
AFTER_DAYS = 12
FRAUD_WARMUP_DAYS = 31  # 7-day entity windows and the 30-day label history filled
# lakeloop.monitoring.domain_monitor.LEVEL_HISTORY_DAYS: levels and null days
SERIES_HISTORY_DAYS = 84


@dataclass(frozen=True)
class Timeline:
    """Calendar days of a shape: null, reference, quiet, after (consecutive)."""

    first: dt.date
    null: int = NULL_DAYS
    ref: int = REF_DAYS
    quiet: int = QUIET_DAYS
    after: int = AFTER_DAYS

    def _days(self, offset: int, n: int) -> list[dt.date]:
        return [self.first + dt.timedelta(days=offset + i) for i in range(n)]

    @property
    def null_days(self) -> list[dt.date]:
        return self._days(0, self.null)

    @property
    def ref_days(self) -> list[dt.date]:
        return self._days(self.null, self.ref)

    @property
    def quiet_days(self) -> list[dt.date]:
        return self._days(self.null + self.ref, self.quiet)

    @property
    def drift_day(self) -> dt.date:
        return self.first + dt.timedelta(days=self.null + self.ref + self.quiet)

    @property
    def after_days(self) -> list[dt.date]:
        return self._days(self.null + self.ref + self.quiet, self.after)

    @property
    def last(self) -> dt.date:
        return self.after_days[-1]

    @property
    def total(self) -> int:
        return self.null + self.ref + self.quiet + self.after


@dataclass
class Shape:
    """One shape's days and what the monitor is told about them."""

    name: str
    kind: str  # "events" | "series"
    timeline: Timeline
    frame: pl.DataFrame  # rows of every day (null .. after), a ``date`` column
    columns: list[str]  # monitored columns
    categorical: set[str]
    injected: dict[str, Any]  # kind, first_day, description
    moved: list[str]  # monitored columns the drift moves (by construction)
    label: str | None = None  # events: the 0/1 label column (for the importance model)
    inputs: list[str] = field(default_factory=list)  # the model's inputs (events)
    input_categorical: set[str] = field(default_factory=set)
    notes: str = ""
    build_s: float = 0.0
    # series: rows to index (``target``, ``series_id``, ``weekday``, ``date``), the history
    # for levels reaching back ``SERIES_HISTORY_DAYS`` before the reference week
    info: dict[str, Any] = field(default_factory=dict)


# -- the simulator profiles, through lakeloop's ingest and feature code ----------------------

def simulated_events(profile: str, scale: float, seed: int, quiet: int, after: int,
                     null: int = NULL_DAYS) -> Shape:
    """Simulate the profile's landing zone with ``concept`` drift from the drift day, ingest
    it into bronze and compute the event features of every day after the warm-up in one
    pass; the label is whether the event is known positive at the end."""
    from lakeloop import features
    from lakeloop.contracts.domains import load_domains
    from lakeloop.ingest.bronze import process_days, write_days
    from lakeloop.monitoring.domain_monitor import monitored_columns
    from lakeloop.names import bronze_table
    from lakeloop.simulate import DRIFT_KINDS, SimConfig, parse_drift, profile_contracts, simulate
    from lakeloop.storage import Lake, ObjectStore
    from lakeloop.training.training_sets import LABEL, known_positive_ids

    domain = next(d for d in load_domains(profile_contracts(profile)).values()
                  if d.kind == "classification")
    timeline = Timeline(START + dt.timedelta(days=FRAUD_WARMUP_DAYS), null=null, quiet=quiet,
                        after=after)
    total = FRAUD_WARMUP_DAYS + timeline.total
    drift_at = (timeline.drift_day - START).days
    cfg = SimConfig(start=START, days=total, seed=seed, scale=scale, profile=profile,
                    drifts=(parse_drift(f"concept@{drift_at}", START),))
    days = [cfg.day(i) for i in range(total)]
    with tempfile.TemporaryDirectory(prefix=f"bench_drift_{profile}_") as tmp:
        store = ObjectStore(str(Path(tmp) / "landing"))
        simulate(cfg, store)
        lake = Lake(str(Path(tmp) / "lake"))
        for contract in domain.datasets:
            read = process_days(store, lake, contract, days, domain.calendar)
            write_days(lake, contract, read, days[0], days[-1])
            read.discard()
        main, labels = domain.main, domain.labels
        table = bronze_table(main.name)
        first, last = timeline.first, timeline.last
        if labels is not None:
            known = features.known_labels_from_dataset(
                lake.scan(bronze_table(labels.name),
                          first - dt.timedelta(days=features.LABEL_LOOKBACK_DAYS),
                          last - dt.timedelta(days=1)), main, labels)
        else:
            back = features.LABEL_LOOKBACK_DAYS + (main.roles.label.maturity_days or 0)
            known = features.known_labels_from_column(
                lake.scan(table, first - dt.timedelta(days=back), last), main)
        frame = features.event_features(
            lake.scan(table, first - dt.timedelta(days=features.EVENT_LOOKBACK_DAYS), last),
            known, first, main, features.events.label_history_entities(main, labels),
            until=last).collect()
        ids = main.roles.id
        positives = known_positive_ids(lake, domain, last, None, first).collect()
    frame = frame.join(positives.rename({LABEL: "_y"}), on=ids, how="left").with_columns(
        pl.col("_y").fill_null(0).cast(pl.Int8))
    schema = features.event_schema(main, frame.drop("_y").schema)
    champion = SimpleNamespace(meta={"feature_schema": {
        "categorical": schema.categorical, "numeric": schema.numeric}})
    columns, _ = monitored_columns(domain, champion)
    if profile == "simulator":
        moved = ["merchant_category", "channel", "device", "hour", "is_night", "amount",
                 "card_count_1h", "card_count_24h", "card_amount_mean_7d",
                 "card_amount_vs_mean_7d", "card_seconds_since_prev"]
    else:
        moved = ["ProductCD", "P_emaildomain", "V55", "V56", "V57", "V58", "hour", "is_night",
                 "TransactionAmt", "log_amount", "DeviceInfo"]
    keep = [*dict.fromkeys([*schema.inputs, "_y", "date"])]
    return Shape(
        name=f"{profile}_fraud", kind="events", timeline=timeline, frame=frame.select(keep),
        columns=columns, categorical=set(schema.categorical),
        injected={"kind": "concept", "first_day": timeline.drift_day.isoformat(),
                  "description": f"simulator concept drift ({profile} profile): "
                  + (DRIFT_KINDS["concept"] if profile == "simulator" else
                     "a fraud ring on product S paying from mail.com with V55-V58 far off "
                     "their usual range, ~3.5 % of traffic")},
        moved=[c for c in moved if c in columns], label="_y", inputs=schema.inputs,
        input_categorical=set(schema.categorical),
        notes=f"lakeloop simulate --profile {profile} --scale {scale} --seed {seed} "
        f"--drift concept@{drift_at}; features by lakeloop.features.event_features")


# -- generated wide tables --------------------------------------------------------------------

WIDTHS = {"sparse": 40, "few": 25, "heavy": 30, "miss": 25, "num": 10}  # + 4 categoricals
CATEGORIES = {"cat_channel": (5, False), "cat_region": (12, False), "cat_merchant": (60, True),
              "cat_device": (400, True)}
WEEKEND = np.array([0, 0, 0, 0, 0, 1, 1])  # Mon..Sun
VOLUME_WEEKDAY = np.array([1.0, 0.97, 0.98, 1.02, 1.1, 1.2, 0.8])


@dataclass(frozen=True)
class WideParams:
    """A wide table's fixed parameters (the 'population'), drawn once from the seed."""

    sparse_rate: np.ndarray
    sparse_mu: np.ndarray
    few_values: list[np.ndarray]
    few_p: list[np.ndarray]
    heavy_kind: np.ndarray  # 0 log-normal, 1 Pareto
    heavy_mu: np.ndarray
    heavy_sigma: np.ndarray
    heavy_alpha: np.ndarray
    heavy_weekend: np.ndarray  # relative weekend lift of the amount
    miss_share: np.ndarray
    miss_log: np.ndarray  # True: log-normal values, else normal
    miss_loc: np.ndarray
    miss_sd: np.ndarray
    num_loc: np.ndarray
    num_sd: np.ndarray
    cat_p: dict[str, np.ndarray]
    merchant_risk: np.ndarray
    channel_risk: np.ndarray


def wide_params(seed: int, width: float = 1.0) -> WideParams:
    """The population; ``width`` < 1 keeps that share of each kind of column (``--quick``)."""
    rng = np.random.default_rng([seed, 100])
    n_sparse, n_few, n_heavy, n_miss, n_num = (max(3, round(k * width))
                                               for k in WIDTHS.values())
    few_k = rng.integers(2, 7, n_few)
    few_p = [rng.dirichlet(np.full(k, 1.5)) for k in few_k]
    few_values = [np.sort(rng.choice(np.arange(0, 12), k, replace=False)) for k in few_k]
    miss_share = rng.uniform(0.2, 0.6, n_miss)
    miss_share[0] = 0.05  # the important one is nearly always there (missingness shape)
    cat_p = {}
    for name, (k, zipf) in CATEGORIES.items():
        p = 1.0 / np.arange(1, k + 1) ** 1.1 if zipf else rng.dirichlet(np.full(k, 3.0))
        cat_p[name] = p / p.sum()
    merchant_risk = np.where(rng.random(60) < 0.1, 1.5, 0.0)
    merchant_risk[:3] = 0.0  # the big merchants are safe
    return WideParams(
        sparse_rate=rng.uniform(0.02, 0.2, n_sparse), sparse_mu=rng.uniform(0.0, 4.0, n_sparse),
        few_values=few_values, few_p=few_p,
        heavy_kind=(np.arange(n_heavy) % 2).astype(int),
        heavy_mu=rng.uniform(1.5, 5.0, n_heavy), heavy_sigma=rng.uniform(0.7, 1.4, n_heavy),
        heavy_alpha=rng.uniform(1.6, 3.0, n_heavy),
        heavy_weekend=np.where(np.arange(n_heavy) % 3 == 0, 0.12, 0.0),
        miss_share=miss_share, miss_log=rng.random(n_miss) < 0.5,
        miss_loc=rng.uniform(0.5, 3.0, n_miss), miss_sd=rng.uniform(0.3, 1.0, n_miss),
        num_loc=rng.normal(0, 5, n_num), num_sd=rng.uniform(0.5, 3.0, n_num),
        cat_p=cat_p, merchant_risk=merchant_risk, channel_risk=rng.normal(0, 0.4, 5))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def wide_names(params: WideParams) -> tuple[list[str], list[str]]:
    """(numeric, categorical) input names of a wide table."""
    numeric = ([f"sparse_{j:02d}" for j in range(len(params.sparse_rate))]
               + [f"few_{j:02d}" for j in range(len(params.few_p))]
               + [f"heavy_{j:02d}" for j in range(len(params.heavy_mu))]
               + [f"miss_{j:02d}" for j in range(len(params.miss_share))]
               + [f"num_{j:02d}" for j in range(len(params.num_loc))])
    return numeric, list(CATEGORIES)


@dataclass(frozen=True)
class WideDrift:
    """What changes from the drift day (all off: a quiet day)."""

    heavy_scale: dict[int, float] = field(default_factory=dict)  # heavy_j values x factor
    sparse_rate: dict[int, float] = field(default_factory=dict)  # sparse_j rate x factor
    miss_share: dict[int, float] = field(default_factory=dict)  # miss_j missing share = value
    new_pattern: float = 0.0  # share of rows of a new fraud pattern (concept)
    flip: bool = False  # the label's rule changes, inputs untouched (pure concept)
    volume: float = 1.0  # volume factor


def wide_day(params: WideParams, thresholds: dict[str, float], seed: int, day: dt.date,
             rows: int, drift: WideDrift) -> pl.DataFrame:
    """One day of a wide table: the day's random effects, then its rows and labels."""
    rng = np.random.default_rng([seed, 101, day.toordinal()])
    wd = day.weekday()
    n = int(rng.poisson(rows * drift.volume * VOLUME_WEEKDAY[wd] * rng.lognormal(0, 0.08)))
    activity = rng.standard_normal(n)  # a per-row factor several columns share
    cols: dict[str, np.ndarray] = {}
    # sparse: mostly 0, log-normal when not; the day's rate and location wander
    for j in range(len(params.sparse_rate)):
        rate = params.sparse_rate[j] * drift.sparse_rate.get(j, 1.0)
        logit = _logit(rate) + rng.normal(0, 0.08) + (0.35 * activity if j < 8 else 0.0)
        on = rng.random(n) < _sigmoid(logit)
        v = np.zeros(n)
        v[on] = np.round(rng.lognormal(params.sparse_mu[j] + rng.normal(0, 0.04), 1.0,
                                       on.sum()), 2)
        cols[f"sparse_{j:02d}"] = v
    # few-valued integers: the day's mix wanders around the population's
    for j in range(len(params.few_p)):
        p = rng.dirichlet(params.few_p[j] * 3000.0)
        cols[f"few_{j:02d}"] = rng.choice(params.few_values[j], n, p=p).astype(float)
    # heavy-tailed amounts: log-normal or Pareto, the day's scale wanders; weekend lift
    for j in range(len(params.heavy_mu)):
        shift = rng.normal(0, 0.03) + params.heavy_weekend[j] * WEEKEND[wd] \
            + (0.3 * activity if j < 10 else 0.0)
        if params.heavy_kind[j] == 0:
            v = np.exp(params.heavy_mu[j] + params.heavy_sigma[j] * rng.standard_normal(n)
                       + shift)
        else:
            v = np.exp(params.heavy_mu[j] - 1.0 + shift) * (rng.pareto(params.heavy_alpha[j],
                                                                      n) + 1.0)
        cols[f"heavy_{j:02d}"] = np.round(v * drift.heavy_scale.get(j, 1.0), 2)
    # often missing: the day's missing share and location wander
    for j in range(len(params.miss_share)):
        share = drift.miss_share.get(j, params.miss_share[j])
        gone = rng.random(n) < _sigmoid(_logit(share) + rng.normal(0, 0.06))
        z = rng.standard_normal(n) + rng.normal(0, 0.03)
        v = np.exp(params.miss_loc[j] * 0.5 + params.miss_sd[j] * z) if params.miss_log[j] \
            else params.miss_loc[j] + params.miss_sd[j] * z
        v = np.round(v, 3)
        v[gone] = np.nan
        cols[f"miss_{j:02d}"] = v
    for j in range(len(params.num_loc)):
        cols[f"num_{j:02d}"] = np.round(params.num_loc[j] + params.num_sd[j] * (
            rng.standard_normal(n) + rng.normal(0, 0.03)), 3)
    codes = {}
    for name, (k, _zipf) in CATEGORIES.items():
        p = rng.dirichlet(params.cat_p[name] * 5000.0)
        codes[name] = rng.choice(k, n, p=p / p.sum())

    # the label: 10 columns, thresholds fixed by the population (rules hold in raw values)
    h0, h1 = cols["heavy_00"], cols["heavy_01"]
    s0, s1 = cols["sparse_00"], cols["sparse_01"]
    f0, f1 = cols["few_00"], cols["few_01"]
    m0, m1 = cols["miss_00"], cols["miss_01"]
    n0 = cols["num_00"]
    t = thresholds
    logit = (1.6 * (h0 > t["h0"]) + 1.1 * (s0 > 0) * (h1 > t["h1"])
             + 1.2 * (f0 == params.few_values[0][-1]) + 0.8 * (f1 == params.few_values[1][0])
             + 1.0 * np.nan_to_num(m0 > t["m0"]) + 0.7 * np.isnan(m1)
             + 0.9 * ((n0 - params.num_loc[0]) / params.num_sd[0])
             + 0.8 * (s1 > t["s1"])
             + params.merchant_risk[codes["cat_merchant"]]
             + params.channel_risk[codes["cat_channel"]])
    if drift.flip:  # pure concept: what was risky no longer is, and the other way round
        logit = (-1.6 * (h0 > t["h0"]) + 1.1 * (s0 > 0) * (h1 > t["h1"])
                 + 1.2 * (f0 == params.few_values[0][0]) + 0.8 * (f1 == params.few_values[1][0])
                 + 1.0 * np.nan_to_num(m0 < t["m0"]) + 0.7 * np.isnan(m1)
                 - 0.9 * ((n0 - params.num_loc[0]) / params.num_sd[0])
                 + 0.8 * (s1 > t["s1"]) + params.merchant_risk[::-1][codes["cat_merchant"]]
                 + params.channel_risk[codes["cat_channel"]])
    y = rng.random(n) < _sigmoid(logit - 5.3)
    if drift.new_pattern:  # a new fraud pattern: high num_00 and sparse_01, one channel
        k = rng.random(n) < drift.new_pattern
        cols["num_00"][k] = np.round(params.num_loc[0] + params.num_sd[0]
                                     * rng.normal(2.5, 0.5, k.sum()), 3)
        cols["sparse_01"][k] = np.round(rng.lognormal(params.sparse_mu[1] + 1.5, 0.5,
                                                      k.sum()), 2)
        codes["cat_channel"][k] = 4
        y = y | k
    frame = pl.DataFrame({**{c: pl.Series(c, v, nan_to_null=True) for c, v in cols.items()}})
    cats = {}
    for name, code in codes.items():
        text = np.char.add(f"{name[4]}", code.astype(str)).astype(object)
        if name == "cat_device":
            text[rng.random(n) < 0.3] = None  # often unknown
        cats[name] = pl.Series(name, text.tolist(), dtype=pl.String)
    return frame.with_columns(**cats, label=pl.Series(y.astype(np.int8)),
                              date=pl.lit(day))


def _thresholds(params: WideParams) -> dict[str, float]:
    """The label's thresholds, from a large draw of the population (fixed, raw values)."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal(200_000)
    h0 = np.exp(params.heavy_mu[0] + params.heavy_sigma[0] * z)  # heavy_00 is log-normal
    h1 = np.exp(params.heavy_mu[1] - 1.0) * (rng.pareto(params.heavy_alpha[1], z.size) + 1)
    m0 = (np.exp(params.miss_loc[0] * 0.5 + params.miss_sd[0] * z) if params.miss_log[0]
          else params.miss_loc[0] + params.miss_sd[0] * z)
    s1 = rng.lognormal(params.sparse_mu[1], 1.0, z.size)
    return {"h0": float(np.quantile(h0, 0.9)), "h1": float(np.quantile(h1, 0.7)),
            "m0": float(np.quantile(m0, 0.8)), "s1": float(np.quantile(s1, 0.6))}


WIDE_KINDS = {
    "wide_sparse": ("covariate", "heavy_00 amounts x1.5 and sparse_00's non-zero rate x1.8",
                    ["heavy_00", "sparse_00"]),
    "missingness_change": ("missingness", "miss_00 missing on 40 % of rows (was 5 %)",
                           ["miss_00"]),
    "volume_change": ("covariate", "volume down to a third from the middle of the quiet days "
                      "(quiet: not an injected drift); from the drift day heavy_01 amounts "
                      "x1.5",
                      ["heavy_01"]),
    "concept": ("concept", "a new fraud pattern on 4 % of rows (the share of the simulator's "
                "bot ring): labelled fraud, num_00 +2.5 sd, sparse_01 large, channel c4 (the "
                "label's relation to the inputs changes and a top input moves)",
                ["num_00", "sparse_01", "cat_channel"]),
    "concept_pure": ("concept (inputs unchanged)", "the label's rule flips (num_00, heavy_00, "
                     "few_00, miss_00 and the risky merchants change sides), every input's "
                     "distribution unchanged", []),
}


def wide_shape(name: str, rows: int, seed: int, quiet: int, after: int,
               null: int = NULL_DAYS, width: float = 1.0) -> Shape:
    """A generated wide table of ``rows`` a day (a Poisson draw around it) with ``name``'s
    drift (``WIDE_KINDS``); ``width`` < 1: fewer columns of each kind (``--quick``)."""
    params = wide_params(seed, width)
    timeline = Timeline(START, null=null, quiet=quiet, after=after)
    kind, description, moved = WIDE_KINDS[name]
    drifted = {
        "wide_sparse": WideDrift(heavy_scale={0: 1.5}, sparse_rate={0: 1.8}),
        "missingness_change": WideDrift(miss_share={0: 0.4}),
        "volume_change": WideDrift(heavy_scale={1: 1.5}, volume=1 / 3),
        "concept": WideDrift(new_pattern=0.04),
        "concept_pure": WideDrift(flip=True),
    }[name]
    low_from = timeline.quiet_days[len(timeline.quiet_days) // 2]  # volume_change
    thresholds = _thresholds(params)
    frames = []
    for i in range(timeline.total):
        day = timeline.first + dt.timedelta(days=i)
        if day >= timeline.drift_day:
            drift = drifted
        elif name == "volume_change" and day >= low_from:
            drift = WideDrift(volume=1 / 3)
        else:
            drift = WideDrift()
        frames.append(wide_day(params, thresholds, seed, day, rows, drift))
    numeric, categorical = wide_names(params)
    inputs = [*categorical, *numeric]
    injected = {"kind": kind, "first_day": timeline.drift_day.isoformat(),
                "description": description}
    if name == "volume_change":
        injected["volume_drop_day"] = low_from.isoformat()
    return Shape(name=name, kind="events", timeline=timeline,
                 frame=pl.concat(frames, how="vertical_relaxed"), columns=inputs,
                 categorical=set(categorical), injected=injected, moved=moved, label="label",
                 inputs=inputs, input_categorical=set(categorical),
                 notes=f"bench/drift_shapes.py wide table, {rows:,} rows a day, seed {seed}")


# -- demand series ----------------------------------------------------------------------------

WEEKLY = np.array([0.85, 0.9, 0.95, 1.0, 1.25, 1.45, 0.0])  # Mon..Sat; closed on Sunday


def series_shape(name: str, n_series: int, seed: int, quiet: int, after: int) -> Shape:
    """``n_series`` intermittent daily series, closed on Sundays; from the drift day the
    even-numbered half of them sells 1.5x. Rows: ``series_id``, ``weekday`` (1 = Monday, as
    ``features.series``), ``target``, ``date``; the history reaches back
    ``SERIES_HISTORY_DAYS`` before the reference week (levels and null days)."""
    rng = np.random.default_rng([seed, 200])
    level = rng.lognormal(np.log(1.5), 1.1, n_series)
    weight = rng.uniform(0.3, 1.3, n_series)
    growth = rng.uniform(-0.05, 0.15, n_series)  # a year
    null = SERIES_HISTORY_DAYS
    timeline = Timeline(START, null=null, quiet=quiet, after=after)
    shifted = np.arange(n_series) % 2 == 0
    ids = np.array([f"s{i:05d}" for i in range(n_series)])
    frames = []
    for i in range(timeline.total):
        day = timeline.first + dt.timedelta(days=i)
        if day.weekday() == 6:
            continue  # closed: no rows at all
        r = np.random.default_rng([seed, 201, day.toordinal()])
        common = r.lognormal(0.0, 0.08)  # weather, paydays: every series moves a little
        mean = (level * (1 + growth * i / 365.25) * WEEKLY[day.weekday()] ** weight * common)
        if day >= timeline.drift_day:
            mean = mean * np.where(shifted, 1.5, 1.0)
        qty = r.poisson(mean * r.gamma(3.0, 1 / 3.0, n_series)).astype(float)
        frames.append(pl.DataFrame({"series_id": ids, "weekday": np.full(
            n_series, day.isoweekday(), dtype=np.int8), "target": qty,
            "date": [day] * n_series}))
    frame = pl.concat(frames)
    zeros = float((frame["target"] == 0).mean())
    return Shape(
        name=name, kind="series", timeline=timeline, frame=frame, columns=["target_index"],
        categorical=set(),
        injected={"kind": "demand_level", "first_day": timeline.drift_day.isoformat(),
                  "description": "+50 % level shift in half of the series"},
        moved=["target_index"],
        notes=f"{n_series:,} series, closed on Sundays, {zeros:.0%} zero days; seed {seed}",
        info={"series": n_series, "zero_share": round(zeros, 3)})
