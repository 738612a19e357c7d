"""Faults a nightly pipeline meets: writers racing on one table, a run killed mid-flight."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from lakeloop.storage import Lake
from lakeloop.storage.lake import FrameStream

DAY = dt.date(2026, 1, 5)


def _frame(writer: int, rows: int = 50) -> pl.DataFrame:
    return pl.DataFrame({"writer": [writer] * rows, "i": list(range(rows)),
                         "date": [DAY] * rows})


@pytest.mark.parametrize("streamed", [False, True])
def test_writers_racing_on_one_day_leave_exactly_one_copy(tmp_path: Path, streamed: bool
                                                          ) -> None:
    """Two runs of one day at once (a retry beside a stuck run, a backfill beside the nightly
    run): every writer's commit lands - the losers of a commit race redo their write on the
    new snapshot - and the day holds one writer's rows, never two. ``streamed``: rows given
    as a stream (bronze's staged blocks: files, then a commit of add actions)."""
    lake = Lake(str(tmp_path / "lake"))

    def rows(writer: int) -> pl.DataFrame | FrameStream:
        frame = _frame(writer)
        return FrameStream(frame.head(0), lambda: iter([frame])) if streamed else frame

    lake.overwrite_partition("silver/t", rows(0), DAY)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda w: lake.overwrite_partition("silver/t", rows(w), DAY),
                      range(1, 7)))
    assert lake.version("silver/t") == 6  # six more commits, none lost to a conflict
    day = lake.scan("silver/t").collect()
    assert day.height == 50 and day["writer"].n_unique() == 1  # one copy of the day


DAY_ONE = dt.date(2026, 1, 1)
MONITORED = """\
run_monitoring:
  enabled: true
  poll_interval_seconds: 2
  start_timeout_seconds: 120
  max_resume_run_attempts: 0
run_retries:  # as infra/dagster.yaml: a run that died is re-executed once
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
telemetry:
  enabled: false
"""


