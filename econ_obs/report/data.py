"""The sweep report's input (`ReportData`) and the pure reductions its figures are drawn from.

No Dagster, no SQL: the caller reads the stored rows into the five frames below and this package
turns them into PNG figures and one self-contained HTML file. Returns are fractions throughout
(0.012 is +1.2%); costs are basis points per side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from econ_obs.core.rollup import ROLLUP_FIELDS

# One model row of the report, in display order: `econ-obs report` prints and exports these,
# and store.report reads them; the figures need a subset.
ROW_COLUMNS = (
    "crypto",
    "fold_id",
    "cost_bps",
    "slippage_bps",
    "variant",
    "net_return",
    "n_trades",
    "exposure",
    "sharpe",
    "buy_and_hold",
    "random_mean",
    "naive",
    "matched_null_mean",
    "matched_null_p05",
    "matched_null_p95",
    "p_value_matched",
    "p_value_random",
    "deflated_sharpe",
    "breakeven_cost_bps",
    "gross_edge_bps_per_trade",
    "gross_return",
    "test_start",
    "test_end",
)
ROLLUP_COLUMNS = ROLLUP_FIELDS
_TEXT_COLUMNS = ("crypto", "fold_id", "variant", "test_start", "test_end", "verdict")
# A cost basis is (cost_bps, slippage_bps): every frame carries both, and every figure cell
# is one basis, so two slippages at one cost are never averaged together.
BASIS_COLUMNS = ("cost_bps", "slippage_bps")
MATCHED_NULL_COLUMNS = ("crypto", "fold_id", *BASIS_COLUMNS, "variant", "net_returns")
RANDOM_SEED_COLUMNS = ("crypto", "fold_id", *BASIS_COLUMNS, "seed", "net_return")
EQUITY_COLUMNS = ("crypto", *BASIS_COLUMNS, "series", "fold_id", "times", "equity")
BUY_AND_HOLD_SERIES = "buy_and_hold"
# Shown when present, not drawn from: a caller may leave these out.
_OPTIONAL_COLUMNS = ("naive", "gross_edge_bps_per_trade", "gross_return", "mean_gross_return")
# Read as float64 on construction: a NUMERIC column arrives as Decimal, a missing value as None.
NUMERIC_COLUMNS = {
    "rows": tuple(c for c in ROW_COLUMNS if c not in _TEXT_COLUMNS),
    "rollup": tuple(c for c in ROLLUP_COLUMNS if c not in _TEXT_COLUMNS),
    "matched_null": BASIS_COLUMNS,
    "random_seeds": (*BASIS_COLUMNS, "net_return"),
    "equity": BASIS_COLUMNS,
}


def basis_label(cost_bps: float, slippage_bps: float) -> str:
    """Return a cost basis per side as text: "10+5 bps" (fee + slippage), "10 bps" without
    slippage."""
    if slippage_bps == 0:
        return f"{cost_bps:g} bps"
    return f"{cost_bps:g}+{slippage_bps:g} bps"


@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything one sweep report shows; one row per model row, roll-up cell, seed or curve.

    On construction the columns in `NUMERIC_COLUMNS` are replaced by float64 copies (None and
    Decimal become NaN and float; the caller's frames are not modified). `eq=False`: comparing
    two reports would compare DataFrames element-wise, which is ambiguous.
    """

    run_id: str
    strategy: str
    rows: pd.DataFrame
    rollup: pd.DataFrame
    matched_null: pd.DataFrame
    random_seeds: pd.DataFrame
    equity: pd.DataFrame

    def __post_init__(self) -> None:
        for name, columns in (
            ("rows", ROW_COLUMNS),
            ("rollup", ROLLUP_COLUMNS),
            ("matched_null", MATCHED_NULL_COLUMNS),
            ("random_seeds", RANDOM_SEED_COLUMNS),
            ("equity", EQUITY_COLUMNS),
        ):
            frame = getattr(self, name)
            if not isinstance(frame, pd.DataFrame):
                raise TypeError(f"ReportData.{name} must be a pandas DataFrame, got {type(frame)}")
            required = [c for c in columns if c not in _OPTIONAL_COLUMNS]
            missing = [column for column in required if column not in frame.columns]
            if missing:
                raise ValueError(
                    f"ReportData.{name} lacks column(s) {missing}; it has {list(frame.columns)}. "
                    f"Add them (NaN is fine for a value that does not exist)."
                )
            numeric = frame.copy()
            for column in (c for c in NUMERIC_COLUMNS[name] if c in frame.columns):
                numeric[column] = pd.to_numeric(numeric[column], errors="coerce").astype("float64")
            object.__setattr__(self, name, numeric)


