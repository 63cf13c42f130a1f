"""Each step's peak memory in step_memory and its metadata; the WARN check memory_headroom."""

from __future__ import annotations

import json

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from econ_obs.config import load_sweep_config
from econ_obs.defs.sensors import parse_cursor
from econ_obs.defs.sizing import PROFILES_ENV_VAR, profiles_from_env
from econ_obs.sizing import DEFAULT_PROFILES, MEMORY_HEADROOM_CHECK, SizingError
from econ_obs.store.step_memory import (
    StepMemoryRow,
    insert_step_memory,
    latest_step_memory,
    step_observations,
)
from econ_obs_tests.conftest import SMALL_SWEEP_YAML, run_small_sweep
from econ_obs_tests.test_operator_behaviour import evaluate_sensor

GIB = 1024**3
MIB = 1024**2
ASSETS = ["baseline_rows", "feature_slice", "market_bars", "model_results"]


@pytest.fixture
def step_memory(engine):
    """The session database with step_memory emptied (conftest's APP_TABLES predates it)."""
    with engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE step_memory"))
    return engine


def _row(asset: str = "feature_slice", peak: int = 300 * MIB, **changes) -> StepMemoryRow:
    values = {
        "run_id": "r1",
        "strategy": "s1",
        "asset": asset,
        "factor": "btc_overlay",
        "dagster_run_id": "d1",
        "peak_bytes": peak,
        "baseline_rss_bytes": 200 * MIB,
        "lifetime_peak": False,
        "input_bars": 1000,
        "input_assets": 2,
        "profile": "standard",
        "limit_bytes": 8 * GIB,
    }
    return StepMemoryRow(**(values | changes))


def _evaluations(instance, run_id: str) -> dict[str, dg.AssetCheckEvaluation]:
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return {
        r.dagster_event.event_specific_data.check_name: r.dagster_event.event_specific_data
        for r in records
    }


def test_the_store_keeps_the_latest_row_per_asset_and_growth_as_observations(step_memory):
    with step_memory.connect() as connection:
        insert_step_memory(connection, _row(peak=300 * MIB))
        insert_step_memory(connection, _row(peak=400 * MIB, baseline_rss_bytes=None))
        insert_step_memory(connection, _row(asset="market_bars", peak=250 * MIB))
        latest = {row.asset: row for row in latest_step_memory(connection, "r1", "s1")}
        observations = step_observations(connection, "btc_overlay", "feature_slice")

    assert latest["feature_slice"].peak_bytes == 400 * MIB
    assert latest["market_bars"].peak_bytes == 250 * MIB
    # Oldest first; growth above the starting RSS, the whole peak when it was unknown.
    assert [(o.peak_bytes, o.bars, o.assets) for o in observations] == [
        (100 * MIB, 1000, 2),
        (400 * MIB, 1000, 2),
    ]


def test_the_table_refuses_a_peak_of_zero(step_memory):
    with step_memory.connect() as connection, pytest.raises(IntegrityError, match="peak_bytes"):
        insert_step_memory(connection, _row(peak=0))


def test_profiles_come_from_the_environment_when_set(monkeypatch):
    monkeypatch.delenv(PROFILES_ENV_VAR, raising=False)
    assert profiles_from_env() == DEFAULT_PROFILES
    monkeypatch.setenv(PROFILES_ENV_VAR, "{standard: 64MiB, big: {memory: 1GiB, cpu: '2'}}")
    assert [(p.name, p.memory_bytes, p.cpu) for p in profiles_from_env()] == [
        ("standard", 64 * MIB, "1"),
        ("big", GIB, "2"),
    ]
    monkeypatch.setenv(PROFILES_ENV_VAR, "{standard: 64MB}")
    with pytest.raises(SizingError, match=r"ECON_OBS_MEMORY_PROFILES.standard.memory: '64MB'"):
        profiles_from_env()


def test_every_step_records_its_peak_input_and_profile_and_passes_headroom(
    small_config, sweep_resources, instance, step_memory, monkeypatch
):
    monkeypatch.delenv(PROFILES_ENV_VAR, raising=False)
    outcomes = run_small_sweep(small_config, sweep_resources, instance)

    assert [o.success for o in outcomes] == [True, True, True]
    with step_memory.connect() as connection:
        rows = {
            row.asset: row
            for row in latest_step_memory(connection, small_config.run_id, small_config.strategy)
        }
    assert sorted(rows) == ASSETS
    assert {row.factor for row in rows.values()} == {"returns"}
    assert {(row.profile, row.limit_bytes) for row in rows.values()} == {("standard", 8 * GIB)}
    assert all(0 < row.peak_bytes < 8 * GIB for row in rows.values())
    # market_bars keeps both cryptos' series (its output holds them); feature_slice cuts one
    # crypto's slices after the other, so it holds one series at a time; the result steps
    # hold one slice's test window (240 bars) at a time, however many slices they go through.
    assert rows["market_bars"].input_assets == 2
    assert rows["feature_slice"].input_assets == 1
    assert rows["feature_slice"].input_bars == rows["market_bars"].input_bars > 840
    for asset in ("baseline_rows", "model_results"):
        assert (rows[asset].input_bars, rows[asset].input_assets) == (240, 1)
    assert {row.dagster_run_id for row in rows.values()} == {o.dagster_run_id for o in outcomes}

    metadata = instance.get_latest_materialization_event(
        dg.AssetKey(["test_run", "model_results"])
    ).asset_materialization.metadata
    assert metadata["peak_memory_bytes"].value == rows["model_results"].peak_bytes
    assert metadata["input_bars"].value == 240 and metadata["input_assets"].value == 1
    assert metadata["factor"].value == "returns"
    assert metadata["memory_profile"].value == "standard"
    assert metadata["bytes_per_bar"].value >= 0
    # Also on every other partition of the step, beside the partition's own figures.
    market = instance.get_latest_materialization_event(
        dg.AssetKey(["test_run", "market_bars"])
    ).asset_materialization.metadata
    assert market["peak_memory_bytes"].value == rows["market_bars"].peak_bytes
    assert "n_bars" in market

    headroom = _evaluations(instance, outcomes[-1].dagster_run_id)[MEMORY_HEADROOM_CHECK]
    assert headroom.passed
    assert headroom.severity == dg.AssetCheckSeverity.WARN
    assert headroom.metadata["n_steps"].value == 4
    assert headroom.metadata["n_over"].value == 0


