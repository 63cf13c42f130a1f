"""The asset graph end to end on a real PostgreSQL: materialise, re-materialise, break it."""

import json
import logging
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from econ_obs.definitions import build_definitions
from econ_obs.defs.sensors import sweep_alert_sensor
from econ_obs.defs.sweep import run_sweep, sweep_plan
from econ_obs.store.database import make_engine
from econ_obs.store.migrations import migrate
from econ_obs_tests.conftest import no_current_dagster_instance, run_small_sweep

METRICS = "net_return, gross_return, n_trades, sharpe, max_drawdown, exposure, hit_rate"


def stored(engine, table: str, member: str) -> list[tuple]:
    query = (
        f"SELECT crypto, fold_id, cost_bps, {member}, test_start, test_end, n_test_bars, "
        f"slippage_bps, {METRICS} FROM {table} ORDER BY 1, 2, 3, 4"
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(query))]


def run_results_stage(config, resources, instance) -> dg.ExecuteInProcessResult:
    """Re-run model_results (and its checks) alone, leaving baseline_rows as they are."""
    defs = build_definitions(config, resources=resources)
    assets = list(defs.assets)
    last = sweep_plan(assets)[-1]
    stage = type(last)("model_results", ("test_run/model_results",), last.partition_keys)
    outcome = run_sweep(
        [*assets, *defs.asset_checks],
        [stage],
        instance,
        resources,
        config.run_id,
        progress=lambda line: None,
        log_level="WARNING",
    )[0]
    return instance.get_run_by_id(outcome.dagster_run_id), outcome


def test_a_sweep_writes_every_partition_once_with_its_run_id(
    small_config, sweep_resources, instance, engine
):
    outcomes = run_small_sweep(small_config, sweep_resources, instance)

    assert [o.success for o in outcomes] == [True, True, True]
    results = stored(engine, "finetune_results", "variant")
    baselines = stored(engine, "finetune_baselines", "baseline_type")
    assert len(results) == 2 * 2 * 2 * len(small_config.variants)
    assert len(baselines) == 2 * 2 * 2 * 3  # three baselines per key, whatever the variants
    with engine.connect() as connection:
        run_ids = set(
            connection.execute(
                sa.text(
                    "SELECT dagster_run_id FROM finetune_results UNION SELECT dagster_run_id "
                    "FROM finetune_baselines"
                )
            ).scalars()
        )
    assert run_ids == {outcomes[-1].dagster_run_id}


def test_model_and_baselines_share_the_basis_of_their_slice(
    small_config, sweep_resources, instance, engine
):
    run_small_sweep(small_config, sweep_resources, instance)

    with engine.connect() as connection:
        mismatches = connection.execute(
            sa.text(
                """SELECT count(*) FROM finetune_results r JOIN finetune_baselines b
               USING (run_id, strategy, crypto, fold_id, cost_bps)
               WHERE (r.test_start, r.test_end, r.n_test_bars, r.slippage_bps)
                     IS DISTINCT FROM (b.test_start, b.test_end, b.n_test_bars, b.slippage_bps)"""
            )
        ).scalar()
        naive = (
            connection.execute(
                sa.text(
                    "SELECT DISTINCT net_return FROM finetune_baselines "
                    "WHERE baseline_type = 'naive'"
                )
            )
            .scalars()
            .all()
        )
        by_cost = connection.execute(
            sa.text(
                """SELECT crypto, fold_id, array_agg(net_return ORDER BY cost_bps) FROM
               finetune_baselines WHERE baseline_type = 'buy_and_hold' GROUP BY 1, 2"""
            )
        ).all()
    assert mismatches == 0
    assert naive == [0.0]
    assert all(returns[0] > returns[1] for _, _, returns in by_cost)  # 10 bps beats 30 bps


def test_rematerialising_gives_the_same_rows_and_no_duplicates(
    small_config, sweep_resources, instance, engine
):
    run_small_sweep(small_config, sweep_resources, instance)
    first = (
        stored(engine, "finetune_results", "variant"),
        stored(engine, "finetune_baselines", "baseline_type"),
    )

    outcomes = run_small_sweep(small_config, sweep_resources, instance)

    assert all(o.success for o in outcomes)
    assert (
        stored(engine, "finetune_results", "variant"),
        stored(engine, "finetune_baselines", "baseline_type"),
    ) == first


