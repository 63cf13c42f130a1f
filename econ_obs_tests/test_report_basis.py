"""The report's cost basis is (cost_bps, slippage_bps): with two slippages at one cost, every
figure panel and every roll-up row is one basis, never an average of two or the baseline of
one of them. Pure: a synthetic ReportData, each panel drawn on real matplotlib Axes.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from econ_obs.report import figures as figures_module
from econ_obs.report import render_html
from econ_obs.report.data import basis_label
from econ_obs.report.figures import (
    equity_curves,
    net_return_vs_cost,
    null_histograms,
    variant_colours,
)
from econ_obs_tests.test_report_html import COSTS_BPS, N_BARS, sample_report_data

SLIPPAGES_BPS = (0.0, 5.0)
CRYPTOS = ("BTC", "ETH")
VARIANTS = ("momentum", "mean_reversion")
N_FOLDS = 3


@pytest.fixture(scope="module")
def data():
    return sample_report_data(variants=VARIANTS, cryptos=CRYPTOS, slippages_bps=SLIPPAGES_BPS)


def _drawn(monkeypatch, figure, data) -> dict[tuple, Axes]:
    """Draw `figure`'s panels on plain Axes instead of a PNG; return them by panel key."""
    panels: dict[tuple, Axes] = {}

    def draw_each(keys, draw, *args, **kwargs) -> bytes:
        for key in keys:
            axes = Figure().add_subplot()
            draw(axes, key)
            panels[key] = axes
        return b""

    monkeypatch.setattr(figures_module, "panel_grid", draw_each)
    figure(data, variant_colours(VARIANTS))
    return panels


def test_basis_label_names_fee_and_slippage():
    assert basis_label(10.0, 5.0) == "10+5 bps"
    assert basis_label(10.0, 2.5) == "10+2.5 bps"
    assert basis_label(30.0, 0.0) == "30 bps"


def test_each_null_histogram_is_one_cost_basis(monkeypatch, data):
    panels = _drawn(monkeypatch, null_histograms, data)

    assert set(panels) == {
        (crypto, cost, slip) for crypto in CRYPTOS for cost in COSTS_BPS for slip in SLIPPAGES_BPS
    }
    colours = variant_colours(VARIANTS)
    rows = data.rows
    for (crypto, cost, slip), axes in panels.items():
        assert axes.get_title() == f"{crypto} at {basis_label(cost, slip)}"
        cell = rows[(rows.crypto == crypto) & (rows.cost_bps == cost) & (rows.slippage_bps == slip)]
        means = cell.groupby("variant")["net_return"].mean()
        vertical = {
            line.get_color(): line.get_xdata()[0]
            for line in axes.get_lines()
            if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]
        }
        for variant in VARIANTS:
            assert vertical[colours[variant]] == pytest.approx(means[variant])


def test_each_equity_panel_chains_the_folds_of_one_cost_basis(monkeypatch, data):
    panels = _drawn(monkeypatch, equity_curves, data)

    assert len(panels) == len(CRYPTOS) * len(COSTS_BPS) * len(SLIPPAGES_BPS)
    for (crypto, cost, slip), axes in panels.items():
        assert axes.get_title() == f"{crypto} at {basis_label(cost, slip)}"
        curves = [line for line in axes.get_lines() if len(line.get_xdata()) > 2]
        assert len(curves) == len(VARIANTS) + 1  # and buy and hold
        assert all(len(line.get_xdata()) == N_FOLDS * N_BARS for line in curves)


def test_net_return_against_cost_has_a_panel_per_slippage_with_its_own_baseline(monkeypatch, data):
    panels = _drawn(monkeypatch, net_return_vs_cost, data)

    assert set(panels) == {(crypto, slip) for crypto in CRYPTOS for slip in SLIPPAGES_BPS}
    rows = data.rows
    for (crypto, slip), axes in panels.items():
        assert f"slippage {slip:g} bps" in axes.get_title()
        cell = rows[(rows.crypto == crypto) & (rows.slippage_bps == slip)]
        buy_and_hold = (
            cell.drop_duplicates(["fold_id", "cost_bps"]).groupby("cost_bps")["buy_and_hold"].mean()
        )
        dashed = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
        assert len(dashed) == 1
        np.testing.assert_allclose(dashed[0].get_ydata(), buy_and_hold.to_numpy())
        np.testing.assert_allclose(dashed[0].get_xdata(), list(COSTS_BPS))


def test_the_html_rollup_has_a_slippage_column_and_a_row_per_basis(data):
    page = render_html(data, figures={})

    rollup = page.split("<h2>Figures</h2>")[0].split("<tbody>")[1]
    header = re.findall(r"<th(?: [^>]*)?>([^<]*)</th>", page.split("<tbody>")[0])
    assert "slippage (bps)" in header
    rows = [
        re.findall(r"<td(?: [^>]*)?>([^<]*)</td>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", rollup)
    ]
    keys = {tuple(row[: header.index("slippage (bps)") + 1]) for row in rows}
    assert len(rows) == len(keys) == len(CRYPTOS) * len(VARIANTS) * len(COSTS_BPS) * 2
    assert {key[-1] for key in keys} == {"0", "5"}
    assert "2 cost(s), 2 slippage(s)" in page
