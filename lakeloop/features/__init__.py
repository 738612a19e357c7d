"""Feature engineering: pure LazyFrame -> LazyFrame functions, point-in-time correct.

Each function takes exactly the look-back its windows need (the caller reads that window from
the lake, nothing more) and returns features for one day's rows only.
"""

from lakeloop.features.demand import DEMAND_LOOKBACK_DAYS, demand_features
from lakeloop.features.transactions import (
    LABEL_LOOKBACK_DAYS,
    TRANSACTION_LOOKBACK_DAYS,
    transaction_features,
)

__all__ = [
    "DEMAND_LOOKBACK_DAYS",
    "LABEL_LOOKBACK_DAYS",
    "TRANSACTION_LOOKBACK_DAYS",
    "demand_features",
    "transaction_features",
]
