"""The sweep report's figures as PNG bytes, drawn on `matplotlib.figure.Figure` (no pyplot).

A Figure created directly holds no global state, so reports may be drawn from several threads.
Every grid shows at most `MAX_PANELS` panels; its subtitle names the panels left out.

The figures are drawn inside every sweep, so drawing must stay cheap: `grid` lays panels out
with fixed margins and frozen ticks, each histogram is one filled step area or one outline
rather than a rectangle per bin, and matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from econ_obs.report.data import (
    BASIS_COLUMNS,
    BUY_AND_HOLD_SERIES,
    ReportData,
    basis_label,
    fold_mean_null,
    seed_fold_means,
    stitch_equity,
    utc_times_per_row,
)
from econ_obs.report.grid import (
    MAX_TICKS,
    freeze_date_ticks,
    freeze_linear_ticks,
    freeze_ticks,
    panel_grid,
    panel_title,
)

# matplotlib is imported inside the functions that draw: importing it costs about half a second,
# and every process that loads the Dagster code location imports this module.
if TYPE_CHECKING:
    from matplotlib.axes import Axes

RANDOM_COLOUR = "#7f7f7f"
BUY_AND_HOLD_COLOUR = "#000000"
FIGURE_CAPTIONS = {
    "net_return_vs_cost": (
        "Mean net return over folds against the per-side fee, one panel per crypto and slippage: "
        "a variant is worth a look where its line stays above buy-and-hold, the random baseline "
        "and its own shaded matched-null band (placements of the same number of trades at "
        "random times)."
    ),
    "null_histograms": (
        "For each crypto and cost basis (fee + slippage per side, e.g. 10+5 bps), where each "
        "variant's actual fold-mean net return (vertical line) falls in its matched null "
        "(outline) and in the random-seed null (grey): a line far to the right of both is "
        "unlikely to be luck."
    ),
    "equity_curves": (
        "Out-of-sample equity per crypto and cost basis, each fold's test window chained onto "
        "the previous ones, beside buy-and-hold chained the same way: look for growth that is "
        "steady rather than one lucky fold."
    ),
}


def variant_colours(variants: Sequence[str]) -> dict[str, str]:
    """Return a fixed colour per variant (sorted order), shared by every figure."""
    from matplotlib.colors import to_hex

    # Hex, not "C0": matplotlib re-resolves a cycle colour on every use.
    palette = [to_hex(f"C{index % 10}") for index in range(len(variants))]
    return dict(zip(sorted(variants), palette, strict=True))


def _cell_keys(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Return the sorted distinct values of `columns` in `frame`, one tuple per figure panel."""
    return sorted(tuple(key) for key in frame[columns].drop_duplicates().itertuples(index=False))


def net_return_vs_cost(data: ReportData, colours: dict[str, str]) -> bytes:
    """Return the PNG: per (crypto, slippage), mean net return over folds against cost_bps, per
    variant; a panel never mixes two slippages."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import PercentFormatter, StrMethodFormatter

    rows = data.rows
    panel = ["crypto", "slippage_bps"]
    per_variant = rows.groupby([*panel, "variant", "cost_bps"], as_index=False)[
        ["net_return", "matched_null_p05", "matched_null_p95"]
    ].mean()
    baselines = (
        rows.drop_duplicates(["crypto", "fold_id", *BASIS_COLUMNS])
        .groupby([*panel, "cost_bps"], as_index=False)[["buy_and_hold", "random_mean"]]
        .mean()
    )
    variant_lines = {key: cell for key, cell in per_variant.groupby(panel, sort=False)}
    baseline_lines = {key: cell for key, cell in baselines.groupby(panel, sort=False)}
    percent = PercentFormatter(xmax=1.0, decimals=1)

    def draw(axes: Axes, key: object) -> None:
        crypto, slippage_bps = key  # type: ignore[misc]
        base = baseline_lines[key].sort_values("cost_bps")
        axes.plot(base["cost_bps"], base["buy_and_hold"], "--", color=BUY_AND_HOLD_COLOUR)
        axes.plot(base["cost_bps"], base["random_mean"], ":", color=RANDOM_COLOUR, lw=2)
        for variant, line in variant_lines[key].groupby("variant", sort=False):
            line = line.sort_values("cost_bps")
            colour = colours[str(variant)]
            costs = line["cost_bps"].to_numpy()
            low, high = line["matched_null_p05"].to_numpy(), line["matched_null_p95"].to_numpy()
            axes.fill_between(costs, low, high, color=colour, alpha=0.07, lw=0)
            # Both band edges as one line: NaN breaks it between the lower and upper edge.
            edges_x = np.concatenate([costs, [np.nan], costs])
            edges_y = np.concatenate([low, [np.nan], high])
            axes.plot(edges_x, edges_y, "-", color=colour, lw=0.8, alpha=0.5)
            axes.plot(costs, line["net_return"].to_numpy(), "o-", color=colour, ms=4)
        axes.axhline(0.0, color="#444444", lw=0.6)
        panel_title(axes, f"{crypto}, slippage {slippage_bps:g} bps per side")
        costs = np.unique(base["cost_bps"].to_numpy())
        if 0 < costs.size <= MAX_TICKS:
            freeze_ticks(axes.xaxis, costs, StrMethodFormatter("{x:g}"))
        else:
            freeze_linear_ticks(axes.xaxis, StrMethodFormatter("{x:g}"))
        freeze_linear_ticks(axes.yaxis, percent)

    handles = [Line2D([], [], color=c, marker="o", ms=4, label=v) for v, c in colours.items()]
    handles += [
        Line2D([], [], ls="--", color=BUY_AND_HOLD_COLOUR, label="buy and hold"),
        Line2D([], [], ls=":", lw=2, color=RANDOM_COLOUR, label="random baseline (seed mean)"),
        Patch(fc="#dddddd", ec="#888888", label="variant's matched null p05-p95 (thin lines)"),
    ]
    note = "shaded band: each variant's matched-null 5th-95th percentile, averaged over folds"
    keys = _cell_keys(rows, panel)
    labels = ("fee per side, cost_bps (bps)", "mean net return over folds")
    return panel_grid(keys, draw, "Net return against cost", note, handles, labels)


def _outline(counts: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (x, y) of a histogram's outline as one line: cheaper to draw than a patch."""
    return np.repeat(edges, 2), np.concatenate([[0.0], np.repeat(counts, 2), [0.0]])


