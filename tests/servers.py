"""What the tests that start real servers on loopback share: a free port, waiting for a server
to answer, stopping its process group, Dagster's GraphQL, and the rule for a missing system
part (a skip on a laptop, a failure under ``CI=true``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, server: subprocess.Popen, seconds: float = 180) -> None:
    """Until ``url`` answers; a clear failure if ``server`` exits or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail(f"{url} did not come up")
            time.sleep(1)


def stop_group(server: subprocess.Popen) -> None:
    """SIGINT to the server's process group (``dagster dev`` stops its children on it), then
    SIGKILL if it is still there after 30 s. Start it with ``start_new_session=True``."""
    os.killpg(server.pid, signal.SIGINT)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def graphql(base: str, query: str) -> dict:
    """``data`` of a Dagster GraphQL query against the webserver at ``base``."""
    request = urllib.request.Request(
        f"{base}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def system_part_missing(message: str) -> None:
    """A system part a test needs is absent: fail under ``CI=true`` (the test set-up must
    install it), skip elsewhere with how to install it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} - CI must provide it", pytrace=False)
    pytest.skip(message)


def wait_port(port: int, server: subprocess.Popen, name: str, seconds: float = 20) -> None:
    """Until something listens on loopback ``port``; else kill ``server`` and fail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    server.kill()
    pytest.fail(f"{name} did not start")
