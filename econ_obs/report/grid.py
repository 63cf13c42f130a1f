"""Panel grids for the report's figures: fixed margins, frozen ticks, one PNG per grid.

Drawing runs inside every sweep, so it must stay cheap. What matplotlib spends time on is laying
out text: a layout engine draws the figure twice and re-measures every tick label, and a
locator asked again on each measurement (dates, log scale) multiplies that. So margins are
fixed in inches from the grid's size and every axis gets its ticks computed once.
"""

from __future__ import annotations

import gc
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

# matplotlib is imported inside the functions that draw: importing it costs about half a second,
# and every process that loads the Dagster code location imports this module.
if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure
    from matplotlib.ticker import Formatter

Draw = Callable[["Axes", object], None]
MAX_PANELS = 24
DPI = 90
PANEL_SIZE_INCHES = (4.6, 3.2)
# Fixed margins, in inches, sized for 8-pt tick labels, 9-pt axis labels and 10-pt panel titles.
LEFT_INCHES = 0.85  # y tick labels and the y label of the first column
RIGHT_INCHES = 0.25
COLUMN_GAP_INCHES = 0.7  # y tick labels of the panel to the right
ROW_GAP_INCHES = 0.8  # x tick labels (and x label) of one panel, title of the one below
PANEL_TITLE_INCHES = 0.3
PANEL_BOTTOM_INCHES = 0.5  # x tick labels and x label of the bottom row
TEXT_LINE_INCHES = 0.22  # one line of the 11-pt figure title or of the 9-pt legend
MAX_TICKS = 5  # per axis; every tick is a handful of artists to create and a label to render


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # zlib level 3 instead of 6: a third faster to encode for files under a tenth bigger.
    figure.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 3})
    return buffer.getvalue()


def freeze_ticks(axis: Axis, ticks: np.ndarray, formatter: Formatter) -> None:
    """Give `axis` fixed tick positions (inside its view) so no locator runs again at draw."""
    from matplotlib.ticker import FixedLocator, NullLocator

    low, high = sorted(axis.get_view_interval())
    inside = ticks[
        (ticks >= low - 1e-9 * abs(high - low)) & (ticks <= high + 1e-9 * abs(high - low))
    ]
    axis.set_major_locator(FixedLocator(inside))
    axis.set_major_formatter(formatter)
    axis.set_minor_locator(NullLocator())


def freeze_linear_ticks(axis: Axis, formatter: Formatter) -> None:
    from matplotlib.ticker import MaxNLocator

    low, high = axis.get_view_interval()
    freeze_ticks(axis, MaxNLocator(MAX_TICKS - 1).tick_values(low, high), formatter)


def panel_title(axes: Axes, text: str) -> None:
    # An explicit y keeps matplotlib from measuring every tick label to place the title.
    axes.set_title(text, fontsize=10, y=1.0)


