"""Point-in-time training sets of a classification domain, rebuilt exactly from the Delta
versions they record.

Events whose labels have *matured* by ``as_of`` (older than the label window), labelled
positive if the label was known on ``as_of``: a reported label landed on or before it, or a
label column whose maturity has passed. Split by date: train, then validation, then test -
never at random across time - either rolling back from ``as_of`` or over explicit date ranges,
with an optional gap of days left out before the test range (labels still maturing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace

import polars as pl

from lakeloop.contracts.calendar import BusinessCalendar
from lakeloop.contracts.domains import Domain
from lakeloop.features.events import is_positive
from lakeloop.names import PARTITION_COLUMN, bronze_table
from lakeloop.storage import Lake
from lakeloop.training.columns import LABEL, SPLIT
from lakeloop.training.split import SplitWindow

MIN_TEST_POSITIVES = 50  # default: fewer known positives in a test window is noise, not evidence


@dataclass
class TrainingSet:
    frame: pl.DataFrame
    as_of: dt.date
    window: SplitWindow
    source_versions: dict[str, int]

    def part(self, name: str) -> pl.DataFrame:
        return self.frame.filter(pl.col(SPLIT) == name).drop(SPLIT)

    def lineage(self) -> dict[str, object]:
        return {"as_of": self.as_of.isoformat(), "window": asdict(self.window),
                "source_versions": self.source_versions}


def label_table(domain: Domain) -> str:
    """Where the domain's labels live: the reported-labels dataset, or the events themselves."""
    return bronze_table(domain.labels.name if domain.labels else domain.main.name)


def known_positive_ids(lake: Lake, domain: Domain, as_of: dt.date, version: int | None,
                       first: dt.date | None = None) -> pl.LazyFrame:
    """Ids (the main dataset's id columns) of events known positive on ``as_of``, among the
    events of ``first`` or later when given: a label is reported on or after its event's day,
    so reported labels are read from ``first`` on, not over the whole history."""
    ids = domain.main.roles.id
    label = domain.main.roles.label
    assert label is not None
    if domain.labels is not None:
        positives = lake.scan(label_table(domain), first, as_of, version=version).select(ids)
    else:
        assert label.column is not None and label.maturity_days is not None
        matured = as_of - dt.timedelta(days=label.maturity_days)
        positives = lake.scan(label_table(domain), first, matured, version=version) \
            .filter(is_positive(pl.col(label.column), label.positive)).select(ids)
    return positives.unique().with_columns(pl.lit(1).alias(LABEL))


def grow_test_window(lake: Lake, domain: Domain, as_of: dt.date, window: SplitWindow,
                     versions: dict[str, int], calendar: BusinessCalendar) -> SplitWindow:
    """The rolling window with its test part grown back, one open day at a time, until it
    holds ``min_test_positives`` known positives (train and validation move back with it, the
    whole window grows by as much). A metric on a dozen frauds is noise, not evidence.

    Grows at most to half of the window's days; if that is not enough the window is returned
    as grown and the decision sees the shortfall (``test_window.positives`` in the registry).
    Idempotent: a window rebuilt from its recorded lineage (already grown) stays as it is."""
    if window.explicit or window.min_test_positives <= 0:
        return window
    last = window.ranges(as_of, calendar)["test"][1]
    most = max(window.test_days, window.window_days // 2)
    first = calendar.shift(last, -(most - 1))
    ids = domain.main.roles.id
    per_day = (
        lake.scan(domain.features_table, first, last, version=versions[domain.features_table])
        .select(*ids, PARTITION_COLUMN)
        .join(known_positive_ids(lake, domain, as_of, versions[label_table(domain)], first),
              on=ids, how="inner")
        .group_by(PARTITION_COLUMN).agg(pl.len().alias("positives"))
        .collect()
    )
    counts = dict(zip(per_day[PARTITION_COLUMN].to_list(), per_day["positives"].to_list(),
                      strict=True))
    days, total = 0, 0
    for days in range(1, most + 1):
        total += counts.get(calendar.shift(last, -(days - 1)), 0)
        if days >= window.test_days and total >= window.min_test_positives:
            break
    grow = max(days - window.test_days, 0)
    if not grow:
        return window
    return replace(window, test_days=window.test_days + grow,
                   window_days=window.window_days + grow)


def classification_training_set(lake: Lake, domain: Domain, as_of: dt.date,
                                window: SplitWindow, versions: dict[str, int] | None = None
                                ) -> TrainingSet:
    """Build the set as of ``as_of``; pass ``versions`` to rebuild a past one exactly."""
    features, labels = domain.features_table, label_table(domain)
    if versions is None:
        versions = {t: lake.version(t) for t in (features, labels)}  # type: ignore[misc]
        missing = [t for t, v in versions.items() if v is None]
        if missing:
            raise ValueError(f"cannot build a {domain.name} training set: no table {missing} yet")
    calendar = BusinessCalendar(domain.calendar)
    window = grow_test_window(lake, domain, as_of, window, versions, calendar)
    ranges = window.ranges(as_of, calendar)
    first, last = window.dates(as_of, calendar)
    split = pl.lit(None, dtype=pl.String)
    for name, (a, b) in reversed(list(ranges.items())):
        split = pl.when(pl.col(PARTITION_COLUMN).is_between(a, b)).then(pl.lit(name)) \
            .otherwise(split)
    ids = domain.main.roles.id
    time = domain.main.roles.event_time.output  # type: ignore[union-attr]
    frame = (
        lake.scan(features, first, last, version=versions[features])
        .join(known_positive_ids(lake, domain, as_of, versions[labels], first), on=ids,
              how="left")
        .with_columns(pl.col(LABEL).fill_null(0).cast(pl.Int8), split.alias(SPLIT))
        .filter(pl.col(SPLIT).is_not_null())  # the gap's days
        .sort(time, *ids)
        .collect()
    )
    counts = frame.group_by(SPLIT).agg(pl.col(PARTITION_COLUMN).n_unique())
    have = dict(zip(counts[SPLIT].to_list(), counts[PARTITION_COLUMN].to_list(), strict=True))
    empty = [s for s in ranges if not have.get(s)]
    if empty:
        raise ValueError(f"{domain.name} training set as of {as_of}: no feature days for "
                         f"{empty} in {first}..{last} (ranges {ranges}); more history needed")
    return TrainingSet(frame, as_of, window, versions)  # type: ignore[arg-type]