def test_a_killed_run_fails_and_alerts(settings, tmp_path: Path,  # noqa: ANN001
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The run worker is killed mid-run (kill -9, as the OOM killer does): run monitoring
    marks the run failed, run_failure_alert logs an alert naming it, and the daemon re-runs
    it (run retries), which completes the day: every step replaces what it writes."""
    import os
    import re
    import signal
    import time

    import dagster as dg

    from pipelines.dagster_dev import DagsterDev

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(MONITORED)
    env = {"DAGSTER_HOME": str(home), "LAKELOOP_LAKE": settings.lake_root,
           "LAKELOOP_LANDING": settings.landing_root, "LAKELOOP_DOMAINS": "fraud"}
    with DagsterDev(env, log=tmp_path / "dagster_dev.log") as server:
        run_id = server.submit("nightly_fraud", {"dagster/partition": "2026-01-01"})
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:
            pid, deadline = None, time.monotonic() + 180
            while pid is None and time.monotonic() < deadline:
                for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                    found = re.search(r"in process \(pid: (\d+)\)", event.message or "")
                    pid = int(found.group(1)) if found else pid
                time.sleep(0.2)
            assert pid, "the run worker never started"
            os.kill(pid, signal.SIGKILL)
            # without run monitoring it would stay STARTED forever
            assert server.wait([run_id], timeout_s=180) == {run_id: "FAILURE"}
            deadline, log = time.monotonic() + 180, pl.DataFrame()
            lake = Lake(settings.lake_root)
            while time.monotonic() < deadline:
                if lake.exists("alerts/log"):
                    log = lake.scan("alerts/log").collect()
                    if log.filter(pl.col("kind") == "run_failure").height:
                        break
                time.sleep(2)
            retry = None
            while retry is None and time.monotonic() < deadline:
                retries = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
                retry = retries[0].run_id if retries else None
                time.sleep(1)
            assert retry, "the daemon never retried the killed run"
            assert server.wait([retry], timeout_s=300) == {retry: "SUCCESS"}
    counts = lake.partition_counts("bronze/transactions", DAY_ONE, DAY_ONE)
    assert counts[DAY_ONE] > 0
    [alert] = log.filter(pl.col("kind") == "run_failure").iter_rows(named=True)
    assert "nightly_fraud" in alert["title"] and "2026-01-01" in alert["title"]
    assert run_id in alert["details"]


def test_a_refusal_fails_at_once_while_the_job_retries_transient_errors(settings) -> None:  # noqa: ANN001
    """The jobs retry a failed step (an S3 blip passes: tests/system/test_s3.py), but a refusal -
    here a retrain on an empty lake - is final: no retry, the reason in the failure."""
    import dagster as dg

    from pipelines.definitions import build_definitions
    from pipelines.jobs import STEP_RETRIES

    job = build_definitions(settings).resolve_job_def("retrain_fraud")
    assert job.op_retry_policy == STEP_RETRIES and STEP_RETRIES.max_retries == 2
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    kinds = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in kinds
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "materialize" in str(failure.step_failure_data.error)


class _DiesAfterQuarantine(Lake):
    """A lake whose writer dies right after the quarantine commit, before bronze's (what a
    kill -9 between the two commits leaves)."""

    def overwrite_days(self, table: str, *args, **kwargs) -> int:  # noqa: ANN002, ANN003
        if table.startswith("bronze/"):
            raise SystemExit("killed between the two commits")
        return super().overwrite_days(table, *args, **kwargs)


def test_an_ingest_cut_between_its_two_commits_is_named_and_a_rerun_pairs_it(
        settings) -> None:  # noqa: ANN001
    """Quarantine committed, bronze not: ``unpaired_ingests`` names the days (the ingest
    asset warns with them, and the run retry re-runs them); re-running the day commits both
    again and bronze + quarantine add up to what landed."""
    import dagster as dg

    from lakeloop.ingest.bronze import process_days, unpaired_ingests, write_days
    from lakeloop.names import quarantine_table
    from lakeloop.storage import ObjectStore
    from pipelines.definitions import build_definitions

    domain = settings.load_domains()["fraud"]
    contract = domain.main
    lake = Lake(settings.lake_root)
    days = [DAY_ONE + dt.timedelta(days=i) for i in range(2)]
    landing = ObjectStore(settings.landing_root)
    write_days(lake, contract, process_days(landing, lake, contract, days[:1], domain.calendar),
               days[0], days[0])
    assert unpaired_ingests(lake, contract) == []
    read = process_days(landing, lake, contract, days[1:], domain.calendar)
    quarantined = lake.version(quarantine_table(contract.name))
    with pytest.raises(SystemExit):
        write_days(_DiesAfterQuarantine(settings.lake_root), contract, read, days[1], days[1])
    assert lake.partition_counts("bronze/transactions", days[1], days[1]) == {}
    assert lake.version(quarantine_table(contract.name)) == quarantined + 1  # one commit in
    assert unpaired_ingests(lake, contract) == [(days[1], days[1])]

    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        result = dg.materialize(list(defs.assets or []), selection=["transactions_raw"],
                                instance=instance, resources=defs.resources,
                                partition_key=days[1].isoformat())
    assert result.success
    assert unpaired_ingests(lake, contract) == []
    batch = read.batches[days[1]]
    landed = batch.bronze.height + batch.quarantine.height
    stored = sum(lake.partition_counts(t, days[1], days[1]).get(days[1], 0)
                 for t in ("bronze/transactions", quarantine_table(contract.name)))
    assert stored == landed


def test_a_killed_ingests_staging_folder_goes_with_the_next_ingest(tmp_path: Path) -> None:
    """An ingest killed by SIGKILL (the OOM killer) never cleans up its staged Parquet: the
    next ingest removes a staging folder whose process is gone, and leaves a live one's."""
    import os
    import signal
    import subprocess
    import sys

    from lakeloop.ingest.staging import PREFIX, Staging, remove_dead_staging

    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from lakeloop.ingest.staging import Staging; "
         "s = Staging(); (s.path / 'day.parquet').write_bytes(b'x' * 1000); "
         "print(s.path, flush=True); time.sleep(600)"],
        env={**os.environ, "TMPDIR": str(tmp_path)}, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    staged = Path(child.stdout.readline().strip())
    assert staged.is_dir() and staged.parent == tmp_path
    live = tmp_path / f"{PREFIX}{os.getpid()}-mine"  # this process: alive
    live.mkdir()
    assert remove_dead_staging(tmp_path) == []  # its owner still runs
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert staged.is_dir()  # SIGKILL: no clean-up ran
    assert remove_dead_staging(tmp_path) == [staged] and not staged.exists()
    assert live.is_dir()
    ours = Staging()  # the next ingest sweeps the system's temporary folder the same way
    assert ours.path.name.startswith(f"{PREFIX}{os.getpid()}-")
    ours.discard()


