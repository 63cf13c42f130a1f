"""sweep_runs: a run_id's keys belong to one config; another config is refused unless --replace."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from econ_obs.defs.checks import expected_keys
from econ_obs.store.partition_writes import replace_partition
from econ_obs.store.results import BASELINES_TABLE, RESULTS_TABLE
from econ_obs.store.sweep_runs import (
    SweepConfigConflictError,
    begin_sweep,
    canonical_config,
    config_differences,
    config_sha256,
    finish_sweep,
    record_data_fingerprints,
    recorded_sweep,
)
from econ_obs_tests.conftest import SMALL_SWEEP_YAML
from econ_obs_tests.test_cli_sweep import SweepSetup
from econ_obs_tests.test_results_store import BASIS, baselines, results


@pytest.fixture
def runs(engine):
    """The session engine with sweep_runs emptied too (conftest empties the result tables)."""
    with engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE sweep_runs"))
    return engine


def _begin(engine, config, replace_keys: bool = False):
    with engine.connect() as connection:
        return begin_sweep(
            connection, canonical_config(config), expected_keys(config), replace_keys
        )


def _write_key(engine, crypto: str, fold_id: int, cost_bps: int, slippage_bps: float) -> None:
    basis = replace(
        BASIS,
        run_id="test_run",
        strategy="test_strategy",
        crypto=crypto,
        fold_id=fold_id,
        cost_bps=cost_bps,
        slippage_bps=slippage_bps,
    )
    replace_partition(engine, BASELINES_TABLE, basis, baselines(basis, "w"))
    replace_partition(engine, RESULTS_TABLE, basis, results(basis, "w"))


def _stored_costs(engine) -> list[int]:
    with engine.connect() as connection:
        return [
            row[0]
            for row in connection.execute(
                sa.text("SELECT DISTINCT cost_bps FROM finetune_results ORDER BY 1")
            )
        ]


def test_the_canonical_config_is_sorted_json_without_the_source_path(small_config):
    canonical = canonical_config(small_config)

    assert list(canonical) == sorted(canonical)
    assert "source_path" not in canonical and "schedule" not in canonical
    assert canonical["costs_bps"] == [10, 30]
    assert canonical["slippage_bps"] == [1.0]
    assert canonical["baselines"]["matched"]["n_perms"] == small_config.matched_null.n_perms
    assert canonical["data"]["format"] == "sample"
    assert len(config_sha256(canonical)) == 64
    moved = replace(small_config, source_path=small_config.source_path.with_name("elsewhere.yaml"))
    assert config_sha256(canonical_config(moved)) == config_sha256(canonical)


def test_a_difference_reads_as_old_to_new(small_config):
    fewer = replace(small_config, costs_bps=(10,))

    assert config_differences(canonical_config(small_config), canonical_config(fewer)) == [
        "costs_bps: [10, 30] -> [10]"
    ]


def test_the_same_config_again_is_an_idempotent_rerun(runs, small_config):
    _begin(runs, small_config)
    _write_key(runs, "BTCUSDT", 0, 10, 1.0)

    again = _begin(runs, small_config)

    assert not again.config_changed and sum(again.removed.values()) == 0
    assert _stored_costs(runs) == [10]


def test_another_config_is_refused_in_one_line_naming_what_differs(runs, small_config):
    _begin(runs, small_config)
    _write_key(runs, "BTCUSDT", 0, 30, 1.0)
    with runs.connect() as connection:
        before = recorded_sweep(connection, "test_run", "test_strategy")

    with pytest.raises(SweepConfigConflictError) as refused:
        _begin(runs, replace(small_config, costs_bps=(10,)))

    message = str(refused.value)
    assert "\n" not in message
    assert "costs_bps: [10, 30] -> [10]" in message
    assert "--replace" in message
    assert _stored_costs(runs) == [30]  # nothing deleted
    with runs.connect() as connection:
        assert recorded_sweep(connection, "test_run", "test_strategy")["config"] == before["config"]


def test_a_config_that_wrote_no_row_does_not_block_its_fix(runs, small_config):
    """A sweep that failed before writing anything (bad data, bad folds) owns no key."""
    _begin(runs, replace(small_config, costs_bps=(10, 30, 999)))

    fixed = _begin(runs, small_config)

    assert fixed.config_changed
    with runs.connect() as connection:
        recorded = recorded_sweep(connection, "test_run", "test_strategy")
    assert recorded["config"]["costs_bps"] == [10, 30]


def test_replace_deletes_the_keys_outside_the_new_config_in_every_table(runs, small_config):
    _begin(runs, small_config)
    _write_key(runs, "BTCUSDT", 0, 10, 1.0)
    _write_key(runs, "BTCUSDT", 0, 30, 1.0)

    started = _begin(runs, replace(small_config, costs_bps=(10,)), replace_keys=True)

    assert started.config_changed
    assert started.removed == {
        "finetune_results": 2,
        "finetune_baselines": 3,
        "finetune_random_seeds": 0,
    }
    assert _stored_costs(runs) == [10]
    with runs.connect() as connection:
        recorded = recorded_sweep(connection, "test_run", "test_strategy")
    assert recorded["config"]["costs_bps"] == [10]


def test_rows_without_a_recorded_config_outside_the_keys_are_refused(runs, small_config):
    _write_key(runs, "BTCUSDT", 0, 15, 1.0)  # e.g. stored before sweep_runs existed

    with pytest.raises(SweepConfigConflictError, match="no recorded config"):
        _begin(runs, small_config)


def test_fingerprints_and_finish_are_recorded(runs, small_config):
    _begin(runs, small_config)
    with runs.connect() as connection:
        record_data_fingerprints(connection, "test_run", "test_strategy", {"BTCUSDT": "abc"})
        record_data_fingerprints(connection, "test_run", "test_strategy", {"ETHUSDT": "def"})
        finish_sweep(connection, "test_run", "test_strategy", ["run-a", "run-b"])
        row = recorded_sweep(connection, "test_run", "test_strategy")

    assert row["data_fingerprints"] == {"BTCUSDT": "abc", "ETHUSDT": "def"}
    assert row["dagster_run_ids"] == ["run-a", "run-b"]
    assert row["finished_at"] >= row["started_at"]


def test_econ_obs_sweep_refuses_a_changed_config_with_exit_2(make_database, tmp_path, small_config):
    from econ_obs.store.database import make_engine
    from econ_obs.store.migrations import migrate

    app_url = make_database("econ_obs_sweep_runs")
    engine = make_engine(app_url)
    try:
        migrate(engine)
        _begin(engine, small_config)  # the run_id was swept with costs [10, 30] ...
        _write_key(engine, "BTCUSDT", 0, 30, 1.0)  # ... and owns a key
    finally:
        engine.dispose()
    setup = SweepSetup(app_url, make_database("econ_obs_sweep_runs_dagster"), tmp_path)
    changed = tmp_path / "fewer_costs.yaml"
    changed.write_text(SMALL_SWEEP_YAML.replace("costs_bps: [10, 30]", "costs_bps: [10]"))

    result = setup.run("sweep", config=changed)

    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "costs_bps: [10, 30] -> [10]" in lines[0] and "--replace" in lines[0]
