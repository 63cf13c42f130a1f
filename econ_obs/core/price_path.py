"""PricePath: one window's close prices and the cost-free per-trade statistics read from them.

Everything here is independent of the cost, so one PricePath serves every evaluation on its
window: the model's variants at each cost, buy_and_hold, and every seed of the random baseline.
`accounting.evaluate_trades` turns these statistics and a CostBasis into Metrics.
"""

from __future__ import annotations

import math

import numpy as np


class PricePath:
    """Close prices of one window plus O(bars) precomputes shared by every evaluation on it.

    `interval_bars[i]` is how many bar intervals the step from close[i] to close[i + 1] spans:
    1 normally, k + 1 across a gap of k missing bars. For the sharpe (and every per-bar
    statistic), a step across a gap is split into that many equal bar returns r / (k + 1), so
    it counts with its true duration instead of as one outsized bar; the P&L is unchanged.
    """

    def __init__(
        self, close: np.ndarray, bars_per_year: float, interval_bars: np.ndarray | None = None
    ) -> None:
        prices = np.array(close, dtype=np.float64, copy=True).reshape(-1)
        if prices.size < 2:
            raise ValueError(f"PricePath needs at least 2 close prices, got {prices.size}")
        bad = ~(np.isfinite(prices) & (prices > 0))
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(
                f"PricePath close[{row}]={prices[row]!r} is not a positive finite price; "
                "clean the bars before evaluating"
            )
        if not (math.isfinite(bars_per_year) and bars_per_year > 0):
            raise ValueError(f"PricePath bars_per_year={bars_per_year!r} must be positive")
        prices.flags.writeable = False
        self.close = prices
        self.bars_per_year = float(bars_per_year)
        self.interval_bars = _interval_bars(interval_bars, prices.size)
        # Prefix sums let any trade's sum of per-bar returns (and squares) be read in O(1).
        interval_return = np.divide(prices[1:], prices[:-1])
        interval_return -= 1.0
        self.return_prefix = np.zeros(prices.size)
        np.cumsum(interval_return, out=self.return_prefix[1:])
        if self.interval_bars is not None:
            interval_return /= self.interval_bars  # each bar's share of a step across a gap
            self.bar_prefix = np.zeros(prices.size)
            np.cumsum(self.interval_bars, out=self.bar_prefix[1:])
        np.square(interval_return, out=interval_return)
        if self.interval_bars is not None:
            interval_return *= self.interval_bars  # k + 1 equal bars of r / (k + 1)
        self.squared_prefix = np.zeros(prices.size)
        np.cumsum(interval_return, out=self.squared_prefix[1:])
        del interval_return
        self.length_tables: dict[int, np.ndarray] = {}  # see trade_rows

    @property
    def n_bars(self) -> int:
        """Number of bars (close prices) in the window."""
        return int(self.close.size)

    @property
    def n_intervals(self) -> float:
        """Bar intervals the window spans: n_bars - 1 plus the bars missing in its gaps."""
        if self.interval_bars is None:
            return float(self.n_bars - 1)
        return float(self.bar_prefix[-1])

    def bar_return(self) -> np.ndarray:
        """Return each step's return per bar interval, r / interval_bars (length n_bars - 1)."""
        step_return = self.close[1:] / self.close[:-1] - 1.0
        if self.interval_bars is not None:
            step_return /= self.interval_bars
        return step_return

    def bars_between(self, entry: np.ndarray, exit_: np.ndarray) -> np.ndarray:
        """Return the bar intervals spanned from each entry to its exit (gaps included)."""
        if self.interval_bars is None:
            return (exit_ - entry).astype(np.float64)
        return self.bar_prefix[exit_] - self.bar_prefix[entry]


def _interval_bars(interval_bars: np.ndarray | None, n_bars: int) -> np.ndarray | None:
    """Validate interval_bars; None when every step is one bar (the common, fast case)."""
    if interval_bars is None:
        return None
    steps = np.asarray(interval_bars, dtype=np.float64).reshape(-1)
    if steps.size != n_bars - 1:
        raise ValueError(f"interval_bars has {steps.size} steps for {n_bars} bars; give n_bars - 1")
    if not (np.isfinite(steps).all() and (steps >= 1).all() and (steps == np.round(steps)).all()):
        row = int(np.argmax(~(np.isfinite(steps) & (steps >= 1) & (steps == np.round(steps)))))
        raise ValueError(f"interval_bars[{row}]={steps[row]!r} must be a whole number >= 1")
    if (steps == 1).all():
        return None
    steps.flags.writeable = False
    return steps


# Range statistics of the close over [entry, exit] (inclusive) for drawdowns: min, max, and
# min over t of close[t] / running max since entry (1 - that is the within-range drawdown).
# Many trades of one length (the random baseline) read them from whole-path arrays built once
# by doubling; other trades gather their own bars.
_CACHE_MIN_TRADES = 32
_CACHE_MAX_LENGTHS = 4


