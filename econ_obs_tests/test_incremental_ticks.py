"""A scheduled tick materialises what is missing or stale, not the whole sweep.

Each test runs scheduled sweeps as the daemon would, on a real instance and database: the
schedule's request, then each request of `sweep_stage_chain` once the previous stage's runs
have succeeded, and records which partitions every run covered.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from econ_obs.definitions import build_definitions
from econ_obs.defs import versions
from econ_obs.defs.freshness import partition_ranges, stage_work
from econ_obs.defs.partitions import decode_result_key, decode_slice_key
from econ_obs.defs.resources import PostgresResource
from econ_obs.defs.schedules import next_stage_requests
from econ_obs.defs.sweep import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    stage_job_name,
    stage_tags,
    sweep_plan,
)
from econ_obs.defs.versions import asset_code_versions
from econ_obs.store.database import render
from econ_obs_tests.conftest import SMALL_SWEEP_YAML, no_current_dagster_instance
from econ_obs_tests.test_bad_files_corpus import csv_text, good_frame
from econ_obs_tests.test_versions import SAMPLE_DATA, config_from

FIRST_TICK = datetime(2026, 1, 5, 3, 30, tzinfo=UTC)
ANCHORED_AT_START = "purge_bars: 12, anchor: start}"


def covered(defs: dg.Definitions, stage, tags: dict[str, str]) -> list[str]:
    """Return the partitions a ranged run with `tags` materialises, as Dagster reads them."""
    key = dg.AssetKey.from_user_string(stage.asset_keys[0])
    partitions_def = next(a for a in defs.assets if a.key == key).partitions_def
    start, end = tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG]
    return [
        str(k) for k in partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(start, end))
    ]


class ScheduledSweeps:
    """Runs ticks of one sweep's schedule and chain on `instance`, as the daemon would."""

    def __init__(self, instance: dg.DagsterInstance, postgres: PostgresResource):
        self.instance = instance
        self.postgres = postgres
        self.ticks = 0

    def tick(self, config) -> tuple[dict[str, set[str]], str]:
        """Run one scheduled sweep; return the partitions each stage ran, and why it ended."""
        defs = build_definitions(config)
        plan = sweep_plan(list(defs.assets))
        versions = asset_code_versions(config)
        (schedule,) = defs.schedules
        when = FIRST_TICK + timedelta(days=self.ticks)
        self.ticks += 1
        context = dg.build_schedule_context(
            instance=self.instance,
            scheduled_execution_time=when,
            resources={"postgres": self.postgres},
        )
        with no_current_dagster_instance():
            evaluation = schedule.evaluate_tick(context)
        requests = list(evaluation.run_requests)
        ran: dict[str, set[str]] = {}
        if not requests:
            return ran, evaluation.skip_message
        while True:
            for request in requests:
                with no_current_dagster_instance():
                    job = defs.resolve_job_def(request.job_name)
                result = job.execute_in_process(instance=self.instance, tags=request.tags)
                assert result.success, request.job_name
                stage = next(s for s in plan if stage_job_name(s) == request.job_name)
                ran.setdefault(stage.name.split("+")[0], set()).update(
                    covered(defs, stage, request.tags)
                )
            outcome = next_stage_requests(
                plan,
                self.instance.get_run_by_id(result.run_id),
                config.run_id,
                self.instance,
                lambda stage: stage_work(self.instance, stage, versions, config.needs_btc),
            )
            if isinstance(outcome, str):
                return ran, outcome
            requests = outcome


@pytest.fixture
def sweeps(instance, engine, database_url, tmp_path, monkeypatch) -> ScheduledSweeps:
    monkeypatch.setenv("ECON_OBS_DATABASE_URL", render(database_url))
    monkeypatch.setenv("ECON_OBS_DAGSTER_STORAGE_DIR", str(tmp_path / "storage"))
    return ScheduledSweeps(instance, PostgresResource(database_url=render(database_url)))


