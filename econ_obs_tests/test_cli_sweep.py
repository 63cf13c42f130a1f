"""`econ-obs sweep | check | report` as a user runs them: real processes, a real database each
for the application tables and for Dagster's instance, and the project's own dagster.yaml.

The module shares one sweep; the test that deletes a row and sweeps again comes after every
test that reads the first sweep's rows and runs (pytest runs a module's tests in file order).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from econ_obs.store.database import make_engine, render
from econ_obs.store.migrations import migrate
from econ_obs_tests.conftest import SMALL_SWEEP_YAML

N_KEYS = 8  # 2 cryptos x 2 folds x 2 costs
N_RESULT_ROWS = N_KEYS * 2  # 2 variants
N_BASELINE_ROWS = N_KEYS * 3
N_ROLLUP = 2 * 2 * 2  # 2 cryptos x 2 variants x 2 costs, across the 2 folds
SUMMARY_COLUMNS = (
    "crypto variant cost_bps slippage_bps n_folds mean_net_return t_stat share_positive "
    "share_significant mean_gross_return verdict"
).split()
VERDICTS = {"edge", "no_edge", "loses_to_costs", "no_trades"}
CHECKS_PASSED = (
    "checks passed: baselines_complete, no_unexpected_keys, unique_per_partition, same_basis, "
    "window_matches_config"
)
COUNT_ROWS = (
    "SELECT (SELECT count(*) FROM finetune_results WHERE run_id = 'test_run'), "
    "(SELECT count(*) FROM finetune_baselines WHERE run_id = 'test_run')"
)


class SweepSetup:
    """The databases, folders and config one CLI user works with."""

    def __init__(self, app_url: URL, dagster_url: URL, folder: Path) -> None:
        self.app_url = app_url
        self.dagster_url = dagster_url
        self.config = folder / "small_sweep.yaml"
        self.config.write_text(SMALL_SWEEP_YAML)
        self.env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        self.env.update(
            ECON_OBS_DATABASE_URL=render(app_url),
            ECON_OBS_DAGSTER_DATABASE_URL=render(dagster_url),
            ECON_OBS_DAGSTER_STORAGE_DIR=str(folder / "storage"),
            ECON_OBS_DAGSTER_LOGS_DIR=str(folder / "logs"),
        )
        self.env.pop("ECON_OBS_SWEEP", None)
        self.cwd = folder

    def run(self, *args: str, config: Path | None = None) -> subprocess.CompletedProcess:
        config_args = ["--config", str(config or self.config)] if "--help" not in args else []
        return subprocess.run(
            [sys.executable, "-m", "econ_obs.cli", *args, *config_args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def app_sql(self, statement: str, **params) -> list[tuple]:
        engine = make_engine(self.app_url)
        try:
            with engine.begin() as connection:
                result = connection.execute(sa.text(statement), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def setup(make_database, tmp_path_factory) -> SweepSetup:
    app_url = make_database("econ_obs_cli")
    engine = make_engine(app_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    dagster_url = make_database("econ_obs_cli_dagster")  # dagster.yaml creates its tables
    return SweepSetup(app_url, dagster_url, tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def first_sweep(setup) -> subprocess.CompletedProcess:
    return setup.run("sweep")


def test_sweep_prints_progress_and_a_summary_line_per_key(first_sweep):
    assert first_sweep.returncode == 0, first_sweep.stdout + first_sweep.stderr
    lines = first_sweep.stdout.splitlines()
    assert lines[0].startswith("sweep 'test_run' strategy 'test_strategy'")
    assert "= 8 partitions, 2 variants, in 3 Dagster runs" in lines[0]
    for progress in (
        "[1/3] market_bars: 2 partitions ...",
        "[2/3] feature_slice: 4 partitions ...",
        "[3/3] baseline_rows+model_results: 8 partitions ...",
    ):
        assert progress in lines
    assert sum(line.strip().startswith("done in") for line in lines) == 3
    header = next(i for i, line in enumerate(lines) if line.startswith("crypto "))
    assert lines[header].split() == SUMMARY_COLUMNS
    table = [line.split() for line in lines[header + 1 : header + 1 + N_ROLLUP]]
    assert {(row[0], row[1], row[2]) for row in table} == {
        (crypto, variant, cost)
        for crypto in ("BTCUSDT", "ETHUSDT")
        for variant in ("ridge_a1_t0", "ridge_a10_t5")
        for cost in ("10", "30")
    }
    assert all("missing" not in row and row[-1] in VERDICTS for row in table)
    assert {row[3] for row in table} == {"1"}  # the basis's slippage as written, not "+1.0000"
    assert lines[header + 1 + N_ROLLUP].startswith(
        f"verdicts over {N_ROLLUP} (crypto, variant, cost_bps, slippage_bps): "
    )
    assert lines[-1] == CHECKS_PASSED


def test_sweep_stores_every_row_once(setup, first_sweep):
    assert first_sweep.returncode == 0
    assert setup.app_sql(COUNT_ROWS) == [(N_RESULT_ROWS, N_BASELINE_ROWS)]
    # Every random seed is stored once per key (20 seeds in the small sweep).
    assert setup.app_sql("SELECT count(*) FROM finetune_random_seeds") == [(N_KEYS * 20,)]


def test_p_values_can_be_recomputed_with_sql_from_the_stored_values(setup, first_sweep):
    recomputed = setup.app_sql(
        """
        SELECT r.p_value_matched,
               (1 + (SELECT count(*) FROM unnest(r.matched_null_net_returns) AS v
                     WHERE v >= r.net_return))::float8 / (r.matched_n_perms + 1),
               r.p_value_random,
               (1 + (SELECT count(*) FROM finetune_random_seeds s
                     WHERE (s.run_id, s.strategy, s.crypto, s.fold_id, s.cost_bps)
                         = (r.run_id, r.strategy, r.crypto, r.fold_id, r.cost_bps)
                       AND s.net_return >= r.net_return))::float8 / (r.random_n_seeds + 1)
        FROM finetune_results r WHERE r.n_trades > 0
        """
    )
    assert len(recomputed) > 0
    for stored_matched, sql_matched, stored_random, sql_random in recomputed:
        assert stored_matched == pytest.approx(sql_matched, rel=1e-12)
        assert stored_random == pytest.approx(sql_random, rel=1e-12)


def test_the_sweep_runs_are_recorded_in_the_dagster_instance(setup, first_sweep):
    assert first_sweep.returncode == 0
    engine = make_engine(setup.dagster_url)
    try:
        with engine.connect() as connection:
            runs = connection.execute(
                sa.text(
                    "SELECT runs.run_id, runs.status, stage.value FROM runs "
                    "JOIN run_tags sweep ON sweep.run_id = runs.run_id "
                    "AND sweep.key = 'econ_obs/run_id' AND sweep.value = 'test_run' "
                    "JOIN run_tags stage ON stage.run_id = runs.run_id "
                    "AND stage.key = 'econ_obs/stage'"
                )
            ).all()
    finally:
        engine.dispose()
    assert len(runs) == 3
    assert {status for _, status, _ in runs} == {"SUCCESS"}
    assert sorted(stage for _, _, stage in runs) == [
        "baseline_rows+model_results",
        "feature_slice",
        "market_bars",
    ]
    # The run ids the summary printed are the ones stored in the instance.
    for run_id, _, _ in runs:
        assert f"(dagster run {run_id[:8]})" in first_sweep.stdout
    stored = setup.app_sql("SELECT DISTINCT dagster_run_id FROM finetune_results")
    assert {row[0] for row in stored} <= {run_id for run_id, _, _ in runs}


def test_report_as_json_lists_every_variant_and_the_rollup(setup, first_sweep):
    result = setup.run("report", "--format", "json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    rows = document["rows"]
    assert len(rows) == N_RESULT_ROWS  # every variant of every key: no best-per-cell pick
    assert {r["variant"] for r in rows} == {"ridge_a1_t0", "ridge_a10_t5"}
    for row in rows:
        for field in ("net_return", "buy_and_hold", "random_mean", "naive", "sharpe"):
            assert isinstance(row[field], float), (field, row)
        if row["n_trades"]:
            assert 0 < row["p_value_matched"] <= 1 and 0 < row["p_value_random"] <= 1
            assert row["matched_null_p05"] <= row["matched_null_mean"] <= row["matched_null_p95"]
            assert (row["net_return"] > 0) == (
                row["cost_bps"] + row["slippage_bps"] < row["breakeven_cost_bps"]
            )
        else:
            assert row["p_value_matched"] is None and row["breakeven_cost_bps"] is None
    assert len(document["rollup"]) == N_ROLLUP
    assert {r["verdict"] for r in document["rollup"]} <= VERDICTS
    assert all(r["n_folds"] == 2 for r in document["rollup"])


def test_report_as_csv(setup, first_sweep):
    result = setup.run("report", "--format", "csv")

    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:5] == ["crypto", "fold_id", "cost_bps", "slippage_bps", "variant"]
    assert len(rows) == 1 + N_RESULT_ROWS
    assert all(len(row) == len(rows[0]) for row in rows)
    net_returns = [float(row[5]) for row in rows[1:]]  # numbers, not "" for missing
    assert len(net_returns) == N_RESULT_ROWS
    rollup = list(
        csv.reader(io.StringIO(setup.run("report", "--format", "csv", "--rollup").stdout))
    )
    assert rollup[0] == SUMMARY_COLUMNS and len(rollup) == 1 + N_ROLLUP


def test_report_writes_one_self_contained_html_file(setup, first_sweep, tmp_path):
    target = tmp_path / "out" / "report.html"
    result = setup.run("report", "--html", str(target))

    assert result.returncode == 0, result.stderr
    html = target.read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') >= 3
    assert "http://" not in html and "https://" not in html
    for variant in ("ridge_a1_t0", "ridge_a10_t5"):
        assert variant in html


def test_check_passes_after_the_sweep(setup, first_sweep):
    result = setup.run("check")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed for run_id 'test_run' strategy 'test_strategy'" in result.stdout


def test_a_missing_baseline_fails_check_and_the_next_sweep_restores_it(setup, first_sweep):
    assert first_sweep.returncode == 0
    deleted = setup.app_sql(
        "DELETE FROM finetune_baselines WHERE run_id = 'test_run' AND baseline_type = 'random' "
        "AND crypto = 'BTCUSDT' AND fold_id = 1 AND cost_bps = 30 RETURNING id"
    )
    assert len(deleted) == 1

    failed = setup.run("check")
    again = setup.run("sweep")
    after = setup.run("check")

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "check baselines_complete FAILED: 1 offending key(s)" in failed.stdout
    offending = [line for line in failed.stdout.splitlines() if line.startswith("  ")]
    assert len(offending) == 1
    assert "crypto=BTCUSDT fold_id=1 cost_bps=30" in offending[0]
    assert again.returncode == 0, again.stdout + again.stderr
    assert CHECKS_PASSED in again.stdout
    assert after.returncode == 0
    assert setup.app_sql(COUNT_ROWS) == [(N_RESULT_ROWS, N_BASELINE_ROWS)]


def test_a_negative_cost_is_a_one_line_usage_error(setup, tmp_path):
    bad = tmp_path / "negative_cost.yaml"
    bad.write_text(SMALL_SWEEP_YAML.replace("costs_bps: [10, 30]", "costs_bps: [10, -5]"))

    result = setup.run("sweep", config=bad)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "costs_bps" in lines[0]
    assert "-5" in lines[0]
    assert str(bad) in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("verb", ["sweep", "check", "report"])
def test_every_sweep_verb_has_help(setup, verb):
    result = setup.run(verb, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: econ-obs {verb}")
    assert "--config PATH" in result.stdout