def test_a_step_over_85_percent_of_its_limit_fails_headroom_as_a_warning(
    small_config, sweep_resources, instance, step_memory, monkeypatch
):
    # A Python process with pandas and Dagster loaded is far above 85% of 64 MiB.
    monkeypatch.setenv(PROFILES_ENV_VAR, "{standard: 64MiB}")
    outcomes = run_small_sweep(small_config, sweep_resources, instance)

    assert [o.success for o in outcomes] == [True, True, True]  # a WARN does not fail the run
    assert outcomes[-1].failed_checks == (MEMORY_HEADROOM_CHECK,)
    headroom = _evaluations(instance, outcomes[-1].dagster_run_id)[MEMORY_HEADROOM_CHECK]
    assert not headroom.passed
    assert headroom.severity == dg.AssetCheckSeverity.WARN
    assert headroom.metadata["n_over"].value == 4
    with step_memory.connect() as connection:
        rows = latest_step_memory(connection, small_config.run_id, small_config.strategy)
    for row in rows:
        peak = f"{row.peak_bytes / MIB:.2f} MiB"
        assert (
            f"{row.asset}: memory_headroom: factor 'returns' peaked at {peak} of its 64.00 MiB "
            "limit ('standard' profile)"
        ) in headroom.description
    assert "at or over 85%; move it to a larger profile" in headroom.description

    # The run succeeded, yet the alert sensor raises the warning: one alert per step, once.
    cursor = evaluate_sensor(instance, sweep_resources)
    evaluate_sensor(instance, sweep_resources, cursor=cursor)
    with step_memory.connect() as connection:
        alerts = connection.execute(
            sa.text("SELECT event, check_name, run_id, dagster_run_id, detail FROM alerts")
        ).all()
    assert {(a.event, a.check_name, a.run_id) for a in alerts} == {
        ("memory_headroom", MEMORY_HEADROOM_CHECK, "test_run")
    }
    assert {a.dagster_run_id for a in alerts} == {outcomes[-1].dagster_run_id}
    details = [a.detail if isinstance(a.detail, dict) else json.loads(a.detail) for a in alerts]
    assert sorted(d["asset"] for d in details) == sorted(r.asset for r in rows)
    assert all(d["limit_bytes"] == 64 * MIB and d["peak_bytes"] > 0 for d in details)


def test_a_cursor_from_before_succeeded_runs_were_read_starts_both_there():
    assert parse_cursor("42") == {"failed": 42, "succeeded": 42}
    assert parse_cursor(None) == {"failed": 0, "succeeded": 0}
    assert parse_cursor('{"failed": 3, "succeeded": 9}') == {"failed": 3, "succeeded": 9}


def test_btc_overlay_feature_slice_holds_two_series(
    tmp_path, sweep_resources, instance, step_memory, monkeypatch
):
    monkeypatch.delenv(PROFILES_ENV_VAR, raising=False)
    path = tmp_path / "overlay.yaml"
    path.write_text(
        SMALL_SWEEP_YAML.replace("cryptos: [BTCUSDT, ETHUSDT]", "cryptos: [ETHUSDT]").replace(
            "factor: returns", "factor: btc_overlay"
        )
    )
    config = load_sweep_config(path)
    outcomes = run_small_sweep(config, sweep_resources, instance)

    assert all(o.success for o in outcomes)
    with step_memory.connect() as connection:
        rows = {
            row.asset: row for row in latest_step_memory(connection, config.run_id, config.strategy)
        }
    assert rows["feature_slice"].factor == "btc_overlay"
    assert rows["feature_slice"].input_assets == 2  # ETHUSDT and BTCUSDT beside it
    assert (rows["model_results"].input_bars, rows["model_results"].input_assets) == (240, 1)


def test_a_step_counts_the_most_series_it_held_at_once():
    from econ_obs.defs.sizing import StepInput

    step = StepInput()
    for crypto, bars in (("BTCUSDT", 1000), ("ETHUSDT", 3000), ("SOLUSDT", 2000)):
        step.hold(crypto, bars)
        step.release(crypto)
    assert (step.bars, step.assets) == (3000, 1)

    step.hold("BTCUSDT", 5000)  # held throughout, beside each crypto in turn
    for crypto in ("ETHUSDT", "SOLUSDT"):
        step.hold(crypto, 4000)
        step.release(crypto)
    assert (step.bars, step.assets) == (5000, 2)
