"""Event features for a classification domain (fraud), built from the contract's roles only.

Per entity (``roles.entities``, one or several key columns each): event counts over 1h / 24h /
7d, amount statistics (when the contract has an ``amount``), seconds since the entity's
previous event, and its label history (positives known before the day). Per event: the log
amount, hour, weekday, night flag, and the contract's own feature columns passed through.

Point in time: every window is ``closed="left"`` on the event time, so a row sees only
events strictly before it; a label counts only once it was known before the row's day
(reported, or matured for a label column).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from lakeloop.contracts import Contract, matches
from lakeloop.storage.lake import PARTITION_COLUMN

EVENT_LOOKBACK_DAYS = 7  # longest event window
LABEL_LOOKBACK_DAYS = 30  # label-history window
WEEK_SECONDS = 7 * 24 * 3600
KNOWN_ON = "_known_on"  # the day a positive label became known
COUNT_WINDOWS = ("1h", "24h", "7d")
AMOUNT_STATS = (("1h", "sum"), ("24h", "sum"), ("24h", "mean"), ("24h", "max"),
                ("7d", "mean"), ("7d", "std"))
DERIVED_CATEGORICAL = ("hour", "weekday")


@dataclass(frozen=True)
class EventSchema:
    """Which silver columns are keys, which are model inputs (and of which kind)."""

    keys: list[str]
    categorical: list[str]
    numeric: list[str]

    @property
    def inputs(self) -> list[str]:
        return [*self.categorical, *self.numeric]


def _entity_key(cols: list[str]) -> pl.Expr:
    """One expression identifying an entity, composite keys joined; null when any key column
    is null (an unknown card is no card: its rows get no entity features, see ``_windows``)."""
    if len(cols) == 1:
        return pl.col(cols[0]).cast(pl.String)
    return pl.concat_str([pl.col(c).cast(pl.String) for c in cols], separator="|")


def key_columns(contract: Contract) -> list[str]:
    """Silver columns that identify a row rather than describe it."""
    r = contract.roles
    assert r.event_time is not None
    entity_cols = [c for cols in r.entities.values() for c in cols]
    return list(dict.fromkeys([*r.id, r.event_time.output, *entity_cols, PARTITION_COLUMN]))


def event_schema(contract: Contract, schema: Mapping[str, pl.DataType]) -> EventSchema:
    """Model inputs of a silver frame (its column -> type): every non-key column (and a key
    column the contract also names as a feature), categorical when the contract says so or
    when its type is text or boolean-as-category (kept columns' types are inferred at ingest),
    numeric otherwise."""
    columns = list(schema)
    features = set(contract.feature_columns(columns)) - {PARTITION_COLUMN}
    keys = [c for c in key_columns(contract) if c not in features]
    categorical, numeric = [], []
    excluded = contract.roles.features.exclude
    for c in columns:
        if c in keys or c.startswith("_") or matches(c, excluded):
            continue  # ``exclude`` removes derived inputs too
        text = schema[c] in (pl.String, pl.Categorical) or (
            c in features and schema[c] == pl.Boolean and c in contract.columns)
        if c in DERIVED_CATEGORICAL or (c in features and contract.is_categorical(
                c, dtype_is_numeric=not text)):
            categorical.append(c)
        else:
            numeric.append(c)
    return EventSchema(keys, categorical, numeric)


def _windows(name: str, key: pl.Expr, time: str, amount: str | None) -> list[pl.Expr]:
    def roll(expr: pl.Expr, fn: str, period: str) -> pl.Expr:
        return getattr(expr, f"rolling_{fn}_by")(time, window_size=period, closed="left")

    def known(expr: pl.Expr) -> pl.Expr:  # rows without a key share no history
        return pl.when(key.is_not_null()).then(expr)

    out = [known(roll(pl.col(time).is_not_null().cast(pl.Int32), "sum", p).over(key)
                 .fill_null(0)).alias(f"{name}_count_{p}") for p in COUNT_WINDOWS]
    if amount is not None:
        out += [known(roll(pl.col(amount).cast(pl.Float64), stat, p).over(key))
                .alias(f"{name}_amount_{stat}_{p}") for p, stat in AMOUNT_STATS]
    out.append(known(pl.when(_previous_visible(key)).then(
        (pl.col(time) - pl.col(time).shift(1).over(key)).dt.total_seconds()))
        .alias(f"{name}_seconds_since_prev"))
    return out


def _previous_visible(key: pl.Expr) -> pl.Expr:
    """The entity's previous event is one its row's own night can see: within the
    ``EVENT_LOOKBACK_DAYS`` before the row's day. A nightly run reads no further back; a
    backfill's range holds older events, which must not count (or a card's first event in a
    week would have a "previous" one in a backfill and none at night)."""
    day = pl.col(PARTITION_COLUMN)
    return day.shift(1).over(key) >= day - pl.duration(days=EVENT_LOOKBACK_DAYS)


def known_labels_from_dataset(labels: pl.LazyFrame, contract: Contract, labels_contract: Contract
                              ) -> pl.LazyFrame:
    """Reported labels (one row per positive, the landing day = the day it became known),
    with the entity columns the labels dataset has."""
    entity_cols = [c for cols in contract.roles.entities.values() for c in cols
                   if c in labels_contract.columns]
    return labels.select(*dict.fromkeys(entity_cols),
                         pl.col(PARTITION_COLUMN).alias(KNOWN_ON))


def known_labels_from_column(events: pl.LazyFrame, contract: Contract) -> pl.LazyFrame:
    """Positives of a label column, known ``maturity_days`` after the event's day."""
    label = contract.roles.label
    assert label is not None and label.column is not None and label.maturity_days is not None
    entity_cols = [c for cols in contract.roles.entities.values() for c in cols]
    return events.filter(is_positive(pl.col(label.column), label.positive)).select(
        *dict.fromkeys(entity_cols),
        (pl.col(PARTITION_COLUMN) + pl.duration(days=label.maturity_days)).alias(KNOWN_ON))


