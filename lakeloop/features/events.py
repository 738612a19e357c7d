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
from lakeloop.names import PARTITION_COLUMN

EVENT_LOOKBACK_DAYS = 7  # longest event window
LABEL_LOOKBACK_DAYS = 30  # label-history window
WEEK_SECONDS = 7 * 24 * 3600
KNOWN_ON = "_known_on"  # the day a positive label became known
GROUP = "_group"  # a working column: the run of one entity's rows, ordered by entity
TIMED_RUN, STAND_IN_TIME = "_run", "_at"  # the windows' runs and clock when a time is missing
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


def _entity_value(cols: list[str]) -> pl.Expr:
    """An entity's key as one value to hash, group or look up: its column, or a struct of
    its columns (exact, unlike the joined text of ``_entity_key``)."""
    return pl.struct(cols) if len(cols) > 1 else pl.col(cols[0])


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


def _rolling(ordered: pl.DataFrame, name: str, at: str, run: str, amount: str | None
             ) -> tuple[list[pl.Series], list[pl.Series]]:
    """Event counts, and amount statistics, over each of ``COUNT_WINDOWS`` before every row
    (``closed="left"``: events strictly earlier), within its ``run`` of ``ordered`` (one
    entity's rows, ordered by ``at``). One ``DataFrame.rolling`` per window length computes
    all of its statistics from one set of window bounds: about twice as fast as one
    ``rolling_*_by(...).over(run)`` per statistic, which gave the same values."""
    out: dict[str, pl.Series] = {}
    for period in COUNT_WINDOWS:
        stats = [pl.len().cast(pl.Int32).alias(f"{name}_count_{period}")]
        if amount is not None:
            stats += [getattr(pl.col(amount), stat)().alias(f"{name}_amount_{stat}_{period}")
                      for p, stat in AMOUNT_STATS if p == period]
        done = ordered.rolling(at, period=period, closed="left", group_by=run).agg(stats)
        if not done[run].equals(ordered[run]):  # rows come back in runs, as given
            raise AssertionError(f"{name}: rolling windows came back in another row order")
        out.update((c, done[c]) for c in done.columns if c not in (run, at))
    statistics = [f"{name}_amount_{stat}_{p}" for p, stat in AMOUNT_STATS] if amount else []
    return [out[f"{name}_count_{p}"] for p in COUNT_WINDOWS], [out[c] for c in statistics]


def _previous(expr: pl.Expr, group: pl.Expr) -> pl.Expr:
    """``expr`` of the row before in the same ``group`` run (null on a run's first row): a
    shift, without ``over``, as the frame is ordered by run."""
    return pl.when(group == group.shift(1)).then(expr.shift(1))


