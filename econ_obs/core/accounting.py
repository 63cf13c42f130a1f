"""The one accounting function: trades on a price path plus a cost basis -> Metrics.

Every number that is compared (a model, buy-and-hold, the random baseline, naive) goes
through :func:`evaluate_trades`, so all of them are on the same cost basis by construction.

Conventions (all returns are fractions, 0.01 = 1 %):

* A trade enters at ``close[entry]`` and exits at ``close[exit]`` with ``exit > entry``;
  ``gross = close[exit] / close[entry] - 1`` and ``net = gross - round_trip_cost``.
* Positions: ``p[t] = 1`` means long over the interval t -> t+1.
* Per-bar returns (for sharpe) cover all ``n_bars - 1`` intervals of the window:
  ``p[t] * (close[t+1] / close[t] - 1)`` with ``side_cost`` subtracted on a trade's first held
  interval and again on its last (twice on a one-interval trade). Sharpe uses the population
  standard deviation (ddof=0) and is 0 when that is 0.
* Mark-to-market equity starts at 1. Inside trade k, at bar t in [entry, exit], it is
  ``E[k-1] * (1 - side_cost) * close[t] / close[entry]``; from the exit on it is
  ``E[k] = E[k-1] * (1 + net[k])``. max_drawdown is the largest ``1 - equity / running peak``
  over that sequence of points (a positive fraction).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Real

import numpy as np


class CostError(ValueError):
    """A cost basis that cannot be used (missing, negative or not a number)."""


@dataclass(frozen=True)
class CostBasis:
    """Per-side trading costs in basis points; both fields are required."""

    cost_bps: float
    slippage_bps: float

    def __post_init__(self) -> None:
        for field_name in ("cost_bps", "slippage_bps"):
            value = getattr(self, field_name)
            if value is None or isinstance(value, bool) or not isinstance(value, Real):
                raise CostError(
                    f"CostBasis.{field_name}={value!r} is not a number; give basis points, "
                    f"e.g. {field_name}=10"
                )
            if math.isnan(value) or math.isinf(value) or value < 0:
                raise CostError(
                    f"CostBasis.{field_name}={value!r} must be a finite number >= 0 (basis points)"
                )

    @property
    def side_cost(self) -> float:
        """Cost of one side (entry or exit) as a fraction of notional."""
        return (self.cost_bps + self.slippage_bps) / 10_000

    @property
    def round_trip_cost(self) -> float:
        """Cost of one entry plus one exit as a fraction of notional."""
        return 2 * (self.cost_bps + self.slippage_bps) / 10_000


@dataclass(frozen=True)
class Metrics:
    """Window metrics. n_trades is an int for one path; a mean over seeds may be fractional."""

    net_return: float
    gross_return: float
    n_trades: int | float
    sharpe: float
    max_drawdown: float
    exposure: float
    hit_rate: float

    def as_dict(self) -> dict[str, float | int]:
        """Return the metrics as a plain dict of Python numbers."""
        return {k: v if isinstance(v, int) else float(v) for k, v in asdict(self).items()}


ZERO_METRICS = Metrics(0.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0)

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
                ratio = np.minimum(head_ratio, tail_ratio)
                np.minimum(ratio, tail_min / head_max, out=ratio)
                result = (np.minimum(head_min, tail_min), np.maximum(head_max, tail_max), ratio)
                result_width += block_width
        if 2 * block_width > width:
            break
        m = n_points - 2 * block_width + 1
        low_min, low_max, low_ratio = (a[:m] for a in block)
        high_min, high_max, high_ratio = (a[block_width : block_width + m] for a in block)
        ratio = np.minimum(low_ratio, high_ratio)
        np.minimum(ratio, high_min / low_max, out=ratio)
        block = (np.minimum(low_min, high_min), np.maximum(low_max, high_max), ratio)
        block_width *= 2
    assert result is not None
    return result


def _gathered_stats(
    prices: np.ndarray, entry: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Range stats of [entry, entry + length] for each entry, O(len(entry) * length)."""
    window = prices[entry[:, None] + np.arange(length + 1)]
    running_max = np.maximum.accumulate(window, axis=1)
    return window.min(axis=1), running_max[:, -1], (window / running_max).min(axis=1)


