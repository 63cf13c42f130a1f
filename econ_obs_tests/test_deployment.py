"""Several sweeps in one deployment: each its own family of assets, jobs, schedule and slice
files, sharing resources and the alert sensor; and slice files keyed by the config they were
built from, so a changed config never reads an old slice. Real PostgreSQL, real Dagster."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from econ_obs.config import ConfigError, load_deployment_configs, load_sweep_config
from econ_obs.definitions import build_deployment
from econ_obs.defs.sweep import run_sweep, sweep_plan
from econ_obs_tests.conftest import SMALL_SWEEP_YAML, run_small_sweep

OTHER_SWEEP_YAML = SMALL_SWEEP_YAML.replace("run_id: test_run", "run_id: other.run-2").replace(
    "cryptos: [BTCUSDT, ETHUSDT]", "cryptos: [ETHUSDT]"
)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def two_sweeps(tmp_path):
    return [
        load_sweep_config(write(tmp_path, "a.yaml", SMALL_SWEEP_YAML)),
        load_sweep_config(write(tmp_path, "b.yaml", OTHER_SWEEP_YAML)),
    ]


def test_two_sweeps_share_no_asset_key_job_or_schedule(two_sweeps):
    defs = build_deployment(two_sweeps)  # the shared resources, read from the env at run start

    keys = [key for assets_def in defs.assets for key in assets_def.keys]
    assert len(keys) == len(set(keys)) == 10
    assert {key.path[0] for key in keys} == {"test_run", "other_run_2"}
    groups = {
        key.path[0]: group for a in defs.assets for key, group in a.group_names_by_key.items()
    }
    assert groups == {"test_run": "test_run", "other_run_2": "other_run_2"}
    jobs = sorted(job.name for job in defs.jobs)
    assert jobs == sorted(
        f"{sweep}__stage__{stage}"
        for sweep in ("test_run", "other_run_2")
        for stage in ("market_bars", "feature_slice", "baseline_rows__model_results")
    )
    assert sorted(s.name for s in defs.schedules) == [
        "other_run_2__sweep_schedule",
        "test_run__sweep_schedule",
    ]
    assert sorted(s.name for s in defs.sensors) == [
        "other_run_2__sweep_on_new_data",
        "other_run_2__sweep_stage_chain",
        "sweep_alert_sensor",  # one, shared
        "test_run__sweep_on_new_data",
        "test_run__sweep_stage_chain",
    ]
    # Each sweep's checks target its own model_results.
    targets = sorted(
        key.asset_key.to_user_string() for checks in defs.asset_checks for key in checks.check_keys
    )
    assert set(targets) == {"test_run/model_results", "other_run_2/model_results"}
    defs.resolve_all_job_defs()  # every job resolves: no key selected across sweeps


def test_two_sweeps_with_one_dagster_name_are_refused_in_one_line(tmp_path):
    first = load_sweep_config(write(tmp_path, "a.yaml", OTHER_SWEEP_YAML))
    clash = OTHER_SWEEP_YAML.replace("run_id: other.run-2", "run_id: other_run-2")
    second = load_sweep_config(write(tmp_path, "b.yaml", clash))

    with pytest.raises(ConfigError) as raised:
        build_deployment([first, second], resources={})

    message = str(raised.value)
    assert "\n" not in message
    assert str(tmp_path / "b.yaml") in message and str(tmp_path / "a.yaml") in message
    assert "'other_run_2'" in message and "give each sweep its own run_id" in message


def test_the_deployment_reads_every_file_of_the_sweeps_folder(tmp_path, monkeypatch):
    folder = tmp_path / "sweeps"
    folder.mkdir()
    write(folder, "b.yaml", OTHER_SWEEP_YAML)
    write(folder, "a.yml", SMALL_SWEEP_YAML)
    write(folder, "notes.txt", "not a sweep")
    monkeypatch.delenv("ECON_OBS_SWEEP", raising=False)
    monkeypatch.setenv("ECON_OBS_SWEEPS_DIR", str(folder))

    configs = load_deployment_configs()

    # The packaged default first, then the folder's sweep files in name order.
    assert [c.source_path.name for c in configs] == ["default.yaml", "a.yml", "b.yaml"]
    assert [c.run_id for c in configs[1:]] == ["test_run", "other.run-2"]


def test_a_sweeps_folder_that_is_not_there_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ECON_OBS_SWEEPS_DIR", str(tmp_path / "missing"))

    with pytest.raises(ConfigError, match=r"^.*missing: \$ECON_OBS_SWEEPS_DIR names no folder"):
        load_deployment_configs()


def test_a_bad_file_in_the_sweeps_folder_names_itself(tmp_path, monkeypatch):
    folder = tmp_path / "sweeps"
    folder.mkdir()
    write(folder, "bad.yaml", SMALL_SWEEP_YAML.replace("n_folds: 2", "n_folds: -1"))
    monkeypatch.setenv("ECON_OBS_SWEEPS_DIR", str(folder))

    with pytest.raises(ConfigError) as raised:
        load_deployment_configs()

    assert str(raised.value).startswith(f"{folder / 'bad.yaml'}: folds.n_folds")


def slice_files(sweep_resources) -> list[Path]:
    return sorted(Path(sweep_resources["slice_io_manager"].base_dir).rglob("*.pkl"))


@pytest.mark.db
def test_two_sweeps_materialised_side_by_side_never_mix_rows_or_slices(
    two_sweeps, sweep_resources, instance, engine
):
    for config in two_sweeps:
        outcomes = run_small_sweep(config, sweep_resources, instance)
        assert all(o.success for o in outcomes), outcomes

    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT run_id, crypto, count(*) FROM finetune_results GROUP BY 1, 2 ORDER BY 1, 2"
            )
        ).all()
    variants = len(two_sweeps[0].variants)
    assert [tuple(r) for r in rows] == [
        ("other.run-2", "ETHUSDT", 4 * variants),
        ("test_run", "BTCUSDT", 4 * variants),
        ("test_run", "ETHUSDT", 4 * variants),
    ]
    base = Path(sweep_resources["slice_io_manager"].base_dir)
    by_sweep = {path.relative_to(base).parts[0] for path in slice_files(sweep_resources)}
    assert by_sweep == {"test_run", "other_run_2"}
    # ETHUSDT's fold-0 slice exists once per sweep, each in its own folder.
    eth_fold0 = [p for p in slice_files(sweep_resources) if p.name == "ETHUSDT__0.pkl"]
    assert sorted(p.relative_to(base).parts[:2] for p in eth_fold0) == [
        ("other_run_2", "feature_slice"),
        ("test_run", "feature_slice"),
    ]
    # The UI's history of one sweep's asset holds that sweep's runs only.
    for config in two_sweeps:
        name = config.run_id.replace(".", "_").replace("-", "_")
        records = instance.fetch_materializations(
            dg.AssetKey([name, "model_results"]), limit=100
        ).records
        assert len(records) == 2 * len(config.cryptos) * 2
        runs = [instance.get_run_by_id(r.run_id) for r in records]
        assert {run.tags["econ_obs/run_id"] for run in runs} == {config.run_id}


@pytest.mark.db
def test_a_changed_folds_config_never_reads_the_old_slices(
    small_config, tmp_path, sweep_resources, instance
):
    run_small_sweep(small_config, sweep_resources, instance)
    before = slice_files(sweep_resources)
    changed = load_sweep_config(
        write(
            tmp_path, "changed.yaml", SMALL_SWEEP_YAML.replace("test_bars: 240", "test_bars: 200")
        )
    )
    defs = build_deployment([changed], resources=sweep_resources)
    assets = list(defs.assets)
    results_stage = sweep_plan(assets)[-1]  # the result stage alone, as from the UI

    (outcome,) = run_sweep(
        [*assets, *defs.asset_checks],
        [results_stage],
        instance,
        sweep_resources,
        changed.run_id,
        progress=lambda line: None,
        log_level="CRITICAL",
    )

    assert not outcome.success
    assert outcome.step_error is not None
    assert "has not been materialised under this config" in outcome.step_error.message
    assert slice_files(sweep_resources) == before  # the old slices are still there, unread
