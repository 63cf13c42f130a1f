"""The data section's gap limit, move bound, as-of cut and timeframe: defaults and errors."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from econ_obs.config import ConfigError, DataSpec, load_sweep_config, parse_sweep_config

VALID: dict[str, Any] = {
    "run_id": "test_run",
    "strategy": "ridge_next_bar",
    "data": {"format": "sample", "timeframe": "1h"},
    "cryptos": ["BTCUSDT"],
    "folds": {"n_folds": 2, "train_bars": 200, "test_bars": 50, "purge_bars": 5},
    "costs_bps": [10],
    "slippage_bps": 2,
    "model": {"variants": [{"name": "ridge_a1_t5", "alpha": 1.0, "threshold_bps": 5}]},
}
SOURCE = Path("/sweeps/test.yaml")


def data_spec(**data: Any) -> DataSpec:
    raw = copy.deepcopy(VALID)
    raw["data"].update(data)
    return parse_sweep_config(raw, SOURCE).data


def error(**data: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        data_spec(**data)
    message = str(caught.value)
    assert message.startswith(f"{SOURCE}: data.") and "\n" not in message
    return message


def test_defaults_are_the_documented_ones() -> None:
    spec = data_spec()
    assert (spec.max_gap_bars, spec.max_abs_log_return, spec.as_of) == (24, 1.0, None)
    shipped = load_sweep_config(Path(__file__).parents[1] / "econ_obs/sweeps/default.yaml").data
    assert (shipped.max_gap_bars, shipped.max_abs_log_return, shipped.as_of) == (24, 1.0, None)


def test_values_are_read() -> None:
    spec = data_spec(max_gap_bars=0, max_abs_log_return=2, as_of="2024-04-18T06:00:00+02:00")
    assert spec.max_gap_bars == 0
    assert spec.max_abs_log_return == 2.0
    assert spec.as_of == pd.Timestamp("2024-04-18 04:00", tz="UTC")
    assert data_spec(max_abs_log_return=None).max_abs_log_return is None  # null: no bound
    # YAML turns an unquoted date-time into a datetime; no offset means UTC.
    naive = datetime.datetime(2024, 4, 18, 4, 0)
    assert data_spec(as_of=naive).as_of == pd.Timestamp("2024-04-18 04:00", tz="UTC")


@pytest.mark.parametrize(
    ("data", "key", "says"),
    [
        ({"max_gap_bars": -1}, "data.max_gap_bars", "negative"),
        ({"max_gap_bars": 2.5}, "data.max_gap_bars", "not a whole number"),
        ({"max_abs_log_return": 0}, "data.max_abs_log_return", "not a positive number"),
        ({"max_abs_log_return": "big"}, "data.max_abs_log_return", "not a positive number"),
        ({"max_abs_log_return": True}, "data.max_abs_log_return", "not a positive number"),
        ({"as_of": "yesterday"}, "data.as_of", "'yesterday' is not an ISO date-time"),
        ({"timeframe": "1M"}, "data.timeframe", "'1M' is not a fixed bar length"),
        ({"max_gaps": 3}, "data.max_gaps", "unknown key"),
    ],
)
def test_bad_values_name_the_key(data: dict[str, Any], key: str, says: str) -> None:
    message = error(**data)
    assert f": {key}: " in message and says in message


def _hourly_file(folder: Path, n_bars: int, last_volume: float) -> None:
    stamps = pd.date_range("2020-01-01", periods=n_bars, freq="h", tz="UTC")
    volumes = [10.0] * (n_bars - 1) + [last_volume]
    lines = [f"{t},100,101,99,100.5,{v}" for t, v in zip(stamps, volumes, strict=True)]
    (folder / "BTCUSDT_1h.csv").write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(lines))


def test_the_data_check_says_which_unclosed_candle_was_dropped(tmp_path: Path) -> None:
    from econ_obs.config.data_check import check_against_data

    _hourly_file(tmp_path, 321, last_volume=0.5)  # 5 % of the usual volume: not closed
    raw = copy.deepcopy(VALID)
    raw["data"] = {"format": "ohlcv_csv", "path": str(tmp_path), "timeframe": "1h"}
    (note,) = check_against_data(parse_sweep_config(raw, SOURCE))
    assert note.startswith("BTCUSDT: dropped 1 trailing candle(s) that had not closed")
    assert "opened at 2020-01-14 08:00:00+00:00" in note  # the 321st bar, dropped
    assert "BTCUSDT_1h.csv" in note and "\n" not in note
    assert "last bar used opened at 2020-01-14 07:00:00+00:00" in note

    _hourly_file(tmp_path, 321, last_volume=10.0)  # a closed last candle: nothing to say
    assert check_against_data(parse_sweep_config(raw, SOURCE)) == []