class RangeStatsCache:
    """Whole-path range stats per trade length, built on first use by many trades."""

    def __init__(self, prices: np.ndarray) -> None:
        self.prices = prices
        self.by_length: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def stats(self, entry: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Range stats for trades of one length."""
        cached = self.by_length.get(length)
        if cached is None and entry.size >= _CACHE_MIN_TRADES:
            if len(self.by_length) < _CACHE_MAX_LENGTHS:
                cached = self.by_length[length] = _window_stats(self.prices, length)
        if cached is None:
            return _gathered_stats(self.prices, entry, length)
        return cached[0][entry], cached[1][entry], cached[2][entry]


def range_stats(
    cache: RangeStatsCache, entry: np.ndarray, exit_: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per trade: min close, max close, min close / running max (a fraction) over the trade."""
    lengths = exit_ - entry
    if np.all(lengths[:-1] == lengths[0]):  # the random baseline: one length, last cut short
        head = cache.stats(entry, int(lengths[0])) if lengths[-1] == lengths[0] else None
        if head is not None:
            return head
        head = cache.stats(entry[:-1], int(lengths[0])) if entry.size > 1 else None
        tail = cache.stats(entry[-1:], int(lengths[-1]))
        if head is None:
            return tail
        return tuple(np.concatenate(pair) for pair in zip(head, tail, strict=True))  # type: ignore[return-value]
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    starts = np.flatnonzero(np.diff(sorted_lengths)) + 1
    out = [np.empty(entry.size) for _ in range(3)]
    for group in np.split(order, starts):
        group_stats = cache.stats(entry[group], int(lengths[group[0]]))
        for target, values in zip(out, group_stats, strict=True):
            target[group] = values
    return out[0], out[1], out[2]


class PricePath:
    """Close prices of one window plus O(bars) precomputes shared by every evaluation on it."""

    def __init__(self, close: np.ndarray, bars_per_year: float) -> None:
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
        # Prefix sums let any trade's sum of per-bar returns (and squares) be read in O(1).
        interval_return = np.divide(prices[1:], prices[:-1])
        interval_return -= 1.0
        self.return_prefix = np.zeros(prices.size)
        np.cumsum(interval_return, out=self.return_prefix[1:])
        np.square(interval_return, out=interval_return)
        self.squared_prefix = np.zeros(prices.size)
        np.cumsum(interval_return, out=self.squared_prefix[1:])
        del interval_return
        self.range_cache = RangeStatsCache(prices)

    @property
    def n_bars(self) -> int:
        """Number of bars (close prices) in the window."""
        return int(self.close.size)


def trades_from_positions(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (entry_idx, exit_idx) bar indices of the round trips implied by 0/1 positions."""
    held = np.asarray(positions).reshape(-1)
    if held.size and not np.isin(held, (0, 1)).all():
        row = int(np.argmax(~np.isin(held, (0, 1))))
        raise ValueError(f"positions[{row}]={held[row]!r}; positions must be 0 (flat) or 1 (long)")
    flags = np.concatenate(([0], held.astype(np.int8), [0]))
    change = np.diff(flags)
    entry_idx = np.flatnonzero(change == 1).astype(np.int64)
    exit_idx = np.flatnonzero(change == -1).astype(np.int64)
    # The last bar has no interval after it: a position there is exited at that bar's close.
    last_bar = held.size - 1
    np.minimum(exit_idx, last_bar, out=exit_idx)
    keep = exit_idx > entry_idx
    return entry_idx[keep], exit_idx[keep]


def _check_trades(path: PricePath, entry_idx: np.ndarray, exit_idx: np.ndarray) -> None:
    if entry_idx.shape != exit_idx.shape:
        raise ValueError(f"{entry_idx.size} entries but {exit_idx.size} exits; give one each")
    if entry_idx.size == 0:
        return
    bad = (exit_idx <= entry_idx) | (entry_idx < 0) | (exit_idx > path.n_bars - 1)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"trade {k}: entry={entry_idx[k]} exit={exit_idx[k]} must satisfy "
            f"0 <= entry < exit <= {path.n_bars - 1}"
        )
    overlap = entry_idx[1:] < exit_idx[:-1]
    if overlap.any():
        k = int(np.argmax(overlap)) + 1
        raise ValueError(
            f"trade {k} enters at {entry_idx[k]} before trade {k - 1} exits at {exit_idx[k - 1]}; "
            "trades must be in time order and not overlap"
        )


def evaluate_trades(
    path: PricePath, entry_idx: np.ndarray, exit_idx: np.ndarray, cost: CostBasis
) -> Metrics:
    """Return the Metrics (fractions; sharpe annualised) of long round trips; O(n_trades)."""
    if not isinstance(cost, CostBasis):
        raise CostError(f"cost must be a CostBasis, got {cost!r}")
    entry = np.asarray(entry_idx, dtype=np.int64).reshape(-1)
    exit_ = np.asarray(exit_idx, dtype=np.int64).reshape(-1)
    _check_trades(path, entry, exit_)
    n_trades = int(entry.size)
    if n_trades == 0:
        return ZERO_METRICS
    close = path.close
    side = cost.side_cost
    entry_price = close[entry]
    gross = close[exit_] / entry_price - 1.0
    net = gross - cost.round_trip_cost
    equity_after = np.cumprod(1.0 + net)
    n_intervals = path.n_bars - 1

    # Sharpe from prefix sums: sum(q) and sum(q^2) of the cost-adjusted per-bar returns.
    first_return = close[entry + 1] / entry_price - 1.0
    last_return = close[exit_] / close[exit_ - 1] - 1.0
    one_interval = (exit_ - entry) == 1
    sum_q = float(np.sum(path.return_prefix[exit_] - path.return_prefix[entry]))
    sum_q -= 2 * side * n_trades
    sum_q2 = float(np.sum(path.squared_prefix[exit_] - path.squared_prefix[entry]))
    sum_q2 -= 2 * side * float(np.sum(first_return) + np.sum(last_return))
    sum_q2 += side * side * (2 * n_trades + 2 * int(np.count_nonzero(one_interval)))
    mean_q = sum_q / n_intervals
    variance_q = max(sum_q2 / n_intervals - mean_q * mean_q, 0.0)
    std_q = math.sqrt(variance_q)
    sharpe = mean_q / std_q * math.sqrt(path.bars_per_year) if std_q > 1e-15 else 0.0

    # Drawdown: per-trade price range stats combined with a running equity peak.
    range_min, range_max, range_ratio = range_stats(path.range_cache, entry, exit_)
    equity_before = np.concatenate(([1.0], equity_after[:-1]))
    scale = equity_before * (1.0 - side) / entry_price
    trade_peak = np.maximum(scale * range_max, equity_after)
    peak_before = np.maximum.accumulate(np.concatenate(([1.0], trade_peak[:-1])))
    drawdown = np.maximum(1.0 - scale * range_min / peak_before, 1.0 - range_ratio)
    drawdown = np.maximum(drawdown, 1.0 - equity_after / np.maximum(peak_before, trade_peak))
    max_drawdown = max(float(drawdown.max()), 0.0)

    return Metrics(
        net_return=float(equity_after[-1] - 1.0),
        gross_return=float(np.prod(1.0 + gross) - 1.0),
        n_trades=n_trades,
        sharpe=float(sharpe),
        max_drawdown=max_drawdown,
        exposure=float(np.sum(exit_ - entry)) / n_intervals,
        hit_rate=float(np.mean(net > 0)),
    )


def evaluate_positions(path: PricePath, positions: np.ndarray, cost: CostBasis) -> Metrics:
    """Return the Metrics of 0/1 positions (one per bar of the path) via evaluate_trades."""
    held = np.asarray(positions).reshape(-1)
    if held.size != path.n_bars:
        raise ValueError(f"{held.size} positions for {path.n_bars} bars; give one per bar")
    entry_idx, exit_idx = trades_from_positions(held)
    return evaluate_trades(path, entry_idx, exit_idx, cost)
