"""The sweep report's figures as PNG bytes, drawn on `matplotlib.figure.Figure` (no pyplot).

A Figure created directly holds no global state, so reports may be drawn from several threads.
Every grid shows at most `MAX_PANELS` panels; its subtitle names the panels left out.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from econ_obs.report.data import (
    BUY_AND_HOLD_SERIES,
    ReportData,
    fold_mean_null,
    seed_fold_means,
    stitch_equity,
)

MAX_PANELS = 24
DPI = 90
PANEL_SIZE_INCHES = (4.6, 3.2)
RANDOM_COLOUR = "#7f7f7f"
BUY_AND_HOLD_COLOUR = "#000000"
FIGURE_CAPTIONS = {
    "net_return_vs_cost": (
        "Mean net return over folds against the per-side cost: a variant is worth a look where "
        "its line stays above buy-and-hold, the random baseline and its own shaded matched-null "
        "band (placements of the same number of trades at random times)."
    ),
    "null_histograms": (
        "For each crypto and cost, where each variant's actual fold-mean net return (vertical "
        "line) falls in its matched null (outline) and in the random-seed null (grey): a line "
        "far to the right of both is unlikely to be luck."
    ),
    "equity_curves": (
        "Out-of-sample equity, each fold's test window chained onto the previous ones, beside "
        "buy-and-hold chained the same way: look for growth that is steady rather than one "
        "lucky fold."
    ),
}

Draw = Callable[[Axes, object], None]


def variant_colours(variants: Sequence[str]) -> dict[str, str]:
    """Return a fixed colour per variant (sorted order), shared by every figure."""
    palette = [f"C{index % 10}" for index in range(len(variants))]
    return dict(zip(sorted(variants), palette, strict=True))


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _panel_grid(
    keys: list[object], draw: Draw, title: str, note: str, handles: list, max_columns: int
) -> bytes:
    """Draw one panel per key (at most MAX_PANELS) with a shared legend below; return PNG."""
    shown, left_out = keys[:MAX_PANELS], keys[MAX_PANELS:]
    if left_out:
        names = ", ".join(str(key) for key in left_out[:6])
        more = "" if len(left_out) <= 6 else f" and {len(left_out) - 6} more"
        note = f"{note}\nshowing {len(shown)} of {len(keys)} panels; left out: {names}{more}"
    n_columns = max(1, min(max_columns, len(shown)))
    n_rows = max(1, -(-len(shown) // n_columns))
    width, height = PANEL_SIZE_INCHES
    figure = Figure(figsize=(width * n_columns, height * n_rows + 1.4), layout="constrained")
    figure.suptitle(f"{title}\n{note}" if note else title, fontsize=11)
    axes_grid = figure.subplots(n_rows, n_columns, squeeze=False).reshape(-1)
    if not shown:
        axes_grid[0].text(0.5, 0.5, "no data", ha="center", va="center")
        axes_grid[0].set_axis_off()
    for axes, key in zip(axes_grid, shown, strict=False):
        draw(axes, key)
        axes.grid(alpha=0.3)
        axes.tick_params(labelsize=8)
    for axes in axes_grid[len(shown) :]:
        axes.set_axis_off()
    if handles and shown:
        figure.legend(
            handles=handles,
            loc="outside lower center",
            ncol=min(len(handles), max(2, 2 * n_columns)),
            fontsize=9,
        )
    return _png(figure)


def net_return_vs_cost(data: ReportData, colours: dict[str, str]) -> bytes:
    """Return the PNG: per crypto, mean net return over folds against cost_bps, per variant."""
    rows = data.rows
    per_variant = rows.groupby(["crypto", "variant", "cost_bps"], as_index=False)[
        ["net_return", "matched_null_p05", "matched_null_p95"]
    ].mean()
    baselines = (
        rows.drop_duplicates(["crypto", "fold_id", "cost_bps"])
        .groupby(["crypto", "cost_bps"], as_index=False)[["buy_and_hold", "random_mean"]]
        .mean()
    )

    def draw(axes: Axes, crypto: object) -> None:
        base = baselines[baselines["crypto"] == crypto].sort_values("cost_bps")
        axes.plot(base["cost_bps"], base["buy_and_hold"], "--", color=BUY_AND_HOLD_COLOUR)
        axes.plot(base["cost_bps"], base["random_mean"], ":", color=RANDOM_COLOUR, lw=2)
        cell = per_variant[per_variant["crypto"] == crypto]
        for variant, line in cell.groupby("variant"):
            line = line.sort_values("cost_bps")
            colour = colours[str(variant)]
            axes.fill_between(
                line["cost_bps"],
                line["matched_null_p05"],
                line["matched_null_p95"],
                color=colour,
                alpha=0.07,
                lw=0,
            )
            for bound in ("matched_null_p05", "matched_null_p95"):
                axes.plot(line["cost_bps"], line[bound], "-", color=colour, lw=0.8, alpha=0.5)
            axes.plot(line["cost_bps"], line["net_return"], "o-", color=colour, ms=4)
        axes.axhline(0.0, color="#444444", lw=0.6)
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=1))
        axes.set_title(str(crypto), fontsize=10)
        axes.set_xlabel("cost per side (bps)", fontsize=9)
        axes.set_ylabel("mean net return over folds", fontsize=9)

    handles = [Line2D([], [], color=c, marker="o", ms=4, label=v) for v, c in colours.items()]
    handles += [
        Line2D([], [], ls="--", color=BUY_AND_HOLD_COLOUR, label="buy and hold"),
        Line2D([], [], ls=":", lw=2, color=RANDOM_COLOUR, label="random baseline (seed mean)"),
        Patch(fc="#dddddd", ec="#888888", label="variant's matched null p05-p95 (thin lines)"),
    ]
    note = "shaded band: each variant's matched-null 5th-95th percentile, averaged over folds"
    keys = sorted(rows["crypto"].unique().tolist())
    return _panel_grid(keys, draw, "Net return against cost", note, handles, max_columns=3)


def null_histograms(data: ReportData, colours: dict[str, str]) -> bytes:
    """Return the PNG: per (crypto, cost), the nulls of the fold-mean net return and the actual."""
    actual = data.rows.set_index(["crypto", "fold_id", "cost_bps", "variant"])["net_return"]

    def draw(axes: Axes, key: object) -> None:
        crypto, cost_bps = key  # type: ignore[misc]
        seeds = data.random_seeds
        seeds = seeds[(seeds["crypto"] == crypto) & (seeds["cost_bps"] == cost_bps)]
        random_null = seed_fold_means(seeds)
        nulls = data.matched_null
        nulls = nulls[(nulls["crypto"] == crypto) & (nulls["cost_bps"] == cost_bps)]
        matched: dict[object, np.ndarray] = {}
        for variant, cell in nulls.groupby("variant"):
            cell = cell.sort_values("fold_id")
            own = [
                actual.get((crypto, fold, cost_bps, variant), np.nan) for fold in cell["fold_id"]
            ]
            matched[variant] = fold_mean_null(list(cell["net_returns"]), own)
        cell_rows = data.rows[(data.rows["crypto"] == crypto) & (data.rows["cost_bps"] == cost_bps)]
        lines = cell_rows.groupby("variant")["net_return"].mean().to_dict()
        pooled = [random_null, *matched.values(), np.array(list(lines.values()))]
        finite = np.concatenate(pooled)
        finite = finite[np.isfinite(finite)]
        n_draws = max([random_null.size, *(draws.size for draws in matched.values())])
        n_bins = int(np.clip(2 * np.sqrt(n_draws), 8, 40))
        edges = np.histogram_bin_edges(finite, bins=n_bins) if finite.size else n_bins
        if random_null.size:
            axes.hist(random_null, bins=edges, density=True, color=RANDOM_COLOUR, alpha=0.35)
        empty = []
        for variant, draws in matched.items():
            if draws.size:
                colour = colours[str(variant)]
                axes.hist(draws, bins=edges, density=True, histtype="step", lw=1.5, color=colour)
            else:
                empty.append(str(variant))
        for variant, value in lines.items():
            axes.axvline(value, color=colours[str(variant)], lw=2)
        if empty:
            label = "no matched null: " + ", ".join(empty)
            axes.text(0.02, 0.97, label, fontsize=7, transform=axes.transAxes, va="top")
        axes.margins(x=0.06)
        axes.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=1))
        axes.set_yticks([])
        axes.set_title(f"{crypto} at {cost_bps:g} bps", fontsize=10)
        axes.set_xlabel("fold-mean net return", fontsize=9)

    handles = [Line2D([], [], color=c, lw=2, label=v) for v, c in colours.items()]
    handles.append(Patch(color=RANDOM_COLOUR, alpha=0.35, label="random-seed null"))
    note = "vertical line: variant's actual fold-mean net return; outline: its matched null"
    keys = sorted(data.rows[["crypto", "cost_bps"]].drop_duplicates().itertuples(index=False))
    keys = [tuple(key) for key in keys]
    return _panel_grid(keys, draw, "Nulls of the fold-mean net return", note, handles, 3)


def equity_curves(data: ReportData, colours: dict[str, str]) -> bytes:
    """Return the PNG: per (crypto, cost), each series' equity stitched across its folds."""
    equity = data.equity

    def draw(axes: Axes, key: object) -> None:
        crypto, cost_bps = key  # type: ignore[misc]
        cell = equity[(equity["crypto"] == crypto) & (equity["cost_bps"] == cost_bps)]
        lowest, highest = np.inf, 0.0
        for series, curves in cell.groupby("series"):
            times, values = stitch_equity(list(zip(curves["times"], curves["equity"], strict=True)))
            if values.size == 0:
                continue
            lowest, highest = min(lowest, values.min()), max(highest, values.max())
            if series == BUY_AND_HOLD_SERIES:
                axes.plot(times, values, "--", color=BUY_AND_HOLD_COLOUR, lw=1.2)
            else:
                axes.plot(times, values, color=colours.get(str(series), "C9"), lw=1.4)
        if lowest > 0 and highest / lowest > 3:
            axes.set_yscale("log")
        axes.axhline(1.0, color="#444444", lw=0.6)
        axes.set_title(f"{crypto} at {cost_bps:g} bps", fontsize=10)
        axes.set_ylabel("equity (start = 1)", fontsize=9)
        locator = AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))

    handles = [Line2D([], [], color=c, lw=1.4, label=v) for v, c in colours.items()]
    handles.append(Line2D([], [], ls="--", color=BUY_AND_HOLD_COLOUR, label="buy and hold"))
    note = "folds chained in time order; log scale where a panel's equity spans more than 3x"
    keys = sorted(equity[["crypto", "cost_bps"]].drop_duplicates().itertuples(index=False))
    keys = [tuple(key) for key in keys]
    return _panel_grid(keys, draw, "Out-of-sample equity", note, handles, max_columns=3)


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
