"""Load benchmark: 2.6M one-minute bars (about five years) from Parquet in under 1 s.

Two synthetic files of the same bars are written to a temporary folder, one with a tz-aware
timestamp column and one with epoch milliseconds, and each is loaded through
``load_market_bars("ohlcv_csv", ...)`` with every check on (values, order, the 1m timeframe,
moves). The bars are a positive random walk with volume > 0, so nothing is refused.

The time is wall-clock (perf_counter) of one whole load: reading, the index, validation and
the closed-candle rule. The first load of a process also pays for importing pyarrow, so one
untimed load comes first; the figure is the median of REPEATS loads. Both files must load to
the same fingerprint before anything counts as a pass.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from econ_obs.core.market_data import load_market_bars

N_BARS = 2_600_000
CRYPTO, TIMEFRAME = "BTCUSDT", "1m"
TARGET_SECONDS = 1.0
REPEATS = 3


def synthetic_bars(n_bars: int, seed: int = 0) -> pd.DataFrame:
    """Return n_bars one-minute OHLCV bars from 2020 (tz-aware UTC timestamps), a random walk."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n_bars)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2020-01-01", periods=n_bars, freq="1min", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) * 1.0005,
            "low": np.minimum(open_, close) * 0.9995,
            "close": close,
            "volume": rng.uniform(1.0, 100.0, n_bars),
        }
    )


def _time_load(folder: Path) -> tuple[float, str]:
    """Median seconds of REPEATS loads of folder's file (after one untimed), and its fingerprint."""
    bars = load_market_bars("ohlcv_csv", CRYPTO, folder, TIMEFRAME)
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        load_market_bars("ohlcv_csv", CRYPTO, folder, TIMEFRAME)
        timings.append(time.perf_counter() - started)
    assert bars.n_bars == N_BARS, f"{bars.n_bars} bars loaded, {N_BARS} written"
    return float(np.median(timings)), bars.fingerprint()


def main() -> bool:
    """Print the load figures of both Parquet files; return True when both pass the target."""
    frame = synthetic_bars(N_BARS)
    epoch_ms = frame.assign(timestamp=pd.DatetimeIndex(frame["timestamp"]).as_unit("ms").asi8)
    verdicts, fingerprints = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        for label, variant in (("tz-aware timestamps", frame), ("epoch-ms integers", epoch_ms)):
            folder = Path(tmp) / label.split()[0]
            folder.mkdir()
            variant.to_parquet(folder / f"{CRYPTO}_{TIMEFRAME}.parquet", index=False)
            seconds, fingerprint = _time_load(folder)
            fingerprints.add(fingerprint)
            passed = seconds < TARGET_SECONDS
            verdicts.append(passed)
            print(
                f"load {N_BARS:,} {TIMEFRAME} bars from Parquet ({label}): median {seconds:.3f} s "
                f"over {REPEATS} loads, {N_BARS / seconds:,.0f} bars/s"
            )
            print(f"  {'PASS' if passed else 'FAIL'} {seconds:.3f} s < {TARGET_SECONDS:.1f} s")
    same = len(fingerprints) == 1
    print(f"  {'PASS' if same else 'FAIL'} both files load to the same fingerprint")
    return all(verdicts) and same


if __name__ == "__main__":
    main()
