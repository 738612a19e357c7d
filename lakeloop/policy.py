"""Retraining policy: when drift becomes an episode, when to retrain, when it is over.

A pure state machine over the daily drift history, so the sensor is a thin loop and the
rules are tested without Dagster:
- a day "drifted" if its dataset drift or prediction drift flag is set;
- an episode opens when at least ``k`` of the last ``n`` measured days drifted: one alert, and
  one retrain unless the previous retrain is younger than ``cooldown_days``;
- the retrain can wait ``retrain_after_days`` after the alert, so the drifted days' labels
  (fraud) or actuals (demand) are in the training data when it runs;
- it resolves after ``quiet_days`` quiet days in a row: one "resolved" alert.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RetrainPolicy:
    k: int = 2
    n: int = 3
    cooldown_days: int = 7
    quiet_days: int = 3
    retrain_after_days: int = 0


@dataclass
class EpisodeState:
    open: bool = False
    opened: str | None = None
    last_retrain: str | None = None
    last_day: str | None = None
    quiet_streak: int = 0
    recent: list[bool] = field(default_factory=list)  # newest last, at most n
    retrain_due: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> EpisodeState:
        return cls(**d) if d else cls()


@dataclass(frozen=True)
class Action:
    kind: str  # "open" | "retrain" | "scheduled" | "cooldown" | "resolve"
    day: str
    episode: str
    reason: str


def step(state: EpisodeState, day: dt.date, drifted: bool, policy: RetrainPolicy,
         domain: str) -> list[Action]:
    """Advance ``state`` by one measured day; returns what to do (mutates ``state``)."""
    iso = day.isoformat()
    state.recent = [*state.recent, drifted][-policy.n:]
    state.last_day = iso
    actions: list[Action] = []
    if state.retrain_due and iso >= state.retrain_due:
        state.last_retrain, state.retrain_due = iso, None
        actions.append(Action("retrain", iso, f"{domain}-{state.opened}",
                              f"scheduled when the episode opened on {state.opened}"))
    if not state.open:
        if sum(state.recent) >= policy.k:
            state.open, state.opened, state.quiet_streak = True, iso, 0
            episode = f"{domain}-{iso}"
            why = f"drift on {sum(state.recent)} of the last {len(state.recent)} days"
            actions.append(Action("open", iso, episode, why))
            last = dt.date.fromisoformat(state.last_retrain) if state.last_retrain else None
            if last is None or (day - last).days >= policy.cooldown_days:
                if policy.retrain_after_days:
                    due = day + dt.timedelta(days=policy.retrain_after_days)
                    state.retrain_due = due.isoformat()
                    actions.append(Action("scheduled", state.retrain_due, episode, why))
                else:
                    state.last_retrain = iso
                    actions.append(Action("retrain", iso, episode, why))
            else:
                actions.append(Action("cooldown", iso, episode,
                                      f"last retrain {state.last_retrain} is within the "
                                      f"{policy.cooldown_days}-day cooldown"))
        return actions
    episode = f"{domain}-{state.opened}"
    state.quiet_streak = 0 if drifted else state.quiet_streak + 1
    if state.quiet_streak >= policy.quiet_days:
        state.open, state.quiet_streak = False, 0
        state.recent = []
        actions.append(Action("resolve", iso, episode,
                              f"{policy.quiet_days} quiet days in a row"))
    return actions