def _entity_windows(events: pl.DataFrame, name: str, cols: list[str], time: str,
                    amount: str | None, hops: Mapping[str, list[str]]) -> pl.DataFrame:
    """Counts, amount statistics and seconds since the previous event of one entity (and
    whether it hops between the ``hops`` entities), one row per row of ``events`` (in event
    order), in its order. Rows whose key has a null share no history (no entity features);
    a row without an event time is in no window and counts none.

    Why the detour through the entity's order: windows then work on contiguous runs of rows.
    The rows are ordered by a hash of the key (a sort of integers, stable so event order
    holds within an entity), the groups are runs of equal keys; two keys with one hash would
    split into more runs than keys, and are then ordered by the key itself."""
    key = _entity_value(cols)
    rows = events.select(*dict.fromkeys([
        time, PARTITION_COLUMN, *cols, *(c for other in hops.values() for c in other),
        *([amount] if amount else [])]))
    # a permutation, then one gather (a sort by an expression holds twice the memory)
    order = rows.select(pl.arg_sort_by(key.hash(), maintain_order=True)).to_series()
    ordered = rows[order]
    if not one_run_per_entity(ordered, cols):  # a hash collision: ordered by the key itself
        order = rows.select(pl.arg_sort_by(cols, maintain_order=True)).to_series()
        ordered = rows[order]
    del rows
    group, present = pl.col(GROUP), _entity_key(cols).is_not_null()
    timed = pl.col(time).is_not_null()
    all_present, all_timed = ordered.select(present.all(), timed.all()).row(0)
    # the windows' runs and clock: rows without a time make runs of their own (sorted
    # before the entity's timed rows), on a stand-in time, and their results are dropped
    run, at = (GROUP, time) if all_timed else (TIMED_RUN, STAND_IN_TIME)
    ordered = ordered.with_columns(
        key.rle_id().set_sorted().alias(GROUP),
        *([] if all_timed else [pl.struct(key, timed).rle_id().alias(run),
                                pl.col(time).fill_null(pl.col(time).min()).alias(at)]),
        *([pl.col(amount).cast(pl.Float64)] if amount else []))
    hop = [(present & _previous_visible(group)  # an unknown card hops nowhere
            & (_previous(_entity_key(other), group) == _entity_key(other)))
           .fill_null(False).alias(f"{name}_same_{o}_as_prev") for o, other in hops.items()]
    since = pl.when(_previous_visible(group)).then(
        (pl.col(time) - _previous(pl.col(time), group)).dt.total_seconds())
    per_row = ordered.select(present.alias("_present"), (present & timed).alias("_timed"),
                             since.alias(f"{name}_seconds_since_prev"), *hop)
    ordered = ordered.select(*dict.fromkeys([run, at, *([amount] if amount else [])]))
    counts, statistics = _rolling(ordered, name, at, run, amount)  # (keys' text let go of)
    del ordered
    keyed, timed_rows = per_row["_present"], per_row["_timed"]

    def seen(values: pl.Series, mask: pl.Series) -> pl.Series:
        """``values``, null where ``mask`` is false (the row has no history)."""
        if all_present and all_timed:
            return values
        return pl.select(pl.when(mask).then(values)).to_series().alias(values.name)

    columns = [*(seen(s, keyed) for s in counts), *(seen(s, timed_rows) for s in statistics),
               seen(per_row[f"{name}_seconds_since_prev"], keyed),
               *(per_row[f"{name}_same_{o}_as_prev"] for o in hops)]
    del counts, statistics, per_row, keyed, timed_rows
    # back in event order, as many columns at a time as Polars has threads (not two frames)
    back, restored, step = order.arg_sort(), [], pl.thread_pool_size()
    while columns:
        batch, columns = pl.DataFrame(columns[:step]), columns[step:]
        restored += batch[back].get_columns()
        del batch
    return pl.DataFrame(restored)


def one_run_per_entity(frame: pl.DataFrame, cols: list[str],
                       hashed: pl.Expr | None = None) -> bool:
    """In ``frame``, ordered by the hash of the entity key (``hashed``, default the key's
    ``hash()``), every entity's rows are one run: as many runs of equal keys as runs of equal
    hashes. Two keys sharing a hash (a collision) make more key runs than hash runs, whether
    their rows interleave or not. Why runs, not a count of distinct keys: that count built a
    table of every key (~35 MB a million rows, for a check that almost always passes)."""
    key = _entity_value(cols)
    hashed = key.hash() if hashed is None else hashed
    return frame.height == 0 or frame.select(key.rle_id().max() == hashed.rle_id().max()).item()


def in_event_order(history: pl.LazyFrame, order: list[str]) -> pl.DataFrame:
    """``history`` collected and sorted by ``order`` (event time, then the ids), sorted only
    when it is not in that order already: bronze days are usually stored in event order, and
    sorting a wide frame holds a copy of every column (about 3x its size at its peak)."""
    frame = history.collect(engine="in-memory")
    if frame.height > 1 and not frame.select(_ordered(order)).item():
        frame = frame.sort(order)
    return frame


