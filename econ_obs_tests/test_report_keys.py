"""What `econ-obs report` shows: each cost basis (cost_bps, slippage_bps) on its own row, and
only the keys of the config it is given, in the text table, CSV, JSON and HTML alike.

Real PostgreSQL: a small sweep is materialised in-process, then the report verb runs as a user
runs it, in its own process, against the same database.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from econ_obs.config import load_sweep_config
from econ_obs.defs.checks import expected_keys
from econ_obs.store.database import render
from econ_obs.store.report import report_rows
from econ_obs.store.report_data import load_report_data
from econ_obs_tests.conftest import SMALL_SWEEP_YAML, run_small_sweep

KEY_COLUMNS = ("crypto", "fold_id", "cost_bps", "slippage_bps", "variant")
BIGGER_YAML = SMALL_SWEEP_YAML.replace("cryptos: [BTCUSDT, ETHUSDT]", "cryptos: [BTCUSDT]").replace(
    "slippage_bps: 1", "slippage_bps: [0, 5]"
)
# Costs shrank to one, folds to one, slippages to one: every other stored key is an old one.
SMALLER_YAML = (
    BIGGER_YAML.replace("costs_bps: [10, 30]", "costs_bps: [10]")
    .replace("n_folds: 2", "n_folds: 1")
    .replace("slippage_bps: [0, 5]", "slippage_bps: [5]")
)


def _write_config(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def bigger_sweep(tmp_path, sweep_resources, instance, engine):
    """1 crypto x 2 folds x 2 costs x 2 slippages x 2 variants = 16 model rows, stored."""
    config = load_sweep_config(_write_config(tmp_path, "bigger.yaml", BIGGER_YAML))
    # Rows of another (run_id, strategy) must never show either.
    other = replace(config, run_id="other_run")
    for sweep in (config, other):
        outcomes = run_small_sweep(sweep, sweep_resources, instance)
        assert all(o.success for o in outcomes)
    return config


def _report(database_url, dagster_database_url, tmp_path, config, *args) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "ECON_OBS_SWEEP")}
    env.update(
        ECON_OBS_DATABASE_URL=render(database_url),
        ECON_OBS_DAGSTER_DATABASE_URL=render(dagster_database_url),
        ECON_OBS_DAGSTER_STORAGE_DIR=str(tmp_path / "storage"),
        ECON_OBS_DAGSTER_LOGS_DIR=str(tmp_path / "logs"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "econ_obs.cli", "report", *args, "--config", str(config)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _table_rows(text: str) -> list[dict[str, str]]:
    """Return the first aligned table of `econ-obs report`'s text output as dicts."""
    lines = text.split("\n\n")[0].strip().splitlines()
    header = lines[0].split()
    return [dict(zip(header, line.split(), strict=True)) for line in lines[1:]]


def _html_tables(page: str) -> list[list[dict[str, str]]]:
    """Return each <table> of the report as a list of {header: cell text} rows."""
    tables = []
    for table in re.findall(r"<table>(.*?)</table>", page, flags=re.S):
        header = [html.unescape(h) for h in re.findall(r"<th(?: [^>]*)?>([^<]*)</th>", table)]
        body = table.split("<tbody>")[1]
        rows = []
        for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S):
            cells = [html.unescape(c) for c in re.findall(r"<td(?: [^>]*)?>([^<]*)</td>", row)]
            rows.append(dict(zip(header, cells, strict=True)))
        tables.append(rows)
    return tables


def test_two_slippages_at_one_cost_are_told_apart_in_table_csv_and_html(
    bigger_sweep, database_url, dagster_database_url, tmp_path
):
    config_path = bigger_sweep.source_path

    table = _table_rows(_report(database_url, dagster_database_url, tmp_path, config_path))
    assert len(table) == 16
    assert "slippage_bps" in table[0]
    assert len({tuple(row[c] for c in KEY_COLUMNS) for row in table}) == 16

    text = _report(database_url, dagster_database_url, tmp_path, config_path, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len({tuple(row[c] for c in KEY_COLUMNS) for row in rows}) == 16
    assert {float(row["slippage_bps"]) for row in rows} == {0.0, 5.0}

    target = tmp_path / "report.html"
    _report(database_url, dagster_database_url, tmp_path, config_path, "--html", str(target))
    rollup, every_row = _html_tables(target.read_text(encoding="utf-8"))
    rollup_keys = {
        (r["crypto"], r["variant"], r["cost (bps)"], r["slippage (bps)"]) for r in rollup
    }
    assert len(rollup) == len(rollup_keys) == 2 * 2 * 2  # variants x costs x slippages
    assert {r["slippage (bps)"] for r in rollup} == {"0", "5"}
    assert len(every_row) == 16


def test_the_report_lists_only_the_keys_of_the_config_it_is_given(
    bigger_sweep, engine, database_url, dagster_database_url, tmp_path
):
    smaller = load_sweep_config(_write_config(tmp_path, "smaller.yaml", SMALLER_YAML))
    expected = expected_keys(smaller)
    expected_set = {(k.crypto, k.fold_id, k.cost_bps, k.slippage_bps) for k in expected}
    assert expected_set == {("BTCUSDT", 0, 10, 5.0)}

    with engine.connect() as connection:
        assert len(report_rows(connection, smaller.run_id, smaller.strategy, expected)) == 2
        every = expected_keys(bigger_sweep)
        assert len(report_rows(connection, smaller.run_id, smaller.strategy, every)) == 16
        data = load_report_data(connection, smaller.run_id, smaller.strategy, expected)
    for name in ("rows", "matched_null", "random_seeds", "equity"):
        frame = getattr(data, name)
        assert len(frame) > 0, name
        keys = frame[["crypto", "fold_id", "cost_bps", "slippage_bps"]].itertuples(index=False)
        assert {(c, int(f), int(cost), float(s)) for c, f, cost, s in keys} == expected_set, name
    assert set(data.rollup["cost_bps"]) == {10} and set(data.rollup["slippage_bps"]) == {5.0}

    config_path = smaller.source_path
    text = _report(database_url, dagster_database_url, tmp_path, config_path, "--format", "json")
    document = json.loads(text)
    assert {(r["fold_id"], r["cost_bps"], r["slippage_bps"]) for r in document["rows"]} == {
        (0, 10, 5.0)
    }
    assert len(document["rows"]) == 2 and len(document["rollup"]) == 2
    table = _table_rows(_report(database_url, dagster_database_url, tmp_path, config_path))
    assert {(r["fold_id"], r["cost_bps"]) for r in table} == {("0", "10")}
    target = tmp_path / "smaller.html"
    _report(database_url, dagster_database_url, tmp_path, config_path, "--html", str(target))
    page = target.read_text(encoding="utf-8")
    assert "1 crypto(s), 1 fold(s), 1 cost(s), 1 slippage(s), 2 variant(s), 2 model rows" in page
    rollup, every_row = _html_tables(page)
    assert {r["cost (bps)"] for r in rollup + every_row} == {"10"}
    assert {r["fold"] for r in every_row} == {"0"}
