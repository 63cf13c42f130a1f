"""Fuzzing the CSV loaders: any bytes give a valid frame or one clean MarketDataError line,
never another exception and never a hang."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from econ_obs.core.market_data import MarketDataError, load_market_bars
from econ_obs_tests.test_bad_files_corpus import csv_text, good_frame, kline_rows, kline_text

FUZZ = settings(
    max_examples=120,
    deadline=2000,  # ms per example: a hang fails the test
    derandomize=True,  # the same examples every run: a CI failure reproduces
    suppress_health_check=[HealthCheck.too_slow],
)
GOOD_CSV = csv_text(good_frame(40)).encode()
GOOD_KLINES = kline_text(kline_rows(40)).encode()
CELLS = st.one_of(
    st.sampled_from(
        ["", "nan", "inf", "-1", "1e308", "1e20", "abc", "3000-01-01", '"', "0", "1e-300"]
    ),
    st.text(max_size=12),
    st.integers(min_value=-(10**21), max_value=10**21).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def _load(data: bytes, data_format: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "BTCUSDT_1h.csv"
        path.write_bytes(data)
        try:
            bars = load_market_bars(data_format, "BTCUSDT", path, "1h")
        except MarketDataError as error:
            message = str(error)
            assert str(path) in message, message
            assert "\n" not in message.strip(), message
            return
    frame = bars.frame
    assert bars.n_bars >= 1
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert np.isfinite(frame.to_numpy(dtype=np.float64)).all()


def _mutate(good: bytes, cuts: list[tuple[int, bytes]]) -> bytes:
    data = bytearray(good)
    for position, replacement in cuts:
        at = position % (len(data) + 1)
        data[at : at + len(replacement)] = replacement
    return bytes(data)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from(["ohlcv_csv", "binance_klines"]))
def test_any_bytes_load_or_fail_cleanly(data, data_format):
    _load(data, data_format)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, 5000), st.binary(min_size=1, max_size=6)), max_size=4),
    st.sampled_from(["ohlcv_csv", "binance_klines"]),
)
def test_a_good_file_with_bytes_overwritten_loads_or_fails_cleanly(cuts, data_format):
    good = GOOD_CSV if data_format == "ohlcv_csv" else GOOD_KLINES
    _load(_mutate(good, cuts), data_format)


@FUZZ
@given(st.integers(0, 39), st.integers(0, 5), CELLS)
def test_a_good_file_with_one_cell_replaced_loads_or_fails_cleanly(row, column, cell):
    lines = GOOD_CSV.decode().splitlines()
    cells = lines[row + 1].split(",")
    cells[column] = cell.replace("\n", " ").replace("\r", " ").replace(",", ";")
    lines[row + 1] = ",".join(cells)
    _load(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"), "ohlcv_csv")
