"""What an operator meets after a crash or with bad inputs, through the real command line:

* a sweep killed with `kill -9` leaves its stage's run STARTED; the next sweep, or check,
  marks it FAILED with the reason;
* a bad factor parameter: one line, exit 2, nothing recorded or written;
* Dagster's storage unreachable: one line, exit 2, no traceback;
* a bad data file found inside a Dagster run: one line naming the file and row, exit 2, and
  no row written.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from econ_obs.store.database import make_engine
from econ_obs.store.orphans import _process_alive
from econ_obs_tests.conftest import SMALL_SWEEP_YAML, migrated_database
from econ_obs_tests.test_bad_files_corpus import csv_text, good_frame, with_cell
from econ_obs_tests.test_cli_sweep import SweepSetup
from econ_obs_tests.test_signals import (
    RESULT_STAGE,
    SLOW_SWEEP_YAML,
    stage_runs,
    start_sweep,
    wait_for_line,
)


@pytest.fixture(scope="module")
def setup(make_database, tmp_path_factory) -> SweepSetup:
    app_url = migrated_database(make_database, "econ_obs_orphans")
    dagster_url = make_database("econ_obs_orphans_dagster")
    return SweepSetup(app_url, dagster_url, tmp_path_factory.mktemp("orphans"))


def failure_messages(dagster_url, run_id: str) -> list[str]:
    engine = make_engine(dagster_url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    sa.text(
                        "SELECT event FROM event_logs WHERE run_id = :run_id "
                        "AND dagster_event_type = 'PIPELINE_FAILURE'"
                    ),
                    {"run_id": run_id},
                ).scalars()
            )
    finally:
        engine.dispose()


def test_a_live_process_with_another_start_time_is_not_the_runs_process():
    me = psutil.Process()
    assert _process_alive(me.pid, me.create_time())
    assert not _process_alive(me.pid, me.create_time() - 3600)  # the pid was reused


def kill_a_sweep_mid_stage(setup, config: Path) -> tuple[str, int]:
    """kill -9 a sweep of config inside its result stage; return (its stage run's id, pid)."""
    process = start_sweep(setup.env, setup.cwd, config)
    wait_for_line(process, RESULT_STAGE)
    time.sleep(2.0)  # the stage's run is STARTED and writing partitions
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    orphan_id, status, stage = stage_runs(setup.dagster_url)[-1]
    assert (status, stage) == ("STARTED", "baseline_rows+model_results")
    return orphan_id, process.pid


def assert_marked_failed(setup, orphan_id: str, pid: int, stderr: str) -> None:
    assert f"dagster run {orphan_id[:8]} marked FAILED: its process is gone" in stderr
    statuses = {run_id: status for run_id, status, _ in stage_runs(setup.dagster_url)}
    assert statuses[orphan_id] == "FAILURE"
    assert "STARTED" not in statuses.values()
    (message,) = failure_messages(setup.dagster_url, orphan_id)
    assert f"orphaned: the econ-obs process {pid} on {socket.gethostname()}" in message


def test_a_killed_sweeps_run_is_marked_failed_by_the_next_sweep(setup, tmp_path):
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW_SWEEP_YAML.replace("run_id: test_run", "run_id: killed_run"))
    orphan_id, pid = kill_a_sweep_mid_stage(setup, slow)

    again = setup.run("sweep")

    assert again.returncode == 0, again.stdout + again.stderr
    assert_marked_failed(setup, orphan_id, pid, again.stderr)


def test_a_killed_sweeps_run_is_marked_failed_by_check(setup, tmp_path):
    """Every verb starts by marking orphans, not only sweep and ui."""
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW_SWEEP_YAML.replace("run_id: test_run", "run_id: killed_checked"))
    orphan_id, pid = kill_a_sweep_mid_stage(setup, slow)

    checked = setup.run("check", config=slow)

    # The killed sweep wrote some partitions only: check finds baselines missing.
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "baselines_complete" in checked.stdout
    assert_marked_failed(setup, orphan_id, pid, checked.stderr)


def test_an_unknown_factor_param_is_one_line_exit_2_and_writes_nothing(setup, tmp_path):
    config = tmp_path / "nope.yaml"
    config.write_text(
        SMALL_SWEEP_YAML.replace("run_id: test_run", "run_id: unknown_param").replace(
            "factor: returns", "factor: returns\nfactor_params: {nope: 3}"
        )
    )

    result = setup.run("sweep", config=config)

    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"econ-obs: error: {config}: factor_params.nope: unknown key 'nope'")
    assert "[1/3] market_bars" not in result.stdout
    assert setup.app_sql(
        "SELECT (SELECT count(*) FROM sweep_runs WHERE run_id = 'unknown_param') + "
        "(SELECT count(*) FROM finetune_results WHERE run_id = 'unknown_param') + "
        "(SELECT count(*) FROM finetune_baselines WHERE run_id = 'unknown_param')"
    ) == [(0,)]


