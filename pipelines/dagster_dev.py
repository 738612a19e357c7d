"""``dagster dev`` on loopback, driven through its GraphQL API: how ``lakeloop demo`` submits
runs as the schedule and the UI would.

Why a server and not ``execute_in_process``: runs executed in the demo's own process are stored,
but they have no code location behind them, so the UI does not list them under their jobs and
cannot re-execute them, and the drift sensors would have to be ticked by hand. Here the webserver
takes the submissions, the daemon dequeues and launches each run in its own process and ticks
the sensors, and every run, tick and alert lands in the instance as in production. Only public
APIs: the ``dagster dev`` command, ``DagsterGraphQLClient`` and GraphQL queries.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import dagster as dg
from dagster_graphql import DagsterGraphQLClient

DONE = {"SUCCESS", "FAILURE", "CANCELED"}
TICK_DONE = {"SUCCESS", "SKIPPED", "FAILURE"}
TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 10) { status timestamp runIds } } }
    ... on PythonError { message }
  }
}"""
LOCATIONS = """
{ repositoriesOrError { __typename
    ... on RepositoryConnection { nodes { name location { name } } }
    ... on PythonError { message } } }"""


class DagsterDevError(RuntimeError):
    """The server did not start, or did not answer as expected."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # none of it is left
        os.killpg(group, sig)


def _unwind_on_sigterm() -> Any:
    """Make SIGTERM (``kill``, a CI timeout, a container stop) unwind the ``with`` block like
    Ctrl-C does, so the server's processes are stopped, not orphaned; returns the handler it
    replaced (None off the main thread, where Python cannot set one)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def unwind(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    return signal.signal(signal.SIGTERM, unwind)


class DagsterDev:
    """``dagster dev -m <module>`` for the length of a ``with`` block.

    ``env`` is the code location's environment (DAGSTER_HOME and the lakeloop settings); the
    server's output goes to ``log`` (the first place to look when a run does not start)."""

    def __init__(self, env: Mapping[str, str], log: Path, module: str = "pipelines.definitions",
                 start_timeout_s: float = 300, poll_s: float = 0.5) -> None:
        self.env, self.log, self.module = dict(env), log, module
        self.start_timeout_s, self.poll_s = start_timeout_s, poll_s
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None
        self.client: DagsterGraphQLClient | None = None
        self.location = self.repository = ""
        self._previous_sigterm: Any = None

    def __enter__(self) -> DagsterDev:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "dagster", "dev", "-m", self.module,
                 "--host", "127.0.0.1", "--port", str(self.port)],
                env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)  # its own process group: stopped as a whole
        try:
            self._wait_for_location()
        except BaseException:
            self.stop()
            raise
        self.client = DagsterGraphQLClient("127.0.0.1", port_number=self.port)
        self._previous_sigterm = _unwind_on_sigterm()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        self.stop()

    def stop(self) -> None:
        """SIGINT to the process group (``dagster dev`` stops webserver, daemon and code
        server on it), then SIGKILL to whatever of the group is left - after 30 s, or at once
        for the run workers a stopped daemon leaves behind."""
        if self._process is None:
            return
        group = self._process.pid
        if self._process.poll() is None:
            _signal_group(group, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=30)
        _signal_group(group, signal.SIGKILL)
        self._process.wait()

    def query(self, query: str, variables: Mapping[str, Any] | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"query": query, "variables": dict(variables or {})}).encode())
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        if body.get("errors"):
            raise DagsterDevError(f"GraphQL error: {body['errors'][0].get('message')}")
        return body["data"]

    def _wait_for_location(self) -> None:
        """Until the code location has loaded (its definitions built) or the server exits."""
        deadline = time.monotonic() + self.start_timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise DagsterDevError(f"dagster dev exited with {self._process.returncode}; "
                                      f"see {self.log}")
            try:
                found = self.query(LOCATIONS)["repositoriesOrError"]
                if found.get("nodes"):
                    node = found["nodes"][0]
                    self.location, self.repository = node["location"]["name"], node["name"]
                    return
                last = found.get("message") or "no code location loaded yet"
            except (OSError, DagsterDevError, KeyError) as exc:
                last = str(exc)
            time.sleep(1)
        raise DagsterDevError(f"dagster dev did not load {self.module} in "
                              f"{self.start_timeout_s:.0f} s ({last}); see {self.log}")

    def submit(self, job: str, tags: Mapping[str, str] | None = None,
               run_config: Mapping[str, Any] | None = None,
               assets: Iterable[str] | None = None) -> str:
        """Submit a run of ``job`` (``dagster/partition`` in ``tags`` for a partition, or
        ``dagster/asset_partition_range_start``/``_end`` for a range in one run), as the UI's
        launch button does; ``assets``: only these of the job's assets. Returns its run id; it
        waits in the run queue for the daemon."""
        assert self.client is not None, "use DagsterDev in a with block"
        return self.client.submit_job_execution(
            job, repository_location_name=self.location, repository_name=self.repository,
            run_config=dict(run_config or {}), tags=dict(tags or {}),
            asset_selection=None if assets is None else [dg.AssetKey(a) for a in assets])

    def wait(self, run_ids: Iterable[str], timeout_s: float | None = None) -> dict[str, str]:
        """Until every run has ended; returns each run's final status (SUCCESS, FAILURE,
        CANCELED). ``timeout_s``: give up (``DagsterDevError``) after that long."""
        assert self.client is not None, "use DagsterDev in a with block"
        pending, ended = set(run_ids), {}
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while pending:
            if deadline is not None and time.monotonic() > deadline:
                raise DagsterDevError(f"runs {sorted(pending)} still running after "
                                      f"{timeout_s:.0f} s; see {self.log}")
            for run_id in sorted(pending):
                status = self.client.get_run_status(run_id).value
                if status in DONE:
                    ended[run_id] = status
            pending -= ended.keys()
            if pending:
                time.sleep(self.poll_s)
        return ended

    def tick_after(self, sensor: str, since: float, timeout_s: float = 300) -> list[str]:
        """Until the daemon has finished a tick of ``sensor`` that started after ``since``
        (a Unix time); returns the ids of the runs the ticks since then requested."""
        selector = {"repositoryLocationName": self.location,
                    "repositoryName": self.repository, "sensorName": sensor}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.query(TICKS, {"selector": selector})["sensorOrError"]
            if found["__typename"] != "Sensor":
                raise DagsterDevError(f"sensor {sensor}: {found.get('message', found)}")
            ended = [t for t in found["sensorState"]["ticks"]
                     if t["timestamp"] > since and t["status"] in TICK_DONE]
            if ended:
                return [run_id for tick in ended for run_id in tick["runIds"]]
            time.sleep(self.poll_s)
        raise DagsterDevError(f"sensor {sensor} did not tick within {timeout_s:.0f} s; is the "
                              f"daemon running? see {self.log}")
