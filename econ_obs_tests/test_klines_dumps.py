"""A folder of Binance's monthly and daily dumps loads as one series, written by the tests."""

from __future__ import annotations

import re
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from econ_obs.config import ConfigError, load_sweep_config
from econ_obs.config.data_check import check_against_data
from econ_obs.core.market_data import (
    BINANCE_COLUMNS,
    KlinesDumps,
    MarketBars,
    MarketDataError,
    find_crypto_file,
    load_market_bars,
)

HOUR_MS = 3_600_000
KLINES_HEADER = ",".join(BINANCE_COLUMNS)


def kline_line(open_ms: int, time_factor: int = 1) -> str:
    """One closed Binance 1h kline whose numbers depend on its open time alone, so every file
    holding that hour writes the same row; time_factor 1000 writes times in microseconds."""
    hour = open_ms // HOUR_MS
    close = 100 + (hour % 48) * 0.25
    open_ = close - 0.125
    volume = 10 + hour % 7
    close_ms = open_ms + HOUR_MS - 1
    return (
        f"{open_ms * time_factor},{open_},{close + 0.5},{open_ - 0.5},{close},{volume},"
        f"{close_ms * time_factor},{volume * close},{100 + hour % 13},{volume / 2},"
        f"{volume * close / 2},0"
    )


