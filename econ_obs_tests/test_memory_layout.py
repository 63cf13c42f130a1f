"""What the memory work must not change: values, fingerprints, frames; and what it reads when."""

import pickle

import numpy as np
import pandas as pd
import pytest

from econ_obs.bench.load import synthetic_bars
from econ_obs.core.features import compute_features
from econ_obs.core.market_data import bars_from_frame
from econ_obs.core.readers import read_table
from econ_obs.defs.io_manager import StoredPartitions, one_upstream_at_a_time


def _gappy_bars(crypto: str, seed: int, missing: list[int]):
    frame = synthetic_bars(6_000, seed=seed).drop(index=missing).reset_index(drop=True)
    return bars_from_frame(frame, crypto, f"synthetic {crypto}")


@pytest.mark.parametrize("factor", ["returns", "btc_overlay"])
def test_features_of_some_rows_are_those_rows_of_all_features(factor):
    eth = _gappy_bars("ETHUSDT", 1, [*range(3000, 3010), 4500])
    btc = _gappy_bars("BTCUSDT", 2, list(range(2000, 2005)))
    full = compute_features(factor, eth, btc=btc).frame
    rows = slice(2_500, 5_000)
    part = compute_features(factor, eth, btc=btc, rows=rows).frame
    expected = full.iloc[rows]
    assert list(part.columns) == list(expected.columns)
    assert part.index.equals(expected.index)
    # Bit for bit, NaN where NaN: the rolling windows still see every bar before the rows.
    assert np.array_equal(part.to_numpy(), expected.to_numpy(), equal_nan=True)
    assert np.isnan(part.to_numpy()).any() and np.isfinite(part.to_numpy()).any()


def test_close_only_keeps_the_full_bars_fingerprint():
    bars = _gappy_bars("ETHUSDT", 3, [10])
    slim = bars.close_only()
    assert list(slim.frame.columns) == ["close"]
    assert slim.fingerprint() == bars.fingerprint()
    assert pickle.loads(pickle.dumps(slim)).fingerprint() == bars.fingerprint()
    assert slim.frame["close"].equals(bars.frame["close"])


@pytest.mark.parametrize("with_index", [False, True])
def test_parquet_reads_as_pandas_reads_it(tmp_path, with_index):
    frame = synthetic_bars(1_000, seed=4)
    if with_index:
        frame = frame.set_index("timestamp")
    path = tmp_path / "BTCUSDT_1m.parquet"
    frame.to_parquet(path, index=with_index)
    assert read_table(path).equals(pd.read_parquet(path))


def test_stored_partitions_read_one_value_per_access(tmp_path):
    paths = {}
    for key in ("A|0", "A|1"):
        paths[key] = tmp_path / f"{key.replace('|', '_')}.pkl"
        paths[key].write_bytes(pickle.dumps({"key": key}))
    stored = StoredPartitions("sweep/feature_slice", paths)
    assert list(stored) == ["A|0", "A|1"] and len(stored) == 2
    first, second = stored["A|0"], stored["A|0"]
    assert first == second == {"key": "A|0"} and first is not second  # nothing kept
    groups = list(one_upstream_at_a_time(["A|0|10", "A|0|15", "A|1|10"], stored, lambda k: k[:3]))
    assert groups == [
        (["A|0|10", "A|0|15"], {"A|0": {"key": "A|0"}}),
        (["A|1|10"], {"A|1": {"key": "A|1"}}),
    ]
