"""Sensors: drift episodes -> one alert and one retraining run; failed runs -> an alert;
alerts no channel accepted yet -> retried by ``alert_outbox`` until one does.

A day counts as drifted when its features or predictions drifted, or (fraud) when the
champion's realised PR-AUC on matured labels decayed (``monitoring/fraud_performance``).

The drift sensors read the daily drift history (Delta tables written by the monitoring
assets), advance the episode state kept in the cursor (``lakeloop.policy``), and request the
retrain job with a run key per episode, so a re-evaluated tick never launches twice.
"""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import polars as pl

from assets.monitoring import episodes_evaluation
from lakeloop.domains import Domain
from lakeloop.policy import Action, EpisodeState, RetrainPolicy, step
from lakeloop.settings import TrainingSettings
from resources import AlertsResource, LakeResource

EARLIEST = dt.date(1970, 1, 1)
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
             dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def first_day_in_flight(instance: dg.DagsterInstance) -> dt.date | None:
    """The earliest daily partition a queued or running run is still writing, if any.

    Why the sensor needs it: a day's drift row is committed a moment before its performance
    row. A tick between the two would judge the day without its decay signal and move its
    cursor past it; so a day is judged only once no run is writing it."""
    days = []
    for run in instance.get_runs(dg.RunsFilter(statuses=IN_FLIGHT)):
        key = run.tags.get("dagster/partition") \
            or run.tags.get("dagster/asset_partition_range_start")
        try:
            days.append(dt.date.fromisoformat(key)) if key else None
        except ValueError:
            continue  # another partitions definition: not a day
    return min(days, default=None)


def default_policy(spec: Domain, training: TrainingSettings) -> RetrainPolicy:
    """The retrain waits ``training.drift_wait_days``: the drifted days' labels must mature
    before a classifier can learn the new pattern and be judged on it; a forecaster needs a
    week of the new level (see ``TrainingSettings.drift_wait_days``)."""
    return RetrainPolicy(retrain_after_days=training.drift_wait_days(spec))


def _resolved_action(reason: str) -> str:
    """What the reader of a "resolved" alert should know was done."""
    if reason.startswith("reference moved"):
        return ("none: the days from now on are measured against the new reference; drift "
                "against it opens a new episode")
    return "none"


def _persisting_action(domain: str, action: Action) -> str:
    """The two ways out of an episode that will not end by itself."""
    opened = action.episode.removeprefix(f"{domain}-")
    return (f"if the drift is the new normal: `lakeloop monitoring accept {domain} --from "
            f"{opened}` (the next measurement uses its first days as reference and the "
            f"episode resolves at the next tick); else retrain and promote a better model")


def drift_sensor(spec: Domain, training: TrainingSettings | None = None,
                 policy: RetrainPolicy | None = None, interval_s: int = 300
                 ) -> dg.SensorDefinition:
    domain, classification = spec.name, spec.kind == "classification"
    training = training or TrainingSettings()
    policy = policy or default_policy(spec, training)
    job = f"retrain_{domain}"

    @dg.sensor(
        name=f"{domain}_drift_sensor", job_name=job, minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests {job} when {domain} drift persists ({policy.k} of the last "
        f"{policy.n} days drifted"
        + (", or the champion's realised PR-AUC decayed" if classification else "")
        + f"), at most once per episode and per {policy.cooldown_days}-day "
        "cooldown; alerts when an episode opens, when it resolves (quiet days, or the "
        f"reference moved: a promotion or a re-baseline), and once if it is still open after "
        f"{policy.persist_days} days.",
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: LakeResource,
                alerts: AlertsResource) -> dg.SensorResult | dg.SkipReason:
        from lakeloop.alerts import Alert
        from lakeloop.evidently_workspace import workspace_for
        from lakeloop.monitoring import drift_history, performance_table
        from lakeloop.monitoring import history as monitoring_history

        state = EpisodeState.from_dict(json.loads(context.cursor) if context.cursor else None)
        storage, workspace = lake.lake(), workspace_for(lake.root)
        start = dt.date.fromisoformat(state.last_day) + dt.timedelta(days=1) \
            if state.last_day else EARLIEST
        busy = first_day_in_flight(context.instance)
        end = busy - dt.timedelta(days=1) if busy else dt.date(9999, 12, 31)
        history = drift_history(storage, domain, start, end)
        if history.is_empty():
            return dg.SkipReason(f"no new {domain} drift measurements since {state.last_day}"
                                 + (f" (days from {busy} wait for their runs)" if busy else ""))
        # classification: realised performance decay (labels matured) counts as drifted too
        perf = monitoring_history(storage, performance_table(domain), start, end) \
            if classification else pl.DataFrame()
        decayed = {} if perf.is_empty() else {
            r["date"]: r for r in perf.filter(pl.col("decayed")).iter_rows(named=True)}
        requests, alerted = [], False
        for row in history.iter_rows(named=True):
            day = row["date"]
            decay = decayed.get(day)
            drifted = bool(row["dataset_drift"]) or bool(row["prediction_drift"]) \
                or decay is not None
            reference = row.get("reference") or row["champion"]
            actions = step(state, day, drifted, policy, domain, reference=reference)
            kinds = {a.kind: a for a in actions}
            if "retrain" in kinds:
                a = kinds["retrain"]
                requests.append(dg.RunRequest(
                    run_key=f"{a.episode}-retrain",
                    run_config={"ops": training.run_config(spec, day.isoformat(), drift=True)},
                    tags={"lakeloop/trigger": f"{domain}_drift", "lakeloop/episode": a.episode,
                          "lakeloop/as_of": day.isoformat(), "lakeloop/reason": a.reason[:200]},
                ))
            # the day's snapshot in the Evidently UI: a link the reader's browser opens
            alerting = bool({"open", "resolve", "persisting"} & kinds.keys())
            alerted |= alerting
            stored = workspace.day(f"{domain}_drift", day) if alerting else None
            report = stored.url if stored else None
            details = {"drift_share": row["drift_share"],
                       "max_column_drift": row["max_column_drift"],
                       "prediction_drift_score": row["prediction_drift_score"],
                       "drifted_columns": row["drifted_columns"] or "none",
                       "champion": row["champion"], "reference": reference}
            if decay is not None:
                floor = decay.get("decay_floor")  # absent in rows from before it was learnt
                details["performance"] = (
                    f"PR-AUC {decay['pr_auc_pooled']:.3f} over the {decay['pooled_days']} days "
                    f"to {decay['evaluated_day']} vs {decay['test_pr_auc']:.3f} promised"
                    + (f", below its floor {floor:.3f}" if floor is not None else ""))
            if "resolve" in kinds:  # before "open": a reference move may end one, open one
                a = kinds["resolve"]
                alerts.send(Alert("drift_resolved", domain, a.episode,
                                  # the day ends the title: the demo report reads it
                                  f"{domain}: drift episode resolved on {day}",
                                  a.reason, details, report, _resolved_action(a.reason)),
                            storage, log=context.log.info)
            if "open" in kinds:
                a = kinds["open"]
                if "retrain" in kinds:
                    action = f"{job} requested (run key {a.episode}-retrain)"
                elif "scheduled" in kinds:
                    action = f"{job} scheduled for {kinds['scheduled'].day}: " + (
                        f"the drifted days' labels need {training.label_window(spec)} days to "
                        f"mature, and {training.drift_train_days} drifted days plus validation "
                        "and test days must have matured before a model can learn the new "
                        "pattern and be judged on it" if classification else
                        "a week of the new level in the history first")
                else:
                    action = f"no retrain: {kinds['cooldown'].reason}"
                alerts.send(Alert("drift_open", domain, a.episode,
                                  f"{domain}: drift episode opened on {day}", a.reason,
                                  details, report, action), storage, log=context.log.warning)
            if "persisting" in kinds:  # once per episode: its key dedups the alert
                a = kinds["persisting"]
                alerts.send(Alert("drift_persisting", domain, a.episode,
                                  f"{domain}: drift episode {a.episode} still open on {day}",
                                  a.reason, details, report, _persisting_action(domain, a)),
                            storage, log=context.log.warning)
        # a tick that opened or resolved an episode shows it on the drift asset's alerts check
        events = [episodes_evaluation(domain, storage)] if alerted else []
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(state.to_dict()),
                               asset_events=events)

    return _sensor