def test_each_partition_materialisation_carries_its_comparison(
    small_config, sweep_resources, instance
):
    run_small_sweep(small_config, sweep_resources, instance)

    records = instance.fetch_materializations(
        dg.AssetKey(["test_run", "model_results"]), limit=100
    ).records
    assert len(records) == 8
    metadata = {r.partition_key: r.asset_materialization.metadata for r in records}
    one = metadata["BTCUSDT|fold1_30bps_1slip"]
    assert one["cost_bps"].value == 30 and one["fold_id"].value == 1
    assert one["slippage_bps"].value == 1.0
    assert one["n_rows"].value == len(small_config.variants)
    comparison = {
        (r.data["row_type"], r.data["name"]): r.data for r in one["comparison"].value.records
    }
    assert set(comparison) == {("variant", v.name) for v in small_config.variants} | {
        ("baseline", kind) for kind in ("buy_and_hold", "random", "naive")
    }
    assert comparison[("baseline", "naive")]["net_return"] == 0.0
    assert comparison[("baseline", "buy_and_hold")]["excess_over_buy_and_hold"] == 0.0
    assert "best_variant" not in one  # every variant, no pick after the fact
    table = one["significance"].value
    assert sorted(r.data["variant"] for r in table.records) == sorted(
        v.name for v in small_config.variants
    )
    columns = [c.name for c in table.schema.columns]
    assert {"exposure", "sharpe"} <= set(columns)
    for record in table.records:
        assert set(record.data) == set(columns)
        assert 0.0 <= record.data["exposure"] <= 1.0
        assert isinstance(record.data["sharpe"], float)
        if record.data["n_trades"]:
            assert 0 < record.data["p_value_matched"] <= 1
            assert isinstance(record.data["breakeven_cost_bps"], float)
            assert record.data["exposure"] > 0.0
    report = instance.fetch_materializations(
        dg.AssetKey(["test_run", "sweep_report"]), limit=1
    ).records
    report_metadata = report[0].asset_materialization.metadata
    assert report_metadata["n_model_rows"].value == 16
    rollup = report_metadata["rollup"].value.records
    assert len(rollup) == 2 * 2 * 2  # crypto x variant x cost
    assert {r.data["verdict"] for r in rollup} <= {"edge", "no_edge", "loses_to_costs", "no_trades"}
    assert report_metadata["figures"].value.count("data:image/png;base64,") == 3
    assert Path(report_metadata["html_report"].value).is_file()


def check_evaluations(instance, run_id: str) -> dict[str, dg.AssetCheckEvaluation]:
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return {
        r.dagster_event.event_specific_data.check_name: r.dagster_event.event_specific_data
        for r in records
    }


def test_a_missing_baseline_fails_baselines_complete_and_blocks_the_report(
    small_config, sweep_resources, instance, engine
):
    run_small_sweep(small_config, sweep_resources, instance)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "DELETE FROM finetune_baselines WHERE baseline_type = 'random' "
                "AND crypto = 'ETHUSDT' "
                "AND fold_id = 0 AND cost_bps = 10"
            )
        )

    run, outcome = run_results_stage(small_config, sweep_resources, instance)

    assert not outcome.success
    evaluations = check_evaluations(instance, run.run_id)
    failed = evaluations["baselines_complete"]
    assert not failed.passed
    offending = failed.metadata["offending_keys"].value
    assert offending == [
        {
            "crypto": "ETHUSDT",
            "fold_id": 0,
            "cost_bps": 10,
            "slippage_bps": 1.0,
            "missing": ["random"],
        }
    ]
    assert evaluations["same_basis"].passed and evaluations["unique_per_partition"].passed


def test_a_shifted_baseline_window_fails_same_basis(
    small_config, sweep_resources, instance, engine
):
    run_small_sweep(small_config, sweep_resources, instance)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE finetune_baselines SET test_start = test_start + interval '1 hour' "
                "WHERE baseline_type = 'buy_and_hold' AND crypto = 'BTCUSDT' AND fold_id = 1 "
                "AND cost_bps = 30"
            )
        )

    run, outcome = run_results_stage(small_config, sweep_resources, instance)

    failed = check_evaluations(instance, run.run_id)["same_basis"]
    assert not outcome.success and not failed.passed
    assert failed.metadata["offending_keys"].value == [
        {
            "crypto": "BTCUSDT",
            "fold_id": 1,
            "cost_bps": 30,
            "slippage_bps": 1.0,
            "baseline_type": "buy_and_hold",
            "differs_in": "test_start",
        }
    ]


def test_a_dropped_constraint_fails_unique_per_partition(
    small_config, make_database, tmp_path, instance
):
    url = make_database("econ_obs_dropped")
    engine = make_engine(url)
    try:
        migrate(engine)
        with engine.begin() as connection:
            connection.execute(
                sa.text("ALTER TABLE finetune_baselines DROP CONSTRAINT uq_finetune_baseline")
            )
        from econ_obs.defs.assets import SLICE_IO_MANAGER
        from econ_obs.defs.io_manager import PartitionedPickleIOManager
        from econ_obs.defs.resources import PostgresResource
        from econ_obs.store.database import render

        resources = {
            "postgres": PostgresResource(database_url=render(url)),
            SLICE_IO_MANAGER: PartitionedPickleIOManager(base_dir=str(tmp_path / "s")),
        }
        outcomes = run_small_sweep(small_config, resources, instance)
    finally:
        engine.dispose()

    assert not outcomes[-1].success
    failed = check_evaluations(instance, outcomes[-1].dagster_run_id)["unique_per_partition"]
    assert not failed.passed
    assert {
        "table_name": "finetune_baselines",
        "constraint": "uq_finetune_baseline",
        "problem": "constraint missing",
    } in failed.metadata["offending_keys"].value


