"""The same pipeline on S3: a real S3-compatible server (moto_server) on loopback, no patching."""

from __future__ import annotations

import dataclasses
import io
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

from lakeloop.settings import Settings
from lakeloop.simulate import SimConfig, simulate
from lakeloop.storage import Lake, ObjectStore
from pipelines.definitions import build_definitions
from tests.conftest import START, TINY, day

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        server.kill()
        pytest.fail("moto_server did not start")
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


def test_nightly_runs_against_s3(s3_settings: Settings) -> None:
    assert s3_settings.s3.endpoint_url and s3_settings.lake_root.startswith("s3://")
    simulate(SimConfig(start=START, days=2, **TINY),
             ObjectStore(s3_settings.landing_root, s3_settings.s3))
    job = build_definitions(dataclasses.replace(s3_settings, domains=("fraud",))) \
        .resolve_job_def("nightly_fraud")  # one domain is enough to prove the S3 paths
    with dg.instance_for_test() as instance:
        for i in range(2):
            result = job.execute_in_process(partition_key=day(i).isoformat(), instance=instance,
                                            raise_on_error=False, run_config=QUIET)
            assert result.success
        rerun = job.execute_in_process(partition_key=day(1).isoformat(), instance=instance,
                                       raise_on_error=False, run_config=QUIET)
        assert rerun.success
    lake = Lake(s3_settings.lake_root, s3_settings.s3)
    for table in ("bronze/transactions", "bronze/fraud_labels", "silver/fraud_features"):
        counts = lake.partition_counts(table, day(0), day(5))
        assert sorted(counts) == [day(0), day(1)], table
    landing = ObjectStore(s3_settings.landing_root, s3_settings.s3)
    [uri] = landing.list("transactions", f"date={day(1)}")
    landed = pl.read_csv(io.BytesIO(landing.read_bytes(uri))).height
    # the re-run replaced day 2 in place: exactly the landed rows, no duplicates
    assert lake.partition_counts("bronze/transactions", day(1), day(1))[day(1)] == landed
    assert lake.version("bronze/transactions") == 2
