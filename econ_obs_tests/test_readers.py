"""Readers: a Parquet time column (tz-aware, naive or epoch ms) loads like the CSV it came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from econ_obs.bench.load import synthetic_bars
from econ_obs.core.market_data import MarketDataError, load_market_bars, load_ohlcv_csv
from econ_obs.core.readers import parse_timestamps, read_csv_bytes

N_BARS = 500


@pytest.fixture
def bars_frame() -> pd.DataFrame:
    """500 one-minute bars with a tz-aware UTC timestamp column and a gap at bar 200."""
    frame = synthetic_bars(N_BARS + 3, seed=7)
    return frame.drop(index=[200, 201, 202]).reset_index(drop=True)


def _epoch_ms(times: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ms").asi8


def _variants(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The same bars with the time column written three ways."""
    return {
        "tz-aware": frame,
        "naive": frame.assign(timestamp=frame["timestamp"].dt.tz_localize(None)),
        "epoch-ms": frame.assign(timestamp=_epoch_ms(frame["timestamp"])),
    }


def test_parquet_time_columns_load_like_the_csv(tmp_path: Path, bars_frame: pd.DataFrame) -> None:
    csv_folder = tmp_path / "csv"
    csv_folder.mkdir()
    iso_text = bars_frame.assign(timestamp=bars_frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M"))
    iso_text.to_csv(csv_folder / "BTCUSDT_1m.csv", index=False)
    expected = load_market_bars("ohlcv_csv", "BTCUSDT", csv_folder, "1m")
    assert expected.n_bars == N_BARS
    for name, variant in _variants(bars_frame).items():
        folder = tmp_path / name
        folder.mkdir()
        variant.to_parquet(folder / "BTCUSDT_1m.parquet", index=False)
        bars = load_market_bars("ohlcv_csv", "BTCUSDT", folder, "1m")
        pd.testing.assert_index_equal(bars.frame.index, expected.frame.index)
        assert str(bars.frame.index.dtype) == "datetime64[ns, UTC]", name
        assert bars.fingerprint() == expected.fingerprint(), name
        assert bars.bar_interval == pd.Timedelta(minutes=1)


def test_parquet_times_other_than_utc_are_converted(
    tmp_path: Path, bars_frame: pd.DataFrame
) -> None:
    utc = tmp_path / "utc.parquet"
    bars_frame.to_parquet(utc, index=False)
    new_york = tmp_path / "ny.parquet"
    local = bars_frame["timestamp"].dt.tz_convert("America/New_York")
    bars_frame.assign(timestamp=local).to_parquet(new_york, index=False)
    assert (
        load_ohlcv_csv(new_york, "BTCUSDT").fingerprint()
        == load_ohlcv_csv(utc, "BTCUSDT").fingerprint()
    )


def test_a_parquet_time_outside_nanoseconds_is_named(tmp_path: Path) -> None:
    times = pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02", "3000-01-01"]).as_unit("us"))
    with pytest.raises(MarketDataError, match=r"row 3 timestamp .*3000.* between the years"):
        parse_timestamps(times, "x.parquet")


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_epoch_numbers_in_each_unit_give_one_index(unit: str) -> None:
    times = pd.date_range("2024-03-01", periods=5, freq="1h", tz="UTC")
    per_unit = pd.Timedelta(1, unit=unit).value
    numbers = pd.Series(times.as_unit("ns").asi8 // per_unit)
    pd.testing.assert_index_equal(parse_timestamps(numbers, "x"), times.as_unit("ns"))


def test_csv_bytes_with_a_byte_order_mark_read_like_without() -> None:
    text = "timestamp,open\n2020-01-01,1.5\n"
    plain = read_csv_bytes(text.encode(), "plain.csv", 1)
    marked = read_csv_bytes(b"\xef\xbb\xbf" + text.encode(), "marked.csv", 1)
    pd.testing.assert_frame_equal(plain, marked)


@pytest.mark.parametrize("data", [b"", b"  \n\r\n", b"\xef\xbb\xbf\n", " \u00a0\n".encode()])
def test_blank_csv_bytes_are_empty(data: bytes) -> None:
    with pytest.raises(MarketDataError, match=r"blank\.csv: is empty"):
        read_csv_bytes(data, "blank.csv", 1)


def test_a_non_utf8_byte_names_its_row() -> None:
    data = "timestamp,open\n2020-01-01,1\n2020-01-02,caf\u00e9\n".encode("latin-1")
    with pytest.raises(MarketDataError, match=r"bad\.csv: row 2 has byte 0xe9"):
        read_csv_bytes(data, "bad.csv", 1)