def _ordered(order: list[str]) -> pl.Expr:
    """Every row is at or after the row before it in ``order``, compared column by column
    (a null anywhere counts as out of order: the sort places nulls itself)."""
    after, tied = pl.lit(False), pl.lit(True)
    for c in order:
        prev = pl.col(c).shift(1)
        after, tied = after | (tied & (pl.col(c) > prev)), tied & (pl.col(c) == prev)
    no_nulls = pl.all_horizontal(pl.col(c).is_not_null() for c in order)
    return ((after | tied).slice(1).all() & no_nulls.all())


def _previous_visible(group: pl.Expr) -> pl.Expr:
    """The entity's previous event is one its row's own night can see: within the
    ``EVENT_LOOKBACK_DAYS`` before the row's day. A nightly run reads no further back; a
    backfill's range holds older events, which must not count (or a card's first event in a
    week would have a "previous" one in a backfill and none at night)."""
    day = pl.col(PARTITION_COLUMN)
    return _previous(day, group) >= day - pl.duration(days=EVENT_LOOKBACK_DAYS)


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

    The history is read once, eagerly (it is all needed); the frame returned is computed
    already. Memory: only new columns are made beside the history's own (the windows on a
    narrow copy, in each entity's order); ``bench/bench_features.py`` measures it.
    """
    until = until or day
    if label_entities is None:
        label_entities = list(contract.roles.entities)
    r = contract.roles
    assert r.event_time is not None
    time, amount = r.event_time.output, r.amount
    first = next(iter(r.entities), None)
    keys = key_columns(contract)
    label_col = r.label.column if r.label else None
    # Computed on a narrow frame of the columns they read, then set beside the wide one:
    # window expressions make their whole input one contiguous chunk, and a frame read from
    # many files is many chunks (a copy of every column for nothing).
    original = contract_columns(history)
    passthrough = [c for c in contract.feature_columns(original) if c not in keys]
    raw_amount = [amount] if amount and amount not in keys and amount not in passthrough else []
    kept = [*keys, *raw_amount, *passthrough]  # read only these (``_source_file`` is not)
    tx = in_event_order(history.select(*dict.fromkeys(kept)), [time, *r.id])
    read = tx.select(*dict.fromkeys([
        time, PARTITION_COLUMN, *(c for cols in r.entities.values() for c in cols),
        *([amount] if amount else [])])).rechunk()  # gathers from one chunk are ~10x faster
    windows = pl.concat([_entity_windows(
        read, name, cols, time, amount,  # does the first entity (the card) hop between others?
        {o: oc for o, oc in r.entities.items() if name == first and o != first})
        for name, cols in r.entities.items()], how="horizontal") if r.entities else None
    del read
    in_range = tx.select(pl.col(PARTITION_COLUMN).is_between(day, until)).to_series()
    if not in_range.all():  # a look-back to drop (a filter copies)
        tx = tx.filter(in_range)
        windows = None if windows is None else windows.filter(in_range)
    # Generated columns are kept apart from the history's own and put beside them at the
    # end: the two have different chunk layouts (the history's are its files'), and Polars
    # aligns the layouts of a whole frame -- a copy of every column -- for any select,
    # with_columns or drop on a frame that mixes them.
    new: dict[str, pl.Series] = {}
    if windows is not None:  # the hops after every entity's windows (the table's order)
        hops = [f"{first}_same_{o}_as_prev" for o in r.entities if o != first]
        new.update((c, windows[c]) for c in [*(c for c in windows.columns if c not in hops),
                                               *hops])
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
            history_of = _label_history(_frame(tx, [*cols, PARTITION_COLUMN]), known, name, cols)
            new.update((c, history_of[c]) for c in history_of.columns)
    if amount is not None:
        derived.append(pl.col(amount).cast(pl.Float64).clip(lower_bound=0).log1p()
                       .alias("log_amount"))
    derived += [pl.col(time).dt.hour().alias("hour"), pl.col(time).dt.weekday().alias("weekday"),
                (pl.col(time).dt.hour() < 6).alias("is_night")]
    _refuse_clashes(tx, new, contract)
    read_by_derived = [time, *([amount] if amount else [])]  # (one chunk, like ``new``)
    inputs = pl.DataFrame([*(tx[c].rechunk() for c in read_by_derived), *new.values()])
    new.update((s.name, s) for s in inputs.select(derived).get_columns())
    columns = {c: tx[c] for c in [*keys, *raw_amount, *passthrough]}
    columns.update(new)  # a derived column named like a data column replaces it, in place
    if label_col:
        columns.pop(label_col, None)
    return pl.DataFrame(list(columns.values())).lazy()


def _frame(tx: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
    """Some columns of ``tx`` as a frame of their own, without copying them."""
    return pl.DataFrame([tx[c] for c in cols])


def _refuse_clashes(tx: pl.DataFrame, new: Mapping[str, pl.Series], contract: Contract) -> None:
    """A data column that has a generated feature's name is refused by name, never
    overwritten."""
    clash = sorted(set(tx.columns) & set(new))
    if clash:
        raise ValueError(f"{contract.name}: column(s) {clash} have the names of features "
                         "lakeloop generates; rename them (a column's `source:` in the "
                         "contract) or leave them out (`extra_columns`)")


def contract_columns(frame: pl.LazyFrame) -> list[str]:
    return frame.collect_schema().names()


def _label_history(rows: pl.DataFrame, known: pl.LazyFrame | None, name: str,
                   cols: list[str]) -> pl.DataFrame:
    """Positives of the entity known in the 30 days before each event's day, and days since
    the last one (per event day, so a range of days is one pass): two columns, one per row of
    ``rows`` (the entity's key columns and the day), in its order."""
    labels, since = f"{name}_labels_30d", f"{name}_days_since_label"
    if known is None:  # no label known yet: the same columns, at their "none seen" values
        return rows.with_columns(pl.lit(0, dtype=pl.UInt32).alias(labels),
                                 pl.lit(LABEL_LOOKBACK_DAYS + 1, dtype=pl.Int64).alias(since)
                                 ).select(labels, since)
    day = pl.col(PARTITION_COLUMN)
    positives = known.select(*cols, KNOWN_ON).collect(engine="in-memory")
    entity = _entity_value(cols)
    labelled = positives.select(entity).to_series().unique().implode()
    # only the rows of entities with a known positive are looked up (a few of many), then
    # set in place among the "none seen" values: a join of every row costs ~100 MB a 1M rows
    hit = rows.select(entity.is_in(labelled).fill_null(False)).to_series()
    looked_up = rows.filter(hit)
    per_day = (looked_up.lazy().unique()
               .join(positives.lazy(), on=cols, how="inner", nulls_equal=False)
               .filter((pl.col(KNOWN_ON) < day)
                       & (pl.col(KNOWN_ON) >= day - pl.duration(days=LABEL_LOOKBACK_DAYS)))
               .group_by(*cols, PARTITION_COLUMN)
               .agg(pl.len().alias(labels), (day.first() - pl.col(KNOWN_ON).max()).dt.total_days()
                    .alias(since)))
    found = looked_up.lazy().join(per_day, on=[*cols, PARTITION_COLUMN], how="left",
                                  nulls_equal=False, maintain_order="left").select(
        pl.col(labels).fill_null(0), pl.col(since).fill_null(LABEL_LOOKBACK_DAYS + 1),
    ).collect(engine="in-memory")
    where, n = hit.arg_true(), rows.height
    return pl.DataFrame([
        pl.repeat(0, n, dtype=pl.UInt32, eager=True).alias(labels)
        .scatter(where, found[labels]),
        pl.repeat(LABEL_LOOKBACK_DAYS + 1, n, dtype=pl.Int64, eager=True).alias(since)
        .scatter(where, found[since])])