def csv_sweep(tmp_path, frames: dict, yaml_text: str = SMALL_SWEEP_YAML):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for crypto, frame in frames.items():
        (data / f"{crypto}_1h.csv").write_text(csv_text(frame))
    data_config = f"data: {{format: ohlcv_csv, path: {data}, timeframe: 1h}}"
    return config_from(tmp_path, yaml_text.replace(SAMPLE_DATA, data_config))


def test_a_second_tick_on_the_same_data_and_config_loads_the_bars_and_stops(sweeps, small_config):
    first, _ = sweeps.tick(small_config)
    assert {stage: len(keys) for stage, keys in first.items()} == {
        "market_bars": 2,
        "feature_slice": 4,
        "baseline_rows": 8,
    }

    second, outcome = sweeps.tick(small_config)

    assert second == {"market_bars": {"BTCUSDT", "ETHUSDT"}}
    assert "up to date" in outcome


@pytest.mark.parametrize(
    ("anchor", "stale_results"), [(ANCHORED_AT_START, False), ("purge_bars: 12}", True)]
)
def test_new_bars_of_one_crypto_rerun_only_what_they_change(
    sweeps, tmp_path, anchor, stale_results
):
    long = good_frame(2100)
    frames = {"BTCUSDT": good_frame(2000), "ETHUSDT": long.iloc[:2000].assign(volume=20.0)}
    config = csv_sweep(tmp_path, frames, SMALL_SWEEP_YAML.replace("purge_bars: 12}", anchor))
    sweeps.tick(config)

    # ETH's file gains 100 bars (its first 2000 are unchanged); BTC's stays as it was.
    csv_sweep(tmp_path, {"ETHUSDT": long.assign(volume=20.0)})
    ran, outcome = sweeps.tick(config)

    assert ran["market_bars"] == {"BTCUSDT", "ETHUSDT"}
    assert {decode_slice_key(key).crypto for key in ran["feature_slice"]} == {"ETHUSDT"}
    assert len(ran["feature_slice"]) == 2
    if stale_results:  # anchored at the end, every ETH window moved: all its results rerun
        assert {decode_result_key(key).crypto for key in ran["baseline_rows"]} == {"ETHUSDT"}
        assert len(ran["baseline_rows"]) == 4
    else:  # anchored at the start, ETH's slices came out the same: its results are fresh
        assert "baseline_rows" not in ran
        assert "up to date" in outcome


def test_a_partition_that_is_missing_runs_alone_and_a_code_change_reruns_everything(
    sweeps, small_config, monkeypatch
):
    # A sweep whose result run covered fold 1 at cost 10 but not at cost 30: those are missing.
    defs = build_definitions(small_config)
    plan = sweep_plan(list(defs.assets))
    ranges = [(s.partition_keys[0], s.partition_keys[-1]) for s in plan[:-1]]
    partial = ("BTCUSDT|fold0_10bps_1slip", "ETHUSDT|fold1_10bps_1slip")
    for stage, keys in zip(plan, [*ranges, partial], strict=True):
        tags = stage_tags(replace(stage, partition_keys=keys), "test_run")
        with no_current_dagster_instance():
            job = defs.resolve_job_def(stage_job_name(stage))
        # The partial result run writes its rows, then baselines_complete fails (as it must).
        job.execute_in_process(instance=sweeps.instance, tags=tags, raise_on_error=False)
    missing = {"BTCUSDT|fold1_30bps_1slip", "ETHUSDT|fold1_30bps_1slip"}
    assert missing == set(plan[-1].partition_keys) - set(covered(defs, plan[-1], tags))

    ran, outcome = sweeps.tick(small_config)

    assert ran == {"market_bars": {"BTCUSDT", "ETHUSDT"}, "baseline_rows": missing}
    assert outcome.startswith("done")

    # New accounting code: every asset has a new code version, so everything runs again.
    monkeypatch.setattr(versions, "ACCOUNTING_CODE_VERSION", versions.ACCOUNTING_CODE_VERSION + 1)
    ran, _ = sweeps.tick(small_config)

    assert {stage: len(keys) for stage, keys in ran.items()} == {
        "market_bars": 2,
        "feature_slice": 4,
        "baseline_rows": 8,
    }


