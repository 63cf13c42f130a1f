"""Loaders, validation and closed-candle rules on small files written by the tests themselves."""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from econ_obs.core.folds import FoldConfig, walk_forward_folds
from econ_obs.core.market_data import (
    MarketBars,
    MarketDataError,
    find_crypto_file,
    load_binance_klines,
    load_market_bars,
    load_ohlcv_csv,
    require_bars,
)
from econ_obs.core.sample_data import SAMPLE_CRYPTOS, sample_bars

HOUR = pd.Timedelta(hours=1)

HEADER = "Date,Open,High,Low,Close,Volume\n"
ROWS = [
    "2020-01-01 00:00:00+00:00,100,101,99,100.5,10",
    "2020-01-01 01:00:00+00:00,100.5,102,100,101,11",
    "2020-01-01 02:00:00+00:00,101,101.5,100.2,100.8,12",
    "2020-01-01 04:00:00+00:00,100.8,103,100.1,102,13",  # a gap: 03:00 is missing
]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_ohlcv_csv_loads_and_keeps_gaps(tmp_path: Path) -> None:
    bars = load_ohlcv_csv(write(tmp_path / "BTCUSDT_1h.csv", HEADER + "\n".join(ROWS)), "BTCUSDT")
    assert bars.n_bars == 4
    assert bars.frame.index.name == "timestamp"
    assert str(bars.frame.index.tz) == "UTC"
    assert list(bars.frame.columns) == ["open", "high", "low", "close", "volume"]
    assert (bars.frame.dtypes == np.float64).all()
    assert bars.bar_interval == pd.Timedelta(hours=1)
    assert bars.bars_per_year == pytest.approx(8766.0)
    assert bars.frame.index[-1] == pd.Timestamp("2020-01-01 04:00", tz="UTC")


@pytest.mark.parametrize(
    ("stamps", "column"),
    [
        (["2020-01-01T00:00:00", "2020-01-01T01:00:00"], "timestamp"),  # no offset means UTC
        ([1577836800, 1577840400], "time"),  # epoch seconds
        ([1577836800000, 1577840400000], "open_time"),  # epoch ms
        ([1577836800000000, 1577840400000000], "DateTime"),  # epoch us, any case
    ],
)
def test_timestamp_forms(tmp_path: Path, stamps: list, column: str) -> None:
    frame = pd.DataFrame(
        {
            column: stamps,
            "OPEN": [1.0, 2.0],
            "High": [2.0, 3.0],
            "low": [1.0, 2.0],
            "close": [2.0, 3.0],
            "volume": [5.0, 6.0],
        }
    )
    path = tmp_path / "x.csv"
    frame.to_csv(path, index=False)
    bars = load_ohlcv_csv(path, "BTCUSDT")
    assert bars.frame.index[0] == pd.Timestamp("2020-01-01 00:00", tz="UTC")
    assert bars.bar_interval == pd.Timedelta(hours=1)


def test_parquet(tmp_path: Path) -> None:
    frame = pd.read_csv(write(tmp_path / "a.csv", HEADER + "\n".join(ROWS)))
    frame.to_parquet(tmp_path / "BTCUSDT_1h.parquet")
    bars = load_market_bars("ohlcv_csv", "BTCUSDT", tmp_path, "1h")
    assert bars.n_bars == 4


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("2020-01-01 03:00:00+00:00,100,101,99,-1,10", r"close=-1\.0"),
        ("2020-01-01 03:00:00+00:00,100,101,99,,10", "close=nan"),
        ("2020-01-01 03:00:00+00:00,100,98,99,100,10", "high must be"),
        ("2020-01-01 03:00:00+00:00,100,104,101,100,10", "high must be"),  # low > min(open, close)
        ("2020-01-01 02:00:00+00:00,100,101,99,100,10", "repeats"),
        ("2020-01-01 01:30:00+00:00,100,101,99,100,10", "back in time"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, bad_row: str, message: str) -> None:
    path = write(tmp_path / "bad.csv", HEADER + "\n".join([*ROWS[:3], bad_row]))
    with pytest.raises(MarketDataError, match=message) as caught:
        load_ohlcv_csv(path, "BTCUSDT")
    assert "bad.csv" in str(caught.value)
    assert "row 4" in str(caught.value)


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "Date,Open,High,Low,Close\n2020-01-01,1,1,1,1\n")
    with pytest.raises(MarketDataError, match=r"missing column.*volume"):
        load_ohlcv_csv(path, "BTCUSDT")