def _window_stats(prices: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Range stats of every window [i, i + length], O(bars * log(length))."""
    n_points = prices.size
    width = length + 1
    block = (prices, prices, np.ones(n_points))
    result: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    result_width = 0
    block_width = 1
    while True:
        if width & block_width:
            if result is None:
                result, result_width = block, block_width
            else:
                # Prepend the block: new window = block at i followed by result at i + block_width.
                m = n_points - (result_width + block_width) + 1
                head_min, head_max, head_ratio = (a[:m] for a in block)
                tail_min, tail_max, tail_ratio = (a[block_width : block_width + m] for a in result)
                ratio = np.divide(tail_min, head_max)
                np.minimum(ratio, head_ratio, out=ratio)
                np.minimum(ratio, tail_ratio, out=ratio)
                result = (np.minimum(head_min, tail_min), np.maximum(head_max, tail_max), ratio)
                del head_min, head_max, head_ratio, tail_min, tail_max, tail_ratio
                result_width += block_width
        if 2 * block_width > width:
            break
        m = n_points - 2 * block_width + 1
        low_min, low_max, low_ratio = (a[:m] for a in block)
        high_min, high_max, high_ratio = (a[block_width : block_width + m] for a in block)
        ratio = np.divide(high_min, low_max)
        np.minimum(ratio, low_ratio, out=ratio)
        np.minimum(ratio, high_ratio, out=ratio)
        block = (np.minimum(low_min, high_min), np.maximum(low_max, high_max), ratio)
        del low_min, low_max, low_ratio, high_min, high_max, high_ratio
        block_width *= 2
    assert result is not None
    return result


# Per-trade statistics that do not depend on the cost, one row per trade (columns below).
# Trades of a length used by many trades (the random baseline's hold_bars) read their row from
# a whole-path table built once per length; other trades gather their own bars. Row gathers
# from one (bars, 7) table touch one cache line per trade, which is what keeps a call cheap.
EXIT_RATIO, RETURN_SUM, SQUARED_SUM, EDGE_RETURNS, MIN_RATIO, MAX_RATIO, DRAWDOWN_RATIO = range(7)


def _length_table(path: PricePath, length: int) -> np.ndarray:
    """Trade statistics of every trade of one length: row i is the trade entered at bar i."""
    prices, m = path.close, path.n_bars - length
    range_min, range_max, range_ratio = _window_stats(prices, length)
    table = np.empty((m, 7))  # allocated after the doubling to keep the peak memory down
    np.divide(range_min, prices[:m], out=table[:, MIN_RATIO])
    np.divide(range_max, prices[:m], out=table[:, MAX_RATIO])
    table[:, DRAWDOWN_RATIO] = range_ratio
    del range_min, range_max, range_ratio
    np.divide(prices[length:], prices[:m], out=table[:, EXIT_RATIO])
    np.subtract(path.return_prefix[length:], path.return_prefix[:m], out=table[:, RETURN_SUM])
    np.subtract(path.squared_prefix[length:], path.squared_prefix[:m], out=table[:, SQUARED_SUM])
    bar_return = path.bar_return()
    np.add(bar_return[:m], bar_return[length - 1 :], out=table[:, EDGE_RETURNS])
    return table


def _gathered_rows(path: PricePath, entry: np.ndarray, length: int) -> np.ndarray:
    """Trade statistics of trades of one length from their own bars, O(trades * length)."""
    prices = path.close
    exit_ = entry + length
    window = prices[entry[:, None] + np.arange(length + 1)]
    running_max = np.maximum.accumulate(window, axis=1)
    rows = np.empty((entry.size, 7))
    rows[:, EXIT_RATIO] = prices[exit_] / prices[entry]
    rows[:, RETURN_SUM] = path.return_prefix[exit_] - path.return_prefix[entry]
    rows[:, SQUARED_SUM] = path.squared_prefix[exit_] - path.squared_prefix[entry]
    if path.interval_bars is None:
        edge = prices[entry + 1] / prices[entry] + prices[exit_] / prices[exit_ - 1]
        rows[:, EDGE_RETURNS] = edge - 2
    else:
        bar_return = path.bar_return()
        rows[:, EDGE_RETURNS] = bar_return[entry] + bar_return[exit_ - 1]
    rows[:, MIN_RATIO] = window.min(axis=1) / prices[entry]
    rows[:, MAX_RATIO] = running_max[:, -1] / prices[entry]
    rows[:, DRAWDOWN_RATIO] = (window / running_max).min(axis=1)
    return rows


def _rows_of_length(
    path: PricePath, entry: np.ndarray, length: int, out: np.ndarray | None = None
) -> np.ndarray:
    table = path.length_tables.get(length)
    if table is None and entry.size >= _CACHE_MIN_TRADES:
        if len(path.length_tables) < _CACHE_MAX_LENGTHS:
            table = path.length_tables[length] = _length_table(path, length)
    if table is None:
        rows = _gathered_rows(path, entry, length)
        if out is None:
            return rows
        out[...] = rows
        return out
    return np.take(table, entry, axis=0, out=out)  # faster than table[entry] for row gathers


def trade_rows(path: PricePath, entry: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Return a (n_trades, 7) array of cost-free trade statistics (ratios and return sums)."""
    if np.all(lengths[:-1] == lengths[0]):  # the random baseline: one length, last cut short
        if lengths[-1] == lengths[0]:
            return _rows_of_length(path, entry, int(lengths[0]))
        rows = np.empty((entry.size, 7))
        _rows_of_length(path, entry[:-1], int(lengths[0]), out=rows[:-1])
        _rows_of_length(path, entry[-1:], int(lengths[-1]), out=rows[-1:])
        return rows
    order = np.argsort(lengths, kind="stable")
    starts = np.flatnonzero(np.diff(lengths[order])) + 1
    rows = np.empty((entry.size, 7))
    for group in np.split(order, starts):
        rows[group] = _rows_of_length(path, entry[group], int(lengths[group[0]]))
    return rows
