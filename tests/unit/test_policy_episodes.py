"""Episodes that can end: a moved reference (a promoted retrain, a re-baseline) resolves the
open episode; an episode that persists says so once; cursors of before still load."""

from __future__ import annotations

import datetime as dt
import json

from lakeloop.alerting.policy import Action, EpisodeState, RetrainPolicy, split_reference, step

D0 = dt.date(2026, 2, 1)
POLICY = RetrainPolicy(k=2, n=3, cooldown_days=7, quiet_days=3)


def _run(days: list[tuple[str, str]], policy: RetrainPolicy = POLICY,
         state: EpisodeState | None = None) -> list[Action]:
    """``days``: (flag, reference) per day from D0; flag "D" drifted, "." quiet."""
    state = state if state is not None else EpisodeState()
    out: list[Action] = []
    for i, (flag, reference) in enumerate(days):
        out += step(state, D0 + dt.timedelta(days=i), flag == "D", policy, "fraud",
                    reference=reference)
    return out


def _kinds(actions: list[Action]) -> list[str]:
    """``kind@N``: N is the day's number, D0 being day 1."""
    return [f"{a.kind}@{(dt.date.fromisoformat(a.day) - D0).days + 1}" for a in actions]


def _days(flags: str, reference: str) -> list[tuple[str, str]]:
    return [(c, reference) for c in flags]


def test_a_promoted_retrain_ends_the_episode_and_a_later_drift_opens_a_new_one() -> None:
    # drifting every day: without a move the episode would never end (no 3 quiet days)
    days = _days("DDDDD", "v0001") + _days("DDDD", "v0002")
    actions = _run(days)
    # the new episode is within the cooldown of the retrain that made v0002: no retrain again
    assert _kinds(actions) == ["open@2", "retrain@2", "resolve@6", "open@7", "cooldown@7"]
    resolve = next(a for a in actions if a.kind == "resolve")
    assert resolve.episode == "fraud-2026-02-02"
    assert resolve.reason == "reference moved: champion v0002 promoted (was v0001)"
    # the new episode counts only days against v0002: 2 of them by day 7, not day 6
    opened = [a for a in actions if a.kind == "open"]
    assert [a.episode for a in opened] == ["fraud-2026-02-02", "fraud-2026-02-07"]


def test_only_days_since_the_move_count_towards_the_next_episode() -> None:
    # day 4 drifted against v0001, day 5 against v0002: 2 of the last 3 days, which would
    # open an episode, but only day 5 counts against v0002, and one drifted day opens nothing
    actions = _run(_days("...D", "v0001") + _days("D..", "v0002"))
    assert _kinds(actions) == []
    actions = _run(_days("...D", "v0001") + _days("DD", "v0002"))
    assert _kinds(actions) == ["open@6", "retrain@6"]


def test_a_re_baseline_ends_the_episode_with_its_reason() -> None:
    rebased = "v0001+baseline:2026-02-03"
    actions = _run(_days("DDDD", "v0001") + _days("....", rebased) + _days("DD", rebased))
    assert _kinds(actions) == ["open@2", "retrain@2", "resolve@5", "open@10", "retrain@10"]
    resolve = next(a for a in actions if a.kind == "resolve")
    assert resolve.reason == "reference moved: re-baselined from 2026-02-03 (champion v0001)"
    assert split_reference(rebased) == ("v0001", "2026-02-03")
    assert split_reference("v0003") == ("v0003", None)


def test_a_quiet_resolve_still_works_and_a_move_without_an_episode_alerts_nothing() -> None:
    assert _kinds(_run(_days("DD...", "v0001"))) == ["open@2", "retrain@2", "resolve@5"]
    assert _kinds(_run(_days("..", "v0001") + _days("..", "v0002"))) == []


def test_the_persisting_notice_fires_once_after_persist_days() -> None:
    policy = RetrainPolicy(k=2, n=3, cooldown_days=7, quiet_days=3, persist_days=10)
    state = EpisodeState()
    actions = _run(_days("D" * 25, "v0001"), policy, state)
    assert _kinds(actions) == ["open@2", "retrain@2", "persisting@12"]  # 10 days after 2
    [notice] = [a for a in actions if a.kind == "persisting"]
    assert notice.episode == "fraud-2026-02-02"
    assert "still open after 10 days with no better model" in notice.reason
    assert "`lakeloop monitoring accept fraud --from 2026-02-02`" in notice.reason
    assert "retrain" in notice.reason
    # the state survives a cursor round trip: the notice is not given again
    state = EpisodeState.from_dict(json.loads(json.dumps(state.to_dict())))
    more = [step(state, D0 + dt.timedelta(days=25 + i), True, policy, "fraud",
                 reference="v0001") for i in range(10)]
    assert [a for day in more for a in day] == []
    # once the reference moves it resolves; the next episode gets its own notice
    later = _run(_days("D" * 25, "v0001") + _days("D" * 14, "v0002"), policy)
    assert _kinds(later)[-4:] == ["resolve@26", "open@27", "retrain@27", "persisting@37"]


def test_an_episode_that_resolves_quietly_gets_no_notice() -> None:
    policy = RetrainPolicy(k=2, n=3, quiet_days=3, persist_days=3)
    assert _kinds(_run(_days("DD...", "v0001"), policy)) == ["open@2", "retrain@2",
                                                             "resolve@5"]


def test_old_cursors_load_and_their_open_episode_adopts_the_first_reference() -> None:
    # a cursor written before references: an open episode, no reference keys
    old = {"open": True, "opened": "2026-02-02", "last_retrain": "2026-02-02",
           "last_day": "2026-02-04", "quiet_streak": 0, "recent": [True, True, True],
           "retrain_due": None}
    state = EpisodeState.from_dict(old)
    assert (state.reference, state.opened_reference, state.persisting_noted) == (
        None, None, False)
    assert EpisodeState.from_dict(None) == EpisodeState()
    assert EpisodeState.from_dict({**old, "from_the_future": 1}).opened == "2026-02-02"
    day = dt.date(2026, 2, 5)
    assert step(state, day, True, POLICY, "fraud", reference="v0001") == []  # adopted
    assert state.opened_reference == "v0001"
    [resolve] = step(state, day + dt.timedelta(days=1), True, POLICY, "fraud",
                     reference="v0002")
    assert (resolve.kind, resolve.episode) == ("resolve", "fraud-2026-02-02")
    json.dumps(state.to_dict())  # still JSON


def test_without_references_the_rules_of_before_apply() -> None:
    state = EpisodeState()
    kinds = []
    for i, flag in enumerate("DDDDD..."):
        kinds += [a.kind for a in step(state, D0 + dt.timedelta(days=i), flag == "D", POLICY,
                                       "fraud")]
    assert kinds == ["open", "retrain", "resolve"]
    assert state.reference is None
