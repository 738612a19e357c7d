"""Retraining policy and the drift sensors, on real Delta history and a real webhook server."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakeloop.alerting.policy import EpisodeState, RetrainPolicy, step
from lakeloop.contracts.domains import load_domains
from lakeloop.settings import TrainingSettings
from lakeloop.storage import Lake
from lakeloop.training.split import SplitWindow
from pipelines.jobs import retrain_run_config
from pipelines.sensors import drift_sensor
from resources import AlertsResource, LakeResource

SECRET = "/services/T0/B0/very-secret-token"
D0 = dt.date(2026, 2, 1)


def _days(flags: str) -> list[tuple[dt.date, bool]]:
    return [(D0 + dt.timedelta(days=i), c == "D") for i, c in enumerate(flags)]


def _run(flags: str, policy: RetrainPolicy, state: EpisodeState | None = None) -> list[str]:
    state = state or EpisodeState()
    out = []
    for day, drifted in _days(flags):
        out += [f"{a.kind}@{day.day}" for a in step(state, day, drifted, policy, "fraud")]
    return out


def test_policy_opens_retrains_resolves_and_cools_down() -> None:
    policy = RetrainPolicy(k=2, n=3, cooldown_days=7, quiet_days=3)
    assert _run("....D...D...", policy) == []  # isolated drifted days are not an episode
    # one episode: one open + one retrain, however long it lasts; resolved after 3 quiet days
    assert _run("..DDDDD...", policy) == ["open@4", "retrain@4", "resolve@10"]
    # a second episode inside the cooldown alerts but does not retrain again
    assert _run("DD...DD", policy) == ["open@2", "retrain@2", "resolve@5", "open@7",
                                       "cooldown@7"]
    # after the cooldown it retrains again
    assert _run("DD...." + "....DD", policy)[-2:] == ["open@12", "retrain@12"]
    # a delayed retrain waits for the drifted days' labels, once, even if it resolved
    delayed = RetrainPolicy(k=2, n=3, cooldown_days=7, quiet_days=3, retrain_after_days=4)
    assert _run("DD.......", delayed) == ["open@2", "scheduled@2", "resolve@5", "retrain@6"]


class Recorder(BaseHTTPRequestHandler):
    posts: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        Recorder.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    Recorder.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}{SECRET}"
    server.shutdown()


def _write_history(lake: Lake, flags: str, reference: str | None = None, first: int = 0,
                   champion: str = "v0001") -> None:
    """Drift rows of the days ``flags`` describes, from day number ``first`` on; with
    ``reference``, the rows name what they were measured against (rows written before that
    column existed lack it: the table gains it then)."""
    for day, drifted in _days(flags)[first:]:
        row = pl.DataFrame({
            "date": [day], "domain": ["fraud"], "champion": [champion],
            "dataset_drift": [drifted], "drift_share": [0.5 if drifted else 0.0],
            "drifted_columns": ["device,hour" if drifted else ""],
            "max_column_drift": [0.9 if drifted else 0.05], "prediction_drift_score": [0.01],
            "prediction_drift": [False]})
        if reference is not None:
            row = row.with_columns(pl.lit(reference).alias("reference"))
        lake.overwrite_partition("monitoring/fraud_drift", row, day,
                                 evolve=reference is not None)


def _store_snapshot(lake_root: str, day: dt.date):  # noqa: ANN202 - a StoredSnapshot
    """A drift snapshot of ``day`` in the lake's Evidently workspace, as the drift asset
    stores it (real Evidently, small frames)."""
    from lakeloop.monitoring.drift import compute_drift
    from lakeloop.monitoring.evidently_workspace import workspace_for
    from lakeloop.monitoring.measure import DriftConfig
    from tests.unit.test_drift import COLUMNS, _frame

    result = compute_drift(_frame(1_000, 1), _frame(1_000, 2), COLUMNS, DriftConfig())
    return workspace_for(lake_root).add_day("fraud_drift", day, result.snapshot)


def _evaluate(lake_root: str, url: str, cursor: str | None,  # noqa: ANN202
              in_flight: dt.date | None = None, policy: RetrainPolicy | None = None):
    # retrain as soon as the episode opens
    sensor = drift_sensor(load_domains()["fraud"], policy=policy or RetrainPolicy())
    with dg.instance_for_test() as instance:
        if in_flight:  # a nightly run of that day still writing its monitoring rows
            instance.add_run(dg.DagsterRun(job_name="nightly_fraud",
                                           status=dg.DagsterRunStatus.STARTED,
                                           tags={"dagster/partition": in_flight.isoformat()}))
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
            "lake": LakeResource(root=lake_root), "alerts": AlertsResource(webhook_url=url)})
        return sensor(ctx)


def test_sensor_requests_one_retrain_and_one_alert_per_episode(tmp_path: Path,
                                                                webhook: str) -> None:
    lake = Lake(str(tmp_path / "lake"))
    _write_history(lake, "...")
    quiet = _evaluate(lake.root, webhook, None)
    assert not quiet.run_requests and Recorder.posts == []

    _write_history(lake, "...DDD")
    snapshot = _store_snapshot(lake.root, D0 + dt.timedelta(days=4))  # the drift asset's
    result = _evaluate(lake.root, webhook, quiet.cursor)
    [request] = result.run_requests
    assert request.run_key == "fraud-2026-02-05-retrain"
    assert request.tags["lakeloop/trigger"] == "fraud_drift"
    assert "drift on 2 of the last 3 days" in request.tags["lakeloop/reason"]
    assert request.run_config["ops"]["fraud_training_set"]["config"]["as_of"] == "2026-02-05"
    [post] = Recorder.posts
    assert post["kind"] == "drift_open" and post["details"]["drifted_columns"] == "device,hour"
    assert "retrain_fraud requested" in post["action"]
    # the link opens the day's snapshot in the Evidently UI (not a path to copy)
    assert post["report"] == snapshot.url
    assert snapshot.url.endswith(f"/projects/{snapshot.project_id}/reports/"
                                 f"{snapshot.snapshot_id}")
    [view] = result.asset_events  # the alerts view on the drift asset turns to a warning
    assert (view.check_name, view.passed, view.metadata["open_episodes"].value) == (
        "fraud_drift_episodes", False, 1)
    assert "fraud-2026-02-05 open since" in view.description
    assert "**OPEN**" in view.metadata["episodes"].value

    again = _evaluate(lake.root, webhook, result.cursor)  # nothing new: nothing happens
    assert isinstance(again, dg.SkipReason) or not again.run_requests
    retried = _evaluate(lake.root, webhook, quiet.cursor)  # a tick retried from the old cursor
    assert [r.run_key for r in retried.run_requests] == [request.run_key]  # deduped by key
    assert len(Recorder.posts) == 1  # and the alert is not sent twice

    _write_history(lake, "...DDD...")
    resolved = _evaluate(lake.root, webhook, result.cursor)
    assert not resolved.run_requests
    assert [p["kind"] for p in Recorder.posts] == ["drift_open", "drift_resolved"]
    [view] = resolved.asset_events
    assert view.passed and view.metadata["open_episodes"].value == 0
    assert "| fraud-2026-02-05 | resolved |" in view.metadata["episodes"].value

    log = lake.scan("alerts/log").collect()
    assert sorted(log["kind"].to_list()) == ["drift_open", "drift_resolved"]
    dumped = log.write_csv()
    assert "very-secret-token" not in dumped and "127.0.0.1" in dumped  # host only


def test_a_day_is_judged_only_once_no_run_is_writing_it(tmp_path: Path, webhook: str) -> None:
    """The daemon may tick between a day's drift row and its performance row: that day waits
    for the next tick instead of being judged without its decay signal."""
    lake = Lake(str(tmp_path / "lake"))
    _write_history(lake, "...DDD")
    busy = D0 + dt.timedelta(days=4)  # the run of the 2nd drifted day is still running
    waiting = _evaluate(lake.root, webhook, None, in_flight=busy)
    assert not waiting.run_requests and Recorder.posts == []  # 1 drifted day of 2 judged
    assert json.loads(waiting.cursor)["last_day"] == (busy - dt.timedelta(days=1)).isoformat()
    skipped = _evaluate(lake.root, webhook, None, in_flight=D0)  # nothing judged yet
    assert isinstance(skipped, dg.SkipReason) and "wait for their runs" in skipped.skip_message
    done = _evaluate(lake.root, webhook, waiting.cursor)  # the run ended: judged now
    assert [r.run_key for r in done.run_requests] == ["fraud-2026-02-05-retrain"]


def test_performance_decay_alone_requests_a_retrain(tmp_path: Path, webhook: str) -> None:
    lake = Lake(str(tmp_path / "lake"))
    _write_history(lake, "......")  # no feature or score drift at all...
    for day, decayed in _days("...DDD"):  # ...but the matured labels say the model got worse
        lake.overwrite_partition("monitoring/fraud_performance", pl.DataFrame({
            "date": [day], "evaluated_day": [day - dt.timedelta(days=14)],
            "model_version": ["v0001"], "pr_auc_pooled": [0.3 if decayed else 0.7],
            "pooled_days": [7], "test_pr_auc": [0.65], "decayed": [decayed]}), day)
    result = _evaluate(lake.root, webhook, None)
    [request] = result.run_requests
    assert request.run_key == "fraud-2026-02-05-retrain"
    [post] = Recorder.posts
    assert post["kind"] == "drift_open"
    assert post["details"]["performance"].startswith("PR-AUC 0.300 over the 7 days")
    assert post["details"]["drifted_columns"] == "none"


def test_drift_retrain_of_a_classifier_waits_for_matured_labels_and_says_so(
        tmp_path: Path, webhook: str) -> None:
    domain = load_domains()["fraud"]
    training = TrainingSettings(label_window_days=14, drift_train_days=7)
    wait = training.drift_wait_days(domain)
    split = SplitWindow()
    assert wait == 14 + split.val_days + split.test_days + 7
    lake = Lake(str(tmp_path / "lake"))
    _write_history(lake, "...DDD")
    sensor = drift_sensor(domain, training)  # the default policy, from the label window
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources={
            "lake": LakeResource(root=lake.root), "alerts": AlertsResource(webhook_url=webhook)})
        opened = sensor(ctx)
    assert not opened.run_requests  # not on immature labels
    [post] = Recorder.posts
    due = (dt.date(2026, 2, 5) + dt.timedelta(days=wait)).isoformat()
    assert f"scheduled for {due}" in post["action"] and "14 days to mature" in post["action"]
    # the retrain, when due, trains on matured labels: no shortened label window
    config = retrain_run_config(training, domain, due, drift=True)["fraud_training_set"]["config"]
    assert config == {"as_of": due, "label_window_days": 14}


def test_a_moved_reference_resolves_the_open_episode(tmp_path: Path, webhook: str) -> None:
    """A re-baseline (``lakeloop monitoring accept``) or a promoted retrain moves what the days
    are measured against: the episode judged against the old reference ends at once, and only
    drift against the new one opens the next."""
    lake = Lake(str(tmp_path / "lake"))
    _write_history(lake, "...DDD")  # rows from before the "reference" column: the champion
    opened = _evaluate(lake.root, webhook, None)
    assert [p["kind"] for p in Recorder.posts] == ["drift_open"]
    assert Recorder.posts[0]["details"]["reference"] == "v0001"

    rebased = "v0001+baseline:2026-02-07"  # the new normal accepted: quiet against it
    _write_history(lake, "...DDD" + "..", reference=rebased, first=6)
    resolved = _evaluate(lake.root, webhook, opened.cursor)
    assert [p["kind"] for p in Recorder.posts] == ["drift_open", "drift_resolved"]
    post = Recorder.posts[-1]
    assert post["episode"] == "fraud-2026-02-05"
    assert post["title"] == "fraud: drift episode resolved on 2026-02-07"  # at once
    assert post["summary"] == "reference moved: re-baselined from 2026-02-07 (champion v0001)"
    assert "measured against the new reference" in post["action"]
    assert post["details"]["reference"] == rebased
    assert not resolved.run_requests
    [view] = resolved.asset_events
    assert view.passed
    assert "| fraud-2026-02-05 | resolved (reference moved) |" in view.metadata["episodes"].value
    assert json.loads(resolved.cursor)["reference"] == rebased

    # drift against the baseline: a new episode, with its own key
    _write_history(lake, "...DDD" + ".." + "DD", reference=rebased, first=8)
    again = _evaluate(lake.root, webhook, resolved.cursor)
    assert [p["kind"] for p in Recorder.posts][-1] == "drift_open"
    assert Recorder.posts[-1]["episode"] == "fraud-2026-02-10"
    assert not again.run_requests  # within the cooldown of the retrain of 2026-02-05

    # a promoted retrain: the rows name the new champion; that episode ends too
    _write_history(lake, "...DDD" + ".." + "DD" + ".", reference="v0002", first=10,
                   champion="v0002")
    promoted = _evaluate(lake.root, webhook, again.cursor)
    assert [p["kind"] for p in Recorder.posts][-1] == "drift_resolved"
    assert Recorder.posts[-1]["episode"] == "fraud-2026-02-10"
    assert Recorder.posts[-1]["summary"] == \
        "reference moved: champion v0002 promoted (was v0001)"
    assert json.loads(promoted.cursor)["open"] is False


def test_an_episode_that_persists_alerts_once(tmp_path: Path, webhook: str) -> None:
    lake = Lake(str(tmp_path / "lake"))
    policy = RetrainPolicy(persist_days=4)
    _write_history(lake, "DDDDDDDDD")
    first = _evaluate(lake.root, webhook, None, policy=policy)
    assert [p["kind"] for p in Recorder.posts] == ["drift_open", "drift_persisting"]
    post = Recorder.posts[-1]
    assert post["episode"] == "fraud-2026-02-02"  # the episode's key: one per episode
    assert post["title"] == "fraud: drift episode fraud-2026-02-02 still open on 2026-02-06"
    assert "still open after 4 days with no better model" in post["summary"]
    assert "`lakeloop monitoring accept fraud --from 2026-02-02`" in post["action"]
    _evaluate(lake.root, webhook, None, policy=policy)  # a tick retried from the old cursor
    _evaluate(lake.root, webhook, first.cursor, policy=policy)  # and one with nothing new
    assert len(Recorder.posts) == 2  # deduplicated by episode and kind
    [view] = first.asset_events  # still one open episode, not a second one
    assert view.metadata["open_episodes"].value == 1
    assert view.metadata["episodes_total"].value == 1
    assert "**OPEN** (persisted)" in view.metadata["episodes"].value
