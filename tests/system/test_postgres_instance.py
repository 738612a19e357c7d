"""``infra/dagster.yaml`` is a working Dagster instance on a real PostgreSQL.

A throw-away PostgreSQL cluster (Debian's ``postgresql`` package: ``initdb`` + ``pg_ctl``) is
started on a free loopback port with its socket in a temp dir, password authentication on. The
instance file is copied unchanged into a ``DAGSTER_HOME``; the connection reaches it only through
the ``DAGSTER_PG_*`` environment variables, as in docker compose. A real nightly run of this
project executes on it, and the run, its events and its materializations are then read back
twice: with a plain PostgreSQL client (they are in the database, not in some SQLite file) and
through a freshly opened instance (another process - the webserver, the daemon - sees them).

Without the PostgreSQL binaries the test is skipped on a laptop (``make system-deps`` installs
them) and fails under ``CI=true``: there a missing system part is a broken set-up, not a pass.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from lakeloop.settings import Settings
from pipelines.definitions import build_definitions
from tests.conftest import day
from tests.servers import free_port, system_part_missing

ROOT = Path(__file__).resolve().parents[2]
INSTANCE_YAML = ROOT / "infra" / "dagster.yaml"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
PG_USER, PG_DB = "lakeloop", "dagster_test"


def _postgres_bindir() -> Path | None:
    """Debian keeps initdb/pg_ctl off PATH, under /usr/lib/postgresql/<major>/bin."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                        else 0)
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path and shutil.which("pg_ctl") else None


def _unavailable(reason: str) -> None:
    system_part_missing(f"{reason}; `make system-deps` installs Debian's postgresql package")



@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    db: str

    def env(self) -> dict[str, str]:
        """What infra/dagster.yaml reads: every connection field from the environment."""
        return {"DAGSTER_PG_HOST": self.host, "DAGSTER_PG_PORT": str(self.port),
                "DAGSTER_PG_USERNAME": self.user, "DAGSTER_PG_PASSWORD": self.password,
                "DAGSTER_PG_DB": self.db}

    def connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(host=self.host, port=self.port, user=self.user,
                                password=self.password, dbname=self.db, connect_timeout=10)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bindir = _postgres_bindir()
    if bindir is None:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
    assert bindir is not None
    # PostgreSQL refuses to run as root: as root (CI, containers) it runs as the package's
    # `postgres` system user, in a temp dir that user owns
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and no `postgres` system user to run PostgreSQL as")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="lakeloop-pg-"))
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    password = secrets.token_urlsafe(24)  # made up per run, in no file after initdb
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    if owner is not None:
        for path in (base, sockets, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, text=True,
                       timeout=120)

    started = False
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "-E", "UTF8", "--no-sync")
        pwfile.unlink()
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w",
            "-t", "60", "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off", "start")
        started = True
        admin = psycopg2.connect(host="127.0.0.1", port=port, user=PG_USER, password=password,
                                 dbname="postgres", connect_timeout=10)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {PG_DB}")
        admin.close()
        yield PostgresServer("127.0.0.1", port, PG_USER, password, PG_DB)
    except subprocess.CalledProcessError as error:
        log = base / "server.log"
        detail = log.read_text()[-2000:] if log.exists() else ""
        pytest.fail(f"could not start PostgreSQL: {error.stderr or error}\n{detail}")
    finally:
        if started:
            with contextlib.suppress(subprocess.SubprocessError):
                run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_runs_and_events_land_in_postgres(postgres: PostgresServer, settings: Settings,
                                          tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(INSTANCE_YAML, home / "dagster.yaml")  # unchanged: no connection value in it
    env = {"DAGSTER_HOME": str(home), "LAKELOOP_LAKE": settings.lake_root,
           "LAKELOOP_LANDING": settings.landing_root, **postgres.env()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    job = build_definitions(Settings.from_env()).resolve_job_def("nightly_fraud")
    partition = day(0).isoformat()

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        result = job.execute_in_process(partition_key=partition, instance=instance,
                                        run_config=QUIET)
        assert result.success
        run_id = result.run_id

    # in the database itself, read with a plain client
    with contextlib.closing(postgres.connect()) as conn, conn.cursor() as cur:
        cur.execute("SELECT pipeline_name, status, partition FROM runs WHERE run_id = %s",
                    (run_id,))
        assert cur.fetchall() == [("nightly_fraud", "SUCCESS", partition)]
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND "
                    "dagster_event_type = 'ASSET_MATERIALIZATION'", (run_id,))
        (materializations,) = cur.fetchone()
        assert materializations >= 2  # at least transactions_raw and fraud_features
    assert not (home / "history").exists()  # nothing fell back to SQLite under DAGSTER_HOME

    # a freshly opened instance (another process: the webserver, the daemon) sees it all
    with dg.DagsterInstance.get() as instance:
        [record] = instance.get_run_records(dg.RunsFilter(run_ids=[run_id]))
        assert record.dagster_run.job_name == "nightly_fraud"
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        event = instance.get_latest_materialization_event(dg.AssetKey("transactions_raw"))
        assert event is not None and event.run_id == run_id
        assert event.asset_materialization is not None
        assert event.asset_materialization.partition == partition