def hour_opens_ms(start: str, end: str) -> list[int]:
    """Open times (epoch ms) of the 1h bars from start up to, not including, end (UTC)."""
    hours = pd.date_range(start, end, freq="h", tz="UTC", inclusive="left")
    return [int(stamp.value // 1_000_000) for stamp in hours]


def write_dump(folder: Path, name: str, lines: list[str], header: bool = False) -> Path:
    """A Binance dump: name.zip holding name.csv (or a bare .csv if name ends in .csv)."""
    text = "\n".join([KLINES_HEADER, *lines] if header else lines) + "\n"
    path = folder / name
    if name.endswith(".csv"):
        path.write_text(text)
        return path
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name.removesuffix(".zip") + ".csv", text)
    return path


def write_month(folder: Path, month: str, crypto: str = "BTCUSDT", **options: object) -> Path:
    """The monthly dump of month (YYYY-MM): every hour of it."""
    start = pd.Timestamp(f"{month}-01")
    lines = [kline_line(ms) for ms in hour_opens_ms(start, start + pd.offsets.MonthBegin(1))]
    return write_dump(folder, f"{crypto}-1h-{month}.zip", lines, **options)


def write_day(folder: Path, day: str, crypto: str = "BTCUSDT") -> Path:
    """The daily dump of day (YYYY-MM-DD): its 24 hours."""
    start = pd.Timestamp(day)
    lines = [kline_line(ms) for ms in hour_opens_ms(start, start + pd.Timedelta(days=1))]
    return write_dump(folder, f"{crypto}-1h-{day}.zip", lines)


def single_file_bars(folder: Path, start: str, end: str) -> MarketBars:
    """The bars of one BTCUSDT_1h.csv holding the hours from start to end: what dumps must equal."""
    folder.mkdir()
    lines = [kline_line(ms) for ms in hour_opens_ms(start, end)]
    write_dump(folder, "BTCUSDT_1h.csv", lines)
    return load_market_bars("binance_klines", "BTCUSDT", folder, "1h")


def load(folder: Path, crypto: str = "BTCUSDT") -> MarketBars:
    return load_market_bars("binance_klines", crypto, folder, "1h")


def same_bars(joined: MarketBars, single: MarketBars) -> None:
    pd.testing.assert_frame_equal(joined.frame, single.frame)
    assert joined.fingerprint() == single.fingerprint()
    assert (joined.bar_interval, joined.partial_bars_dropped) == (single.bar_interval, 0)


def test_monthly_dumps_join_into_the_series_of_one_file(tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    for month in ("2024-03", "2024-01"):
        write_month(dumps, month)
    write_month(dumps, "2024-02", header=True)  # newer dumps carry a header row
    bars = load(dumps)
    same_bars(bars, single_file_bars(tmp_path / "one", "2024-01-01", "2024-04-01"))
    assert bars.n_bars == (31 + 29 + 31) * 24
    assert bars.source == (
        f"{dumps}/BTCUSDT-1h-YYYY-MM[-DD].zip|csv "
        "(3 files joined, BTCUSDT-1h-2024-01.zip to BTCUSDT-1h-2024-03.zip)"
    )


def test_reloading_gives_the_same_fingerprint_and_a_new_month_changes_it(tmp_path: Path) -> None:
    for month in ("2024-01", "2024-02"):
        write_month(tmp_path, month)
    before = load(tmp_path).fingerprint()
    assert load(tmp_path).fingerprint() == before
    write_month(tmp_path, "2024-03")
    after = load(tmp_path)
    assert after.fingerprint() != before
    assert after.frame.index[-1] == pd.Timestamp("2024-03-31 23:00", tz="UTC")


def test_daily_dumps_repeating_a_month_are_kept_once(tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    write_month(dumps, "2024-01")
    for day in ("2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"):
        write_day(dumps, day)
    bars = load(dumps)
    same_bars(bars, single_file_bars(tmp_path / "one", "2024-01-01", "2024-02-03"))
    assert "5 files joined, BTCUSDT-1h-2024-01.zip to BTCUSDT-1h-2024-02-02.zip" in bars.source


def test_a_daily_dump_differing_from_its_month_is_refused_naming_both(tmp_path: Path) -> None:
    write_month(tmp_path, "2024-01")
    lines = [kline_line(ms) for ms in hour_opens_ms("2024-01-15", "2024-01-16")]
    fields = lines[5].split(",")
    fields[4] = str(float(fields[4]) + 0.25)  # the close, still inside the bar's high and low
    lines[5] = ",".join(fields)
    write_dump(tmp_path, "BTCUSDT-1h-2024-01-15.zip", lines)
    with pytest.raises(MarketDataError) as raised:
        load(tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    assert "BTCUSDT-1h-2024-01.zip and BTCUSDT-1h-2024-01-15.zip differ" in message
    assert re.search(
        r"opened at 2024-01-15T05:00:00\+00:00 \(close \d+\.\d+ vs \d+\.\d+\)", message
    )


def test_names_match_the_crypto_and_timeframe_exactly(tmp_path: Path) -> None:
    kept = [write_month(tmp_path, "2024-01"), write_day(tmp_path, "2024-02-01")]
    not_zips = b"not a zip: reading this file would fail the load"
    for other in (
        "1000BTCUSDT-1h-2024-01.zip",
        "BTCUSDT-1m-2024-01.zip",
        "BTCUSDT-1h-2024-01.zip.CHECKSUM",
        "BTCUSDT-1h-2024.zip",
        "BTCUSDT-1h-2024-01-01-extra.zip",
        "BTCUSDTX-1h-2024-01.zip",
    ):
        (tmp_path / other).write_bytes(not_zips)
    found = find_crypto_file(tmp_path, "BTCUSDT", "1h", "binance_klines")
    assert isinstance(found, KlinesDumps)
    assert found.files == tuple(kept)
    assert load(tmp_path).n_bars == 32 * 24
    thousand = find_crypto_file(tmp_path, "1000BTCUSDT", "1h", "binance_klines")
    assert isinstance(thousand, KlinesDumps)
    assert [path.name for path in thousand.files] == ["1000BTCUSDT-1h-2024-01.zip"]


def test_the_single_file_wins_over_dumps(tmp_path: Path) -> None:
    write_month(tmp_path, "2024-01")
    write_dump(
        tmp_path,
        "BTCUSDT_1h.csv",
        [kline_line(ms) for ms in hour_opens_ms("2024-02-01", "2024-02-03")],
    )
    assert find_crypto_file(tmp_path, "BTCUSDT", "1h", "binance_klines") == (
        tmp_path / "BTCUSDT_1h.csv"
    )
    bars = load(tmp_path)
    assert bars.n_bars == 48 and bars.source == str(tmp_path / "BTCUSDT_1h.csv")


def test_an_unclosed_candle_ending_the_last_daily_dump_is_dropped(tmp_path: Path) -> None:
    write_month(tmp_path, "2024-01")
    lines = [kline_line(ms) for ms in hour_opens_ms("2024-02-01", "2024-02-01 12:00")]
    cut = lines[-1].split(",")
    cut[6] = str(int(cut[0]) + 600_000)  # taken 10 minutes into the hour
    lines[-1] = ",".join(cut)
    write_dump(tmp_path, "BTCUSDT-1h-2024-02-01.zip", lines)
    bars = load(tmp_path)
    assert bars.partial_bars_dropped == 1
    assert bars.frame.index[-1] == pd.Timestamp("2024-02-01 10:00", tz="UTC")
    assert bars.n_bars == 31 * 24 + 11


def test_a_missing_month_is_a_gap_not_filled(tmp_path: Path) -> None:
    write_month(tmp_path, "2024-01")
    write_month(tmp_path, "2024-03")
    bars = load(tmp_path)
    assert bars.n_bars == (31 + 31) * 24
    steps = bars.frame.index.to_series().diff().value_counts()
    assert steps[pd.Timedelta(hours=1)] == bars.n_bars - 2
    assert steps[pd.Timedelta(days=29, hours=1)] == 1  # 2024-01-31 23:00 to 2024-03-01 00:00


def test_millisecond_and_microsecond_dumps_join(tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    write_month(dumps, "2024-12")
    # Binance's spot dumps are in microseconds from 2025.
    lines = [kline_line(ms, 1000) for ms in hour_opens_ms("2025-01-01", "2025-01-03")]
    write_dump(dumps, "BTCUSDT-1h-2025-01-01.csv", lines[:24])
    write_dump(dumps, "BTCUSDT-1h-2025-01-02.csv", lines[24:])
    same_bars(load(dumps), single_file_bars(tmp_path / "one", "2024-12-01", "2025-01-03"))


def test_a_corrupt_zip_among_many_is_named(tmp_path: Path) -> None:
    for month in ("2024-01", "2024-02", "2024-03"):
        write_month(tmp_path, month)
    corrupt = tmp_path / "BTCUSDT-1h-2024-02.zip"
    corrupt.write_bytes(corrupt.read_bytes()[:200])  # a download cut short
    with pytest.raises(MarketDataError) as raised:
        load(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{corrupt}: is not a readable zip archive") and "\n" not in message


def test_a_bad_row_names_its_dump_and_row(tmp_path: Path) -> None:
    write_month(tmp_path, "2024-01")
    lines = [kline_line(ms) for ms in hour_opens_ms("2024-02-01", "2024-02-02")]
    fields = lines[2].split(",")
    fields[2], fields[3] = fields[3], fields[2]  # high below low
    lines[2] = ",".join(fields)
    write_dump(tmp_path, "BTCUSDT-1h-2024-02-01.zip", lines)
    with pytest.raises(MarketDataError, match=r"BTCUSDT-1h-2024-02-01\.csv: row 3 \("):
        load(tmp_path)


def test_a_folder_without_a_match_names_both_forms(tmp_path: Path) -> None:
    write_month(tmp_path, "2024-01", crypto="ETHUSDT")
    with pytest.raises(MarketDataError) as raised:
        find_crypto_file(tmp_path, "BTCUSDT", "1h", "binance_klines")
    assert str(raised.value) == (
        f"{tmp_path}: no file for crypto BTCUSDT; expected BTCUSDT_1h.zip or BTCUSDT_1h.csv "
        "(binance_klines), or Binance dumps BTCUSDT-1h-YYYY-MM[-DD].zip|csv"
    )


def test_a_folder_without_a_match_names_the_files_that_almost_match(tmp_path: Path) -> None:
    for name in ("BTCUSDT_4h.csv", "btcusdt_1h.csv", "BTCUSDT-1h.csv", "BTCUSDT_1d.csv"):
        (tmp_path / name).write_text("timestamp,open,high,low,close,volume\n")
    (tmp_path / "ETHUSDT_1h.csv").write_text("timestamp,open,high,low,close,volume\n")
    with pytest.raises(MarketDataError) as raised:
        find_crypto_file(tmp_path, "BTCUSDT", "1h", "ohlcv_csv")
    assert str(raised.value) == (
        f"{tmp_path}: no file for crypto BTCUSDT; expected BTCUSDT_1h.csv or BTCUSDT_1h.parquet "
        "(ohlcv_csv); found BTCUSDT-1h.csv, BTCUSDT_1d.csv, BTCUSDT_4h.csv and 1 more there"
    )


def sweep_file(tmp_path: Path, data_folder: Path, cryptos: list[str]) -> Path:
    raw = {
        "run_id": "dumps_run",
        "strategy": "ridge_next_bar",
        "data": {"format": "binance_klines", "path": str(data_folder), "timeframe": "1h"},
        "cryptos": cryptos,
        "folds": {"n_folds": 2, "train_bars": 200, "test_bars": 50, "purge_bars": 5},
        "costs_bps": [10],
        "slippage_bps": 2,
        "model": {"variants": [{"name": "ridge_a1_t5", "alpha": 1.0, "threshold_bps": 5}]},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_a_sweep_on_a_folder_of_dumps_loads_and_checks(tmp_path: Path) -> None:
    data = tmp_path / "binance"
    data.mkdir()
    write_month(data, "2024-01")
    write_day(data, "2024-02-01")
    config = load_sweep_config(sweep_file(tmp_path, data, ["BTCUSDT"]))
    assert config.data.path == data
    assert check_against_data(config) == []
    assert config.data.load_bars("BTCUSDT").n_bars == 32 * 24

    with pytest.raises(ConfigError) as raised:
        load_sweep_config(sweep_file(tmp_path, data, ["BTCUSDT", "ETHUSDT"]))
    message = str(raised.value)
    assert "cryptos[1]" in message and "ETHUSDT-1h-YYYY-MM[-DD].zip|csv" in message


def test_sixty_monthly_dumps_load_in_well_under_a_second(tmp_path: Path) -> None:
    for month in pd.period_range("2019-01", periods=60, freq="M"):
        write_month(tmp_path, str(month))
    started = time.perf_counter()
    bars = load(tmp_path)
    elapsed_s = time.perf_counter() - started
    assert bars.n_bars == len(hour_opens_ms("2019-01-01", "2024-01-01"))
    assert elapsed_s < 1.0, f"{elapsed_s:.2f} s"