def fold_mean_null(
    fold_nulls: Sequence[np.ndarray], fold_net_returns: Sequence[float] | None = None
) -> np.ndarray:
    """Return draws of the null of the fold-mean net return (fractions): the column-wise mean.

    Placement j of every fold is averaged into draw j, after truncating each fold's null to the
    shortest one. A fold whose null is empty had zero trades, so its only placement is the row
    itself: it contributes its own net return (from `fold_net_returns`) to every draw. Without
    `fold_net_returns`, or when every fold is empty, an empty fold makes the result empty.
    """
    arrays = [np.asarray(values, dtype=np.float64).reshape(-1) for values in fold_nulls]
    lengths = [array.size for array in arrays if array.size > 0]
    if not lengths:
        return np.empty(0)
    n_draws = min(lengths)
    columns = []
    for index, array in enumerate(arrays):
        if array.size > 0:
            columns.append(array[:n_draws])
            continue
        own_return = np.nan if fold_net_returns is None else float(fold_net_returns[index])
        if not np.isfinite(own_return):
            return np.empty(0)
        columns.append(np.full(n_draws, own_return))
    return np.vstack(columns).mean(axis=0)


def seed_fold_means(random_seeds: pd.DataFrame) -> np.ndarray:
    """Return one draw per seed of the random null of the fold-mean net return (fractions).

    `random_seeds` holds one (crypto, cost basis) cell: columns fold_id, seed, net_return. Seed i's
    net returns are averaged across folds; a seed missing from some fold is dropped, so every
    draw averages the same folds.
    """
    if random_seeds.empty:
        return np.empty(0)
    by_seed = random_seeds.groupby(["seed", "fold_id"])["net_return"].mean().unstack("fold_id")
    by_seed = by_seed.dropna(axis=1, how="all")  # a fold with no finite seed is left out
    return by_seed.dropna(axis=0, how="any").mean(axis=1).to_numpy(dtype=np.float64)


def utc_times(times: object) -> np.ndarray:
    """Return `times` (tz-aware timestamps or datetime64, read as UTC) as naive datetime64[ns]."""
    array = np.asarray(times).reshape(-1)
    if np.issubdtype(array.dtype, np.datetime64):  # already naive UTC: skip the slow parse
        return array.astype("datetime64[ns]")
    index = pd.DatetimeIndex(pd.to_datetime(array, utc=True))
    return index.tz_convert(None).to_numpy(dtype="datetime64[ns]")


def utc_times_per_row(column: Sequence[object]) -> list[np.ndarray]:
    """Return `utc_times` of every entry of `column`, parsing timestamp objects in one call.

    Parsing 256 timestamps per curve one curve at a time costs several times more than parsing
    all curves' timestamps together.
    """
    arrays = [np.asarray(times).reshape(-1) for times in column]
    parsed = [array for array in arrays if not np.issubdtype(array.dtype, np.datetime64)]
    if parsed:
        boundaries = np.cumsum([array.size for array in parsed])[:-1]
        chunks = iter(np.split(utc_times(np.concatenate(parsed)), boundaries))
        arrays = [
            array if np.issubdtype(array.dtype, np.datetime64) else next(chunks) for array in arrays
        ]
    return [utc_times(array) for array in arrays]


def stitch_equity(frames: Sequence[tuple[object, object]]) -> tuple[np.ndarray, np.ndarray]:
    """Return (times as datetime64[ns] UTC, equity) of fold curves chained in time order.

    Each frame is one fold's (times, equity), equity starting near 1 within the fold. Folds are
    ordered by their first timestamp (fold ids need not sort chronologically) and each fold's
    curve is multiplied by the stitched equity at the end of the folds before it, so the result
    is the equity of one account that traded every test window in turn.
    """
    folds = []
    for times, equity in frames:
        fold_times = utc_times(times)
        fold_equity = np.asarray(equity, dtype=np.float64).reshape(-1)
        if fold_times.size != fold_equity.size:
            raise ValueError(
                f"an equity curve has {fold_times.size} times but {fold_equity.size} values; "
                "each fold's times and equity must be the same length"
            )
        if fold_equity.size > 0:
            folds.append((fold_times, fold_equity))
    folds.sort(key=lambda fold: fold[0][0])
    stitched_times, stitched_equity = [], []
    carried = 1.0
    for fold_times, fold_equity in folds:
        stitched_times.append(fold_times)
        stitched_equity.append(fold_equity * carried)
        carried *= fold_equity[-1]
    if not folds:
        return np.empty(0, dtype="datetime64[ns]"), np.empty(0)
    return np.concatenate(stitched_times), np.concatenate(stitched_equity)