def test_the_sensor_alerts_once_per_failed_key(
    small_config, sweep_resources, instance, engine, capfd, caplog
):
    run_small_sweep(small_config, sweep_resources, instance)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "DELETE FROM finetune_baselines WHERE crypto = 'BTCUSDT' AND fold_id = 0 "
                "AND cost_bps IN (10, 30) AND baseline_type = 'naive'"
            )
        )
    run, _ = run_results_stage(small_config, sweep_resources, instance)

    capfd.readouterr()
    caplog.set_level(logging.DEBUG)
    context = dg.build_sensor_context(
        instance=instance, resources={"postgres": sweep_resources["postgres"]}
    )
    with no_current_dagster_instance():  # the context enters an instance of its own
        sweep_alert_sensor(context)
    again = dg.build_sensor_context(
        instance=instance,
        cursor=context.cursor,
        resources={"postgres": sweep_resources["postgres"]},
    )
    with no_current_dagster_instance():
        sweep_alert_sensor(again)
    printed = capfd.readouterr()

    with engine.connect() as connection:
        alerts = connection.execute(
            sa.text(
                "SELECT event, run_id, crypto, fold_id, cost_bps, slippage_bps, dagster_run_id, "
                "detail FROM alerts ORDER BY event, cost_bps"
            )
        ).all()
    incomplete = [a for a in alerts if a.event == "baselines_incomplete"]
    assert [(a.crypto, a.fold_id, a.cost_bps, a.slippage_bps) for a in incomplete] == [
        ("BTCUSDT", 0, 10, 1.0),
        ("BTCUSDT", 0, 30, 1.0),
    ]
    assert all(a.run_id == "test_run" and a.dagster_run_id == run.run_id for a in incomplete)
    detail = {"missing": ["naive"]}
    assert incomplete[0].detail == detail or json.loads(incomplete[0].detail) == detail
    # The run failed because of the check: its keys are the alerts, the run adds none.
    assert [a.event for a in alerts] == ["baselines_incomplete", "baselines_incomplete"]
    # Everything that reached a console or a Python logger: the sensor's own log prints to
    # the console; a module logger beside it used to print each line a second time.
    output = printed.out + printed.err + "\n".join(r.getMessage() for r in caplog.records)
    first = (
        "event=baselines_incomplete run_id=test_run strategy=test_strategy crypto=BTCUSDT "
        "fold_id=0 cost_bps=10 slippage_bps=1.0"
    )
    assert output.count(first) == 1  # logged once, and the second evaluation raised nothing new
    assert output.count("event=") == len(alerts)


@pytest.mark.parametrize("cost_bps", [None, -5])
def test_a_config_without_a_valid_cost_cannot_build_a_graph(small_config, cost_bps):
    from econ_obs.core.accounting import CostBasis, CostError

    with pytest.raises(CostError):
        CostBasis(cost_bps=cost_bps, slippage_bps=small_config.slippage_bps[0])


class BrokenModel:
    """A plug-in model whose fit always fails: a bug, not a lost connection."""

    def fit(self, features, target):
        raise RuntimeError("broken on purpose")

    def predict(self, features):
        raise RuntimeError("broken on purpose")


def test_a_model_error_fails_at_once_without_retries(
    small_config, sweep_resources, instance, engine
):
    from dataclasses import replace

    from econ_obs.core.models import parse_variants

    broken = replace(
        small_config,
        variants=tuple(parse_variants([{"name": "broken"}], f"{__name__}:BrokenModel")),
    )

    outcomes = run_small_sweep(broken, sweep_resources, instance)

    assert not outcomes[-1].success
    logs = instance.all_logs(outcomes[-1].dagster_run_id)
    retries = [
        e
        for e in logs
        if e.dagster_event and e.dagster_event.event_type_value == "STEP_UP_FOR_RETRY"
    ]
    failures = [
        e for e in logs if e.dagster_event and e.dagster_event.event_type_value == "STEP_FAILURE"
    ]
    assert retries == []
    assert any("broken on purpose" in str(e.dagster_event.event_specific_data) for e in failures)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM finetune_results")).scalar() == 0
        assert connection.execute(sa.text("SELECT count(*) FROM finetune_baselines")).scalar() == 24
