"""The sweep report as one self-contained HTML file: no external CSS, JS, fonts or images.

Every piece of text from the data is escaped with `html.escape`; figures are embedded as
`data:image/png;base64,...` URIs so the file can be mailed or attached as it is.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from econ_obs.report.data import ReportData
from econ_obs.report.figures import figure_caption, report_figures

MISSING = "—"
Formatter = Callable[[object], str]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1480px; padding: 0 16px; color: #1d1d1f; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; }
.meta, figcaption, .legend { color: #555; font-size: 0.92em; }
table { border-collapse: collapse; font-size: 0.78em; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 5px; text-align: right;
         white-space: nowrap; }
th { background: #f4f4f6; position: sticky; top: 0; white-space: normal; vertical-align: bottom;
     max-width: 7em; }
td.text, th.text { text-align: left; }
figure { margin: 1.4em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
.verdict-good { background: #d9f2dc; } .verdict-bad { background: #f9dcdc; }
.verdict-mixed { background: #fbefcc; } .verdict-other { background: #eeeeee; }
.scroll { overflow-x: auto; }
"""


def _number(value: object) -> float | None:
    """Return `value` as a float, or None for None/NaN/NaT/anything non-numeric."""
    if value is None or value is pd.NaT:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def format_percent(value: object, decimals: int = 2) -> str:
    """Return a fraction as a signed percent ("+1.23%"), or "—" when missing."""
    number = _number(value)
    return MISSING if number is None else f"{number * 100:+.{decimals}f}%"


def format_share(value: object) -> str:
    """Return a share in [0, 1] as an unsigned whole percent ("67%"), or "—"."""
    number = _number(value)
    return MISSING if number is None else f"{number * 100:.0f}%"


def format_significant(value: object) -> str:
    """Return a p-value or probability with 3 significant digits, or "—"."""
    number = _number(value)
    return MISSING if number is None else f"{number:.3g}"


def format_fixed(value: object, decimals: int = 2) -> str:
    """Return a number with fixed decimals (Sharpe, t-stat), or "—"."""
    number = _number(value)
    return MISSING if number is None else f"{number:.{decimals}f}"


def format_bps(value: object) -> str:
    """Return a cost in basis points ("12.5 bps"; "∞ bps" when no cost breaks even), or "—"."""
    number = _number(value)
    if number is None:
        return MISSING
    if math.isinf(number):
        return ("" if number > 0 else "-") + "∞ bps"
    return f"{number:.1f} bps"


def format_plain(value: object) -> str:
    """Return a count or a cost grid value without trailing zeros, or "—"."""
    number = _number(value)
    if number is None:
        return MISSING if value is None or isinstance(value, float) else str(value)
    return f"{number:g}"