def _matched_fold_mean_nulls(data: ReportData) -> dict[tuple, dict[object, np.ndarray]]:
    """Return {(crypto, cost_bps, slippage_bps): {variant: fold_mean_null of its folds}}, variants
    sorted and each variant's folds in fold order, with the rows' own net returns for the folds
    whose null is empty."""
    key_columns = ["crypto", "fold_id", *BASIS_COLUMNS, "variant"]
    # A dict: a lookup in a MultiIndex costs far more, and there is one per fold and variant.
    actual = data.rows.set_index(key_columns)["net_return"].to_dict()
    ordered = data.matched_null.sort_values(["crypto", *BASIS_COLUMNS, "variant", "fold_id"])
    folds: dict[tuple, dict[object, tuple[list, list]]] = {}
    for crypto, fold_id, cost_bps, slippage_bps, variant, net_returns in zip(
        *(ordered[column] for column in [*key_columns, "net_returns"]), strict=True
    ):
        nulls, own = folds.setdefault((crypto, cost_bps, slippage_bps), {}).setdefault(
            variant, ([], [])
        )
        nulls.append(net_returns)
        own.append(actual.get((crypto, fold_id, cost_bps, slippage_bps, variant), np.nan))
    return {
        cell: {variant: fold_mean_null(nulls, own) for variant, (nulls, own) in variants.items()}
        for cell, variants in folds.items()
    }


