"""The same pipeline on S3: a real S3-compatible server (moto_server) on loopback, no patching."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import polars as pl
import pytest

from lakeloop.registry.model_registry import ModelRegistry
from lakeloop.settings import Settings
from lakeloop.simulate import SimConfig, simulate
from lakeloop.simulate.drift import Drift
from lakeloop.storage import Lake, ObjectStore
from pipelines.definitions import build_definitions
from tests.conftest import START, TINY, day
from tests.servers import free_port, wait_port

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}



@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_port(port, server, "moto_server")
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def s3_settings(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    env = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret",
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_endpoint, "AWS_ALLOW_HTTP": "true",
           "LAKELOOP_LAKE": "s3://lakeloop/lake", "LAKELOOP_LANDING": "s3://lakeloop/landing",
           "LAKELOOP_HOME": str(tmp_path)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    if "lakeloop" not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket="lakeloop")
    return Settings.from_env()


# a fraud champion from two weeks of history, trained in seconds
HISTORY_DAYS, DRIFTED_DAYS = 14, 3
RETRAIN = {**QUIET, "ops": {
    "fraud_training_set": {"config": {"label_window_days": 4, "window_days": 9,
                                      "val_days": 2, "test_days": 2}},
    "fraud_model": {"config": {"max_epochs": 2, "families": ["lightgbm"]}}}}


def test_the_closed_loop_on_s3(s3_settings: Settings) -> None:
    """Everything lakeloop keeps lives on S3: landing, Delta lake, model registry and champion
    pointer, reports, the alerts log. Nightly days and a backfilled history, a champion,
    scored and monitored drifted days, the drift sensor's alert - and a re-run that
    duplicates nothing."""
    assert s3_settings.s3.endpoint_url and s3_settings.lake_root.startswith("s3://")
    days = HISTORY_DAYS + DRIFTED_DAYS
    simulate(SimConfig(start=START, days=days, drifts=(Drift("covariate", day(HISTORY_DAYS)),),
                       **{**TINY, "scale": 0.05}),
             ObjectStore(s3_settings.landing_root, s3_settings.s3))
    defs = build_definitions(dataclasses.replace(s3_settings, domains=("fraud",)))
    nightly = defs.resolve_job_def("nightly_fraud")  # one domain is enough for the S3 paths
    with dg.instance_for_test() as instance:
        def night(i: int) -> None:
            assert nightly.execute_in_process(partition_key=day(i).isoformat(),
                                              instance=instance, run_config=QUIET).success

        night(0)
        night(1)
        night(1)  # a re-run of a day
        # the rest of the history in one single-run backfill, committed on S3
        assert dg.materialize(
            list(defs.assets or []), selection=dg.AssetSelection.groups(
                "fraud_ingest", "fraud_features"), instance=instance, resources=defs.resources,
            run_config=QUIET, tags={"dagster/asset_partition_range_start": day(2).isoformat(),
                                    "dagster/asset_partition_range_end":
                                        day(HISTORY_DAYS - 1).isoformat()}).success
        assert defs.resolve_job_def("retrain_fraud").execute_in_process(
            instance=instance, run_config=RETRAIN).success
        for i in range(HISTORY_DAYS, days):
            night(i)
        sensor = defs.resolve_sensor_def("fraud_drift_sensor")
        tick = sensor(dg.build_sensor_context(instance=instance, resources=defs.resources))

    lake, store = Lake(s3_settings.lake_root, s3_settings.s3), \
        ObjectStore(s3_settings.lake_root, s3_settings.s3)
    landing = ObjectStore(s3_settings.landing_root, s3_settings.s3)
    [uri] = landing.list("transactions", f"date={day(1)}")
    landed = pl.read_csv(io.BytesIO(landing.read_bytes(uri))).height
    # the re-run replaced day 2 in place: exactly the landed rows, no duplicates
    assert lake.partition_counts("bronze/transactions", day(1), day(1))[day(1)] == landed

    # the registry: versions and the champion pointer are S3 objects, read back from S3
    registry = ModelRegistry(store)
    assert registry.champion_version("fraud") == "v0001"
    assert any(u.startswith("s3://lakeloop/lake/") for u in store.list("registry"))
    # the champion loaded from S3 scored every later day, and monitoring measured them
    last = day(days - 1)
    assert sorted(lake.partition_counts("gold/fraud_scores", START, last)) == \
        [day(i) for i in range(HISTORY_DAYS, days)]
    drift = lake.scan("monitoring/fraud_drift", day(HISTORY_DAYS), last).collect()
    assert drift.height == DRIFTED_DAYS and drift["dataset_drift"].any()
    # each day's drift report JSON is an S3 object
    reports = store.list("reports", "fraud_drift")
    assert any(f"date={last}" in u and u.startswith("s3://") for u in reports), reports
    # the sensor opened the episode and logged its alert on S3 (the retrain waits for the
    # drifted days' labels to mature: scheduled, not requested yet)
    assert isinstance(tick, dg.SensorResult) and not tick.run_requests
    [opened] = lake.scan("alerts/log").collect().filter(pl.col("kind") == "drift_open") \
        .iter_rows(named=True)
    assert opened["action"].startswith("retrain_fraud scheduled for"), opened
    assert lake.uri("alerts/log").startswith("s3://lakeloop/lake/")


class Outage:
    """A TCP proxy on loopback in front of moto_server that can drop every connection: what
    a network blip or an S3 outage looks like to the clients (refused, reset), without any
    patching of boto3 or delta-rs."""

    def __init__(self, target_port: int) -> None:
        import threading

        self.target, self.down = target_port, threading.Event()
        self.open: set[socket.socket] = set()  # live connections, cut when an outage starts
        # a PUT whose path holds these bytes reaches S3, but its answer is lost
        self.lose_answer_to: bytes | None = None
        self.answers_lost = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopped = False
        self.timers: list[threading.Timer] = []  # the ends of the outages started
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()  # the outage: the connection is dropped at once
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.open |= {client, upstream}
            lost = threading.Event()  # this connection's answer is to be lost
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b, lost, a is client),
                                 daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, lost, request: bool) -> None:  # noqa: ANN001
        try:
            while (data := source.recv(65536)) and not self.down.is_set():
                line = data.split(b"\r\n", 1)[0]
                if request and self.lose_answer_to and line.startswith(b"PUT ") \
                        and self.lose_answer_to in line:
                    self.lose_answer_to = None
                    lost.set()  # the request goes through; its answer will not
                if not request and lost.is_set():
                    self.answers_lost += 1
                    break  # the client sees its connection dropped: a timed-out request
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()

    def blip(self, seconds: float) -> None:
        """Drop every connection now and for the next ``seconds``."""
        import threading

        self.down.set()
        for s in list(self.open):  # a pooled keep-alive connection is cut too
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
                s.close()
        self.open.clear()
        # (a daemon, cancelled on close: a long outage's timer kept pytest from exiting for
        # its 900 s after the last test)
        ends = threading.Timer(seconds, self.down.clear)
        ends.daemon = True
        ends.start()
        self.timers.append(ends)

    def close(self) -> None:
        self.stopped = True
        for ends in self.timers:
            ends.cancel()
        self.listener.close()


@pytest.fixture
def outage(s3_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Outage]:
    """``s3_settings`` with every S3 call going through an ``Outage`` proxy."""
    assert s3_settings.s3.endpoint_url
    proxy = Outage(int(s3_settings.s3.endpoint_url.rsplit(":", 1)[1]))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
    prefix = f"s3://lakeloop/outage-{proxy.port}"  # a lake of its own in the shared bucket
    monkeypatch.setenv("LAKELOOP_LAKE", f"{prefix}/lake")
    monkeypatch.setenv("LAKELOOP_LANDING", f"{prefix}/landing")
    yield proxy
    proxy.close()


def _fraud_day(settings: Settings, i: int, instance: dg.DagsterInstance
               ) -> dg.ExecuteInProcessResult:
    job = build_definitions(dataclasses.replace(settings, domains=("fraud",))) \
        .resolve_job_def("nightly_fraud")
    return job.execute_in_process(partition_key=day(i).isoformat(), instance=instance,
                                  raise_on_error=False, run_config=QUIET)


TABLES = ("bronze/transactions", "quarantine/transactions", "silver/fraud_features")


def _two_days_through(outage: Outage) -> tuple[Settings, Lake]:
    """Settings from the environment (every S3 call through ``outage``'s proxy), two days
    landed, and the lake."""
    assert outage.port
    settings = Settings.from_env()
    simulate(SimConfig(start=START, days=2, **TINY), ObjectStore(settings.landing_root,
                                                                 settings.s3))
    return settings, Lake(settings.lake_root, settings.s3)


def test_a_brief_s3_outage_is_retried(outage: Outage, tmp_path: Path) -> None:
    settings, lake = _two_days_through(outage)
    with dg.instance_for_test() as instance:
        assert _fraud_day(settings, 0, instance).success
        outage.blip(4.0)  # every connection dropped for 4 s, as the step starts
        started = time.monotonic()
        assert _fraud_day(settings, 1, instance).success  # retried, not failed
        assert time.monotonic() - started > 4.0  # it did wait the outage out
    assert sorted(lake.partition_counts("bronze/transactions", day(0), day(1))) == \
        [day(0), day(1)]


def test_a_commit_whose_answer_was_lost_is_not_a_failure(outage: Outage) -> None:
    """The PUT of a Delta commit reaches S3 but its answer is lost (a timeout after the
    write landed). The client's retry finds the commit taken - by itself - and the write is
    redone on the new snapshot: the step succeeds and the day holds its rows once."""
    settings, lake = _two_days_through(outage)
    with dg.instance_for_test() as instance:
        assert _fraud_day(settings, 0, instance).success
        before = lake.version("bronze/transactions")
        outage.lose_answer_to = b"/bronze/transactions/_delta_log/"  # the commit's PUT
        result = _fraud_day(settings, 1, instance)
    assert outage.answers_lost == 1
    assert result.success
    # the commit that landed unanswered, then the same write redone on top (seen: +2)
    assert lake.version("bronze/transactions") > before
    landing = ObjectStore(settings.landing_root, settings.s3)
    [uri] = landing.list("transactions", f"date={day(1)}")
    landed = pl.read_csv(io.BytesIO(landing.read_bytes(uri))).height
    quarantined = lake.partition_counts("quarantine/transactions", day(1), day(1)).get(day(1), 0)
    assert lake.partition_counts("bronze/transactions", day(1), day(1))[day(1)] + \
        quarantined == landed  # once, not twice


def test_a_long_s3_outage_fails_clearly_and_changes_nothing(
        outage: Outage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKELOOP_S3_RETRY_TIMEOUT_S", "2")  # give up after 2 s of retries
    settings, lake = _two_days_through(outage)
    with dg.instance_for_test() as instance:
        assert _fraud_day(settings, 0, instance).success
        before = {t: lake.version(t) for t in TABLES}
        outage.blip(900.0)  # until the run ends (the finally below), retries included
        try:
            result = _fraud_day(settings, 1, instance)
        finally:
            outage.down.clear()
        assert not result.success
        failures = [e for e in result.all_events if e.is_step_failure]
        assert failures  # the ingest steps, each with the S3 error that stopped it
        for failure in failures:
            message = str(failure.step_failure_data.error)
            # the S3 error of whichever client met the outage first: boto3 or delta-rs
            assert re.search(r"connection .*endpoint URL|Error performing \w+ http://",
                             message, re.IGNORECASE), message
    assert {t: lake.version(t) for t in TABLES} == before  # nothing half-written
    assert sorted(lake.partition_counts("bronze/transactions", day(0), day(1))) == [day(0)]
