"""The windows a sweep's rows must carry: the folds the current data and config lay out.

A stored row records its train and test window and n_test_bars. Those must be what the sweep
would lay out *now* for the row's (crypto, fold_id): a row written from a stale feature slice
or under an earlier `folds` config keeps its key but not its window. `expected_windows` lays
the folds out with the same calls `backtest.build_feature_slices` makes (`require_bars`,
`walk_forward_folds`, `fold_gaps`), and `window_mismatches` compares stored rows with them,
field by field. No I/O: the caller passes a loader of bars and the rows it read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from econ_obs.core.folds import FoldConfig, FoldWindow, fold_gaps, walk_forward_folds
from econ_obs.core.market_data import MarketBars, MarketDataError, require_bars

# The window columns of finetune_results and finetune_baselines, named as in FoldWindow.
WINDOW_FIELDS = ("train_start", "train_end", "test_start", "test_end", "n_test_bars")


@dataclass(frozen=True)
class ExpectedWindows:
    """Each (crypto, fold_id)'s FoldWindow, and why a crypto's could not be laid out."""

    windows: Mapping[tuple[str, int], FoldWindow]
    problems: Mapping[str, str]  # crypto -> one line: its data did not load or its folds fail


def sweep_fold_windows(
    bars: MarketBars, fold_config: FoldConfig, max_gap_bars: int
) -> list[FoldWindow]:
    """Return the crypto's FoldWindows (oldest first) as the sweep lays them out; refuse
    (MarketDataError) too few bars or a test gap over max_gap_bars bars, as the sweep does."""
    require_bars(bars, fold_config.bars_needed)
    index = bars.frame.index
    windows = walk_forward_folds(index, fold_config, bars.crypto)
    for window in windows:
        fold_gaps(index, bars.bar_interval, window, bars.crypto, max_gap_bars)
    return windows


def expected_windows(
    cryptos: Iterable[str],
    load_bars: Callable[[str], MarketBars],
    fold_config: FoldConfig,
    max_gap_bars: int,
) -> ExpectedWindows:
    """Return every crypto's fold windows from the bars `load_bars` gives now; a crypto whose
    bars do not load or do not fit the folds gets a one-line problem instead."""
    windows: dict[tuple[str, int], FoldWindow] = {}
    problems: dict[str, str] = {}
    for crypto in cryptos:
        try:
            laid_out = sweep_fold_windows(load_bars(crypto), fold_config, max_gap_bars)
        except (MarketDataError, OSError) as error:
            lines = str(error).strip().splitlines()
            problems[crypto] = (
                "the current data gives no fold windows to compare with: "
                f"{type(error).__name__}: {lines[0] if lines else ''}"
            )
            continue
        windows.update(((crypto, window.fold_id), window) for window in laid_out)
    return ExpectedWindows(windows, problems)


def _utc(value: object) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _shown(field: str, value: object) -> object:
    return int(value) if field == "n_test_bars" else _utc(value).isoformat()


def _same(field: str, expected: object, stored: object) -> bool:
    if field == "n_test_bars":
        return int(expected) == int(stored)
    return _utc(expected) == _utc(stored)


def window_mismatches(stored: Iterable[Mapping], expected: ExpectedWindows) -> list[dict]:
    """Return one dict per stored window field that differs from its key's expected window
    (timestamps as UTC ISO strings), after one per crypto whose windows could not be laid out.

    Each stored row holds a key (crypto, fold_id, cost_bps, slippage_bps), its `table`, the
    WINDOW_FIELDS and `n_rows`, the rows of that table at that key carrying those values.
    """
    offending: list[dict] = [
        {"crypto": crypto, "problem": problem} for crypto, problem in expected.problems.items()
    ]
    for row in stored:
        key = {name: row[name] for name in ("crypto", "fold_id", "cost_bps", "slippage_bps")}
        window = expected.windows.get((row["crypto"], row["fold_id"]))
        if window is None:
            if row["crypto"] not in expected.problems:  # else reported once above
                offending.append({**key, "table": row["table"], "problem": "no window laid out"})
            continue
        for field in WINDOW_FIELDS:
            want, got = getattr(window, field), row[field]
            if not _same(field, want, got):
                offending.append(
                    {
                        **key,
                        "table": row["table"],
                        "field": field,
                        "expected": _shown(field, want),
                        "stored": _shown(field, got),
                        "n_rows": row["n_rows"],
                    }
                )
    return offending