def null_histograms(data: ReportData, colours: dict[str, str]) -> bytes:
    """Return the PNG: per (crypto, cost basis), the nulls of the fold-mean net return and the
    actual."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import PercentFormatter

    cell_keys = ["crypto", *BASIS_COLUMNS]
    seed_cells = {key: cell for key, cell in data.random_seeds.groupby(cell_keys, sort=False)}
    matched_cells = _matched_fold_mean_nulls(data)
    line_cells: dict[tuple, dict[object, float]] = {}
    mean_returns = data.rows.groupby([*cell_keys, "variant"])["net_return"].mean()
    for (*key, variant), mean_return in mean_returns.items():
        line_cells.setdefault(tuple(key), {})[variant] = mean_return
    percent = PercentFormatter(xmax=1.0, decimals=1)

    def draw(axes: Axes, key: object) -> None:
        crypto, cost_bps, slippage_bps = key  # type: ignore[misc]
        random_null = seed_fold_means(seed_cells.get(key, data.random_seeds.iloc[:0]))
        matched = matched_cells.get(key, {})  # type: ignore[call-overload]
        lines = line_cells[key]  # type: ignore[index]
        pooled = [random_null, *matched.values(), np.array(list(lines.values()))]
        finite = np.concatenate(pooled)
        finite = finite[np.isfinite(finite)]
        n_draws = max([random_null.size, *(draws.size for draws in matched.values())])
        n_bins = int(np.clip(2 * np.sqrt(n_draws), 8, 40))
        edges = np.histogram_bin_edges(finite, bins=n_bins) if finite.size else np.arange(2.0)
        if random_null.size:
            counts, _ = np.histogram(random_null, bins=edges, density=True)
            heights = np.append(counts, counts[-1])
            axes.fill_between(edges, heights, step="post", color=RANDOM_COLOUR, alpha=0.35, lw=0)
        empty = []
        for variant, draws in matched.items():
            if draws.size:
                counts, _ = np.histogram(draws, bins=edges, density=True)
                axes.plot(*_outline(counts, edges), lw=1.5, color=colours[str(variant)])
            else:
                empty.append(str(variant))
        for variant, value in lines.items():
            axes.axvline(value, color=colours[str(variant)], lw=2)
        if empty:
            label = "no matched null: " + ", ".join(empty)
            axes.text(0.02, 0.97, label, fontsize=7, transform=axes.transAxes, va="top")
        axes.margins(x=0.06)
        panel_title(axes, f"{crypto} at {basis_label(cost_bps, slippage_bps)}")
        axes.set_ylim(bottom=0)
        freeze_linear_ticks(axes.xaxis, percent)
        axes.set_yticks([])

    handles = [Line2D([], [], color=c, lw=2, label=v) for v, c in colours.items()]
    handles.append(Patch(color=RANDOM_COLOUR, alpha=0.35, label="random-seed null"))
    note = "vertical line: variant's actual fold-mean net return; outline: its matched null"
    keys = _cell_keys(data.rows, cell_keys)
    labels = ("fold-mean net return", "")
    return panel_grid(keys, draw, "Nulls of the fold-mean net return", note, handles, labels)


def equity_curves(data: ReportData, colours: dict[str, str]) -> bytes:
    """Return the PNG: per (crypto, cost basis), each series' equity stitched across its folds."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogLocator, StrMethodFormatter

    equity = data.equity.copy()
    equity["times"] = pd.Series(
        utc_times_per_row(equity["times"]), index=equity.index, dtype=object
    )
    cell_keys = ["crypto", *BASIS_COLUMNS]
    cells = {key: cell for key, cell in equity.groupby(cell_keys, sort=False)}
    plain = StrMethodFormatter("{x:g}")

    def draw(axes: Axes, key: object) -> None:
        crypto, cost_bps, slippage_bps = key  # type: ignore[misc]
        lowest, highest = np.inf, 0.0
        for series, curves in cells[key].groupby("series"):
            times, values = stitch_equity(list(zip(curves["times"], curves["equity"], strict=True)))
            if values.size == 0:
                continue
            lowest, highest = min(lowest, values.min()), max(highest, values.max())
            if series == BUY_AND_HOLD_SERIES:
                axes.plot(times, values, "--", color=BUY_AND_HOLD_COLOUR, lw=1.2)
            else:
                axes.plot(times, values, color=colours.get(str(series), "C9"), lw=1.4)
        axes.axhline(1.0, color="#444444", lw=0.6)
        panel_title(axes, f"{crypto} at {basis_label(cost_bps, slippage_bps)}")
        freeze_date_ticks(axes.xaxis)
        if lowest > 0 and highest / lowest > 3:
            axes.set_yscale("log")
            low, high = axes.get_ylim()
            # Under a decade of range, 1-2-5 alone leaves too few ticks to read a value from.
            narrow = np.log10(high / low) < 0.8
            subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if narrow else (1.0, 2.0, 5.0)
            ticks = LogLocator(subs=subs).tick_values(low, high)
            freeze_ticks(axes.yaxis, ticks, plain)
        else:
            freeze_linear_ticks(axes.yaxis, plain)

    handles = [Line2D([], [], color=c, lw=1.4, label=v) for v, c in colours.items()]
    handles.append(Line2D([], [], ls="--", color=BUY_AND_HOLD_COLOUR, label="buy and hold"))
    note = "folds chained in time order; log scale where a panel's equity spans more than 3x"
    keys = _cell_keys(data.equity, cell_keys)
    labels = ("", "equity (start = 1)")
    return panel_grid(keys, draw, "Out-of-sample equity", note, handles, labels)


def report_figures(data: ReportData) -> dict[str, bytes]:
    """Return PNG bytes per figure name, in the order the report shows them."""
    variants = sorted(
        set(data.rows["variant"].astype(str))
        | {str(s) for s in data.equity["series"] if s != BUY_AND_HOLD_SERIES}
    )
    colours = variant_colours(variants)
    return {
        "net_return_vs_cost": net_return_vs_cost(data, colours),
        "null_histograms": null_histograms(data, colours),
        "equity_curves": equity_curves(data, colours),
    }


def figure_caption(name: str) -> str:
    """Return the one-sentence caption that says what to read in figure `name`."""
    return FIGURE_CAPTIONS.get(name, name.replace("_", " "))
