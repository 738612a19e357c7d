"""What drift is measured on one day against a reference window: distances, shares, views.

The verdict and the Evidently report are ``lakeloop.monitoring.drift``; the thresholds
learnt from history, ``lakeloop.monitoring.calibration``.

Why distances (PSI, normed Wasserstein) on a fixed-size sample and not Evidently's default
p-value tests: on samples of thousands of rows KS/chi-squared flag nearly every column
(evidently #50, DEPENDENCIES.md #17). A distance on a fixed-size, seeded sample has a quiet-day
level that does not grow with traffic; method and thresholds are configuration, tuned on quiet
days (fraud: PSI over 5,000 rows; demand: Wasserstein over ~270 series indices, where PSI's ten
bins are too noisy to see a level shift in half the stores).

Why the method follows each column's type and cardinality: the monitor watches every model
input of any team's schema, so it cannot rely on a hand-picked list of well-behaved columns.

* Numeric columns use ``cfg.method`` as before.
* Categorical columns (strings, booleans, categoricals, numbers named in ``categorical``) are
  compared category by category, with ``cfg.method`` when Evidently accepts it for categories
  (PSI does) and Jensen-Shannon otherwise (Wasserstein is numeric-only in Evidently).
* High-cardinality categoricals are bucketed into the reference's top ``cfg.max_categories``
  values + ``"__other__"`` first. Per-value PSI over hundreds of rare values is dominated by
  values seen on one side only (Evidently replaces their zero share by 0.0001, and each one
  adds ``p * ln(p / 0.0001)``): a real device column scored PSI 1.3-2.3 on quiet days. The
  bucketed column keeps what matters (the big values and the total weight of the tail, which
  also catches a flood of new values) and its quiet-day level is ~k/n, not ~distinct/n.
* Two signed views of a column's values are measured beside its distance: a number's
  location (``cliffs_delta``: a level shift is one direction, which a distance spreads over
  the whole shape) and the share of values outside the reference's range or list
  (``out_of_range_effect``: a new pattern on a few per cent of rows). The calibrated monitor
  counts a column's values once, by the most unusual of its views.
* The share of missing values is its own signal, measured even when the values cannot be
  compared (a column that goes all-null is news, not something to skip).
* Whatever cannot be measured is listed in ``DriftResult.skipped`` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np
import polars as pl

DEFAULT_SAMPLE = 5_000
OTHER = "__other__"  # the bucket of a high-cardinality column's values outside the top k
MISSING = " (missing)"  # suffix of a column drifted by its share of missing values
FALLBACK_CATEGORICAL_METHOD = "jensenshannon"  # Evidently's own choice for categories at scale
# each tail of a number's reference outside which a value is "out of range" (1 % in all):
# a convention, like Tukey's fences - the calibration learns how the share moves
RANGE_TAIL = 0.005
VIEWS = ("location", "range")  # the signed views of a column's values (``Measured.views``)

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class DriftConfig:
    column_threshold: float = 0.2  # distance above this: the column drifted
    drift_share: float = 0.3  # share of drifted columns that makes the dataset drifted
    # ... or this many drifted columns, whatever their share: a new pattern moves a handful
    # of columns, and among 80 inputs a handful is a small share (None: share only)
    min_drifted_columns: int | None = None
    prediction_threshold: float = 0.2  # distance of the prediction distribution
    sample_size: int = DEFAULT_SAMPLE
    seed: int = 7
    reference_days: int = 7  # newest days of the champion's training window (a full week)
    # the day measured: its rows alone, or - when fewer than this - pooled with the days before
    # it (newest first, at most ``max_current_days``) until they hold this many. A distance on
    # a few dozen rows is mostly sampling noise (PSI's floor is ~(bins - 1) / rows), so a
    # domain with few rows a day flips between drifted and quiet under a steady drift.
    min_current_rows: int = 0
    max_current_days: int = 7
    method: str = "psi"  # Evidently's per-column drift method (psi, wasserstein, ...)
    # categoricals with more distinct reference values are bucketed: top-k + "__other__"
    max_categories: int = 20
    # |null share current - null share reference| at which a column drifted by missingness
    missing_threshold: float = 0.1
    # fewer non-null values than this on a side: the distribution is not compared
    min_rows: int = 30
    # method for categorical columns; None: ``method`` if Evidently accepts it for categories,
    # else Jensen-Shannon distance
    categorical_method: str | None = None
    categorical_threshold: float | None = None  # None: ``column_threshold``
    # each column measured by its nature (see ``_plan_column``): a numeric column with at most
    # ``max_categories`` distinct reference values is compared value by value; a many-valued one,
    # when ``method`` takes categories (PSI does), on ``numeric_bins`` reference-quantile bins
    # with point masses (a share of at least 1/bins, e.g. a sparse column's zeros) as their own
    # bins. False: the settings before issue 25 (numbers by ``method`` on Evidently's bins).
    column_nature: bool = True
    numeric_bins: int = 10
    # thresholds learnt from the champion's own history (``lakeloop.monitoring.calibration``) to
    # this false-alarm budget; False: the fixed thresholds above decide
    calibrate: bool = True
    false_episodes: float = 1.0  # expected false drift episodes ...
    budget_days: int = 60  # ... per this many quiet days


def sample(frame: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """A fixed-size, seeded sample (the whole frame when it is smaller)."""
    return frame if frame.height <= n else frame.sample(n, seed=seed, shuffle=False)


def prediction_drift_score(reference: pl.Series, current: pl.Series, cfg: DriftConfig) -> float:
    """Drift distance of predictions whose reference is not the feature reference."""
    from evidently import Report
    from evidently.metrics import ValueDrift

    ref = sample(reference.to_frame("prediction"), cfg.sample_size, cfg.seed)
    cur = sample(current.to_frame("prediction"), cfg.sample_size, cfg.seed)
    snapshot = Report([ValueDrift(column="prediction", method=cfg.method,
                                  threshold=cfg.prediction_threshold)]).run(
        current_data=cur.to_pandas(), reference_data=ref.to_pandas())
    return float(snapshot.dict()["metrics"][0]["value"])


def categorical_method(cfg: DriftConfig) -> str:
    """The Evidently method for categorical columns.

    ``cfg.categorical_method`` when set; else ``cfg.method`` when Evidently accepts it for
    categories (psi, jensenshannon, hellinger, kl_div, TVD, ...); else Jensen-Shannon distance
    (numeric-only methods such as wasserstein have no meaning on unordered categories; JS is
    bounded, symmetric and what Evidently itself picks for categories above 1,000 rows)."""
    if cfg.categorical_method is not None:
        return cfg.categorical_method
    from evidently.legacy.calculations.stattests.registry import (
        StatTestInvalidFeatureTypeError,
        StatTestNotFoundError,
        get_registered_stattest,
    )
    from evidently.legacy.core import ColumnType

    try:
        get_registered_stattest(cfg.method, ColumnType.Categorical)
    except (StatTestInvalidFeatureTypeError, StatTestNotFoundError):
        return FALLBACK_CATEGORICAL_METHOD
    return cfg.method


def _kind(dtype: pl.DataType, name: str, categorical: Collection[str]) -> Kind | None:
    """numeric / categorical / None (a type drift is not measured on, e.g. dates, lists)."""
    if dtype.is_numeric():
        return "categorical" if name in categorical else "numeric"
    if dtype in (pl.String, pl.Boolean, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "categorical"
    return None


def _normalised(s: pl.Series, kind: Kind | None) -> pl.Series:
    """Numbers as Float64 with NaN as null (Evidently drops NaN: it is missing), categories as
    strings (Evidently reads booleans and numbers as categories only when they are strings)."""
    if kind is None:
        return s
    if kind == "numeric":
        return s.cast(pl.Float64).fill_nan(None)
    if s.dtype.is_float():
        s = s.fill_nan(None)
    return s.cast(pl.String)


def top_k_buckets(reference: pl.Series, current: pl.Series, k: int
                  ) -> tuple[pl.Series, pl.Series]:
    """Both sides mapped onto the reference's ``k`` most frequent values + ``"__other__"``.

    The same mapping for both sides (from the reference only, ties by value so it is
    deterministic); nulls stay null, so missingness is left to its own signal. A value new in
    ``current`` lands in ``"__other__"``: a flood of new values still shows as a growing tail."""
    counts = reference.drop_nulls().value_counts(name="__count__")
    top = counts.sort(["__count__", reference.name], descending=[True, False]).head(k)[
        reference.name]

    def bucket(s: pl.Series) -> pl.Series:
        return s.to_frame().select(
            pl.when(pl.col(s.name).is_null()).then(None)
            .when(pl.col(s.name).is_in(top.implode())).then(pl.col(s.name))
            .otherwise(pl.lit(OTHER)).alias(s.name))[s.name]

    return bucket(reference), bucket(current)


def _as_text(s: pl.Series) -> pl.Series:
    return s if s.dtype == pl.String else s.cast(pl.String)


def _takes_categories(method: str) -> bool:
    from evidently.legacy.calculations.stattests.registry import (
        StatTestInvalidFeatureTypeError,
        StatTestNotFoundError,
        get_registered_stattest,
    )
    from evidently.legacy.core import ColumnType

    try:
        get_registered_stattest(method, ColumnType.Categorical)
    except (StatTestInvalidFeatureTypeError, StatTestNotFoundError):
        return False
    return True


def quantile_buckets(reference: pl.Series, current: pl.Series, bins: int
                     ) -> tuple[pl.Series, pl.Series]:
    """Both sides of a many-valued number mapped onto bins of the *reference*: each value that
    holds at least 1/``bins`` of it (a point mass: a sparse column's zeros, a default) is a bin
    of its own, the rest is cut at the reference's quantiles (equal-frequency bins, the
    binning of PSI in credit scoring, Siddiqi 2006). Nulls stay null (missingness is its own
    signal).

    Why not Evidently's own bins for numbers (Sturges' equal-width bins over both sides): on a
    heavy-tailed or sparse column nearly every row falls in one bin and the edges move with
    each day's outliers, so a quiet day scores like a shift (issue 25: PSI 5-9 on quiet days)."""
    ref = reference.drop_nulls().cast(pl.Float64)
    counts = ref.value_counts(name="__n__")
    masses = counts.filter(pl.col("__n__") >= ref.len() / bins)[ref.name].sort()
    rest = ref.filter(~ref.is_in(masses.implode())).to_numpy()
    edges = np.unique(np.quantile(rest, np.arange(1, bins) / bins)) if rest.size else \
        np.array([])
    mass_values = masses.to_numpy()

    def bucket(s: pl.Series) -> pl.Series:
        x = s.cast(pl.Float64).to_numpy()
        names = np.array([f"q{i:02d}" for i in range(edges.size + 1)], dtype=object)
        out = names[np.searchsorted(edges, x, side="right")]
        for v in mass_values:
            out[x == v] = f"={v:g}"
        out[np.isnan(x)] = None
        return pl.Series(s.name, out.tolist(), dtype=pl.String)

    return bucket(reference), bucket(current)


