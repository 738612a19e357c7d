"""Retraining policy: when drift becomes an episode, when to retrain, when it is over.

A pure state machine over the daily drift history, so the sensor is a thin loop and the
rules are tested without Dagster:
- a day "drifted" if its dataset drift or prediction drift flag is set;
- an episode opens when at least ``k`` of the last ``n`` measured days drifted, or when the
  days' evidence has built up past its threshold (``sequential``: a drift too small for any
  one day's verdict but kept up day after day): one alert, and one retrain unless the
  previous retrain is younger than ``cooldown_days``;
- the retrain can wait ``retrain_after_days`` after the alert, so the drifted days' labels
  (fraud) or actuals (demand) are in the training data when it runs;
- it resolves after ``quiet_days`` quiet days in a row: one "resolved" alert;
- it also resolves at once when a day is measured against another *reference* than the one
  the episode opened under (a promoted retrain, or a re-baseline an operator recorded with
  ``lakeloop monitoring accept``): the drift was judged against a reference that no longer
  serves, so it says nothing about the new one. Only days measured since the move count
  towards the next episode;
- an episode still open after ``persist_days`` says so, once: a new normal that neither a
  retrain nor the quiet days end keeps an episode open forever unless someone acts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lakeloop.alerting.sequential import cusum_step

# A reference id: the champion version, plus "+baseline:<first day>" after a re-baseline
# (``lakeloop.monitoring.rebaseline.Baseline.reference_id``).
BASELINE_TAG = "+baseline:"


@dataclass(frozen=True)
class RetrainPolicy:
    k: int = 2
    n: int = 3
    cooldown_days: int = 7
    quiet_days: int = 3
    retrain_after_days: int = 0
    persist_days: int = 30


@dataclass
class EpisodeState:
    open: bool = False
    opened: str | None = None
    last_retrain: str | None = None
    last_day: str | None = None
    quiet_streak: int = 0
    recent: list[bool] = field(default_factory=list)  # newest last, at most n
    retrain_due: str | None = None
    reference: str | None = None  # what the latest day was measured against
    opened_reference: str | None = None  # what the open episode's days were measured against
    persisting_noted: bool = False  # the open episode's "persisting" notice was given
    evidence: float = 0.0  # Page's sum of the days' evidence since the last reset (``sequential``)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> EpisodeState:
        """Cursors of older versions lack the newer keys (their defaults apply); keys this
        version does not know are dropped rather than refused, so a rollback of the code
        keeps its sensors ticking."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in known})


@dataclass(frozen=True)
class Action:
    kind: str  # "open" | "retrain" | "scheduled" | "cooldown" | "resolve" | "persisting"
    day: str
    episode: str
    reason: str


def split_reference(reference: str) -> tuple[str, str | None]:
    """``"v0002+baseline:2026-03-01"`` -> ``("v0002", "2026-03-01")``; a champion alone ->
    ``(champion, None)``."""
    champion, _, start = reference.partition(BASELINE_TAG)
    return champion, start or None


def describe_move(old: str, new: str) -> str:
    """Why an episode measured against ``old`` ends now that days are measured against
    ``new``, in the words of what happened."""
    old_champion, _ = split_reference(old)
    new_champion, start = split_reference(new)
    if new_champion != old_champion:
        return f"reference moved: champion {new_champion} promoted (was {old_champion})"
    if start:
        return f"reference moved: re-baselined from {start} (champion {new_champion})"
    return f"reference moved: from {old} to {new}"


def _move_reference(state: EpisodeState, reference: str | None, iso: str,
                    domain: str) -> list[Action]:
    """Record what ``iso`` was measured against; on a move, forget the days measured against
    the old reference and resolve the open episode (if any) with the reason."""
    if reference is None:
        return []  # a caller that does not know references: the rules of before
    previous, state.reference = state.reference, reference
    if state.open and state.opened_reference is None:
        state.opened_reference = previous or reference  # an episode from an older cursor
    if previous is None or previous == reference:
        return []
    # only days since the move count from now on
    state.recent, state.quiet_streak, state.evidence = [], 0, 0.0
    if not state.open:
        return []
    old = state.opened_reference or previous
    state.open, state.opened_reference, state.persisting_noted = False, None, False
    return [Action("resolve", iso, f"{domain}-{state.opened}", describe_move(old, reference))]