def is_positive(expr: pl.Expr, positive: list[str]) -> pl.Expr:
    """``expr`` is one of the contract's positive values (``1`` also matches a float 1.0)."""
    values = [p.lower() for p in positive] + (["1.0"] if "1" in positive else [])
    return expr.cast(pl.String).str.strip_chars().str.to_lowercase().is_in(values).fill_null(False)


def label_history_entities(contract: Contract, labels_contract: Contract | None) -> list[str]:
    """Entities that get label-history features: all of them for a label column; for a
    reported-labels dataset, those whose key columns the labels dataset carries."""
    return [name for name, cols in contract.roles.entities.items()
            if labels_contract is None or set(cols) <= set(labels_contract.columns)]


def event_features(history: pl.LazyFrame, known: pl.LazyFrame | None, day: dt.date,
                   contract: Contract, label_entities: list[str] | None = None,
                   until: dt.date | None = None) -> pl.LazyFrame:
    """Features for the events of ``day`` (to ``until``, inclusive: a backfill's range in
    one pass, each event seeing exactly what it would see on its own day).

    ``history``: bronze events for ``day - 7 .. until``; ``known``: positives known in
    ``day - 30 .. until - 1`` (entity columns + ``_known_on``; None before any exist);
    ``label_entities``: entities with label-history features (``label_history_entities``;
    default all), so every day has the same columns whether or not labels exist yet.
    """
    until = until or day
    if label_entities is None:
        label_entities = list(contract.roles.entities)
    r = contract.roles
    assert r.event_time is not None
    time, amount = r.event_time.output, r.amount
    entities = {name: _entity_key(cols) for name, cols in r.entities.items()}
    first = next(iter(entities), None)
    keys = key_columns(contract)
    label_col = r.label.column if r.label else None
    extra: list[pl.Expr] = []
    if first is not None:  # does the first entity (the card) hop between the others?
        for other in list(entities)[1:]:
            prev = entities[other].shift(1).over(entities[first])
            extra.append((_previous_visible(entities[first]) & (prev == entities[other]))
                         .fill_null(False).alias(f"{first}_same_{other}_as_prev"))
    tx = history.sort(time, *r.id).with_columns(
        *[e for name, key in entities.items() for e in _windows(name, key, time, amount)],
        *extra,
    ).filter(pl.col(PARTITION_COLUMN).is_between(day, until))

    derived: list[pl.Expr] = []
    for name, cols in r.entities.items():
        derived += [
            pl.col(f"{name}_seconds_since_prev").is_null().alias(f"{name}_first_seen_7d"),
            pl.col(f"{name}_seconds_since_prev").fill_null(WEEK_SECONDS),
        ]
        if amount is not None:
            mean = pl.col(f"{name}_amount_mean_7d")
            derived.append(pl.when(mean > 0).then(pl.col(amount) / mean).otherwise(1.0)
                           .alias(f"{name}_amount_vs_mean_7d"))  # $0 history: never inf
        if name in label_entities:
            tx = _with_label_history(tx, known, name, cols)
    if amount is not None:
        derived.append(pl.col(amount).cast(pl.Float64).clip(lower_bound=0).log1p()
                       .alias("log_amount"))
    derived += [pl.col(time).dt.hour().alias("hour"), pl.col(time).dt.weekday().alias("weekday"),
                (pl.col(time).dt.hour() < 6).alias("is_night")]
    original = contract_columns(history)
    out = tx.with_columns(derived)
    passthrough = [c for c in contract.feature_columns(original) if c not in keys]
    raw_amount = [amount] if amount and amount not in keys and amount not in passthrough else []
    generated = [c for c in contract_columns(out) if c not in original]
    return (out.select(*keys, *raw_amount, *passthrough, *generated)
            .drop(*([label_col] if label_col else []), strict=False)
            .sort(time, *r.id))


def contract_columns(frame: pl.LazyFrame) -> list[str]:
    return frame.collect_schema().names()


def _with_label_history(tx: pl.LazyFrame, known: pl.LazyFrame | None, name: str,
                        cols: list[str]) -> pl.LazyFrame:
    """Positives of the entity known in the 30 days before each event's day, and days since
    the last one (per event day, so a range of days is one pass)."""
    if known is None:  # no label known yet: the same columns, at their "none seen" values
        return tx.with_columns(pl.lit(0, dtype=pl.UInt32).alias(f"{name}_labels_30d"),
                               pl.lit(LABEL_LOOKBACK_DAYS + 1, dtype=pl.Int64)
                               .alias(f"{name}_days_since_label"))
    day = pl.col(PARTITION_COLUMN)
    per_day = (tx.select(*cols, PARTITION_COLUMN).unique()
               .join(known.select(*cols, KNOWN_ON), on=cols, how="inner", nulls_equal=False)
               .filter((pl.col(KNOWN_ON) < day)
                       & (pl.col(KNOWN_ON) >= day - pl.duration(days=LABEL_LOOKBACK_DAYS)))
               .group_by(*cols, PARTITION_COLUMN)
               .agg(pl.len().alias(f"{name}_labels_30d"),
                    pl.col(KNOWN_ON).max().alias("_last_label")))
    return tx.join(per_day, on=[*cols, PARTITION_COLUMN], how="left",
                   nulls_equal=False).with_columns(
        pl.col(f"{name}_labels_30d").fill_null(0),
        (day - pl.col("_last_label")).dt.total_days()
        .fill_null(LABEL_LOOKBACK_DAYS + 1).alias(f"{name}_days_since_label"),
    ).drop("_last_label")
