"""sweep_on_new_data: a sweep starts when its data files change, as a schedule tick starts it,
and not again until they change once more; a running sweep holds the change for later."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from econ_obs.config import load_sweep_config
from econ_obs.core.data_stamp import data_files_stamp
from econ_obs.definitions import build_definitions
from econ_obs.defs.new_data_sensor import new_data_sensor_name
from econ_obs.defs.resources import PostgresResource
from econ_obs.defs.schedules import SWEEP_TICK_TAG
from econ_obs.defs.sweep import SWEEP_RUN_ID_TAG
from econ_obs.store.database import render
from econ_obs_tests.conftest import SMALL_SWEEP_YAML, no_current_dagster_instance

MARKET_STAGE_JOB = "test_run__stage__market_bars"


def _write(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_the_stamp_changes_with_a_file_the_loader_reads_and_only_with_one(tmp_path):
    _write(tmp_path / "BTCUSDT_1h.csv", "a", 1_000)
    _write(tmp_path / "ETHUSDT-1h-2024-03.zip", "b", 1_000)
    cryptos = ("BTCUSDT", "ETHUSDT")

    def stamp(path=tmp_path) -> str:
        return data_files_stamp("binance_klines", path, "1h", cryptos)

    first = stamp()
    assert first.startswith(f"2 file(s) in {tmp_path}")
    assert stamp() == first

    # Files of other symbols or timeframes, or of no symbol, change nothing.
    for other in ("1000BTCUSDT_1h.csv", "BTCUSDT-1m-2024-03.zip", "ETHUSDTX-1h-2024-03.zip"):
        _write(tmp_path / other, "c", 2_000)
    _write(tmp_path / "notes.txt", "d", 2_000)
    assert stamp() == first

    _write(tmp_path / "ETHUSDT-1h-2024-04.zip", "e", 3_000)  # a new month
    second = stamp()
    assert second.startswith("3 file(s)") and second != first
    _write(tmp_path / "BTCUSDT_1h.csv", "a", 4_000)  # rewritten, same size
    third = stamp()
    assert third not in (first, second)
    (tmp_path / "BTCUSDT_1h.csv").unlink()  # a crypto's file gone: the stage will say so
    assert stamp().startswith("2 file(s)") and stamp() not in (first, second, third)

    assert stamp(tmp_path / "ETHUSDT-1h-2024-03.zip").startswith("1 file(s)")
    assert stamp(tmp_path / "gone") == f"no file or folder at {tmp_path}/gone"
    assert data_files_stamp("sample", None, "1h", cryptos) == "sample data"


@pytest.fixture
def postgres(engine, database_url) -> PostgresResource:
    return PostgresResource(database_url=render(database_url))


def _config(tmp_path: Path, on_new_data: bool | None):
    schedule = 'schedule: {cron: "30 3 * * *"}'
    if on_new_data is not None:
        schedule = f'schedule: {{cron: "30 3 * * *", on_new_data: {str(on_new_data).lower()}}}'
    path = tmp_path / "sweep.yaml"
    path.write_text(SMALL_SWEEP_YAML.replace('schedule: {cron: "30 3 * * *"}', schedule))
    return load_sweep_config(path)


def _sensor(config) -> dg.SensorDefinition:
    return build_definitions(config).resolve_sensor_def(new_data_sensor_name(config))


def _evaluate(sensor, postgres, instance, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"postgres": postgres}
    )
    with no_current_dagster_instance():
        return sensor.evaluate_tick(context)


@pytest.mark.parametrize(
    ("on_new_data", "status"),
    [
        (None, dg.DefaultSensorStatus.STOPPED),
        (False, dg.DefaultSensorStatus.STOPPED),
        (True, dg.DefaultSensorStatus.RUNNING),
    ],
)
def test_the_sensor_is_off_unless_the_sweep_file_turns_it_on(tmp_path, on_new_data, status):
    config = _config(tmp_path, on_new_data)
    assert config.schedule_on_new_data is bool(on_new_data)
    assert _sensor(config).default_status == status


@pytest.mark.db
def test_new_data_starts_the_sweep_once_and_a_running_sweep_holds_it(tmp_path, postgres):
    config = _config(tmp_path, True)
    sensor = _sensor(config)
    with no_current_dagster_instance(), dg.instance_for_test() as instance:
        # Switched on with no stamp yet: the sweep starts over the data as it is.
        started = _evaluate(sensor, postgres, instance)
        (request,) = started.run_requests
        assert request.job_name == MARKET_STAGE_JOB
        assert request.tags[SWEEP_RUN_ID_TAG] == "test_run"
        assert request.tags[SWEEP_TICK_TAG].endswith("new data")
        assert started.cursor == "sample data"

        # The same data again: nothing starts.
        again = _evaluate(sensor, postgres, instance, cursor=started.cursor)
        assert not again.run_requests
        assert "no new data: sample data" in again.skip_message

        # A change while the sweep still runs is skipped and the old stamp kept.
        instance.add_run(
            dg.DagsterRun(
                job_name=request.job_name, tags=request.tags, status=dg.DagsterRunStatus.STARTED
            )
        )
        held = _evaluate(sensor, postgres, instance, cursor="2 file(s) in /old, stamp 0")
        assert not held.run_requests
        assert "sweep 'test_run' is still running" in held.skip_message
        assert held.cursor == "2 file(s) in /old, stamp 0"


def test_on_new_data_that_is_not_a_boolean_is_refused_in_one_line(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(
        SMALL_SWEEP_YAML.replace(
            'schedule: {cron: "30 3 * * *"}', 'schedule: {cron: "30 3 * * *", on_new_data: yes_p}'
        )
    )
    with pytest.raises(ValueError) as raised:
        load_sweep_config(path)
    message = str(raised.value)
    assert "\n" not in message
    assert f"{path}" in message and "schedule.on_new_data" in message, message
    assert "'yes_p' is not true or false" in message, message
