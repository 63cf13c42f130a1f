"""The live deployment: `econ-obs ui` (webserver and daemon) on a free port against fresh
PostgreSQL databases starts a sweep through its automation (the new-data sensor, on in the
sweep file) and runs its three stage runs; a failed check writes its alert row, and the UI's
Materialize and Re-execute buttons, sent as the UI sends them through GraphQL, write exactly
the partition they name.

Job, schedule and sensor names and asset keys are found through GraphQL by their last part
(`...stage__feature_slice`, `.../model_results`), so a per-sweep prefix changes nothing here.
The new-data sensor's first evaluation comes as the daemon starts (no cron minute to wait
for); the nightly schedule is switched off first, so no tick can interfere. Five runs in all,
each executing its steps in its own process (ECON_OBS_EXECUTOR=in_process); the alert sensor
ticks every 30 s. The module takes well under a minute on two idle cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psutil
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from econ_obs.store.database import make_engine, render
from econ_obs_tests.conftest import SMALL_SWEEP_YAML
from econ_obs_tests.test_cli_ui import free_port, wait_for_http

pytestmark = pytest.mark.db

T = TypeVar("T")

NIGHTLY_CRON = 'schedule: {cron: "30 3 * * *"}'
ON_NEW_DATA = 'schedule: {cron: "30 3 * * *", on_new_data: true}'
SWEEP_RUN_ID = "test_run"
STRATEGY = "test_strategy"
# The small sweep's expected keys, spelled out rather than computed by the code under test.
EXPECTED_KEYS = {
    (crypto, fold_id, cost_bps, 1.0)
    for crypto in ("BTCUSDT", "ETHUSDT")
    for fold_id in (0, 1)
    for cost_bps in (10, 30)
}
N_VARIANTS = 2
BASELINE_TYPES = {"buy_and_hold", "random", "naive"}
STAGE_JOBS = ("stage__market_bars", "stage__feature_slice", "stage__baseline_rows__model_results")
RESULT_STAGE_JOB = STAGE_JOBS[-1]
# The key whose random baseline the test deletes, and the partition the UI then materialises.
DELETED_KEY = ("ETHUSDT", 1, 30, 1.0)
LAUNCHED_KEY = ("BTCUSDT", 0, 10, 1.0)
LAUNCHED_PARTITION = "BTCUSDT|fold0_10bps_1slip"
RESULT_ASSETS = ["baseline_rows", "model_results"]
TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")

STARTUP_SECONDS = 120
SWEEP_SECONDS = 300  # the sensor's first evaluation, then three stage runs on a loaded machine
RUN_SECONDS = 180
ALERT_SECONDS = 120  # the alert sensor's 30 s interval, after the daemon's other work
SHUTDOWN_SECONDS = 90

LOCATION_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name
    locationOrLoadError {
      __typename
      ... on PythonError { message }
      ... on RepositoryLocation { name repositories {
          name
          jobs { name }
          schedules { name scheduleState { id status } }
          sensors { name }
          assetNodes {
            assetKey { path }
            assetChecksOrError { ... on AssetChecks { checks { name jobNames } } }
          }
      } }
    }
} } } }
"""
RUNS_QUERY = """
query Runs($filter: RunsFilter) { runsOrError(filter: $filter) {
  __typename
  ... on Runs { results { runId jobName status tags { key value } } }
  ... on PythonError { message }
} }
"""
# What the UI asks before it launches one partition (ConfigPartitionForAssetJobQuery).
PARTITION_QUERY = """
query Partition($job: String!, $repository: String!, $location: String!, $partition: String!,
                $assets: [AssetKeyInput!]!) {
  pipelineOrError(params: {pipelineName: $job, repositoryName: $repository,
                           repositoryLocationName: $location}) {
    __typename
    ... on Pipeline { partition(partitionName: $partition, selectedAssetKeys: $assets) {
        runConfigOrError { ... on PartitionRunConfig { yaml } ... on PythonError { message } }
        tagsOrError { ... on PartitionTags { results { key value } }
                      ... on PythonError { message } }
    } }
  }
}
"""
LAUNCH_RESULT = """
  __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on PipelineNotFoundError { message }
  ... on InvalidSubsetError { message }
  ... on RunConfigValidationInvalid { errors { message } }
  ... on PythonError { message }
"""
LAUNCH_MUTATION = (
    "mutation Launch($executionParams: ExecutionParams!) {"
    f" launchPipelineExecution(executionParams: $executionParams) {{ {LAUNCH_RESULT} }} }}"
)
REEXECUTE_MUTATION = (
    "mutation Reexecute($reexecutionParams: ReexecutionParams) {"
    f" launchRunReexecution(reexecutionParams: $reexecutionParams) {{ {LAUNCH_RESULT} }} }}"
)
FAILURES_QUERY = """
query Failures($runId: ID!) { logsForRun(runId: $runId) { __typename
  ... on EventConnection { events {
      __typename
      ... on ExecutionStepFailureEvent { stepKey error { message } }
      ... on RunFailureEvent { message }
      ... on AssetCheckEvaluationEvent { evaluation { checkName success } }
  } }
} }
"""
STOP_SCHEDULE_MUTATION = """
mutation Stop($id: String!) { stopRunningSchedule(id: $id) {
  __typename
  ... on ScheduleStateResult { scheduleState { status } }
  ... on PythonError { message }
} }
"""


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new shell: nothing of econ_obs's or Dagster's is set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECON_OBS_", "DAGSTER_"))}
    env.update(extra)
    return env


