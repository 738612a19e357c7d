"""Feature engineering from contract roles: pure functions, point-in-time correct.

Each function takes exactly the look-back its windows need (the caller reads that window from
the lake, nothing more) and returns features for one day's rows only.

``events``  a classification domain's event features: per-entity windows, label history
``series``  a forecasting domain's per-series features over open days
"""

from lakeloop.features.events import (
    EVENT_LOOKBACK_DAYS,
    LABEL_LOOKBACK_DAYS,
    EventSchema,
    event_features,
    event_schema,
    known_labels_from_column,
    known_labels_from_dataset,
)
from lakeloop.features.series import lookback_days, series_features

__all__ = [
    "EVENT_LOOKBACK_DAYS",
    "LABEL_LOOKBACK_DAYS",
    "EventSchema",
    "event_features",
    "event_schema",
    "known_labels_from_column",
    "known_labels_from_dataset",
    "lookback_days",
    "series_features",
]