def column_statistics(plan: Plan) -> dict[str, float]:
    """Each planned column's distance, by the same Evidently stat test the report runs on it
    (``evidently.legacy`` stat tests on the non-null values, as ``ValueDrift`` calls them):
    calibration measures dozens of days with it without building a report for each."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    out = {}
    for name, method in plan.methods.items():
        ftype = ColumnType.Numerical if plan.kinds[name] == "numeric" \
            else ColumnType.Categorical
        ref = plan.reference[name].drop_nulls().to_pandas()
        cur = plan.current[name].drop_nulls().to_pandas()
        test = get_stattest(ref, cur, ftype, method)
        out[name] = float(test(ref, cur, ftype, None).drift_score)
    return out


def _missing_count(s: pl.Series) -> int:
    return s.null_count() + (int(s.is_nan().sum()) if s.dtype.is_float() else 0)


@dataclass
class Plan:
    """What is measured, how, and what is not (and why), before Evidently runs."""

    reference: dict[str, pl.Series] = field(default_factory=dict)
    current: dict[str, pl.Series] = field(default_factory=dict)
    kinds: dict[str, Kind] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)  # Evidently method names
    labels: dict[str, str] = field(default_factory=dict)  # how measured, for people
    missing: dict[str, float] = field(default_factory=dict)
    shares: dict[str, tuple[float, float]] = field(default_factory=dict)  # missing: ref, cur
    skipped: dict[str, str] = field(default_factory=dict)
    compared: list[str] = field(default_factory=list)  # columns measured on some signal
    # each compared column's non-null sampled values before any bucketing, and whether they
    # are numbers: what its signed views (``VIEWS``) are measured on
    values: dict[str, tuple[pl.Series, pl.Series, bool]] = field(default_factory=dict)


def _plan_column(plan: Plan, name: str, reference: pl.DataFrame, current: pl.DataFrame,
                 ref: pl.DataFrame, cur: pl.DataFrame, cfg: DriftConfig,
                 categorical: Collection[str], missingness: bool = True) -> None:
    """Decide how ``name`` is measured: its missingness on the whole frames, its distribution
    on the samples ``ref``/``cur``; or why it cannot be."""
    absent = [side for side, f in (("reference", reference), ("current", current))
              if name not in f.columns]
    if absent:
        plan.skipped[name] = f"absent from {' and '.join(absent)}"
        return
    short = [f"{f.height} rows in {side}" for side, f in
             (("reference", reference), ("current", current)) if f.height < cfg.min_rows]
    if short:
        plan.skipped[name] = f"not enough rows: {', '.join(short)} (min_rows {cfg.min_rows})"
        return
    plan.compared.append(name)
    also = ""
    if missingness:
        shares = (_missing_count(reference[name]) / reference.height,
                  _missing_count(current[name]) / current.height)
        plan.shares[name] = shares
        plan.missing[name] = abs(shares[1] - shares[0])
        also = " (missingness still measured)"

    dtypes = {ref[name].dtype, cur[name].dtype} - {pl.Null}  # all-null: type from the other
    kinds = {_kind(d, name, categorical) for d in dtypes}
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    r, c = _normalised(ref[name], kind), _normalised(cur[name], kind)
    empty = [side for side, s in (("reference", r), ("current", c)) if s.null_count() == s.len()]
    if empty:
        plan.skipped[name] = f"all values missing in {' and '.join(empty)}{also}"
        return
    if len(kinds) > 1:
        plan.skipped[name] = (f"types differ: {ref[name].dtype} in reference, "
                              f"{cur[name].dtype} in current{also}")
        return
    if kind is None:
        plan.skipped[name] = f"type {ref[name].dtype} is not measured for drift{also}"
        return
    few = [f"{s.len() - s.null_count()} in {side}" for side, s in
           (("reference", r), ("current", c)) if s.len() - s.null_count() < cfg.min_rows]
    if few:
        plan.skipped[name] = (f"not enough non-null values: {', '.join(few)} "
                              f"(min_rows {cfg.min_rows}){also}")
        return
    values = pl.concat([r, c]).drop_nulls().unique()
    if values.len() == 1:
        plan.skipped[name] = f"constant on both sides ({values[0]!r}){also}"
        return
    distinct = r.n_unique() - (1 if r.null_count() else 0)
    plan.values[name] = (r.drop_nulls(), c.drop_nulls(), kind == "numeric")
    if kind == "numeric" and cfg.column_nature and distinct <= cfg.max_categories:
        kind = "categorical"  # few-valued: its values are the categories (new ones: other)
        r, c = top_k_buckets(_as_text(r), _as_text(c), cfg.max_categories)
        method = categorical_method(cfg)
        plan.methods[name], plan.labels[name] = method, f"{method} on values (few-valued)"
    elif kind == "numeric" and cfg.column_nature and _takes_categories(cfg.method):
        kind = "categorical"
        r, c = quantile_buckets(r, c, cfg.numeric_bins)
        plan.methods[name] = cfg.method
        plan.labels[name] = f"{cfg.method} on reference {cfg.numeric_bins}-quantile bins"
    elif kind == "numeric":
        plan.methods[name] = plan.labels[name] = cfg.method
    else:
        method = categorical_method(cfg)
        plan.methods[name] = method
        if distinct > cfg.max_categories:
            r, c = top_k_buckets(r, c, cfg.max_categories)
            plan.labels[name] = f"{method} on top-{cfg.max_categories} + other"
        else:
            plan.labels[name] = f"{method} on categories"
    plan.kinds[name] = kind
    plan.reference[name], plan.current[name] = r, c


def _finite(frame: pl.DataFrame) -> pl.DataFrame:
    floats = [c for c, t in frame.schema.items() if t.is_float()]
    return frame.with_columns(
        [pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c) for c in floats])


@dataclass
class Measured:
    """One day's statistics before any verdict: what calibration collects day after day and
    the daily monitor scores (``column_drift``: each column's distance; ``missing_effect``:
    Cohen's h of its missing share, signed, ``2 asin sqrt p``, whose sampling noise does not
    depend on p, so a column that is never missing and one that often is are judged alike)."""

    plan: Plan
    column_drift: dict[str, float]
    missing_effect: dict[str, float]
    reference_rows: int
    current_rows: int
    current_total: int  # rows of the current side before sampling
    # view (``VIEWS``) -> column -> its signed effect: ``location`` (numbers: Cliff's delta)
    # and ``range`` (the share of values outside the reference's: ``out_of_range_effect``)
    views: dict[str, dict[str, float]] = field(default_factory=dict)


def cohens_h(p_reference: float, p_current: float) -> float:
    """``2 asin sqrt(p2) - 2 asin sqrt(p1)`` (Cohen 1988), signed (more missing: positive): an
    effect size for two shares whose variance under binomial noise is ~1/n1 + 1/n2 whatever
    the shares. Signed, so a slow trend is seen as one (``drift_calibration``'s variogram)."""
    return 2 * math.asin(math.sqrt(p_current)) - 2 * math.asin(math.sqrt(p_reference))


def cliffs_delta(reference: pl.Series, current: pl.Series) -> float:
    """``P(cur > ref) - P(cur < ref)`` over all pairs (Cliff 1993; ``2A - 1`` with Vargha and
    Delaney's A, the Mann-Whitney U over ``n_ref * n_cur``), from mid-ranks of the pooled values.

    Why a location signal beside the distance: a distance is unsigned and spends its power on
    the whole shape, so a level shift of a quarter (a demand feed's +50 % in half its series)
    scored *below* quiet days whose shape wobbled; a rank effect sees the shift itself, is
    bounded whatever the tails (a mean of a heavy-tailed column is not), and its sampling
    spread under no change is known: ``sqrt((n1 + n2 + 1) / (3 n1 n2))``."""
    n_ref, n_cur = reference.len(), current.len()
    if not n_ref or not n_cur:
        return 0.0
    ranks = pl.concat([reference.cast(pl.Float64), current.cast(pl.Float64)]) \
        .rank(method="average")
    u = float(ranks.tail(n_cur).sum()) - n_cur * (n_cur + 1) / 2
    return 2 * u / (n_ref * n_cur) - 1


def delta_spread(n_ref: int, n_cur: int) -> float:
    """Cliff's delta's standard deviation between two samples of one law (no ties)."""
    return math.sqrt((n_ref + n_cur + 1) / (3 * max(n_ref, 1) * max(n_cur, 1)))


def share_spread(n_ref: int, n_cur: int) -> float:
    """Cohen's h's standard deviation between two samples of one law: ``sqrt(1/n1 + 1/n2)``."""
    return math.sqrt(1 / max(n_ref, 1) + 1 / max(n_cur, 1))


def out_of_range_effect(reference: pl.Series, current: pl.Series, numeric: bool) -> float:
    """Cohen's h (signed) of the share of values outside the reference's: for a number, below
    its ``RANGE_TAIL`` or above its ``1 - RANGE_TAIL`` quantile; for a category, values the
    reference never held. Evidently's out-of-range and out-of-list share tests
    (``ShareOfOutRangeValues``, ``ShareOfOutListValues``), on quantiles rather than the
    min-max a heavy tail stretches.

    Why a view of its own: a new pattern on a few per cent of rows (a fraud ring's large
    amounts, a new channel) lands in the tails or in new values; ten quantile bins fold it
    into the top decile's 10 %, a new category's 4 % barely moves a distance over five
    values, while against a tail share of 1 % it is a fourfold change."""
    if not reference.len() or not current.len():
        return 0.0
    if numeric:
        lo = reference.quantile(RANGE_TAIL, "lower")
        hi = reference.quantile(1 - RANGE_TAIL, "higher")

        def outside(s: pl.Series) -> float:
            return float(cast(float, ((s < lo) | (s > hi)).mean()) or 0.0)

        return cohens_h(outside(reference), outside(current))
    return cohens_h(0.0, float(cast(float, (~current.is_in(reference.unique())).mean()) or 0.0))


def views(plan: Plan) -> dict[str, dict[str, float]]:
    """Each compared column's signed views (``VIEWS``; ``Measured.views``)."""
    return {
        "location": {c: cliffs_delta(r, cur) for c, (r, cur, numeric) in plan.values.items()
                     if numeric},
        "range": {c: out_of_range_effect(r, cur, numeric)
                  for c, (r, cur, numeric) in plan.values.items()},
    }


def measure(reference: pl.DataFrame, current: pl.DataFrame, columns: list[str],
            cfg: DriftConfig, categorical: Collection[str] | None = None,
            prediction: str | None = None, current_rows: int | None = None) -> Measured:
    """Plan every column (see ``_plan_column``) and compute its statistics, without a report.
    ``current_rows``: the current side's fixed sample size (a calibration's; default
    ``cfg.sample_size``): a distance on a fixed-size sample has a quiet level that does not
    move with the day's volume."""
    if prediction is not None and prediction in columns:
        raise ValueError(f"{prediction!r} is the prediction: leave it out of the columns")
    categorical = categorical or set()
    # an infinite value has no bin: it counts as missing (the missingness signal sees it)
    reference, current = _finite(reference), _finite(current)
    ref = sample(reference, cfg.sample_size, cfg.seed)
    cur = sample(current, current_rows or cfg.sample_size, cfg.seed)
    plan = Plan()
    for name in dict.fromkeys(columns):
        _plan_column(plan, name, reference, current, ref, cur, cfg, categorical)
    if prediction:
        _plan_column(plan, prediction, reference, current, ref, cur, cfg, categorical,
                     missingness=False)
        if prediction in plan.compared:  # a prediction has its own verdict, not in the share
            plan.compared.remove(prediction)
    return Measured(plan, column_statistics(plan),
                    {c: cohens_h(*shares) for c, shares in plan.shares.items()},
                    ref.height, cur.height, current.height, views(plan))
