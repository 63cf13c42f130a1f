"""Data sanity: every bad file is refused with one line naming the file and the first bad row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from econ_obs.core.data_sanity import (
    DataChecks,
    check_interval,
    check_moves,
    utc_timestamp,
    validate_rows,
)
from econ_obs.core.market_data import MarketDataError, load_market_bars, load_ohlcv_csv
from econ_obs.core.sample_data import SAMPLE_CRYPTOS, sample_bars

START_S = 1_577_836_800  # 2020-01-01 00:00 UTC in epoch seconds


def write_bars(path: Path, times: list, closes: list[float] | None = None) -> Path:
    """Write an OHLCV csv with the given timestamp cells and closes (default 100 + row)."""
    closes = closes or [100.0 + row for row in range(len(times))]
    frame = pd.DataFrame(
        {
            "timestamp": times,
            "open": closes,
            "high": [close * 1.01 for close in closes],
            "low": [close * 0.99 for close in closes],
            "close": closes,
            "volume": [10.0] * len(times),
        }
    )
    frame.to_csv(path, index=False)
    return path


def refused(path: Path, checks: DataChecks | None = None) -> str:
    with pytest.raises(MarketDataError) as caught:
        load_ohlcv_csv(path, "BTCUSDT", checks)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    return message


def test_mixed_epoch_units_name_the_first_row_that_differs(tmp_path: Path) -> None:
    seconds = [START_S + hour * 3600 for hour in range(6)]
    mixed = [*seconds[:4], seconds[4] * 1000, seconds[5] * 1000]
    message = refused(write_bars(tmp_path / "mixed.csv", mixed))
    assert f"row 5 timestamp {seconds[4] * 1000} is in epoch milliseconds" in message
    assert "row 1 is in epoch seconds" in message


@pytest.mark.parametrize("price", [1e308, 1e-300, float("inf")])
def test_absurd_price_is_refused_with_its_row(tmp_path: Path, price: float) -> None:
    closes = [100.0, 101.0, 102.0, price, 103.0]
    path = write_bars(tmp_path / "absurd.csv", [START_S + h * 3600 for h in range(5)], closes)
    message = refused(path, DataChecks(max_abs_log_return=None))  # caught without the bound
    assert "row 4 (2020-01-01 03:00:00+00:00) has open=" in message
    assert "[1e-12, 1e+12]" in message


def test_move_beyond_the_bound_is_refused_unless_allowed(tmp_path: Path) -> None:
    closes = [100.0, 101.0, 102.0, 350.0, 351.0]  # log(350 / 102) = +1.233
    path = write_bars(tmp_path / "jump.csv", [START_S + h * 3600 for h in range(5)], closes)
    message = refused(path)
    assert "row 4 (2020-01-01 03:00:00+00:00) has close=350.0 after 102.0" in message
    assert "+1.233 beyond +/-1" in message
    assert "data.max_abs_log_return" in message
    assert load_ohlcv_csv(path, "BTCUSDT", DataChecks(max_abs_log_return=None)).n_bars == 5
    assert load_ohlcv_csv(path, "BTCUSDT", DataChecks(max_abs_log_return=1.5)).n_bars == 5


def test_daily_bars_in_an_hourly_file_are_refused(tmp_path: Path) -> None:
    daily = [START_S + day * 86_400 for day in range(10)]
    path = write_bars(tmp_path / "BTCUSDT_1h.csv", daily)
    with pytest.raises(MarketDataError) as caught:
        load_market_bars("ohlcv_csv", "BTCUSDT", tmp_path, "1h")
    message = str(caught.value)
    assert message.startswith(f"{path}: row 2 (2020-01-02 00:00:00+00:00)")
    assert "1 days 00:00:00 is the file's modal bar interval" in message
    assert "but the timeframe is 1h (0 days 01:00:00)" in message
    assert load_market_bars("ohlcv_csv", "BTCUSDT", path, "1d").n_bars == 10


def test_off_grid_bar_is_refused(tmp_path: Path) -> None:
    times = [START_S + h * 3600 for h in range(6)]
    times[4] += 1800  # 04:30 in an hourly file
    message = refused(write_bars(tmp_path / "grid.csv", times), DataChecks(timeframe="1h"))
    assert "row 5 (2020-01-01 04:30:00+00:00) is 0 days 01:30:00 after the row before" in message


def test_unknown_timeframe_is_refused(tmp_path: Path) -> None:
    path = write_bars(tmp_path / "tf.csv", [START_S + h * 3600 for h in range(3)])
    assert "not a fixed bar length" in refused(path, DataChecks(timeframe="1M"))


def test_sample_data_passes_every_check() -> None:
    for crypto in SAMPLE_CRYPTOS:
        frame = sample_bars(crypto).frame
        validate_rows(frame, "sample")
        assert check_interval(frame.index, "1h", "sample") == pd.Timedelta(hours=1)
        check_moves(frame, "sample", 1.0)
        assert np.abs(np.diff(np.log(frame["close"]))).max() < 0.25
    with pytest.raises(MarketDataError, match=r"sample data for BTCUSDT: .*timeframe is 4h"):
        load_market_bars("sample", "BTCUSDT", None, "4h")


def test_utc_timestamp() -> None:
    assert utc_timestamp("2024-04-18T04:00:00") == pd.Timestamp("2024-04-18 04:00", tz="UTC")
    assert utc_timestamp("2024-04-18T06:00:00+02:00") == pd.Timestamp("2024-04-18 04:00", tz="UTC")
    with pytest.raises(ValueError, match="not an ISO date-time"):
        utc_timestamp("yesterday")
