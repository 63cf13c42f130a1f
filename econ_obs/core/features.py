"""Factor registry: turn bars into a feature frame, and name it with a stable feature_hash.

No look-ahead: the feature at bar t uses bars up to and including t only (shifts and trailing
windows by position). Rows without enough history are NaN, never filled.

Gaps: the log return from the bar before a gap (missing bars, see ``econ_obs.core.gaps``) to
the bar after it is several bars' move, never one bar's. It is excluded everywhere:
``ret_lag_k`` is NaN where it would be that return (like a warm-up row: the model drops such
training rows and stays flat on such test bars); ``vol_w`` is the std of the other one-bar
returns in its trailing window; ``mom_h`` is the sum of the one-bar returns in its window
without the move across the gap. On data without gaps every value is exactly as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from econ_obs.core.gaps import after_gap
from econ_obs.core.market_data import MarketBars

_RETURNS_DEFAULTS: dict = {
    "lags": 5,
    "volatility_windows": [24, 72, 168],
    "momentum_horizons": [6, 24, 72, 168],
}


@dataclass(frozen=True)
class FeatureFrame:
    """Features of one crypto for one factor, on the bars' index (float64, NaN = no history)."""

    factor: str
    params: dict
    frame: pd.DataFrame
    feature_hash: str


def feature_hash(factor: str, params: dict, columns: list[str]) -> str:
    """Return the SHA-256 hex of canonical JSON of the factor name, params and ordered columns."""
    payload = {"factor": factor, "params": params, "columns": list(columns)}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _positive_ints(params: dict, key: str, factor: str) -> list[int]:
    values = params[key]
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 2 for v in values)
    ):
        raise ValueError(f"factor {factor!r} param {key}={values!r} must be a list of ints >= 2")
    return values


def _resolve_params(factor: str, params: dict | None) -> dict:
    merged = {**_RETURNS_DEFAULTS, **(params or {})}
    unknown = sorted(set(merged) - set(_RETURNS_DEFAULTS))
    if unknown:
        raise ValueError(
            f"factor {factor!r} has no param(s) {unknown}; known: {sorted(_RETURNS_DEFAULTS)}"
        )
    lags = merged["lags"]
    if isinstance(lags, bool) or not isinstance(lags, int) or lags < 1:
        raise ValueError(f"factor {factor!r} param lags={lags!r} must be an int >= 1")
    _positive_ints(merged, "volatility_windows", factor)
    _positive_ints(merged, "momentum_horizons", factor)
    return merged


def _returns_columns(close: pd.Series, params: dict, bar_interval: pd.Timedelta) -> pd.DataFrame:
    """Lagged log returns, trailing volatility and momentum, all from bars <= t, gaps excluded."""
    log_close = np.log(close.astype(np.float64))
    one_bar = log_close.diff()
    crosses_gap = pd.Series(after_gap(pd.DatetimeIndex(close.index), bar_interval), close.index)
    gap_move = one_bar.where(crosses_gap, 0.0)  # the move across each gap; 0.0 elsewhere
    one_bar = one_bar.mask(crosses_gap)
    position = pd.Series(np.arange(len(close)), index=close.index)
    columns: dict[str, pd.Series] = {}
    for lag in range(1, params["lags"] + 1):
        columns[f"ret_lag_{lag}"] = one_bar.shift(lag - 1)
    for window in params["volatility_windows"]:
        # Same warm-up as min_periods=window; after it, a gap's NaN return is skipped.
        trailing_std = one_bar.rolling(window, min_periods=2).std()
        columns[f"vol_{window}"] = trailing_std.where(position >= window)
    for horizon in params["momentum_horizons"]:
        gap_moves = gap_move.rolling(horizon, min_periods=1).sum()
        columns[f"mom_{horizon}"] = log_close - log_close.shift(horizon) - gap_moves
    return pd.DataFrame(columns, index=close.index).astype(np.float64)


def _returns(bars: MarketBars, btc: MarketBars | None, params: dict) -> pd.DataFrame:
    return _returns_columns(bars.frame["close"], params, bars.bar_interval)


def _btc_overlay(bars: MarketBars, btc: MarketBars | None, params: dict) -> pd.DataFrame:
    if btc is None:
        raise ValueError(f"factor 'btc_overlay' for {bars.crypto} needs BTC bars; pass btc=...")
    own = _returns_columns(bars.frame["close"], params, bars.bar_interval)
    btc_features = _returns_columns(btc.frame["close"], params, btc.bar_interval)
    btc_features = btc_features.add_prefix("btc_")
    # Exact timestamp match on the crypto's own index: a bar BTC lacks stays NaN (no fill).
    aligned = btc_features.reindex(own.index)
    return pd.concat([own, aligned], axis=1)


FactorBuilder = Callable[[MarketBars, MarketBars | None, dict], pd.DataFrame]
_FACTORS: dict[str, tuple[FactorBuilder, bool]] = {
    "returns": (_returns, False),
    "btc_overlay": (_btc_overlay, True),
}


def factor_names() -> list[str]:
    """Return the registered factor names."""
    return list(_FACTORS)


def _lookup(factor: str) -> tuple[FactorBuilder, bool]:
    if factor not in _FACTORS:
        raise ValueError(f"unknown factor {factor!r}; registered factors: {', '.join(_FACTORS)}")
    return _FACTORS[factor]


def factor_needs_btc(factor: str) -> bool:
    """Return True if the factor needs BTC bars besides the crypto's own."""
    return _lookup(factor)[1]


def compute_features(
    factor: str, bars: MarketBars, btc: MarketBars | None = None, params: dict | None = None
) -> FeatureFrame:
    """Return the FeatureFrame of a factor on the bars (log-return units; NaN = no history)."""
    build, _needs_btc = _lookup(factor)
    resolved = _resolve_params(factor, params)
    frame = build(bars, btc, resolved)
    columns = [str(column) for column in frame.columns]
    return FeatureFrame(
        factor=factor,
        params=resolved,
        frame=frame,
        feature_hash=feature_hash(factor, resolved, columns),
    )
