"""The econ_obs code location as `dagster dev` loads it: workspace.yaml, a code server.

Each test runs Dagster in a subprocess, so the sweep file is chosen by the environment exactly
as in `econ-obs ui`, and nothing is imported into the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from econ_obs.paths import project_home
from econ_obs.store.database import render
from econ_obs_tests.conftest import SMALL_SWEEP_YAML

WORKSPACE = project_home() / "workspace.yaml"
LOCATION = "econ_obs"
ASSETS = ["baseline_rows", "feature_slice", "market_bars", "model_results", "sweep_report"]
CHECKS = [
    "model_results:baselines_complete",
    "model_results:memory_headroom",
    "model_results:no_unexpected_keys",
    "model_results:same_basis",
    "model_results:unique_per_partition",
    "model_results:window_matches_config",
]
SMALL_RESULT_KEYS = sorted(
    f"{crypto}|fold{fold}_{cost}bps_1slip"
    for crypto in ("BTCUSDT", "ETHUSDT")
    for fold in (0, 1)
    for cost in (10, 30)
)

# Loads the workspace file the way the webserver does (a managed gRPC code server per
# location) and prints what the location holds as JSON.
LOAD_WORKSPACE = """
import json, sys
import dagster as dg
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

with dg.instance_for_test() as instance, WorkspaceProcessContext(
    instance, WorkspaceFileTarget(paths=[sys.argv[1]])
) as process_context:
    out = {}
    for name, entry in process_context.create_request_context().get_code_location_entries().items():
        if entry.load_error:
            out[name] = {"error": entry.load_error.to_string()}
            continue
        (repo,) = entry.code_location.get_repositories().values()
        nodes = {n.asset_key.path[-1]: n for n in repo.get_asset_node_snaps()}
        out[name] = {
            "origin": type(entry.code_location.origin).__name__,
            "assets": sorted(nodes),
            "result_keys": sorted(
                nodes["model_results"].partitions.get_partitions_definition().get_partition_keys()
            ),
            "checks": sorted(
                c.asset_key.path[-1] + ":" + c.name
                for c in repo.get_asset_check_node_snaps()
            ),
            "blocking": sorted(c.name for c in repo.get_asset_check_node_snaps() if c.blocking),
            "sensors": sorted(s.name for s in repo.get_sensors()),
            "schedules": {s.name: s.cron_schedule for s in repo.get_schedules()},
            "jobs": sorted(j.name for j in repo.get_all_jobs()),
        }
print("WORKSPACE=" + json.dumps(out))
"""

PRINT_RESULT_KEYS = (
    "import econ_obs.definitions as d; "
    "results = next(a for a in d.defs.assets if a.key.path[-1] == 'model_results'); "
    "print('\\n'.join(results.partitions_def.get_partition_keys()))"
)


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "ECON_OBS_SWEEP")}
    env.update(extra)
    return env


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture
def small_sweep_path(tmp_path) -> Path:
    path = tmp_path / "small_sweep.yaml"
    path.write_text(SMALL_SWEEP_YAML)
    return path


def test_workspace_yaml_loads_the_whole_code_location(tmp_path, small_sweep_path):
    result = _run(
        [sys.executable, "-c", LOAD_WORKSPACE, str(WORKSPACE)],
        _environment(ECON_OBS_SWEEP=str(small_sweep_path)),
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("WORKSPACE=")]
    locations = json.loads(line.removeprefix("WORKSPACE="))
    assert list(locations) == [LOCATION]
    location = locations[LOCATION]
    assert "error" not in location, location.get("error")
    assert location["origin"] == "ManagedGrpcPythonEnvCodeLocationOrigin"
    assert location["assets"] == ASSETS
    assert location["checks"] == CHECKS
    assert location["blocking"] == [
        "baselines_complete",
        "no_unexpected_keys",
        "same_basis",
        "unique_per_partition",
        "window_matches_config",
    ]
    assert location["sensors"] == [
        "sweep_alert_sensor",
        "test_run__sweep_on_new_data",
        "test_run__sweep_stage_chain",
    ]
    assert location["schedules"] == {"test_run__sweep_schedule": "30 3 * * *"}
    assert {"test_run__stage__market_bars", "test_run__stage__feature_slice"} <= set(
        location["jobs"]
    )
    # The code server saw ECON_OBS_SWEEP: the small sweep's partitions, not the default's.
    assert location["result_keys"] == SMALL_RESULT_KEYS


def test_econ_obs_sweep_changes_the_partitions(tmp_path, small_sweep_path):
    command = [sys.executable, "-c", PRINT_RESULT_KEYS]

    default = _run(command, _environment(), cwd=tmp_path)
    small = _run(command, _environment(ECON_OBS_SWEEP=str(small_sweep_path)), cwd=tmp_path)

    assert default.returncode == 0, default.stderr
    assert small.returncode == 0, small.stderr
    assert sorted(small.stdout.split()) == SMALL_RESULT_KEYS
    # The shipped default: 3 cryptos x 4 folds x 3 costs.
    default_keys = default.stdout.split()
    assert len(default_keys) == 36
    assert "SOLUSDT|fold3_15bps_2slip" in default_keys
    assert set(default_keys) != set(SMALL_RESULT_KEYS)


def test_a_missing_econ_obs_sweep_file_is_named(tmp_path):
    missing = tmp_path / "no_such_sweep.yaml"

    result = _run(
        [sys.executable, "-c", PRINT_RESULT_KEYS],
        _environment(ECON_OBS_SWEEP=str(missing)),
        cwd=tmp_path,
    )

    assert result.returncode != 0
    assert str(missing) in result.stderr
    assert "ECON_OBS_SWEEP" in result.stderr


def test_dagster_definitions_validate_accepts_the_workspace(
    tmp_path, small_sweep_path, make_database
):
    # As `econ-obs ui` runs Dagster: DAGSTER_HOME is the checkout (its dagster.yaml), and the
    # instance's storage is a PostgreSQL database of its own.
    env = _environment(
        DAGSTER_HOME=str(project_home()),
        ECON_OBS_SWEEP=str(small_sweep_path),
        ECON_OBS_DAGSTER_DATABASE_URL=render(make_database("econ_obs_dagster")),
        ECON_OBS_DAGSTER_STORAGE_DIR=str(tmp_path / "storage"),
        ECON_OBS_DAGSTER_LOGS_DIR=str(tmp_path / "logs"),
    )
    dagster = Path(sys.executable).parent / "dagster"

    result = _run([str(dagster), "definitions", "validate", "-w", str(WORKSPACE)], env, tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Validation successful for code location {LOCATION}" in output
    assert "All code locations passed validation" in output