def test_a_run_failed_from_the_command_line_alerts_once(settings, tmp_path: Path,  # noqa: ANN001
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """The README's backfill command runs in the shell, outside the daemon's code location:
    its failure (a refused day) is still alerted, once, by the daemon's run-failure sensor."""
    import os
    import subprocess
    import sys
    import time

    from pipelines.dagster_dev import DagsterDev

    day_file = Path(settings.landing_root) / "transactions/date=2026-01-01/part-0.csv"
    day_file.write_text("transaction_id,amount\nt1,oops\n")  # refused: columns missing
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(MONITORED)
    env = {"DAGSTER_HOME": str(home), "LAKELOOP_LAKE": settings.lake_root,
           "LAKELOOP_LANDING": settings.landing_root, "LAKELOOP_DOMAINS": "fraud"}
    with DagsterDev(env, log=tmp_path / "dagster_dev.log"):
        cli = subprocess.run(
            [str(Path(sys.executable).parent / "dg"), "launch", "-m", "pipelines.definitions",
             "--assets", "group:fraud_ingest", "--partition", "2026-01-01"],
            env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
        assert cli.returncode != 0, cli.stdout[-2000:]
        lake, deadline, alerts = Lake(settings.lake_root), time.monotonic() + 240, []
        while time.monotonic() < deadline and not alerts:
            if lake.exists("alerts/log"):
                alerts = lake.scan("alerts/log").filter(
                    pl.col("kind") == "run_failure").collect().to_dicts()
            time.sleep(2)
        assert alerts, "the command line's failed run was never alerted"
        time.sleep(35)  # a later tick must not alert it again
        alerts = lake.scan("alerts/log").filter(pl.col("kind") == "run_failure").collect()
    assert alerts.height == 1, alerts
    assert "2026-01-01" in alerts["title"][0]


def test_an_interrupted_step_is_not_retried(settings) -> None:  # noqa: ANN001
    """Dagster retries an interrupted step when the job has a retry policy (a SIGTERM'd
    training restarted from scratch); every lakeloop asset body ends the step for good."""
    import dagster as dg

    from assets.metadata import INTERRUPTED, final_on_interrupt
    from pipelines.definitions import build_definitions
    from pipelines.jobs import STEP_RETRIES

    def interrupted() -> None:
        raise dg.DagsterExecutionInterruptedError("SIGTERM")

    def run(body) -> dg.ExecuteInProcessResult:  # noqa: ANN001
        asset = dg.asset(name="long_training")(body)
        job = dg.define_asset_job("j", op_retry_policy=dg.RetryPolicy(max_retries=2))
        defs = dg.Definitions(assets=[asset], jobs=[job])
        with dg.instance_for_test() as instance:
            return defs.resolve_job_def("j").execute_in_process(instance=instance,
                                                                raise_on_error=False)

    def retried(result: dg.ExecuteInProcessResult) -> bool:
        return dg.DagsterEventType.STEP_UP_FOR_RETRY in [e.event_type for e in
                                                         result.all_events]

    assert retried(run(interrupted))  # Dagster's own behaviour: the reason for the wrapper
    wrapped = run(final_on_interrupt(interrupted))
    assert not wrapped.success and not retried(wrapped)
    [failure] = [e for e in wrapped.all_events if e.is_step_failure]
    assert INTERRUPTED in str(failure.step_failure_data.error)
    assert STEP_RETRIES.max_retries > 0  # the jobs do retry other failures
    defs = build_definitions(settings)
    bodies = {key.to_user_string(): a.op.compute_fn.decorated_fn  # type: ignore[union-attr]
              for a in defs.assets for key in a.keys}  # type: ignore[union-attr]
    assert bodies and all(getattr(fn, "final_on_interrupt", False) for fn in bodies.values()), \
        [k for k, fn in bodies.items() if not getattr(fn, "final_on_interrupt", False)]


def test_a_model_file_that_crashes_its_loader_is_refused_not_fatal(tmp_path: Path) -> None:
    """A LightGBM model that passes its checksum but whose tree does not parse aborts the
    process that loads it (SIGABRT from the C++ runtime). Loaded first in a child process,
    it becomes a refusal naming the file and the signal, and this process lives on; a sound
    version passes once and is marked, so later nights do not pay for the check again."""
    import hashlib

    import numpy as np

    from lakeloop.models.classification.smoke import MARKER, ModelUnusable, ensure_loadable
    from lakeloop.models.classification.trees import MODEL_FILE, TreeConfig, train_trees
    from lakeloop.registry.model_registry import ModelRegistry
    from lakeloop.storage import ObjectStore
    from lakeloop.training.training_sets import LABEL

    rng = np.random.default_rng(3)
    frame = pl.DataFrame({"amount": rng.normal(size=600), "channel": rng.choice(
        ["pos", "ecom"], 600)}).with_columns(
            (pl.col("amount") + pl.Series(rng.normal(size=600)) > 1).cast(pl.Int8).alias(LABEL))
    trees = train_trees(frame.head(400), frame.tail(200), ["channel"], ["amount"],
                        TreeConfig(max_rounds=20, threads=1), log=lambda _m: None)
    registry = ModelRegistry(ObjectStore(str(tmp_path / "lake")))
    sound = registry.register("fraud", None, {**trees.model.meta(), "metrics": {}},
                              trees.model.files())
    assert ensure_loadable(registry, sound, frame) is True  # checked in a child, then marked
    assert registry.store.read_bytes(registry.store.uri(
        "registry", "fraud", "versions", sound.version, MARKER))
    assert ensure_loadable(registry, sound, frame) is False  # the marker: no child again

    text = trees.model.files()[MODEL_FILE].decode().replace("split_feature=", "split_feature=x")
    bad = registry.register("fraud", None, {**trees.model.meta(), "metrics": {}},
                            {MODEL_FILE: text.encode()})
    assert bad.meta["files_sha256"][MODEL_FILE] == hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(ModelUnusable, match=rf"fraud {bad.version}: {MODEL_FILE} killed the "
                       r"loading process \(SIGABRT\)"):
        ensure_loadable(registry, bad, frame)


def test_a_training_time_budget_keeps_the_best_so_far_and_says_so() -> None:
    """Both families stop at their time budget with the best round or epoch so far, log it,
    and LightGBM logs its progress while it runs (it says nothing of its own)."""
    import numpy as np

    from lakeloop.models.classification.config import TabMConfig
    from lakeloop.models.classification.tabm import train_tabm
    from lakeloop.models.classification.trees import TreeConfig, train_trees
    from lakeloop.models.compute import compute
    from lakeloop.training.training_sets import LABEL

    rng = np.random.default_rng(4)
    n = 3_000
    amount = rng.normal(size=n)
    frame = pl.DataFrame({"amount": amount, "channel": rng.choice(["pos", "ecom"], n)}) \
        .with_columns(pl.Series(LABEL, (amount + rng.normal(size=n) > 1.5).astype(np.int8)))
    train, val = frame.head(2_000), frame.tail(1_000)
    lines: list[str] = []
    trees = train_trees(train, val, ["channel"], ["amount"],
                        TreeConfig(max_rounds=5_000, early_stopping=5_000, learning_rate=0.001,
                                   time_budget_s=0.0, log_every=1, threads=1), log=lines.append)
    assert any("time budget 0s spent after 1 rounds" in line for line in lines), lines
    assert trees.rounds == 1  # the best (only) round kept
    free: list[str] = []
    train_trees(train, val, ["channel"], ["amount"], TreeConfig(max_rounds=20, log_every=10,
                                                                 threads=1), log=free.append)
    assert sum("round 10/20" in line or "round 20/20" in line for line in free) >= 1
    net: list[str] = []
    tabm = train_tabm(train, val, ["channel"], ["amount"], compute("cpu"),
                      TabMConfig(max_epochs=50, patience=50, time_budget_s=0.0, k=2),
                      log=net.append)
    assert tabm.epochs == 1 and any("time budget" in line for line in net), net
