"""A corpus of malformed market-data files, each refused with one line naming the file and,
where there is one, the row (data rows counted from 1, header excluded).

Every file is generated here from one good frame, then broken in one way. A loader that lets
a pandas, pyarrow, zipfile or codec exception through, or names the wrong row, fails here.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from econ_obs.core.market_data import MarketDataError, load_market_bars

N_ROWS = 60
KLINE_COLUMNS = 12


def good_frame(n_rows: int = N_ROWS) -> pd.DataFrame:
    """Hourly bars that pass every check: small moves, steady volume, closed last bar."""
    times = pd.date_range("2024-01-01", periods=n_rows, freq="1h", tz="UTC")
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(7).normal(0, 0.002, n_rows)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    return pd.DataFrame(
        {
            "timestamp": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open": open_,
            "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999,
            "close": close,
            "volume": np.full(n_rows, 10.0),
        }
    )


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def kline_rows(n_rows: int = N_ROWS) -> list[list[str]]:
    frame = good_frame(n_rows)
    # as_unit: pandas 3 parses to microseconds, so // 10**6 of the raw ticks gave seconds, and
    # close_time (open + 3_599_999) was 41 days after its open.
    open_ms = pd.to_datetime(frame["timestamp"]).dt.as_unit("ms").astype("int64")
    rows = []
    for i in range(n_rows):
        prices = [f"{frame[k].iloc[i]}" for k in ("open", "high", "low", "close", "volume")]
        start = int(open_ms.iloc[i])
        rows.append([str(start), *prices, str(start + 3_599_999), "1000", "10", "5", "500", "0"])
    return rows


def kline_text(rows: list[list[str]]) -> str:
    return "".join(",".join(row) + "\n" for row in rows)


def with_cell(frame: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    """The frame with data row `row` (from 1) of `column` set to value."""
    changed = frame.astype({column: object})
    changed.loc[row - 1, column] = value
    return changed


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _parquet_frame() -> pd.DataFrame:
    frame = good_frame()
    return frame.assign(timestamp=pd.to_datetime(frame["timestamp"]))


def _truncated_zip() -> bytes:
    data = zipped({"BTCUSDT-1h.csv": kline_text(kline_rows()).encode()})
    return data[: len(data) // 2]


def _corrupt_zip_member() -> bytes:
    data = bytearray(
        zipped({"BTCUSDT-1h.csv": kline_text(kline_rows()).encode() * 3})
    )  # flip bytes inside the compressed member: its CRC no longer matches
    for offset in range(60, 90):
        data[offset] ^= 0xFF
    return bytes(data)


def _kline_cell(row: int, column: int, value: str) -> str:
    rows = kline_rows()
    rows[row - 1][column] = value
    return kline_text(rows)


@dataclass(frozen=True)
class BadFile:
    name: str
    data_format: str  # ohlcv_csv or binance_klines
    file_name: str
    content: Callable[[], bytes | str]
    row: int | None = None  # the data row the message must name, if the fault has one


G = good_frame
CORPUS = [
    # --- ohlcv CSV: the bytes themselves
    BadFile("empty file", "ohlcv_csv", "BTCUSDT_1h.csv", lambda: b""),
    BadFile("blank lines only", "ohlcv_csv", "BTCUSDT_1h.csv", lambda: b"\n\n  \n"),
    BadFile("header only", "ohlcv_csv", "BTCUSDT_1h.csv", lambda: csv_text(G().iloc[:0])),
    BadFile(
        "latin-1 byte in a row",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(G()).encode().replace(b"\n2024-01-01T05", b"\n2024-01-01T05\xe9", 1),
    ),
    BadFile("binary garbage", "ohlcv_csv", "BTCUSDT_1h.csv", lambda: bytes(range(256)) * 8),
    BadFile(
        "NUL bytes",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(G()).encode().replace(b"\n", b"\x00\n", 3),
    ),
    BadFile(
        "unterminated quote",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(G()).replace("\n2024-01-01T03", '\n"2024-01-01T03', 1),
    ),
    BadFile(
        "ragged row",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(G()).replace("\n2024-01-01T08:00:00Z,", "\n2024-01-01T08:00:00Z,1,2,", 1),
        row=9,
    ),
    # --- ohlcv CSV: columns
    BadFile(
        "no timestamp column",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(G().rename(columns={"timestamp": "when"})),
    ),
    BadFile(
        "no close column",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(G().drop(columns="close")),
    ),
    BadFile(
        "duplicate column names",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(G()).replace("volume", "close", 1),
    ),
    # --- ohlcv CSV: values
    BadFile(
        "NaN close",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 7, "close", "nan")),
        7,
    ),
    BadFile(
        "empty close",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 8, "close", "")),
        8,
    ),
    BadFile(
        "text price",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 9, "open", "abc")),
        9,
    ),
    BadFile(
        "infinite high",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 10, "high", "inf")),
        10,
    ),
    BadFile(
        "negative low",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 11, "low", -1.0)),
        11,
    ),
    BadFile(
        "price 1e308",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 12, "high", 1e308)),
        12,
    ),
    BadFile(
        "price 1e-300",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 13, "low", 1e-300)),
        13,
    ),
    BadFile(
        "negative volume",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 14, "volume", -5.0)),
        14,
    ),
    BadFile(
        "high below low",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 15, "high", 1.0)),
        15,
    ),
    BadFile(
        "hundredfold close",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(
            with_cell(with_cell(with_cell(G(), 16, "close", 1e4), 16, "high", 1e4), 16, "open", 1e4)
        ),
        16,
    ),
    # --- ohlcv CSV: time
    BadFile(
        "unparsable timestamp",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 17, "timestamp", "not-a-date")),
        17,
    ),
    BadFile(
        "empty timestamp",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 18, "timestamp", "")),
        18,
    ),
    BadFile(
        "year 3000 timestamp",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 19, "timestamp", "3000-01-01T00:00:00Z")),
        19,
    ),
    BadFile(
        "year 3000 in the last row",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), N_ROWS, "timestamp", "3000-01-01T00:00:00Z")),
        N_ROWS,
    ),
    BadFile(
        "duplicate timestamp",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 21, "timestamp", G()["timestamp"].iloc[19])),
        21,
    ),
    BadFile(
        "backward timestamp",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 22, "timestamp", G()["timestamp"].iloc[2])),
        22,
    ),
    BadFile(
        "epoch 1e20 in the last row",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(
            with_cell(
                G().assign(timestamp=pd.to_datetime(G()["timestamp"]).astype("int64") // 10**9),
                N_ROWS,
                "timestamp",
                "100000000000000000000",
            )
        ),
        N_ROWS,
    ),
    BadFile(
        "epoch seconds then milliseconds",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(
            with_cell(
                G().assign(timestamp=pd.to_datetime(G()["timestamp"]).astype("int64") // 10**9),
                23,
                "timestamp",
                int(pd.Timestamp(G()["timestamp"].iloc[22]).value // 10**6),
            )
        ),
        23,
    ),
    BadFile(
        "negative epoch",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(
            with_cell(
                G().assign(timestamp=pd.to_datetime(G()["timestamp"]).astype("int64") // 10**9),
                24,
                "timestamp",
                -5,
            )
        ),
        24,
    ),
    BadFile(
        "daily bars in a 1h file",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(
            G().assign(
                timestamp=pd.date_range("2024-01-01", periods=N_ROWS, freq="1D").strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
            )
        ),
        2,
    ),
    BadFile(
        "bar off the hour grid",
        "ohlcv_csv",
        "BTCUSDT_1h.csv",
        lambda: csv_text(with_cell(G(), 25, "timestamp", "2024-01-02T00:30:00Z")),
        25,
    ),
    # --- Parquet
    BadFile("empty parquet", "ohlcv_csv", "BTCUSDT_1h.parquet", lambda: b""),
    BadFile(
        "truncated parquet",
        "ohlcv_csv",
        "BTCUSDT_1h.parquet",
        lambda: parquet_bytes(_parquet_frame())[:300],
    ),
    BadFile("CSV named .parquet", "ohlcv_csv", "BTCUSDT_1h.parquet", lambda: csv_text(G())),
    BadFile(
        "parquet without volume",
        "ohlcv_csv",
        "BTCUSDT_1h.parquet",
        lambda: parquet_bytes(_parquet_frame().drop(columns="volume")),
    ),
    BadFile(
        "parquet text price",
        "ohlcv_csv",
        "BTCUSDT_1h.parquet",
        lambda: parquet_bytes(
            with_cell(_parquet_frame(), 5, "close", "abc").astype({"close": str})
        ),
        5,
    ),
    BadFile(
        "parquet missing timestamp",
        "ohlcv_csv",
        "BTCUSDT_1h.parquet",
        lambda: parquet_bytes(with_cell(_parquet_frame(), 6, "timestamp", pd.NaT)),
        6,
    ),
    BadFile(
        "parquet year 3000",
        "ohlcv_csv",
        "BTCUSDT_1h.parquet",
        lambda: parquet_bytes(
            _parquet_frame().assign(
                timestamp=pd.Series(
                    [
                        *pd.to_datetime(G()["timestamp"]).dt.tz_localize(None)[:-1],
                        pd.Timestamp("2200-01-01"),
                    ],
                )
                .astype("datetime64[us]")
                .where(np.arange(N_ROWS) < N_ROWS - 1, np.datetime64("3000-01-01", "us"))
            )
        ),
        N_ROWS,
    ),
    # --- Binance klines CSV
    BadFile("empty kline csv", "binance_klines", "BTCUSDT_1h.csv", lambda: b""),
    BadFile(
        "11 columns",
        "binance_klines",
        "BTCUSDT_1h.csv",
        lambda: kline_text([row[:11] for row in kline_rows()]),
    ),
    BadFile(
        "kline header only",
        "binance_klines",
        "BTCUSDT_1h.csv",
        lambda: (
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
            "taker_buy_volume,taker_buy_quote_volume,ignore\n"
        ),
    ),
    BadFile(
        "kline text open_time",
        "binance_klines",
        "BTCUSDT_1h.csv",
        lambda: _kline_cell(5, 0, "abc"),
        5,
    ),
    BadFile(
        "kline empty close", "binance_klines", "BTCUSDT_1h.csv", lambda: _kline_cell(6, 4, ""), 6
    ),
    BadFile(
        "kline epoch 1e20 last row",
        "binance_klines",
        "BTCUSDT_1h.csv",
        lambda: _kline_cell(N_ROWS, 0, "100000000000000000000"),
        N_ROWS,
    ),
    BadFile(
        "kline garbage close_time",
        "binance_klines",
        "BTCUSDT_1h.csv",
        lambda: _kline_cell(N_ROWS, 6, "soon"),
        N_ROWS,
    ),
    BadFile(
        "kline latin-1 byte",
        "binance_klines",
        "BTCUSDT_1h.csv",
        lambda: kline_text(kline_rows()).encode().replace(b",0\n", b",\xe9\n", 1),
    ),
    # --- Binance klines zip
    BadFile("truncated zip", "binance_klines", "BTCUSDT_1h.zip", _truncated_zip),
    BadFile("not a zip", "binance_klines", "BTCUSDT_1h.zip", lambda: b"PK\x03\x04 nothing else"),
    BadFile("empty zip file", "binance_klines", "BTCUSDT_1h.zip", lambda: b""),
    BadFile("zip without csv", "binance_klines", "BTCUSDT_1h.zip", lambda: zipped({"a.txt": b"x"})),
    BadFile(
        "zip with two csv",
        "binance_klines",
        "BTCUSDT_1h.zip",
        lambda: zipped({"a.csv": b"1", "b.csv": b"2"}),
    ),
    BadFile(
        "zip of an empty csv", "binance_klines", "BTCUSDT_1h.zip", lambda: zipped({"a.csv": b""})
    ),
    BadFile("corrupt zip member", "binance_klines", "BTCUSDT_1h.zip", _corrupt_zip_member),
    BadFile(
        "zip of a bad row",
        "binance_klines",
        "BTCUSDT_1h.zip",
        lambda: zipped({"BTCUSDT-1h.csv": _kline_cell(7, 2, "-3").encode()}),
        7,
    ),
]


def test_the_corpus_is_large_and_its_names_unique():
    assert len(CORPUS) >= 40
    assert len({case.name for case in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_a_bad_file_is_one_line_naming_the_file_and_row(case: BadFile, tmp_path: Path):
    path = tmp_path / case.file_name
    content = case.content()
    path.write_bytes(content.encode() if isinstance(content, str) else content)

    with pytest.raises(MarketDataError) as raised:
        load_market_bars(case.data_format, "BTCUSDT", path, "1h")

    message = str(raised.value)
    assert "\n" not in message.strip(), message
    assert str(path) in message, message
    if case.row is not None:
        assert f"row {case.row} " in message or f"row {case.row}:" in message, message


def test_the_good_frame_loads(tmp_path: Path):
    (tmp_path / "BTCUSDT_1h.csv").write_text(csv_text(good_frame()))
    (tmp_path / "klines").mkdir()
    (tmp_path / "klines" / "BTCUSDT_1h.zip").write_bytes(
        zipped({"BTCUSDT-1h.csv": kline_text(kline_rows()).encode()})
    )
    (tmp_path / "pq").mkdir()
    (tmp_path / "pq" / "BTCUSDT_1h.parquet").write_bytes(parquet_bytes(_parquet_frame()))

    for data_format, folder in (
        ("ohlcv_csv", tmp_path),
        ("binance_klines", tmp_path / "klines"),
        ("ohlcv_csv", tmp_path / "pq"),
    ):
        assert load_market_bars(data_format, "BTCUSDT", folder, "1h").n_bars == N_ROWS
