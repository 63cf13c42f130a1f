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
    """Features of one crypto for one factor, on the bars' index or the rows asked for
    (float64, NaN = no history)."""

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


def resolve_factor_params(factor: str, params: dict | None) -> dict:
    """Return the factor's params merged over its defaults; raise ValueError naming a bad key."""
    _lookup(factor)
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


def _returns_names(params: dict) -> list[str]:
    return [
        *(f"ret_lag_{lag}" for lag in range(1, params["lags"] + 1)),
        *(f"vol_{window}" for window in params["volatility_windows"]),
        *(f"mom_{horizon}" for horizon in params["momentum_horizons"]),
    ]


def _shifted(values: np.ndarray, periods: int, rows: np.ndarray) -> np.ndarray:
    """values.shift(periods) at the positions `rows` (NaN before the series starts)."""
    source = rows - periods
    out = values[np.maximum(source, 0)]
    out[source < 0] = np.nan
    return out


def _fill_returns_columns(
    close: pd.Series, params: dict, bar_interval: pd.Timedelta, rows: np.ndarray, out: np.ndarray
) -> None:
    """Lagged log returns, trailing volatility and momentum, all from bars <= t, gaps excluded.

    Each column is computed on the whole series, as one pandas operation (so every value is
    bit for bit what a frame of all columns would hold), and only its `rows` are kept, written
    into the columns of `out` (one row per entry of `rows`, _returns_names order).
    """
    log_close = np.log(close.astype(np.float64))
    one_bar = log_close.diff()
    crosses_gap = pd.Series(after_gap(pd.DatetimeIndex(close.index), bar_interval), close.index)
    gap_move = one_bar.where(crosses_gap, 0.0)  # the move across each gap; 0.0 elsewhere
    one_bar = one_bar.mask(crosses_gap)
    one_bar_values = one_bar.to_numpy()
    column = 0
    for lag in range(1, params["lags"] + 1):
        out[:, column] = _shifted(one_bar_values, lag - 1, rows)
        column += 1
    for window in params["volatility_windows"]:
        # Same warm-up as min_periods=window; after it, a gap's NaN return is skipped.
        trailing_std = one_bar.rolling(window, min_periods=2).std().to_numpy()
        out[:, column] = np.where(rows >= window, trailing_std[rows], np.nan)
        column += 1
    del one_bar, one_bar_values
    log_values = log_close.to_numpy()
    for horizon in params["momentum_horizons"]:
        gap_moves = gap_move.rolling(horizon, min_periods=1).sum().to_numpy()
        out[:, column] = log_values[rows] - _shifted(log_values, horizon, rows) - gap_moves[rows]
        column += 1


def _feature_frame(names: list[str], index: pd.Index) -> tuple[pd.DataFrame, np.ndarray]:
    """An empty float64 frame of one block, and the array behind it, to be filled in place."""
    # Column-major, so each column is contiguous and the frame wraps it without a copy.
    values = np.empty((len(index), len(names)), dtype=np.float64, order="F")
    return pd.DataFrame(values, index=index, columns=names, copy=False), values


def _returns(bars: MarketBars, btc: MarketBars | None, params: dict, rows: slice) -> pd.DataFrame:
    close = bars.frame["close"]
    positions = np.arange(len(close))[rows]
    frame, values = _feature_frame(_returns_names(params), close.index[rows])
    _fill_returns_columns(close, params, bars.bar_interval, positions, values)
    return frame


def _btc_overlay(
    bars: MarketBars, btc: MarketBars | None, params: dict, rows: slice
) -> pd.DataFrame:
    if btc is None:
        raise ValueError(f"factor 'btc_overlay' for {bars.crypto} needs BTC bars; pass btc=...")
    close = bars.frame["close"]
    names = _returns_names(params)
    index = close.index[rows]
    frame, values = _feature_frame(_btc_overlay_names(params), index)
    _fill_returns_columns(close, params, bars.bar_interval, np.arange(len(close))[rows], values)
    # Exact timestamp match on the crypto's own index: a bar BTC lacks stays NaN (no fill).
    btc_close = btc.frame["close"]
    if not btc_close.index.is_unique:
        raise ValueError(f"BTC bars for {bars.crypto}'s overlay have repeated timestamps")
    btc_rows = btc_close.index.get_indexer(index)
    btc_values = values[:, len(names) :]
    _fill_returns_columns(btc_close, params, btc.bar_interval, np.maximum(btc_rows, 0), btc_values)
    btc_values[btc_rows < 0] = np.nan
    return frame


def _btc_overlay_names(params: dict) -> list[str]:
    names = _returns_names(params)
    return [*names, *(f"btc_{name}" for name in names)]


FactorBuilder = Callable[[MarketBars, MarketBars | None, dict, slice], pd.DataFrame]
ColumnNamer = Callable[[dict], list[str]]
# name -> (builder, needs BTC bars, column names of resolved params)
_FACTORS: dict[str, tuple[FactorBuilder, bool, ColumnNamer]] = {
    "returns": (_returns, False, _returns_names),
    "btc_overlay": (_btc_overlay, True, _btc_overlay_names),
}


def factor_names() -> list[str]:
    """Return the registered factor names."""
    return list(_FACTORS)


def _lookup(factor: str) -> tuple[FactorBuilder, bool, ColumnNamer]:
    if factor not in _FACTORS:
        raise ValueError(f"unknown factor {factor!r}; registered factors: {', '.join(_FACTORS)}")
    return _FACTORS[factor]


def factor_needs_btc(factor: str) -> bool:
    """Return True if the factor needs BTC bars besides the crypto's own."""
    return _lookup(factor)[1]


def factor_columns(factor: str, params: dict | None = None) -> list[str]:
    """Return the feature column names the factor builds with these params, in frame order."""
    return _lookup(factor)[2](resolve_factor_params(factor, params))


def compute_features(
    factor: str,
    bars: MarketBars,
    btc: MarketBars | None = None,
    params: dict | None = None,
    rows: slice | None = None,
) -> FeatureFrame:
    """Return the FeatureFrame of a factor on the bars (log-return units; NaN = no history).

    `rows` (positions in the bars) keeps only those rows: each value is still computed from
    the whole history before it, exactly as without `rows`, but a sweep whose folds use a
    fraction of the bars does not hold features for the rest.
    """
    build = _lookup(factor)[0]
    resolved = resolve_factor_params(factor, params)
    frame = build(bars, btc, resolved, slice(None) if rows is None else rows)
    columns = [str(column) for column in frame.columns]
    return FeatureFrame(
        factor=factor,
        params=resolved,
        frame=frame,
        feature_hash=feature_hash(factor, resolved, columns),
    )