def format_time(value: object) -> str:
    """Return a timestamp as "YYYY-MM-DD" (with "HH:MM" when not midnight, UTC), or "—"."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC")
    has_clock = (stamp.hour, stamp.minute) != (0, 0)
    return stamp.strftime("%Y-%m-%d %H:%M" if has_clock else "%Y-%m-%d")


def verdict_class(verdict: object) -> str:
    """Return the CSS class colouring a verdict: good, bad, mixed or other, read from its words.

    Negations are read first, so "no edge" and "not significant" are bad, not good.
    """
    text = f" {str(verdict).lower()} "
    words = text.replace("-", " ").replace("_", " ")
    if any(word in words for word in (" no ", " not ", "fail", "worse", "loses", "negative")):
        return "verdict-bad"
    if any(word in words for word in ("inconclusive", "mixed", "weak", "unclear", "insufficient")):
        return "verdict-mixed"
    if any(word in words for word in ("edge", "beat", "pass", "significant", "robust", "positive")):
        return "verdict-good"
    return "verdict-other"


ROLLUP_TABLE: list[tuple[str, str, Formatter]] = [
    ("crypto", "crypto", str),
    ("variant", "variant", str),
    ("cost_bps", "cost (bps)", format_plain),
    ("slippage_bps", "slippage (bps)", format_plain),
    ("n_folds", "folds", format_plain),
    ("mean_net_return", "mean net return", format_percent),
    ("t_stat", "t-stat", format_fixed),
    ("share_positive", "folds > 0", format_share),
    ("share_significant", "folds significant", format_share),
    ("verdict", "verdict", str),
]
ROW_TABLE: list[tuple[str, str, Formatter]] = [
    ("crypto", "crypto", str),
    ("variant", "variant", str),
    ("cost_bps", "cost (bps)", format_plain),
    ("slippage_bps", "slippage (bps)", format_plain),
    ("fold_id", "fold", str),
    ("test_start", "test start", format_time),
    ("test_end", "test end", format_time),
    ("net_return", "net return", format_percent),
    ("n_trades", "trades", format_plain),
    ("exposure", "exposure", lambda value: format_percent(value, 1).lstrip("+")),
    ("sharpe", "Sharpe", format_fixed),
    ("buy_and_hold", "buy & hold", format_percent),
    ("random_mean", "random mean", format_percent),
    ("matched_null_mean", "matched null mean", format_percent),
    ("matched_null_p05", "matched p05", format_percent),
    ("matched_null_p95", "matched p95", format_percent),
    ("p_value_matched", "p (matched)", format_significant),
    ("p_value_random", "p (random)", format_significant),
    ("deflated_sharpe", "deflated Sharpe", format_significant),
    ("breakeven_cost_bps", "break-even", format_bps),
]
_TEXT_COLUMNS = {"crypto", "variant", "fold_id", "verdict"}


def html_table(frame: pd.DataFrame, columns: list[tuple[str, str, Formatter]]) -> str:
    """Return an HTML table of `frame`: one <tr> per row, each cell formatted and escaped."""
    header = "".join(
        f'<th class="{"text" if key in _TEXT_COLUMNS else "num"}">{html.escape(label)}</th>'
        for key, label, _ in columns
    )
    body = []
    for record in frame.to_dict("records"):
        cells = []
        for key, _, formatter in columns:
            value = record.get(key)
            text = MISSING if value is None else formatter(value)
            css = "text" if key in _TEXT_COLUMNS else "num"
            if key == "verdict":
                css += " " + verdict_class(value)
            cells.append(f'<td class="{css}">{html.escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{header}</tr></thead>'
        f"<tbody>\n{chr(10).join(body)}\n</tbody></table></div>"
    )


def png_data_uri(png: bytes) -> str:
    """Return `png` as a data URI usable in <img src> or markdown."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figures_markdown(figures: dict[str, bytes]) -> str:
    """Return markdown with each figure's caption and the figure embedded as a data URI."""
    parts = []
    for name, png in figures.items():
        parts.append(f"**{name}**: {figure_caption(name)}\n\n![{name}]({png_data_uri(png)})")
    return "\n\n".join(parts)


def render_html(data: ReportData, figures: dict[str, bytes] | None = None) -> str:
    """Return the report as one self-contained HTML document (figures drawn when not given)."""
    figures = report_figures(data) if figures is None else figures
    title = f"Sweep report: {data.strategy} ({data.run_id})"
    basis = ["cost_bps", "slippage_bps"]
    rows = data.rows.sort_values(["crypto", "variant", *basis, "test_start", "fold_id"])
    rollup = data.rollup.sort_values(["crypto", "variant", *basis])
    counts = (
        f"{data.rows['crypto'].nunique()} crypto(s), {data.rows['fold_id'].nunique()} fold(s), "
        f"{data.rows['cost_bps'].nunique()} cost(s), {data.rows['slippage_bps'].nunique()} "
        f"slippage(s), {data.rows['variant'].nunique()} variant(s), {len(data.rows)} model rows"
    )
    figure_blocks = "\n".join(
        f'<figure><img alt="{html.escape(name)}" src="{png_data_uri(png)}">'
        f"<figcaption><b>{html.escape(name)}</b>: {html.escape(figure_caption(name))}"
        "</figcaption></figure>"
        for name, png in figures.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">run <code>{html.escape(data.run_id)}</code> · strategy
<code>{html.escape(data.strategy)}</code> · {html.escape(counts)}. Returns are net of costs,
out of sample, per fold; "—" marks a value that does not exist (e.g. a p-value with no trades).</p>
<h2>Roll-up per crypto, variant and cost basis (fee + slippage)</h2>
<p class="legend">Verdict colours: <span class="verdict-good">edge</span>
<span class="verdict-mixed">mixed</span> <span class="verdict-bad">no edge</span>
<span class="verdict-other">other</span>, read from the verdict's words.</p>
{html_table(rollup, ROLLUP_TABLE)}
<h2>Figures</h2>
{figure_blocks}
<h2>Every model row</h2>
<p class="meta">One row per crypto, variant, cost, slippage and fold; every variant is listed,
not only the best one per cell.</p>
{html_table(rows, ROW_TABLE)}
</body></html>
"""


def write_html_report(
    data: ReportData, path: Path, figures: dict[str, bytes] | None = None
) -> Path:
    """Write the report to `path` (creating its parent folders) and return `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data, figures), encoding="utf-8")
    return path
