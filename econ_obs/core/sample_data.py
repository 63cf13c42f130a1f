"""Deterministic synthetic hourly OHLCV bars with the stylised facts of crypto returns.

* GARCH(1,1) volatility clustering with Student-t (fat-tailed) shocks;
* every alt is ``beta * BTC shock + its own shock``; the BTC factor comes from the seed only,
  so BTC's series is the same whichever crypto is asked for;
* a persistent trend regime with a small positive drift and a little return autocorrelation,
  so a model has something it can learn.

The start time is a fixed constant, never the clock, so the same call gives the same bars.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from econ_obs.core.market_data import MarketBars, MarketDataError

SAMPLE_CRYPTOS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")
SAMPLE_START = pd.Timestamp("2022-01-01 00:00:00", tz="UTC")
SAMPLE_INTERVAL = pd.Timedelta(hours=1)
_T_DEGREES = 5.0
_BTC_FACTOR_STREAM = 0


@dataclass(frozen=True)
class _Profile:
    start_price: float
    beta_to_btc: float
    idiosyncratic_vol: float  # unconditional hourly vol of the crypto's own shock (fraction)


_PROFILES = {
    "BTCUSDT": _Profile(start_price=46_000.0, beta_to_btc=1.0, idiosyncratic_vol=0.0),
    "ETHUSDT": _Profile(start_price=3_700.0, beta_to_btc=1.15, idiosyncratic_vol=0.004),
    "SOLUSDT": _Profile(start_price=170.0, beta_to_btc=1.35, idiosyncratic_vol=0.008),
    "BNBUSDT": _Profile(start_price=510.0, beta_to_btc=0.8, idiosyncratic_vol=0.004),
}
_BTC_VOL = 0.006  # unconditional hourly vol of the BTC factor
_TREND_DRIFT = 1.5e-4  # hourly log drift inside a trend regime
_TREND_STAY = 0.995  # probability a regime carries on to the next bar
_AUTOCORRELATION = 0.04


def _garch_shocks(rng: np.random.Generator, n_bars: int, unconditional_vol: float) -> np.ndarray:
    """Return GARCH(1,1) shocks with unit-variance Student-t innovations (log-return units)."""
    alpha, beta = 0.06, 0.92
    omega = unconditional_vol**2 * (1 - alpha - beta)
    scale = np.sqrt((_T_DEGREES - 2) / _T_DEGREES)
    innovations = (rng.standard_t(_T_DEGREES, size=n_bars) * scale).tolist()
    shocks = [0.0] * n_bars
    variance = unconditional_vol**2
    for t, z in enumerate(innovations):
        shock = variance**0.5 * z
        shocks[t] = shock
        variance = omega + alpha * shock * shock + beta * variance
    return np.asarray(shocks)


def _trend_drift(rng: np.random.Generator, n_bars: int) -> np.ndarray:
    """Return the per-bar drift of a two-state (trend / flat) Markov regime."""
    switches = rng.random(n_bars) > _TREND_STAY
    regime = (np.cumsum(switches) + 1) % 2  # start in a trend regime
    return regime * _TREND_DRIFT


def sample_bars(crypto: str, n_bars: int = 17_520, seed: int = 7) -> MarketBars:
    """Return deterministic synthetic hourly MarketBars (prices in USDT) for a sample crypto."""
    profile = _PROFILES.get(crypto)
    if profile is None:
        raise MarketDataError(
            f"sample data has no crypto {crypto!r}; available: {', '.join(SAMPLE_CRYPTOS)}"
        )
    if n_bars < 2:
        raise MarketDataError(f"sample_bars n_bars={n_bars} must be >= 2")
    btc_rng = np.random.default_rng(np.random.SeedSequence([seed, _BTC_FACTOR_STREAM]))
    btc_shock = _garch_shocks(btc_rng, n_bars, _BTC_VOL)
    drift = _trend_drift(btc_rng, n_bars)
    crypto_rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(crypto.encode())]))
    shock = profile.beta_to_btc * btc_shock
    if profile.idiosyncratic_vol > 0:
        shock = shock + _garch_shocks(crypto_rng, n_bars, profile.idiosyncratic_vol)
    log_return = drift * profile.beta_to_btc + shock
    log_return[1:] += _AUTOCORRELATION * shock[:-1]
    close = profile.start_price * np.exp(np.cumsum(log_return))
    open_ = np.concatenate(([profile.start_price], close[:-1]))
    bar_vol = np.abs(shock) + 0.5 * _BTC_VOL
    wick_up = np.abs(crypto_rng.standard_normal(n_bars)) * 0.3 * bar_vol
    wick_down = np.abs(crypto_rng.standard_normal(n_bars)) * 0.3 * bar_vol
    high = np.maximum(open_, close) * np.exp(wick_up)
    low = np.minimum(open_, close) * np.exp(-wick_down)
    volume = 1_000.0 * (bar_vol / _BTC_VOL) * crypto_rng.lognormal(0.0, 0.3, n_bars)
    index = pd.date_range(SAMPLE_START, periods=n_bars, freq=SAMPLE_INTERVAL, name="timestamp")
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=index.as_unit("ns"),
    )
    return MarketBars(crypto=crypto, frame=frame, bar_interval=SAMPLE_INTERVAL, source="sample")
