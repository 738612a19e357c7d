"""Sensors: drift episodes -> one alert and one retraining run; failed runs -> an alert;
alerts no channel accepted yet -> retried by ``alert_outbox`` until one does.

A day counts as drifted when its features or predictions drifted, or (fraud) when the
champion's realised PR-AUC on matured labels decayed (``monitoring/fraud_performance``).

The drift sensors read the daily drift history (Delta tables written by the monitoring
assets), advance the episode state kept in the cursor (``lakeloop.alerting.policy``), and request
the retrain job with a run key per episode, so a re-evaluated tick never launches twice.
"""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg

from assets.monitoring import episodes_evaluation
from lakeloop import names
from lakeloop.alerting.drift_alerts import RetrainPlan, day_details, episode_alerts
from lakeloop.alerting.policy import Action, EpisodeState, RetrainPolicy, step
from lakeloop.contracts.domains import Domain
from lakeloop.settings import TrainingSettings
from pipelines.jobs import retrain_run_config
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


def _retrain_request(spec: Domain, day: dt.date, action: Action,
                     training: TrainingSettings) -> dg.RunRequest:
    """The drift retrain of an episode: its run key is the episode's, so a re-evaluated tick
    never launches it twice."""
    return dg.RunRequest(
        run_key=f"{action.episode}-retrain",
        run_config={"ops": retrain_run_config(training, spec, day.isoformat(), drift=True)},
        tags={"lakeloop/trigger": names.drift_asset(spec.name), "lakeloop/episode": action.episode,
              "lakeloop/as_of": day.isoformat(), "lakeloop/reason": action.reason[:200]})


def drift_sensor(spec: Domain, training: TrainingSettings | None = None,
                 policy: RetrainPolicy | None = None, interval_s: int = 300
                 ) -> dg.SensorDefinition:
    domain, classification = spec.name, spec.kind == "classification"
    training = training or TrainingSettings()
    policy = policy or default_policy(spec, training)
    job = names.retrain_job(domain)
    plan = RetrainPlan(job, classification, training.label_window(spec),
                       training.drift_train_days)

    @dg.sensor(
        name=names.drift_sensor(domain), job_name=job, minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests {job} when {domain} drift persists ({policy.k} of the last "
        f"{policy.n} days drifted, or the days' drift evidence built up past its threshold"
        + (", or the champion's realised PR-AUC decayed" if classification else "")
        + f"), at most once per episode and per {policy.cooldown_days}-day "
        "cooldown; alerts when an episode opens, when it resolves (quiet days, or the "
        f"reference moved: a promotion or a re-baseline), and once if it is still open after "
        f"{policy.persist_days} days.",
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: LakeResource,
                alerts: AlertsResource) -> dg.SensorResult | dg.SkipReason:
        from lakeloop.monitoring.domain_monitor import judged_days
        from lakeloop.monitoring.evidently_workspace import workspace_for

        state = EpisodeState.from_dict(json.loads(context.cursor) if context.cursor else None)
        storage, workspace = lake.lake(), workspace_for(lake.root)
        start = dt.date.fromisoformat(state.last_day) + dt.timedelta(days=1) \
            if state.last_day else EARLIEST
        busy = first_day_in_flight(context.instance)
        end = busy - dt.timedelta(days=1) if busy else dt.date(9999, 12, 31)
        days = judged_days(storage, domain, start, end, with_performance=classification)
        if not days:
            return dg.SkipReason(f"no new {domain} drift measurements since {state.last_day}"
                                 + (f" (days from {busy} wait for their runs)" if busy else ""))
        requests, alerted = [], False
        for judged in days:
            day = judged.day
            evidence, evidence_threshold = judged.evidence
            actions = step(state, day, judged.drifted, policy, domain, reference=judged.reference,
                           evidence=evidence, evidence_threshold=evidence_threshold)
            kinds = {a.kind: a for a in actions}
            if "retrain" in kinds:
                requests.append(_retrain_request(spec, day, kinds["retrain"], training))
            # the day's snapshot in the Evidently UI: a link the reader's browser opens
            alerting = bool({"open", "resolve", "persisting"} & kinds.keys())
            alerted |= alerting
            stored = workspace.day(names.drift_asset(domain), day) if alerting else None
            details = day_details(judged.row, judged.reference, judged.decay)
            for alert, level in episode_alerts(domain, day, kinds, details,
                                               stored.url if stored else None, plan):
                alerts.send(alert, storage, log=getattr(context.log, level))
        # a tick that opened or resolved an episode shows it on the drift asset's alerts check
        events = [episodes_evaluation(domain, storage)] if alerted else []
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(state.to_dict()),
                               asset_events=events)

    return _sensor


# every run of the instance, not only this code location's: a run launched from the command
# line (``dg launch -m pipelines.definitions``, the README's backfill) has
# another origin than the workspace's, and its failure went unalerted
@dg.run_failure_sensor(name=names.RUN_FAILURE_SENSOR, default_status=dg.DefaultSensorStatus.RUNNING,
                       monitor_all_code_locations=True,
                       description="Alerts on every failed run of the instance (job, "
                       "partition, failing steps), however it was launched.")
def run_failure_alert(context: dg.RunFailureSensorContext, lake: LakeResource,
                      alerts: AlertsResource) -> None:
    from lakeloop.alerting.channels import Alert

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

    @dg.sensor(name=names.ALERT_OUTBOX_SENSOR, minimum_interval_seconds=interval_s,
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