def _one_named(names: list[str], suffix: str, what: str) -> str:
    """Return the one name that is `suffix` or ends with `__suffix` (a per-sweep prefix)."""
    found = [name for name in names if name == suffix or name.endswith("__" + suffix)]
    assert len(found) == 1, f"expected one {what} named ...{suffix}, found {found} in {names}"
    return found[0]


@dataclass
class LiveUI:
    """`econ-obs ui` running on `port`, its output in `log`, every process it started so far."""

    port: int
    process: subprocess.Popen
    log: Path
    database_url: URL
    started: dict[int, psutil.Process] = field(default_factory=dict)

    def graphql(self, query: str, **variables) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    def log_tail(self, lines: int = 40, containing: str = "") -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join([line for line in text if containing in line][-lines:])

    def wait_for(
        self, what: str, probe: Callable[[], tuple[T | None, object]], seconds: float
    ) -> T:
        """Poll `probe` (returning the result or None, and what it saw) until it has a result;
        fail naming what was awaited and what was last seen."""
        deadline = time.monotonic() + seconds
        while True:
            result, seen = probe()
            if result is not None:
                return result
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(
                    f"waited {seconds:.0f} s for {what}; last seen: {seen}; econ-obs ui "
                    f"exit status {self.process.poll()}\n--- its output ---\n{self.log_tail()}"
                )
            time.sleep(1)

    def runs(self, **run_filter) -> list[dict]:
        answer = self.graphql(RUNS_QUERY, filter=run_filter)["runsOrError"]
        assert answer["__typename"] == "Runs", answer
        return [
            {**run, "tags": {t["key"]: t["value"] for t in run["tags"]}}
            for run in answer["results"]
        ]

    def why(self, run_id: str) -> str:
        """Return what the run's failure events say, for an assertion's message."""
        said = []
        for event in self.graphql(FAILURES_QUERY, runId=run_id)["logsForRun"].get("events", []):
            evaluation = event.get("evaluation") or {"success": True}
            if not evaluation["success"]:
                said.append(f"check {evaluation['checkName']} failed")
            elif event.get("stepKey") or event["__typename"] == "RunFailureEvent":
                said.append((event.get("error") or {}).get("message") or event.get("message"))
        return f"dagster run {run_id}: {said}"

    def wait_for_run(self, run_id: str) -> dict:
        def probe() -> tuple[dict | None, object]:
            (run,) = self.runs(runIds=[run_id])
            return (run if run["status"] in TERMINAL else None), run["status"]

        return self.wait_for(f"dagster run {run_id} to end", probe, RUN_SECONDS)


