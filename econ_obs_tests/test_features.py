"""Factor registry: no look-ahead, alignment without fill, and a hash stable across processes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from econ_obs.core.features import (
    compute_features,
    factor_names,
    factor_needs_btc,
    feature_hash,
)
from econ_obs.core.market_data import MarketBars
from econ_obs.core.sample_data import sample_bars


def with_close(bars: MarketBars, close: np.ndarray) -> MarketBars:
    frame = bars.frame.assign(close=close)
    return MarketBars(bars.crypto, frame, bars.bar_interval, bars.source)


def test_registry() -> None:
    assert factor_names() == ["returns", "btc_overlay"]
    assert factor_needs_btc("btc_overlay") and not factor_needs_btc("returns")
    with pytest.raises(ValueError, match="returns, btc_overlay"):
        compute_features("nope", sample_bars("BTCUSDT", n_bars=50))


def test_returns_columns_and_history() -> None:
    bars = sample_bars("BTCUSDT", n_bars=400)
    features = compute_features("returns", bars)
    frame = features.frame
    assert frame.index.equals(bars.frame.index)
    assert (frame.dtypes == np.float64).all()
    assert "ret_lag_1" in frame and "vol_24" in frame and "mom_168" in frame
    assert frame["mom_168"].iloc[:168].isna().all() and frame["mom_168"].iloc[168:].notna().all()
    log_close = np.log(bars.frame["close"].to_numpy())
    assert frame["ret_lag_1"].iloc[10] == pytest.approx(log_close[10] - log_close[9])
    assert frame["ret_lag_3"].iloc[10] == pytest.approx(log_close[8] - log_close[7])
    assert frame["mom_6"].iloc[10] == pytest.approx(log_close[10] - log_close[4])


@pytest.mark.parametrize("factor", ["returns", "btc_overlay"])
@pytest.mark.parametrize("cut", [0, 200, 250, 398])
def test_no_look_ahead(factor: str, cut: int) -> None:
    eth, btc = sample_bars("ETHUSDT", n_bars=400), sample_bars("BTCUSDT", n_bars=400)
    before = compute_features(factor, eth, btc).frame
    rng = np.random.default_rng(cut)
    # Perturb every bar after `cut`, for the crypto and for BTC alike.
    shock = np.exp(rng.normal(0, 0.2, 400 - cut - 1))
    eth_close = eth.frame["close"].to_numpy().copy()
    btc_close = btc.frame["close"].to_numpy().copy()
    eth_close[cut + 1 :] *= shock
    btc_close[cut + 1 :] *= shock[::-1]
    after = compute_features(factor, with_close(eth, eth_close), with_close(btc, btc_close)).frame
    pd.testing.assert_frame_equal(before.iloc[: cut + 1], after.iloc[: cut + 1])
    assert not before.iloc[cut + 1 :].equals(after.iloc[cut + 1 :])


def test_btc_overlay_aligns_without_fill() -> None:
    eth = sample_bars("ETHUSDT", n_bars=300)
    btc = sample_bars("BTCUSDT", n_bars=300)
    holed = MarketBars("BTCUSDT", btc.frame.drop(btc.frame.index[250]), btc.bar_interval, "test")
    frame = compute_features("btc_overlay", eth, holed).frame
    assert frame.index.equals(eth.frame.index)
    assert list(frame.columns[:12]) == [c.removeprefix("btc_") for c in frame.columns[12:]]
    assert frame.iloc[250].filter(like="btc_").isna().all()  # the missing BTC bar stays missing
    assert frame.iloc[249].notna().all()
    with pytest.raises(ValueError, match="needs BTC bars"):
        compute_features("btc_overlay", eth)


def test_params_are_resolved_and_hashed() -> None:
    bars = sample_bars("BTCUSDT", n_bars=300)
    custom = compute_features("returns", bars, params={"lags": 2, "momentum_horizons": [3]})
    assert custom.params["lags"] == 2
    assert "ret_lag_3" not in custom.frame and "mom_3" in custom.frame
    default = compute_features("returns", bars)
    assert custom.feature_hash != default.feature_hash
    assert default.feature_hash == feature_hash("returns", default.params, list(default.frame))
    with pytest.raises(ValueError, match="no param"):
        compute_features("returns", bars, params={"window": 3})


def test_feature_hash_is_canonical_and_identical_across_processes() -> None:
    params = {"lags": 3, "volatility_windows": [24]}
    here = feature_hash("returns", params, ["a", "b"])
    assert here == feature_hash("returns", dict(reversed(params.items())), ["a", "b"])
    assert here != feature_hash("returns", params, ["b", "a"])
    code = (
        "from econ_obs.core.features import feature_hash\n"
        "print(feature_hash('returns', {'volatility_windows': [24], 'lags': 3}, ['a', 'b']))\n"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == here
