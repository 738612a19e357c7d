"""What a drift sensor tells people: each episode action of a day as an alert, in words.

Pure: the sensor (``pipelines/sensors.py``) advances the episode policy, then sends what this
module composes. Kept out of the sensor so the wording can be read and tested without Dagster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lakeloop.alerting.channels import Alert
from lakeloop.alerting.policy import Action

Level = Literal["info", "warning"]


@dataclass(frozen=True)
class RetrainPlan:
    """How a domain's drift retrain is run, for the alert that opens an episode."""

    job: str
    classification: bool
    label_window_days: int
    drift_train_days: int


def day_details(row: Mapping[str, Any], reference: str, decay: Mapping[str, Any] | None
                ) -> dict[str, object]:
    """The figures an alert carries: the day's drift row and, when realised performance
    decayed, what was measured against what was promised."""
    details: dict[str, object] = {
        "drift_share": row["drift_share"], "max_column_drift": row["max_column_drift"],
        "prediction_drift_score": row["prediction_drift_score"],
        "drifted_columns": row["drifted_columns"] or "none",
        "champion": row["champion"], "reference": reference}
    if decay is not None:
        floor = decay.get("decay_floor")  # absent in rows from before it was learnt
        details["performance"] = (
            f"PR-AUC {decay['pr_auc_pooled']:.3f} over the {decay['pooled_days']} days "
            f"to {decay['evaluated_day']} vs {decay['test_pr_auc']:.3f} promised"
            + (f", below its floor {floor:.3f}" if floor is not None else ""))
    return details


def resolved_action(reason: str) -> str:
    """What the reader of a "resolved" alert should know was done."""
    if reason.startswith("reference moved"):
        return ("none: the days from now on are measured against the new reference; drift "
                "against it opens a new episode")
    return "none"


def persisting_action(domain: str, action: Action) -> str:
    """The two ways out of an episode that will not end by itself."""
    opened = action.episode.removeprefix(f"{domain}-")
    return (f"if the drift is the new normal: `lakeloop monitoring accept {domain} --from "
            f"{opened}` (the next measurement uses its first days as reference and the "
            f"episode resolves at the next tick); else retrain and promote a better model")


def opened_action(kinds: Mapping[str, Action], plan: RetrainPlan) -> str:
    """What happens about an episode just opened: a retrain now, later (and why), or not."""
    if "retrain" in kinds:
        return f"{plan.job} requested (run key {kinds['open'].episode}-retrain)"
    if "scheduled" in kinds:
        return f"{plan.job} scheduled for {kinds['scheduled'].day}: " + (
            f"the drifted days' labels need {plan.label_window_days} days to mature, and "
            f"{plan.drift_train_days} drifted days plus validation and test days must have "
            "matured before a model can learn the new pattern and be judged on it"
            if plan.classification else "a week of the new level in the history first")
    return f"no retrain: {kinds['cooldown'].reason}"


def episode_alerts(domain: str, day: dt.date, kinds: Mapping[str, Action],
                   details: dict[str, object], report: str | None, plan: RetrainPlan
                   ) -> list[tuple[Alert, Level]]:
    """The day's alerts, in the order they happen: a resolved episode before an opened one
    (a reference move may end one and open another), then one still open past its limit
    (once per episode: its key dedups the alert)."""
    out: list[tuple[Alert, Level]] = []
    if "resolve" in kinds:
        a = kinds["resolve"]
        out.append((Alert("drift_resolved", domain, a.episode,
                          # the day ends the title: the demo report reads it
                          f"{domain}: drift episode resolved on {day}", a.reason, details,
                          report, resolved_action(a.reason)), "info"))
    if "open" in kinds:
        a = kinds["open"]
        out.append((Alert("drift_open", domain, a.episode,
                          f"{domain}: drift episode opened on {day}", a.reason, details,
                          report, opened_action(kinds, plan)), "warning"))
    if "persisting" in kinds:
        a = kinds["persisting"]
        out.append((Alert("drift_persisting", domain, a.episode,
                          f"{domain}: drift episode {a.episode} still open on {day}", a.reason,
                          details, report, persisting_action(domain, a)), "warning"))
    return out
