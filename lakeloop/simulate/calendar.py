"""The simulator's own calendar: its time origin and the default profile's holidays.

``EPOCH`` fixes trend and seasonal phases, so a date's data does not depend on ``--start``.
"""

from __future__ import annotations

import datetime as dt

HOLIDAYS = {(1, 1), (1, 6), (5, 1), (8, 15), (10, 3), (11, 1), (12, 24), (12, 25), (12, 26),
            (12, 31)}
EPOCH = dt.date(2024, 1, 1)  # day 0 of the time index shared by the simulator and the models


def is_holiday(day: dt.date) -> bool:
    return (day.month, day.day) in HOLIDAYS
