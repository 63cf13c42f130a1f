"""Market data: load OHLCV bars from files, validate them, and say exactly what is wrong.

Gaps (missing bars) are kept as they are, never forward-filled; ``bar_interval`` records the
modal spacing. Nothing is dropped silently: a bad row stops the load with its row number.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATA_FORMATS = ("sample", "ohlcv_csv", "binance_klines")
OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")
TIMESTAMP_NAMES = ("timestamp", "date", "datetime", "time", "open_time")
BINANCE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
DAYS_PER_YEAR = 365.25


class MarketDataError(ValueError):
    """Market data that cannot be used as it is; the message says where and how to fix it."""


@dataclass(frozen=True)
class MarketBars:
    """Validated OHLCV bars of one crypto, indexed by bar open time (UTC)."""

    crypto: str
    frame: pd.DataFrame
    bar_interval: pd.Timedelta
    source: str

    @property
    def n_bars(self) -> int:
        """Number of bars."""
        return len(self.frame)

    @property
    def bars_per_year(self) -> float:
        """Bars per year (365.25 days / bar_interval), for annualising."""
        return pd.Timedelta(days=DAYS_PER_YEAR) / self.bar_interval

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest of the index (int64 ns) and OHLCV values."""
        digest = hashlib.sha256()
        index_ns = pd.DatetimeIndex(self.frame.index).as_unit("ns").asi8
        digest.update(np.ascontiguousarray(index_ns, dtype="<i8").tobytes())
        values = self.frame.loc[:, list(OHLCV_COLUMNS)].to_numpy(dtype="<f8")
        digest.update(np.ascontiguousarray(values).tobytes())
        return digest.hexdigest()


def _parse_timestamps(raw: pd.Series, source: str) -> pd.DatetimeIndex:
    """Parse ISO strings (no offset = UTC) or epoch s/ms/us/ns into a UTC DatetimeIndex."""
    if pd.api.types.is_numeric_dtype(raw):
        numbers = pd.to_numeric(raw)
        if numbers.isna().any():
            row = int(np.flatnonzero(numbers.isna().to_numpy())[0])
            raise MarketDataError(f"{source}: row {row + 1} has an empty timestamp")
        magnitude = float(np.abs(numbers).max())
        # Epoch units by magnitude: ~1.7e9 s, ~1.7e12 ms, ~1.7e15 us, ~1.7e18 ns (for 2020s).
        units = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
        unit = next((name for limit, name in units if magnitude < limit), "ns")
        return pd.DatetimeIndex(pd.to_datetime(numbers.astype("int64"), unit=unit, utc=True))
    text = raw.astype(str).str.strip()
    try:
        parsed = pd.to_datetime(text, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        for row, value in enumerate(text):
            try:
                pd.Timestamp(value)
            except (ValueError, TypeError):
                raise MarketDataError(
                    f"{source}: row {row + 1} timestamp {value!r} is not an ISO date-time "
                    "or epoch number"
                ) from exc
        raise MarketDataError(f"{source}: timestamps could not be parsed ({exc})") from exc
    return pd.DatetimeIndex(parsed)


def _validate(frame: pd.DataFrame, source: str) -> None:
    """Raise MarketDataError naming the first bad row of an indexed OHLCV frame."""
    times = frame.index
    values = frame.to_numpy()

    def fail(position: int, problem: str, fix: str) -> None:
        # Rows count data rows from 1, the header not included.
        raise MarketDataError(f"{source}: row {position + 1} ({times[position]}) {problem}; {fix}")

    for column in OHLCV_COLUMNS:
        series = frame[column].to_numpy()
        bad = ~np.isfinite(series)
        if column != "volume":
            bad |= series <= 0
        elif bad.sum() == 0:
            bad = series < 0
        if bad.any():
            row = int(np.argmax(bad))
            fail(
                row,
                f"has {column}={float(series[row])!r}",
                "prices must be positive numbers and "
                "volume a non-negative number; fix or remove the row at the source",
            )
    high, low = frame["high"].to_numpy(), frame["low"].to_numpy()
    body_high = np.maximum(frame["open"].to_numpy(), frame["close"].to_numpy())
    body_low = np.minimum(frame["open"].to_numpy(), frame["close"].to_numpy())
    bad = (high < low) | (high < body_high) | (low > body_low)
    if bad.any():
        row = int(np.argmax(bad))
        fail(
            row,
            f"has high={float(high[row])!r} low={float(low[row])!r} "
            f"open={float(values[row, 0])!r} close={float(values[row, 3])!r}",
            "high must be >= open, close, low and low <= open, close",
        )
    step = np.diff(times.asi8)
    if (step == 0).any():
        row = int(np.argmax(step == 0)) + 1
        fail(row, "repeats the previous timestamp", "remove the duplicate bar")
    if (step < 0).any():
        row = int(np.argmax(step < 0)) + 1
        fail(row, f"goes back in time from {times[row - 1]}", "sort the file by time")


def bars_from_frame(raw: pd.DataFrame, crypto: str, source: str) -> MarketBars:
    """Return validated MarketBars from a frame with a timestamp column and OHLCV columns."""
    by_name = {str(name).strip().lower(): name for name in raw.columns}
    time_key = next((by_name[name] for name in TIMESTAMP_NAMES if name in by_name), None)
    if time_key is None:
        raise MarketDataError(
            f"{source}: no timestamp column; expected one of {', '.join(TIMESTAMP_NAMES)}, "
            f"found {', '.join(map(str, raw.columns))}"
        )
    missing = [name for name in OHLCV_COLUMNS if name not in by_name]
    if missing:
        raise MarketDataError(
            f"{source}: missing column(s) {', '.join(missing)}; found "
            f"{', '.join(map(str, raw.columns))}"
        )
    if raw.empty:
        raise MarketDataError(f"{source}: has no rows")
    # pandas 3 may pick a coarser unit than ns; fix it so asi8 and hashes are comparable.
    index = _parse_timestamps(raw[time_key], source).as_unit("ns").rename("timestamp")
    columns = {}
    for name in OHLCV_COLUMNS:
        numbers = pd.to_numeric(raw[by_name[name]], errors="coerce")
        columns[name] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    frame = pd.DataFrame(columns, index=index)
    _validate(frame, source)
    if len(frame) >= 2:
        steps = pd.Series(np.diff(index.asi8))
        bar_interval = pd.Timedelta(int(steps.mode().iloc[0]), unit="ns")
    else:
        bar_interval = pd.Timedelta(hours=1)
    return MarketBars(crypto=crypto, frame=frame, bar_interval=bar_interval, source=source)


def load_ohlcv_csv(path: Path, crypto: str) -> MarketBars:
    """Return MarketBars from a CSV or Parquet file with a timestamp column and OHLCV columns."""
    path = Path(path)
    if not path.is_file():
        raise MarketDataError(f"{path}: file not found; check the data path for {crypto}")
    raw = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    return bars_from_frame(raw, crypto, str(path))


def _read_klines_csv(handle: io.BufferedIOBase | io.BytesIO, source: str) -> pd.DataFrame:
    raw = pd.read_csv(handle, header=None, dtype=str)
    if raw.shape[1] != len(BINANCE_COLUMNS):
        raise MarketDataError(
            f"{source}: {raw.shape[1]} columns, Binance klines have {len(BINANCE_COLUMNS)}; "
            "is this an ohlcv_csv file?"
        )
    if str(raw.iloc[0, 0]).strip().lower() == "open_time":  # newer dumps carry a header row
        raw = raw.iloc[1:]
    raw.columns = list(BINANCE_COLUMNS)
    return raw.assign(open_time=pd.to_numeric(raw["open_time"], errors="coerce"))


def load_binance_klines(path: Path, crypto: str) -> MarketBars:
    """Return MarketBars from a Binance public klines dump (.csv, or .zip holding one csv)."""
    path = Path(path)
    if not path.is_file():
        raise MarketDataError(f"{path}: file not found; check the data path for {crypto}")
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if name.lower().endswith(".csv")]
            if len(members) != 1:
                raise MarketDataError(f"{path}: expected one .csv inside, found {members}")
            with archive.open(members[0]) as handle:
                raw = _read_klines_csv(io.BytesIO(handle.read()), f"{path}:{members[0]}")
    else:
        with path.open("rb") as handle:
            raw = _read_klines_csv(handle, str(path))
    return bars_from_frame(raw, crypto, str(path))