@dataclass(frozen=True)
class CodeLocation:
    """The econ_obs code location as the UI sees it."""

    location: str
    repository: dict

    @property
    def selector(self) -> dict:
        return {"repositoryLocationName": self.location, "repositoryName": self.repository["name"]}

    def job(self, suffix: str) -> str:
        return _one_named([job["name"] for job in self.repository["jobs"]], suffix, "job")

    def schedule(self, suffix: str) -> dict:
        schedules = {s["name"]: s for s in self.repository["schedules"]}
        return schedules[_one_named(list(schedules), suffix, "schedule")]

    def sensor(self, suffix: str) -> str:
        return _one_named([s["name"] for s in self.repository["sensors"]], suffix, "sensor")

    def asset(self, name: str) -> dict:
        found = [n for n in self.repository["assetNodes"] if n["assetKey"]["path"][-1] == name]
        assert len(found) == 1, f"expected one asset .../{name}, found {found}"
        return found[0]


def code_location(ui: LiveUI) -> CodeLocation:
    (entry,) = ui.graphql(LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
    loaded = entry["locationOrLoadError"]
    assert loaded["__typename"] == "RepositoryLocation", loaded
    (repository,) = loaded["repositories"]
    return CodeLocation(loaded["name"], repository)


def materialize(ui: LiveUI, location: CodeLocation, asset_names: list[str], partition: str) -> str:
    """Launch one partition of `asset_names` in the result-stage job, with their checks, as the
    UI's Materialize button does (LaunchAssetChoosePartitionsDialog); return the run's id."""
    job = location.job(RESULT_STAGE_JOB)
    nodes = [location.asset(name) for name in asset_names]
    asset_keys = [{"path": node["assetKey"]["path"]} for node in nodes]
    answer = ui.graphql(
        PARTITION_QUERY,
        job=job,
        repository=location.repository["name"],
        location=location.location,
        partition=partition,
        assets=asset_keys,
    )["pipelineOrError"]
    assert answer["__typename"] == "Pipeline", answer
    tags = answer["partition"]["tagsOrError"]["results"]
    checks = [
        {"name": check["name"], "assetKey": {"path": node["assetKey"]["path"]}}
        for node in nodes
        for check in node["assetChecksOrError"]["checks"]
        if not check["jobNames"] or job in check["jobNames"]
    ]
    execution_params = {
        "mode": "default",
        "executionMetadata": {"tags": tags},
        "runConfigData": answer["partition"]["runConfigOrError"]["yaml"],
        "selector": {
            **location.selector,
            "pipelineName": job,
            "assetSelection": asset_keys,
            "assetCheckSelection": checks,
        },
    }
    launched = ui.graphql(LAUNCH_MUTATION, executionParams=execution_params)
    result = launched["launchPipelineExecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def _watch_processes(ui: LiveUI, stop: threading.Event) -> None:
    # Run workers and their step processes come and go: note each one while it lives.
    while not stop.is_set():
        try:
            for child in psutil.Process(ui.process.pid).children(recursive=True):
                ui.started.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            return
        stop.wait(0.5)


def _stop(ui: LiveUI, watcher: threading.Thread, stop_watching: threading.Event) -> list[str]:
    """Stop econ-obs ui as Ctrl-C would (SIGTERM; it stops dagster dev's process group); kill
    whatever it started that is still alive and return their command lines."""
    ui.process.send_signal(signal.SIGTERM)
    try:
        ui.process.wait(timeout=SHUTDOWN_SECONDS)
    except subprocess.TimeoutExpired:
        ui.process.kill()
        ui.process.wait()
    stop_watching.set()
    watcher.join(timeout=5)
    _gone, alive = psutil.wait_procs(list(ui.started.values()), timeout=15)
    survivors = []
    for leftover in alive:
        try:
            survivors.append(" ".join(leftover.cmdline()))
            leftover.kill()
        except psutil.NoSuchProcess:
            pass
    return survivors


@pytest.fixture(scope="module")
def live_ui(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveUI]:
    """`econ-obs ui --config` the small sweep with its new-data sensor on, on fresh application
    and Dagster databases; stopped afterwards, and nothing it started may outlive it."""
    tmp_path = tmp_path_factory.mktemp("live_ui")
    assert NIGHTLY_CRON in SMALL_SWEEP_YAML, "conftest's small sweep changed its schedule"
    config = tmp_path / "new_data_sweep.yaml"
    config.write_text(SMALL_SWEEP_YAML.replace(NIGHTLY_CRON, ON_NEW_DATA))
    database_url = make_database("econ_obs_live")  # econ-obs ui migrates it
    env = _clean_env(
        ECON_OBS_DATABASE_URL=render(database_url),
        ECON_OBS_DAGSTER_DATABASE_URL=render(make_database("econ_obs_live_dagster")),
        ECON_OBS_DAGSTER_STORAGE_DIR=str(tmp_path / "storage"),
        ECON_OBS_DAGSTER_LOGS_DIR=str(tmp_path / "logs"),
        ECON_OBS_HOME=str(tmp_path),  # its .env goes here, not into the checkout
        ECON_OBS_EXECUTOR="in_process",  # a run's steps in its own process: no start-up each
    )
    port = free_port()
    log = tmp_path / "econ_obs_ui.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "econ_obs.cli", "ui", "--port", str(port), "--config", config],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    ui = LiveUI(port, process, log, database_url)
    stop_watching = threading.Event()
    watcher = threading.Thread(target=_watch_processes, args=(ui, stop_watching), daemon=True)
    watcher.start()
    survivors: list[str] = []
    try:
        status = wait_for_http(f"http://127.0.0.1:{port}/server_info", seconds=STARTUP_SECONDS)
        assert status == 200, f"no UI on port {port}:\n{ui.log_tail()}"
        yield ui
    finally:
        survivors = _stop(ui, watcher, stop_watching)
    assert len(ui.started) >= 3, ui.started  # dagster dev, webserver, daemon, code server...
    assert survivors == []


def _rows(url: URL, statement: str, **params) -> list[tuple]:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            return [tuple(row) for row in connection.execute(sa.text(statement), params)]
    finally:
        engine.dispose()


def _execute(url: URL, statement: str, **params) -> int:
    """Run one data-changing statement; return the number of rows it changed."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            return connection.execute(sa.text(statement), params).rowcount
    finally:
        engine.dispose()


def result_run_ids(url: URL) -> dict[tuple, set[str]]:
    """Return, per key, the dagster_run_ids its model rows carry."""
    ids: dict[tuple, set[str]] = {}
    for *key, run_id in _rows(
        url,
        "SELECT crypto, fold_id, cost_bps, slippage_bps, dagster_run_id FROM finetune_results "
        "WHERE run_id = :run_id AND strategy = :strategy",
        run_id=SWEEP_RUN_ID,
        strategy=STRATEGY,
    ):
        ids.setdefault(tuple(key), set()).add(run_id)
    return ids


def baseline_run_ids(url: URL) -> dict[tuple, dict[str, str]]:
    """Return, per key, each baseline type's dagster_run_id."""
    ids: dict[tuple, dict[str, str]] = {}
    for *key, baseline_type, run_id in _rows(
        url,
        "SELECT crypto, fold_id, cost_bps, slippage_bps, baseline_type, dagster_run_id "
        "FROM finetune_baselines WHERE run_id = :run_id AND strategy = :strategy",
        run_id=SWEEP_RUN_ID,
        strategy=STRATEGY,
    ):
        ids.setdefault(tuple(key), {})[baseline_type] = run_id
    return ids


def _model_rows_per_key(url: URL) -> dict[tuple, int]:
    rows = _rows(
        url,
        "SELECT crypto, fold_id, cost_bps, slippage_bps, count(*) FROM finetune_results "
        "WHERE run_id = :run_id GROUP BY 1, 2, 3, 4",
        run_id=SWEEP_RUN_ID,
    )
    return {tuple(row[:4]): row[4] for row in rows}


def _automated_sweep(ui: LiveUI, location: CodeLocation) -> list[dict]:
    """Wait until the sweep the new-data sensor started has run its three stage runs."""
    jobs = [location.job(name) for name in STAGE_JOBS]

    def probe() -> tuple[list[dict] | None, object]:
        runs = ui.runs()
        seen = [(run["jobName"], run["status"]) for run in runs]
        failed = [run for run in runs if run["status"] in ("FAILURE", "CANCELED")]
        assert not failed, f"a stage run of the automated sweep failed: {seen}\n{ui.log_tail()}"
        done = {run["jobName"]: run for run in runs if run["status"] == "SUCCESS"}
        return ([done[job] for job in jobs] if set(jobs) <= set(done) else None), seen

    return ui.wait_for("the automated sweep's three stage runs", probe, SWEEP_SECONDS)


def stop_schedule(ui: LiveUI, location: CodeLocation) -> str:
    """Switch the sweep's schedule off as the UI's toggle does; return its new status."""
    schedule = location.schedule("sweep_schedule")
    result = ui.graphql(STOP_SCHEDULE_MUTATION, id=schedule["scheduleState"]["id"])
    answer = result["stopRunningSchedule"]
    assert answer["__typename"] == "ScheduleStateResult", answer
    return answer["scheduleState"]["status"]


def _park_row(url: URL, key: tuple, baseline_type: str) -> None:
    """Move one baseline row out of finetune_baselines into a side table, every column kept."""
    where = dict(zip(("crypto", "fold_id", "cost_bps", "slippage_bps"), key, strict=True))
    condition = (
        "run_id = :run_id AND crypto = :crypto AND fold_id = :fold_id AND cost_bps = :cost_bps "
        "AND slippage_bps = :slippage_bps AND baseline_type = :baseline_type"
    )
    params = {"run_id": SWEEP_RUN_ID, "baseline_type": baseline_type, **where}
    parked = f"CREATE TABLE parked AS SELECT * FROM finetune_baselines WHERE {condition}"
    _execute(url, parked, **params)
    deleted = _execute(url, f"DELETE FROM finetune_baselines WHERE {condition}", **params)
    assert deleted == 1, deleted


def _unpark_row(url: URL) -> None:
    _execute(url, "INSERT INTO finetune_baselines SELECT * FROM parked")
    _execute(url, "DROP TABLE parked")


def test_an_automated_sweep_alerts_and_the_ui_buttons_write_one_partition(live_ui: LiveUI):
    ui = live_ui
    url = ui.database_url
    location = code_location(ui)
    # The nightly schedule is switched off as the UI's toggle does: only the sensor starts runs.
    assert stop_schedule(ui, location) == "STOPPED"
    new_data_sensor = location.sensor("sweep_on_new_data")
    chain_sensor = location.sensor("sweep_stage_chain")
    location.sensor("sweep_alert_sensor")

    # 1. The new-data sensor and the stage chain run the sweep: three runs, one start.
    market, features, results = _automated_sweep(ui, location)
    assert len(ui.runs()) == 3, [(run["jobName"], run["status"]) for run in ui.runs()]
    assert market["tags"].get("dagster/sensor_name") == new_data_sensor, market["tags"]
    for stage_run in (features, results):
        assert stage_run["tags"].get("dagster/sensor_name") == chain_sensor, stage_run["tags"]
    ticks = {run["tags"].get("econ_obs/sweep_tick") for run in (market, features, results)}
    assert len(ticks) == 1 and None not in ticks, ticks
    assert {run["tags"].get("econ_obs/run_id") for run in (market, features, results)} == {
        SWEEP_RUN_ID
    }
    sweep_id = results["runId"]
    assert _model_rows_per_key(url) == dict.fromkeys(EXPECTED_KEYS, N_VARIANTS)
    assert result_run_ids(url) == {key: {sweep_id} for key in EXPECTED_KEYS}
    assert baseline_run_ids(url) == {
        key: dict.fromkeys(BASELINE_TYPES, sweep_id) for key in EXPECTED_KEYS
    }
    assert _rows(url, "SELECT event FROM alerts") == []

    # 2. One baseline row goes missing; Materialize both result assets of one other partition:
    # exactly its rows are written, then the blocking baselines_complete check fails the run.
    _park_row(url, DELETED_KEY, "random")
    failing_id = materialize(ui, location, RESULT_ASSETS, LAUNCHED_PARTITION)
    failing = ui.wait_for_run(failing_id)
    assert failing["status"] == "FAILURE", ui.why(failing_id)
    assert failing["tags"].get("dagster/partition") == LAUNCHED_PARTITION, failing["tags"]
    # A stage job's run carries its sweep's tag, so dagster.yaml's one-run-per-sweep queue
    # limit holds it. (A Materialize from the asset catalog runs Dagster's implicit asset job,
    # which carries no tag of ours; the README says so.)
    assert failing["tags"].get("econ_obs/run_id") == SWEEP_RUN_ID, failing["tags"]
    expected_ids = {key: sweep_id for key in EXPECTED_KEYS} | {LAUNCHED_KEY: failing_id}
    assert result_run_ids(url) == {key: {run_id} for key, run_id in expected_ids.items()}
    expected_baselines = {key: dict.fromkeys(BASELINE_TYPES, i) for key, i in expected_ids.items()}
    expected_baselines[DELETED_KEY] = dict.fromkeys(BASELINE_TYPES - {"random"}, sweep_id)
    assert baseline_run_ids(url) == expected_baselines

    # 3. The row is back; Re-execute the failed run, as the UI's Re-execute (all steps) button
    # does: accepted, it succeeds now and rewrites its one partition and nothing else.
    _unpark_row(url)
    answer = ui.graphql(
        REEXECUTE_MUTATION,
        reexecutionParams={"parentRunId": failing_id, "strategy": "ALL_STEPS"},
    )["launchRunReexecution"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    again_id = answer["run"]["runId"]
    again = ui.wait_for_run(again_id)
    assert again["status"] == "SUCCESS", ui.why(again_id)
    assert again["tags"].get("dagster/parent_run_id") == failing_id, again["tags"]
    assert again["tags"].get("dagster/partition") == LAUNCHED_PARTITION, again["tags"]
    expected_ids[LAUNCHED_KEY] = again_id
    assert result_run_ids(url) == {key: {run_id} for key, run_id in expected_ids.items()}
    assert baseline_run_ids(url) == {
        key: dict.fromkeys(BASELINE_TYPES, run_id) for key, run_id in expected_ids.items()
    }
    assert _model_rows_per_key(url) == dict.fromkeys(EXPECTED_KEYS, N_VARIANTS)
    assert len(ui.runs()) == 5  # the sensor started no second sweep: the data did not change

    # 4. The alert sensor wrote one row for the failed check, naming the deleted key, and
    # none for the run that failed because of it (nor for the runs that succeeded).
    alerts = ui.wait_for(
        "sweep_alert_sensor's alert rows",
        lambda: (
            _rows(
                url,
                "SELECT event, check_name, run_id, strategy, crypto, fold_id, cost_bps, "
                "slippage_bps, dagster_run_id, detail FROM alerts ORDER BY id",
            )
            or None,
            "no alerts row",
        ),
        ALERT_SECONDS,
    )
    (alert,) = alerts
    assert alert[:9] == (
        "baselines_incomplete",
        "baselines_complete",
        SWEEP_RUN_ID,
        STRATEGY,
        *DELETED_KEY,
        failing_id,
    ), alert
    assert alert[9] == {"missing": ["random"]}, alert
    logged = ui.log_tail(lines=100, containing="event=baselines_incomplete")
    assert logged.count("event=baselines_incomplete") == 1, logged
    assert (
        "event=baselines_incomplete run_id=test_run strategy=test_strategy crypto=ETHUSDT "
        "fold_id=1 cost_bps=30 slippage_bps=1.0 check_name=baselines_complete" in logged
    ), logged