def kline_line(open_ms: int, close: float, factor: int = 1, volume: float = 5) -> str:
    """One closed 1h kline; factor 1000 writes open and close time in microseconds."""
    open_time, close_time = open_ms * factor, (open_ms + 3_600_000) * factor - 1
    prices = f"{close},{close + 1},{close - 1},{close}"
    return f"{open_time},{prices},{volume},{close_time},500,7,2,200,0"


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("microseconds", [False, True])
def test_binance_klines_csv_and_zip(tmp_path: Path, header: bool, microseconds: bool) -> None:
    factor = 1000 if microseconds else 1
    lines = [kline_line(1577836800000 + i * 3600000, 100.0 + i, factor) for i in range(3)]
    if header:
        lines.insert(
            0,
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
            "taker_buy_volume,taker_buy_quote_volume,ignore",
        )
    csv_path = write(tmp_path / "ETHUSDT_1h.csv", "\n".join(lines) + "\n")
    bars = load_binance_klines(csv_path, "ETHUSDT")
    assert bars.n_bars == 3
    assert bars.frame.index[0] == pd.Timestamp("2020-01-01", tz="UTC")
    zip_folder = tmp_path / "zips"
    zip_folder.mkdir()
    with zipfile.ZipFile(zip_folder / "ETHUSDT_1h.zip", "w") as archive:
        archive.write(csv_path, "ETHUSDT-1h-2020-01.csv")
    zipped = load_market_bars("binance_klines", "ETHUSDT", zip_folder, "1h")
    assert zipped.fingerprint() == bars.fingerprint()


def test_find_crypto_file_names_what_it_expected(tmp_path: Path) -> None:
    with pytest.raises(MarketDataError, match=r"SOLUSDT.*SOLUSDT_1h\.csv"):
        find_crypto_file(tmp_path, "SOLUSDT", "1h", "ohlcv_csv")


def test_require_bars_names_counts() -> None:
    bars = sample_bars("BTCUSDT", n_bars=50)
    require_bars(bars, 50)
    with pytest.raises(MarketDataError, match=r"BTCUSDT: 50 bars.*60 needed"):
        require_bars(bars, 60)


def test_sample_data_shape_determinism_and_speed() -> None:
    for crypto in SAMPLE_CRYPTOS:
        started = time.perf_counter()
        bars = sample_bars(crypto)
        assert time.perf_counter() - started < 0.3
        assert bars.n_bars == 17_520 and bars.source == "sample"
        assert bars.frame.index[0] == pd.Timestamp("2022-01-01", tz="UTC")
        assert bars.fingerprint() == sample_bars(crypto).fingerprint()
    with pytest.raises(MarketDataError, match="BTCUSDT, ETHUSDT"):
        sample_bars("DOGEUSDT")


def test_sample_alts_follow_btc_and_have_fat_tails() -> None:
    btc = np.diff(np.log(sample_bars("BTCUSDT").frame["close"].to_numpy()))
    eth = np.diff(np.log(load_market_bars("sample", "ETHUSDT", None, "1h").frame["close"]))
    assert np.corrcoef(btc, eth)[0, 1] > 0.5
    assert pd.Series(btc).kurt() > 1.0  # fatter than normal
    assert pd.Series(btc**2).autocorr(1) > 0.05  # volatility clusters