def test_a_tick_under_another_config_of_the_same_run_id_is_skipped(sweeps, tmp_path, small_config):
    sweeps.tick(small_config)
    fewer_costs = config_from(tmp_path, SMALL_SWEEP_YAML.replace("[10, 30]", "[10]"))

    ran, outcome = sweeps.tick(fewer_costs)

    assert ran == {}
    assert "was swept with another config (costs_bps: [10, 30] -> [10])" in outcome
    assert "this tick is skipped" in outcome


def test_a_slice_fingerprint_ignores_appended_bars_but_not_a_changed_price(tmp_path):
    from econ_obs.core.backtest import build_feature_slices

    long = good_frame(2100)
    anchored = SMALL_SWEEP_YAML.replace("purge_bars: 12}", ANCHORED_AT_START)

    def slices(frame) -> list:
        config = csv_sweep(tmp_path, {"ETHUSDT": frame, "BTCUSDT": frame}, anchored)
        bars = config.data.load_bars("ETHUSDT")
        return build_feature_slices(bars, config.folds, config.factor, config.factor_params)

    before = slices(long.iloc[:2000])
    assert [s.content_fingerprint for s in slices(long)] == [s.content_fingerprint for s in before]
    # One close inside fold 1's test window, after fold 0's window has ended.
    changed = long.iloc[:2000].copy()
    test_start = before[1].fold.test_start.strftime("%Y-%m-%dT%H:%M:%SZ")
    row = changed.index[changed["timestamp"] == test_start][0] + 10
    changed.loc[row, "close"] *= 1.0005
    after = slices(changed)
    assert after[0].content_fingerprint == before[0].content_fingerprint
    assert after[1].content_fingerprint != before[1].content_fingerprint


@pytest.mark.parametrize(
    ("wanted", "max_ranges", "expected"),
    [
        ([], 4, []),
        (["b", "c"], 4, [("b", "c")]),
        (["a", "c", "e"], 4, [("a", "a"), ("c", "c"), ("e", "e")]),
        (["a", "c", "e"], 2, [("a", "e")]),
    ],
)
def test_one_dimensional_partitions_go_to_runs_of_consecutive_keys(wanted, max_ranges, expected):
    assert partition_ranges(list("abcdefg"), wanted, max_ranges) == expected


GRID = [f"{crypto}|{second}" for crypto in ("A", "B", "C") for second in ("x", "y", "z")]


@pytest.mark.parametrize(
    ("wanted", "max_ranges", "expected"),
    [
        (["B|x", "B|y", "B|z"], 4, [("B|x", "B|z")]),  # one crypto, every fold_cost
        (["A|z", "B|z", "C|z"], 4, [("A|z", "C|z")]),  # one new fold_cost, every crypto
        (["A|x", "A|z", "B|x", "B|z"], 4, [("A|x", "B|x"), ("A|z", "B|z")]),
        (["A|x", "C|y"], 4, [("A|x", "A|x"), ("C|y", "C|y")]),
        (["A|x", "A|z", "C|y"], 2, [("A|x", "A|z"), ("C|y", "C|y")]),
        (["A|x", "B|z", "C|y"], 1, [("A|x", "C|z")]),
    ],
)
def test_two_dimensional_partitions_go_to_rectangles_as_dagster_reads_a_range(
    wanted, max_ranges, expected
):
    ranges = partition_ranges(GRID, wanted, max_ranges)

    assert ranges == expected
    partitions_def = dg.MultiPartitionsDefinition(
        {
            "crypto": dg.StaticPartitionsDefinition(["A", "B", "C"]),
            "fold_cost": dg.StaticPartitionsDefinition(["x", "y", "z"]),
        }
    )
    runs = [
        {str(k) for k in partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(*r))}
        for r in ranges
    ]
    assert set(wanted) <= set().union(*runs)
    if max_ranges >= 4:  # exact: nothing that was not wanted runs
        assert set().union(*runs) == set(wanted)