def _open(state: EpisodeState, day: dt.date, policy: RetrainPolicy,
          domain: str, why: str) -> list[Action]:
    """Open an episode on ``day``: the alert, and the retrain (now, later, or not at all
    within the cooldown)."""
    iso = day.isoformat()
    state.open, state.opened, state.quiet_streak = True, iso, 0
    state.opened_reference, state.persisting_noted = state.reference, False
    episode = f"{domain}-{iso}"
    actions = [Action("open", iso, episode, why)]
    last = dt.date.fromisoformat(state.last_retrain) if state.last_retrain else None
    if last is not None and (day - last).days < policy.cooldown_days:
        return [*actions, Action("cooldown", iso, episode,
                                 f"last retrain {state.last_retrain} is within the "
                                 f"{policy.cooldown_days}-day cooldown")]
    if policy.retrain_after_days:
        due = day + dt.timedelta(days=policy.retrain_after_days)
        state.retrain_due = due.isoformat()
        return [*actions, Action("scheduled", state.retrain_due, episode, why)]
    state.last_retrain = iso
    return [*actions, Action("retrain", iso, episode, why)]


def _persisting(state: EpisodeState, day: dt.date, policy: RetrainPolicy,
                domain: str) -> list[Action]:
    """Once per episode, when it has been open ``persist_days``: the drift is the new normal
    and no retrain has replaced the reference; only a person can end it sooner."""
    if not state.open or state.persisting_noted or state.opened is None:
        return []
    opened = dt.date.fromisoformat(state.opened)
    days = (day - opened).days
    if days < policy.persist_days:
        return []
    state.persisting_noted = True
    return [Action("persisting", day.isoformat(), f"{domain}-{state.opened}",
                   f"episode still open after {days} days with no better model (measured "
                   f"against {state.opened_reference or 'the same reference'} throughout); "
                   f"if the drift is the new normal, accept it as the reference with "
                   f"`lakeloop monitoring accept {domain} --from {state.opened}`, or retrain")]


def _why_open(state: EpisodeState, policy: RetrainPolicy,
              evidence_threshold: float | None) -> str | None:
    """Why an episode opens today, or None: ``k`` of ``n`` drifted days, or the days'
    evidence past its threshold."""
    if sum(state.recent) >= policy.k:
        return f"drift on {sum(state.recent)} of the last {len(state.recent)} days"
    if evidence_threshold is not None and state.evidence >= evidence_threshold:
        return (f"drift building up over days: evidence {state.evidence:.1f} reached its "
                f"threshold {evidence_threshold:.1f}")
    return None


def step(state: EpisodeState, day: dt.date, drifted: bool, policy: RetrainPolicy,
         domain: str, reference: str | None = None, evidence: float | None = None,
         evidence_threshold: float | None = None) -> list[Action]:
    """Advance ``state`` by one measured day; returns what to do (mutates ``state``).

    ``reference``: the id of what the day was measured against (the champion version, with
    ``+baseline:<day>`` after a re-baseline); None keeps the rules that ignore it.
    ``evidence``: the day's calibrated evidence of drift (a standard normal score on quiet
    days) and ``evidence_threshold`` the sequential rule's threshold (``sequential``); None
    (an uncalibrated monitor, a day reported but not judged): the day adds nothing to it."""
    iso = day.isoformat()
    actions = _move_reference(state, reference, iso, domain)
    state.recent = [*state.recent, drifted][-policy.n:]
    if evidence is not None and evidence_threshold is not None and not state.open:
        state.evidence = cusum_step(state.evidence, evidence)
    state.last_day = iso
    if state.retrain_due and iso >= state.retrain_due:
        state.last_retrain, state.retrain_due = iso, None
        actions.append(Action("retrain", iso, f"{domain}-{state.opened}",
                              f"scheduled when the episode opened on {state.opened}"))
    if not state.open:
        why = _why_open(state, policy, evidence_threshold)
        if why is not None:
            state.evidence = 0.0  # the next episode builds its own evidence
            actions += _open(state, day, policy, domain, why)
        return actions
    episode = f"{domain}-{state.opened}"
    state.quiet_streak = 0 if drifted else state.quiet_streak + 1
    if state.quiet_streak >= policy.quiet_days:
        state.open, state.quiet_streak = False, 0
        state.opened_reference, state.persisting_noted = None, False
        state.recent = []
        actions.append(Action("resolve", iso, episode,
                              f"{policy.quiet_days} quiet days in a row"))
        return actions
    return actions + _persisting(state, day, policy, domain)