def _grid_margins(
    figure: Figure, n_rows: int, n_columns: int, top_inches: float, bottom_inches: float
) -> tuple[dict[str, float], tuple[float, float]]:
    """Return `GridSpec` keyword arguments for fixed-inch margins, and one panel's (w, h) inches."""
    width, height = figure.get_size_inches()
    top_inches += PANEL_TITLE_INCHES
    bottom_inches += PANEL_BOTTOM_INCHES
    panel_width = (width - LEFT_INCHES - RIGHT_INCHES - (n_columns - 1) * COLUMN_GAP_INCHES) / (
        n_columns
    )
    panel_height = (height - top_inches - bottom_inches - (n_rows - 1) * ROW_GAP_INCHES) / n_rows
    # GridSpec takes the gaps as fractions of the average panel's width and height.
    return {
        "left": LEFT_INCHES / width,
        "right": 1 - RIGHT_INCHES / width,
        "top": 1 - top_inches / height,
        "bottom": bottom_inches / height,
        "wspace": COLUMN_GAP_INCHES / panel_width,
        "hspace": ROW_GAP_INCHES / panel_height,
    }, (panel_width, panel_height)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one figure is built and saved.

    A figure allocates tens of thousands of small objects (artists, transforms, weak references),
    each batch of which would trigger a collection walking the whole process's heap: a sixth of
    the drawing time on the benchmark sweep. The figure's own garbage waits for the next
    collection after the pause, so memory grows by one figure at most. Safe from several threads:
    the collector is enabled again when the pause that found it enabled ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def panel_grid(
    keys: list[object],
    draw: Draw,
    title: str,
    note: str,
    handles: list,
    labels: tuple[str, str],
    max_columns: int = 3,
) -> bytes:
    """Draw one panel per key (at most MAX_PANELS) with a shared legend below; return PNG.

    `labels` (x, y) go on the outer panels only: the bottom one of each column and the left one
    of each row, as every panel's axes mean the same.
    """
    from matplotlib.figure import Figure

    # A figure's many small objects would trigger cyclic collections: paused while it is
    # built and saved (cyclic_gc_paused).
    with cyclic_gc_paused():
        shown, left_out = keys[:MAX_PANELS], keys[MAX_PANELS:]
        if left_out:
            names = ", ".join(str(key) for key in left_out[:6])
            more = "" if len(left_out) <= 6 else f" and {len(left_out) - 6} more"
            note = f"{note}\nshowing {len(shown)} of {len(keys)} panels; left out: {names}{more}"
        n_columns = max(1, min(max_columns, len(shown)))
        n_rows = max(1, -(-len(shown) // n_columns))
        heading = f"{title}\n{note}" if note else title
        legend_columns = min(len(handles), max(2, 2 * n_columns)) if handles and shown else 1
        legend_rows = -(-len(handles) // legend_columns) if handles and shown else 0
        top_inches = 0.1 + TEXT_LINE_INCHES * (heading.count("\n") + 1)
        bottom_inches = 0.1 + TEXT_LINE_INCHES * 1.3 * legend_rows
        width, height = PANEL_SIZE_INCHES
        figure = Figure(figsize=(width * n_columns, height * n_rows + top_inches + bottom_inches))
        figure.suptitle(heading, fontsize=11, y=1 - 0.08 / figure.get_figheight(), va="top")
        margins, (panel_width, panel_height) = _grid_margins(
            figure, n_rows, n_columns, top_inches, bottom_inches
        )
        grid = figure.add_gridspec(n_rows, n_columns, **margins)
        if not shown:
            axes = figure.add_subplot(grid[0, 0])
            axes.text(0.5, 0.5, "no data", ha="center", va="center")
            axes.set_axis_off()
        x_label, y_label = labels
        for index, key in enumerate(shown):
            row, column = divmod(index, n_columns)
            axes = figure.add_subplot(grid[row, column])
            axes.grid(alpha=0.3)
            axes.tick_params(labelsize=8)
            draw(axes, key)
            # Placed at fixed offsets, on every panel, labelled or not: matplotlib would
            # otherwise measure every tick label to place them. The margins leave room for
            # labels like "-40.0%".
            axes.xaxis.set_label_coords(0.5, -0.22 / panel_height)
            axes.yaxis.set_label_coords(-(LEFT_INCHES - 0.2) / panel_width, 0.5)
            if index + n_columns >= len(shown) and x_label:
                axes.set_xlabel(x_label, fontsize=9)
            if column == 0 and y_label:
                axes.set_ylabel(y_label, fontsize=9)
        if handles and shown:
            figure.legend(
                handles=handles,
                loc="lower center",
                bbox_to_anchor=(0.5, 0.05 / figure.get_figheight()),
                ncol=legend_columns,
                fontsize=9,
            )
        return png(figure)


def freeze_date_ticks(axis: Axis) -> None:
    """Ask the date locator once for this view, then keep its ticks and a concise format."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=MAX_TICKS)
    locator.set_axis(axis)
    freeze_ticks(axis, np.asarray(locator()), ConciseDateFormatter(locator))