def find_crypto_file(folder: Path, crypto: str, timeframe: str, data_format: str) -> Path:
    """Return the path of `<CRYPTO>_<timeframe>.<ext>` inside folder for the data format."""
    suffixes = {"ohlcv_csv": (".csv", ".parquet"), "binance_klines": (".zip", ".csv")}
    if data_format not in suffixes:
        raise MarketDataError(f"data_format {data_format!r} has no files; use one of {suffixes}")
    stem = f"{crypto}_{timeframe}"
    for suffix in suffixes[data_format]:
        candidate = Path(folder) / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    expected = " or ".join(stem + suffix for suffix in suffixes[data_format])
    raise MarketDataError(
        f"{folder}: no file for crypto {crypto}; expected {expected} ({data_format})"
    )


def load_market_bars(
    data_format: str, crypto: str, path: Path | None, timeframe: str
) -> MarketBars:
    """Return MarketBars for one crypto from the sample generator, a file, or a folder."""
    if data_format not in DATA_FORMATS:
        raise MarketDataError(
            f"data_format {data_format!r} is unknown; use one of {', '.join(DATA_FORMATS)}"
        )
    if data_format == "sample":
        from econ_obs.core.sample_data import sample_bars  # sample_data imports this module

        return sample_bars(crypto)
    if path is None:
        raise MarketDataError(f"data_format {data_format!r} needs a data path for {crypto}")
    path = Path(path)
    if path.is_dir():
        path = find_crypto_file(path, crypto, timeframe, data_format)
    loader = load_ohlcv_csv if data_format == "ohlcv_csv" else load_binance_klines
    return loader(path, crypto)


def require_bars(bars: MarketBars, needed_bars: int) -> None:
    """Raise MarketDataError if bars holds fewer than needed_bars bars."""
    if bars.n_bars < needed_bars:
        raise MarketDataError(
            f"{bars.crypto}: {bars.n_bars} bars available in {bars.source}, {needed_bars} needed; "
            "use more data or fewer/smaller folds"
        )