# every run of the instance, not only this code location's: a run launched from the command
# line (``dagster asset materialize -m pipelines.definitions``, the README's backfill) has
# another origin than the workspace's, and its failure went unalerted
@dg.run_failure_sensor(name="run_failure_alert", default_status=dg.DefaultSensorStatus.RUNNING,
                       monitor_all_code_locations=True,
                       description="Alerts on every failed run of the instance (job, "
                       "partition, failing steps), however it was launched.")
def run_failure_alert(context: dg.RunFailureSensorContext, lake: LakeResource,
                      alerts: AlertsResource) -> None:
    from lakeloop.alerts import Alert

    run = context.dagster_run
    steps = sorted({e.step_key for e in context.get_step_failure_events() if e.step_key})
    alerts.send(Alert(
        "run_failure", "pipeline", f"run-{run.run_id}",
        f"run of {run.job_name} failed" + (f" ({run.tags.get('dagster/partition')})"
                                          if run.tags.get("dagster/partition") else ""),
        (context.failure_event.message or "run failed")[:500],
        {"run_id": run.run_id, "failed_steps": ", ".join(steps) or "n/a"},
        None, "none: see the run in the Dagster UI",
    ), lake.lake(), log=context.log.warning)


def alert_outbox_sensor(interval_s: int = 60) -> dg.SensorDefinition:
    """Retries the alerts no channel accepted (``pending`` in ``alerts/log``).

    Why a sensor of its own rather than a retry inside the drift sensors: alerts come from
    every drift sensor and from ``run_failure_alert``, and an outage of the webhook should be
    bridged within a minute or two, not at the next drift tick (every
    ``sensor_interval_s``, and never for a domain whose sensor is turned off). Its ticks in the
    UI say what was retried and what still waits; turning it off stops the retries alone.
    Each alert waits its own backoff between attempts (``AlertsResource.retry_first_s``,
    doubling up to ``retry_max_s``), so a tick every ``interval_s`` seconds only looks at
    the log and sends what is due. It requests no runs, so every tick ends "skipped" with its
    summary as the reason.
    """

    @dg.sensor(name="alert_outbox", minimum_interval_seconds=interval_s,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Retries alerts that no channel accepted yet (status pending in "
               "alerts/log), with backoff between attempts, until a channel accepts them.")
    def _sensor(context: dg.SensorEvaluationContext, lake: LakeResource,
                alerts: AlertsResource) -> dg.SkipReason:
        outcomes = alerts.retry_pending(lake.lake(), log=context.log.warning)
        if not outcomes:
            return dg.SkipReason("no pending alert is due")
        count = {status: sum(o.status == status for o in outcomes)
                 for status in ("delivered", "pending", "logged")}
        parts = [f"{count['delivered']} delivered"]
        if count["pending"]:
            due = min(str(o.next_attempt_at) for o in outcomes if o.status == "pending")
            parts.append(f"{count['pending']} still pending (next attempt at {due})")
        if count["logged"]:
            parts.append(f"{count['logged']} logged only (no alert channel configured)")
        return dg.SkipReason(f"retried {len(outcomes)} pending alert(s): " + ", ".join(parts))

    return _sensor