def test_dagster_storage_out_of_reach_is_one_line_and_exit_2(setup):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(setup.env)
    env["ECON_OBS_DAGSTER_DATABASE_URL"] = f"postgresql://econ:s3cret@127.0.0.1:{port}/gone"
    outage = SweepSetup.__new__(SweepSetup)
    outage.__dict__.update(setup.__dict__, env=env)

    result = outage.run("sweep")

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"econ-obs: error: cannot connect to database 'gone' on 127.0.0.1:{port}: "
        + result.stderr.split(f"127.0.0.1:{port}: ", 1)[1].strip()
    ]
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr


N_BARS = 2000  # enough for the small sweep's 2 folds of 600 + 12 + 240 bars


def _bad_row(frame):
    return with_cell(frame, 1500, "high", 1.0)  # high below low


def _not_utf8(frame):
    return csv_text(frame).encode().replace(b"\n2024-01-05", b"\n2024-01-05\xff", 1)


@pytest.mark.parametrize(
    ("breaks", "expected"),
    [
        (_bad_row, "ETHUSDT_1h.csv: row 1500 "),
        (_not_utf8, "ETHUSDT_1h.csv: row 97 has byte 0xff, which is not UTF-8"),
    ],
    ids=["high below low", "not UTF-8"],
)
def test_a_bad_file_is_one_line_exit_2_before_any_run_or_row(
    setup, tmp_path: Path, breaks, expected
):
    frame = good_frame(N_BARS)
    (tmp_path / "BTCUSDT_1h.csv").write_text(csv_text(frame))
    broken = breaks(frame)
    target = tmp_path / "ETHUSDT_1h.csv"
    if isinstance(broken, bytes):
        target.write_bytes(broken)
    else:
        target.write_text(csv_text(broken))
    run_id = f"bad_data{breaks.__name__}"  # a run_id belongs to one config (sweep_runs)
    config = tmp_path / "bad_data.yaml"
    config.write_text(
        SMALL_SWEEP_YAML.replace("run_id: test_run", f"run_id: {run_id}").replace(
            "data: {format: sample, timeframe: 1h}",
            f"data: {{format: ohlcv_csv, path: {tmp_path}, timeframe: 1h}}",
        )
    )

    result = setup.run("sweep", config=config)

    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("econ-obs: error: ") and str(target) in line
    assert expected in line
    # The preflight loads every file before anything is written: no Dagster run, no record.
    assert "[1/3] market_bars" not in result.stdout and "checks passed" not in result.stdout
    assert setup.app_sql(
        "SELECT count(*) FROM sweep_runs WHERE run_id = :run_id", run_id=run_id
    ) == [(0,)]
    assert setup.app_sql(
        "SELECT (SELECT count(*) FROM finetune_results WHERE run_id = :run_id) + "
        "(SELECT count(*) FROM finetune_baselines WHERE run_id = :run_id)",
        run_id=run_id,
    ) == [(0,)]


def test_folds_longer_than_the_data_are_refused_before_anything_is_written(setup, tmp_path):
    for crypto in ("BTCUSDT", "ETHUSDT"):
        (tmp_path / f"{crypto}_1h.csv").write_text(csv_text(good_frame(N_BARS)))
    config = tmp_path / "too_long.yaml"
    config.write_text(
        SMALL_SWEEP_YAML.replace("run_id: test_run", "run_id: too_long")
        .replace(
            "data: {format: sample, timeframe: 1h}",
            f"data: {{format: ohlcv_csv, path: {tmp_path}, timeframe: 1h}}",
        )
        .replace("train_bars: 600", "train_bars: 5000")
    )

    result = setup.run("sweep", config=config)

    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert "BTCUSDT" in line and "5000" in line and f"{N_BARS} available" in line
    assert setup.app_sql("SELECT count(*) FROM sweep_runs WHERE run_id = 'too_long'") == [(0,)]


def test_a_file_that_breaks_inside_a_dagster_run_is_raised_again_as_one_line(
    tmp_path: Path, sweep_resources, instance
):
    """A run launched without the CLI's preflight (the schedule, the UI, data changed since):
    the step's MarketDataError is kept in the stage outcome and raised again as one line."""
    from econ_obs.config import load_sweep_config
    from econ_obs.core.market_data import MarketDataError
    from econ_obs.defs.sweep import raise_input_error
    from econ_obs_tests.conftest import run_small_sweep

    frame = good_frame(N_BARS)
    (tmp_path / "BTCUSDT_1h.csv").write_text(csv_text(frame))
    target = tmp_path / "ETHUSDT_1h.csv"
    target.write_text(csv_text(_bad_row(frame)))
    config_path = tmp_path / "in_run.yaml"
    config_path.write_text(
        SMALL_SWEEP_YAML.replace(
            "data: {format: sample, timeframe: 1h}",
            f"data: {{format: ohlcv_csv, path: {tmp_path}, timeframe: 1h}}",
        )
    )

    outcomes = run_small_sweep(load_sweep_config(config_path), sweep_resources, instance)

    assert not outcomes[0].success
    with pytest.raises(MarketDataError) as raised:
        raise_input_error(outcomes)
    message = str(raised.value)
    assert "\n" not in message and str(target) in message and "row 1500 " in message