def test_fingerprint_identical_across_processes() -> None:
    code = (
        "from econ_obs.core.sample_data import sample_bars; "
        "print(sample_bars('SOLUSDT').fingerprint())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == sample_bars("SOLUSDT").fingerprint()


def hourly_csv_lines(n_bars: int, volume: float = 10.0) -> list[str]:
    stamps = pd.date_range("2020-01-01", periods=n_bars, freq="h", tz="UTC")
    return [f"{stamp},100,101,99,100.5,{volume}" for stamp in stamps]


def same_folds(with_partial: MarketBars, without: MarketBars) -> None:
    """The partial bar is gone: same bars, same fingerprint, same walk-forward folds."""
    assert with_partial.fingerprint() == without.fingerprint()
    pd.testing.assert_frame_equal(with_partial.frame, without.frame)
    config = FoldConfig(n_folds=3, train_bars=6, test_bars=4, purge_bars=1)
    assert walk_forward_folds(with_partial.frame.index, config, "BTCUSDT") == walk_forward_folds(
        without.frame.index, config, "BTCUSDT"
    )


def test_partial_last_candle_csv_is_dropped_and_folds_do_not_move(tmp_path: Path) -> None:
    clean = hourly_csv_lines(30)
    partial = hourly_csv_lines(31)[-1].replace(",10.0", ",0.5")  # 5 % of the usual volume
    without = load_ohlcv_csv(write(tmp_path / "clean.csv", HEADER + "\n".join(clean)), "BTCUSDT")
    with_partial = load_ohlcv_csv(
        write(tmp_path / "live.csv", HEADER + "\n".join([*clean, partial])), "BTCUSDT"
    )
    assert (without.partial_bars_dropped, with_partial.partial_bars_dropped) == (0, 1)
    assert with_partial.frame.index[-1] == pd.Timestamp("2020-01-02 05:00", tz="UTC")
    same_folds(with_partial, without)
    quiet = hourly_csv_lines(31)[-1].replace(",10.0", ",3.0")  # 30 %: a quiet, closed bar
    kept = load_ohlcv_csv(write(tmp_path / "q.csv", HEADER + "\n".join([*clean, quiet])), "X")
    assert kept.n_bars == 31 and kept.partial_bars_dropped == 0


@pytest.mark.parametrize("factor", [1, 1000])
def test_partial_last_kline_is_dropped_and_folds_do_not_move(tmp_path: Path, factor: int) -> None:
    opens_ms = [1577836800000 + i * 3600000 for i in range(31)]
    clean = [kline_line(open_ms, 100.0 + i, factor) for i, open_ms in enumerate(opens_ms[:30])]
    # Cut 10 minutes into the bar: full volume so far, but close_time is not the bar's end.
    cut = kline_line(opens_ms[30], 130.0, factor).split(",")
    cut[6] = str((opens_ms[30] + 600_000) * factor)
    without = load_binance_klines(write(tmp_path / "a.csv", "\n".join(clean) + "\n"), "BTCUSDT")
    live = write(tmp_path / "b.csv", "\n".join([*clean, ",".join(cut)]) + "\n")
    with_partial = load_binance_klines(live, "BTCUSDT")
    assert (without.partial_bars_dropped, with_partial.partial_bars_dropped) == (0, 1)
    same_folds(with_partial, without)


def test_an_api_dumps_open_kline_with_its_scheduled_close_time_is_dropped_by_volume(
    tmp_path: Path,
) -> None:
    opens_ms = [1577836800000 + i * 3600000 for i in range(31)]
    clean = [kline_line(open_ms, 100.0 + i, 1) for i, open_ms in enumerate(opens_ms[:30])]
    # The REST API writes the bar's scheduled close time even while it is open: only the
    # volume, a tenth of the usual one 6 minutes into the hour, tells it apart.
    live = kline_line(opens_ms[30], 130.0, 1).split(",")
    live[5] = str(float(live[5]) / 10)
    without = load_binance_klines(write(tmp_path / "a.csv", "\n".join(clean) + "\n"), "BTCUSDT")
    path = write(tmp_path / "b.csv", "\n".join([*clean, ",".join(live)]) + "\n")
    with_partial = load_binance_klines(path, "BTCUSDT")
    assert (without.partial_bars_dropped, with_partial.partial_bars_dropped) == (0, 1)
    same_folds(with_partial, without)


def test_as_of_drops_every_bar_not_closed_by_then(tmp_path: Path) -> None:
    path = write(tmp_path / "BTCUSDT_1h.csv", HEADER + "\n".join(hourly_csv_lines(30)))
    last_open = pd.Timestamp("2020-01-02 05:00", tz="UTC")
    bars = load_market_bars(
        "ohlcv_csv", "BTCUSDT", tmp_path, "1h", as_of=last_open + pd.Timedelta(minutes=59)
    )
    assert bars.n_bars == 29 and bars.partial_bars_dropped == 1
    closed = load_market_bars("ohlcv_csv", "BTCUSDT", path, "1h", as_of=last_open + HOUR)
    assert closed.n_bars == 30 and closed.partial_bars_dropped == 0
    with pytest.raises(MarketDataError, match=r"BTCUSDT_1h\.csv: no bar had closed by as_of"):
        load_market_bars("ohlcv_csv", "BTCUSDT", path, "1h", as_of=pd.Timestamp(0, tz="UTC"))


def half_volume_partial(clean: list[str]) -> str:
    """The bar after `clean`, cut half way: 50 % of the usual volume, above the 25 % rule."""
    return hourly_csv_lines(len(clean) + 1)[-1].replace(",10.0", ",5.0")


def test_as_of_drops_a_half_volume_partial_candle_that_the_volume_rule_keeps(
    tmp_path: Path,
) -> None:
    clean = hourly_csv_lines(30)
    (tmp_path / "clean").mkdir()
    (tmp_path / "live").mkdir()
    write(tmp_path / "clean" / "BTCUSDT_1h.csv", HEADER + "\n".join(clean))
    live = write(
        tmp_path / "live" / "BTCUSDT_1h.csv",
        HEADER + "\n".join([*clean, half_volume_partial(clean)]),
    )
    dumped_at = pd.Timestamp("2020-01-02 06:30", tz="UTC")  # 30 minutes into the last candle

    # The volume rule alone cannot tell a half-formed candle from a quiet one.
    assert load_ohlcv_csv(live, "BTCUSDT").n_bars == 31
    with_partial = load_market_bars("ohlcv_csv", "BTCUSDT", live, "1h", as_of=dumped_at)
    without = load_market_bars("ohlcv_csv", "BTCUSDT", tmp_path / "clean", "1h", as_of=dumped_at)

    assert (with_partial.partial_bars_dropped, without.partial_bars_dropped) == (1, 0)
    assert with_partial.frame.index[-1] == pd.Timestamp("2020-01-02 05:00", tz="UTC")
    same_folds(with_partial, without)


def csv_with_close_times(header: str, closes: list[object]) -> list[str]:
    """Hourly OHLCV lines with a close-time column; the last bar has half the usual volume."""
    opens = pd.date_range("2020-01-01", periods=len(closes), freq="h", tz="UTC")
    volumes = [10.0] * (len(closes) - 1) + [5.0]
    rows = [f"{o},100,101,99,100.5,{v},{c}" for o, v, c in zip(opens, volumes, closes, strict=True)]
    return [header, *rows]


def close_times_ms(n_bars: int, last_minutes: int | None = None) -> list[int]:
    """Binance's close time of each closed hourly bar (open + 1 h - 1 ms, epoch ms); the last
    bar's is `last_minutes` after its open when given (a dump taken mid-candle)."""
    opens = pd.date_range("2020-01-01", periods=n_bars, freq="h", tz="UTC")
    closes = [(o + HOUR).value // 1_000_000 - 1 for o in opens]
    if last_minutes is not None:
        closes[-1] = (opens[-1] + pd.Timedelta(minutes=last_minutes)).value // 1_000_000
    return closes


@pytest.mark.parametrize(
    "close_name", ["close_time", "Close time", "Close Time", "closeTime", "close-time"]
)
@pytest.mark.parametrize("iso", [False, True])
def test_a_plain_csv_with_close_times_drops_a_half_volume_partial_candle(
    tmp_path: Path, close_name: str, iso: bool
) -> None:
    closes: list[object] = close_times_ms(31, last_minutes=30)
    if iso:
        closes = [pd.Timestamp(c, unit="ms", tz="UTC").isoformat() for c in closes]
    lines = csv_with_close_times(f"Date,Open,High,Low,Close,Volume,{close_name}", closes)
    live = write(tmp_path / "live.csv", "\n".join(lines))
    clean = write(tmp_path / "clean.csv", "\n".join(lines[:-1]))

    with_partial = load_ohlcv_csv(live, "BTCUSDT")
    without = load_ohlcv_csv(clean, "BTCUSDT")

    assert (with_partial.partial_bars_dropped, without.partial_bars_dropped) == (1, 0)
    same_folds(with_partial, without)


def test_a_plain_csv_keeps_a_half_volume_last_candle_its_close_time_shows_closed(
    tmp_path: Path,
) -> None:
    lines = csv_with_close_times(
        "Open time,Open,High,Low,Close,Volume,Close time", close_times_ms(31)
    )

    bars = load_ohlcv_csv(write(tmp_path / "quiet.csv", "\n".join(lines)), "BTCUSDT")

    assert (bars.n_bars, bars.partial_bars_dropped) == (31, 0)


@pytest.mark.parametrize(
    ("last_close", "message"),
    [
        ("abc", r"column Close time: row 31 timestamp 'abc' is not an epoch number like row 1's"),
        ("", r"column Close time: row 31 has an empty timestamp"),
        (
            "2020-01-02T05:59:59.999Z",  # the bar before's close: before this bar opened
            r"row 31 Close time 2020-01-02T05:59:59\.999000\+00:00 is before its open time "
            r"2020-01-02T06:00:00\+00:00; write the bar's end \(open \+ timeframe\) in UTC$",
        ),
        (
            "2020-01-02T08:59:59.999Z",  # two hours late: a close time in another time zone
            r"row 31 Close time 2020-01-02T08:59:59\.999000\+00:00 is more than one 1h bar after "
            r"its open time 2020-01-02T06:00:00\+00:00",
        ),
    ],
)
def test_a_bad_last_close_time_is_one_line_naming_the_file_and_row(
    tmp_path: Path, last_close: str, message: str
) -> None:
    closes: list[object] = [
        pd.Timestamp(c, unit="ms", tz="UTC").isoformat() for c in close_times_ms(31)
    ]
    if last_close == "abc":
        closes = close_times_ms(31)  # an epoch column: its text cell is named as not like row 1
    closes[-1] = last_close
    lines = csv_with_close_times("Date,Open,High,Low,Close,Volume,Close time", closes)
    path = write(tmp_path / "bad_close.csv", "\n".join(lines))

    with pytest.raises(MarketDataError, match=message) as refused:
        load_market_bars("ohlcv_csv", "BTCUSDT", path, "1h")

    assert str(refused.value).startswith(f"{path}")
    assert "\n" not in str(refused.value)
