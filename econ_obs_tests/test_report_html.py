"""The sweep report: figures are PNGs, the HTML is self-contained and escaped, and the two
reductions the figures rest on (stitched equity, the null of the fold mean) are hand-checked.

Pure: a small synthetic ReportData, no database.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from econ_obs.report import (
    ReportData,
    figures_markdown,
    fold_mean_null,
    render_html,
    report_figures,
    seed_fold_means,
    stitch_equity,
    write_html_report,
)
from econ_obs.report.data import EQUITY_COLUMNS, MATCHED_NULL_COLUMNS, RANDOM_SEED_COLUMNS
from econ_obs.report.html import (
    ROW_TABLE,
    format_bps,
    format_percent,
    format_significant,
    html_table,
)

CRYPTOS = ("BTC", "ETH")
FOLD_STARTS = (
    pd.Timestamp("2024-01-01", tz="UTC"),
    pd.Timestamp("2024-01-11", tz="UTC"),
    pd.Timestamp("2024-01-21", tz="UTC"),
)
COSTS_BPS = (5.0, 25.0)
N_PERMS, N_SEEDS, N_BARS = 50, 20, 20
ZERO_TRADE_CELL = ("ETH", 1, 25.0)  # (crypto, fold_id, cost_bps) where the 2nd variant is flat


def sample_report_data(
    variants: tuple[str, ...] = ("momentum", "mean_reversion"),
    cryptos: tuple[str, ...] = CRYPTOS,
    fold_starts: tuple[pd.Timestamp, ...] = FOLD_STARTS,
    costs_bps: tuple[float, ...] = COSTS_BPS,
    sizes: tuple[int, int, int] = (N_PERMS, N_SEEDS, N_BARS),
    slippages_bps: tuple[float, ...] = (2.0,),
) -> ReportData:
    """Return 2 cryptos x 3 folds x 2 costs x 1 slippage x 2 variants; the 2nd variant is flat
    in one cell. Buy-and-hold pays one round trip at each cost basis (fee + slippage).

    `sizes` is (permutations per matched null, random seeds, bars per equity curve).
    """
    n_perms, n_seeds, n_bars = sizes
    rng = np.random.default_rng(7)
    rows, nulls, seeds, equity = [], [], [], []
    for crypto in cryptos:
        for fold_id, start in enumerate(fold_starts):
            end = start + pd.Timedelta(days=10)
            gross_buy_and_hold = rng.normal(0.01, 0.03)
            for cost_bps, slip in ((c, s) for c in costs_bps for s in slippages_bps):
                buy_and_hold = gross_buy_and_hold - 2 * (cost_bps + slip) / 1e4
                basis = (cost_bps, slip)
                seed_returns = rng.normal(-cost_bps / 1e4 * 4, 0.02, n_seeds)
                seeds += [(crypto, fold_id, *basis, s, r) for s, r in enumerate(seed_returns)]
                for index, variant in enumerate(variants):
                    flat = index == 1 and (crypto, fold_id, cost_bps) == ZERO_TRADE_CELL
                    null = np.empty(0) if flat else rng.normal(-cost_bps / 1e4 * 4, 0.02, n_perms)
                    net = 0.0 if flat else rng.normal(0.02 if index == 0 else 0.0, 0.01)
                    rows.append(_row(crypto, fold_id, basis, variant, net, null, start, end))
                    rows[-1].update(buy_and_hold=buy_and_hold, random_mean=seed_returns.mean())
                    nulls.append((crypto, fold_id, *basis, variant, null))
                for series in (*variants, "buy_and_hold"):
                    times = pd.date_range(start, end, periods=n_bars)
                    # One form per fold parity: the contract allows both.
                    times_array = times.to_numpy() if fold_id % 2 else np.asarray(times.to_list())
                    curve = np.cumprod(1 + rng.normal(0.001, 0.01, n_bars))
                    equity.append((crypto, *basis, series, fold_id, times_array, curve))
    row_frame = pd.DataFrame(rows)
    return ReportData(
        run_id="run-2024-06-01",
        strategy="ma_cross",
        rows=row_frame,
        rollup=_rollup(row_frame),
        matched_null=pd.DataFrame(nulls, columns=list(MATCHED_NULL_COLUMNS)),
        random_seeds=pd.DataFrame(seeds, columns=list(RANDOM_SEED_COLUMNS)),
        equity=pd.DataFrame(equity, columns=list(EQUITY_COLUMNS)),
    )


def _row(crypto, fold_id, basis, variant, net, null, start, end) -> dict:
    cost_bps, slippage_bps = basis
    flat = null.size == 0
    missing = float("nan")
    return {
        "crypto": crypto,
        "fold_id": fold_id,
        "cost_bps": cost_bps,
        "slippage_bps": slippage_bps,
        "variant": variant,
        "net_return": net,
        "n_trades": 0 if flat else 12,
        "exposure": 0.0 if flat else 0.4,
        "sharpe": missing if flat else net * 50,
        "matched_null_mean": missing if flat else null.mean(),
        "matched_null_p05": missing if flat else np.quantile(null, 0.05),
        "matched_null_p95": missing if flat else np.quantile(null, 0.95),
        "p_value_matched": None if flat else (1 + np.sum(null >= net)) / (null.size + 1),
        "p_value_random": None if flat else 0.2,
        "deflated_sharpe": None if flat else 0.61234,
        "breakeven_cost_bps": missing if flat else 40.0,
        "test_start": start,
        "test_end": end,
    }


def _rollup(rows: pd.DataFrame) -> pd.DataFrame:
    cells = rows.groupby(["crypto", "variant", "cost_bps", "slippage_bps"])
    rollup = cells["net_return"].agg(n_folds="size", mean_net_return="mean").reset_index()
    rollup["t_stat"] = cells["net_return"].agg(lambda r: r.mean() / r.std() * len(r) ** 0.5).values
    rollup["share_positive"] = cells["net_return"].agg(lambda r: (r > 0).mean()).values
    share = cells["p_value_matched"].agg(lambda p: (p.astype(float) < 0.05).mean())
    rollup["share_significant"] = share.values
    rollup["verdict"] = np.where(rollup["t_stat"] > 2, "edge after costs", "no edge")
    rollup.loc[rollup["t_stat"].between(0, 2), "verdict"] = "inconclusive"
    return rollup


@pytest.fixture(scope="module")
def data() -> ReportData:
    return sample_report_data()


@pytest.fixture(scope="module")
def figures(data: ReportData) -> dict[str, bytes]:
    return report_figures(data)


def test_every_figure_is_a_png(figures: dict[str, bytes]):
    assert list(figures) == ["net_return_vs_cost", "null_histograms", "equity_curves"]
    for name, png in figures.items():
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), name
        assert 10_000 < len(png) < 1_500_000, (name, len(png))


def png_size(png: bytes) -> tuple[int, int]:
    """Return (width, height) in pixels from a PNG's IHDR chunk."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_figures_of_a_default_sized_sweep_are_three_column_grids():
    # The default sweep's size: 3 cryptos x 4 folds x 3 costs x 3 variants = 108 model rows,
    # 1000 placements per matched null, 100 random seeds, 256 bars per equity curve.
    # How long drawing takes is the benchmark's business, not this test's.
    data = sample_report_data(
        variants=("ridge_a1_t5", "ridge_a10_t5", "ridge_a10_t10"),
        cryptos=("BTCUSDT", "ETHUSDT", "SOLUSDT"),
        fold_starts=tuple(
            pd.Timestamp("2023-09-03", tz="UTC") + pd.Timedelta(days=30 * k) for k in range(4)
        ),
        costs_bps=(10.0, 15.0, 30.0),
        sizes=(1000, 100, 256),
    )
    assert len(data.rows) == 108 and len(data.random_seeds) == 3600 and len(data.equity) == 144
    figures = report_figures(data)
    assert list(figures) == ["net_return_vs_cost", "null_histograms", "equity_curves"]
    sizes = {name: png_size(png) for name, png in figures.items()}
    # 3 columns of 4.6-inch panels at 90 dpi; one row of cryptos, three rows of (crypto, cost).
    assert {width for width, _ in sizes.values()} == {round(3 * 4.6 * 90)}
    one_row, three_rows = sizes["net_return_vs_cost"][1], sizes["equity_curves"][1]
    assert sizes["null_histograms"][1] == three_rows
    assert 3 * 3.2 * 90 < three_rows < 3 * 3.2 * 90 + 100 and one_row < three_rows / 2
    for name, png in figures.items():
        assert 20_000 < len(png) < 1_500_000, (name, len(png))


def test_html_is_self_contained_and_shows_every_variant_and_verdict(data, figures):
    page = render_html(data, figures)
    for variant in data.rows["variant"].unique():
        assert variant in page
    assert set(data.rollup["verdict"]) == {"edge after costs", "no edge", "inconclusive"}
    for verdict in data.rollup["verdict"].unique():
        assert f">{verdict}</td>" in page
    assert page.count('<img alt="') == page.count('src="data:image/png;base64,') == len(figures)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page
    # Every model row is listed, one <tr> each, beside the roll-up's rows and two header rows.
    assert page.count("<tr>") == len(data.rows) + len(data.rollup) + 2


def test_a_zero_trade_row_shows_a_dash_where_a_value_does_not_exist(data):
    flat = data.rows[data.rows["n_trades"] == 0]
    assert len(flat) == 1
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html_table(flat, ROW_TABLE))
    by_column = dict(zip([key for key, _, _ in ROW_TABLE], cells, strict=True))
    for column in ("p_value_matched", "p_value_random", "deflated_sharpe", "breakeven_cost_bps"):
        assert by_column[column] == "—", column
    assert by_column["net_return"] == "+0.00%"
    assert by_column["n_trades"] == "0"
    assert by_column["test_start"] == "2024-01-11"


def test_numbers_are_formatted_with_their_units():
    assert format_percent(0.01234) == "+1.23%"
    assert format_percent(float("nan")) == "—"
    assert format_significant(0.012345) == "0.0123"
    assert format_significant(None) == "—"
    assert format_bps(12.345) == "12.3 bps"
    assert format_bps(float("inf")) == "∞ bps"


def test_text_from_the_data_is_escaped():
    hostile = sample_report_data(variants=("momentum", "<script>x</script>"))
    page = render_html(hostile)
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page


def test_markdown_embeds_every_figure_as_a_data_uri(figures):
    markdown = figures_markdown(figures)
    assert markdown.count("](data:image/png;base64,") == len(figures)
    for name in figures:
        assert f"![{name}](" in markdown


def test_write_html_report_creates_parent_folders(data, figures, tmp_path: Path):
    path = write_html_report(data, tmp_path / "reports" / "run" / "report.html", figures)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_stitch_equity_chains_folds_in_time_order():
    day = pd.Timestamp("2024-01-01", tz="UTC")
    first = ([day, day + pd.Timedelta(hours=1)], [1.0, 1.1])
    second = (np.array(["2024-01-02T00", "2024-01-02T01"], dtype="datetime64[ns]"), [0.99, 0.5])
    times, equity = stitch_equity([second, first])  # given out of order on purpose
    np.testing.assert_allclose(equity, [1.0, 1.1, 1.1 * 0.99, 1.1 * 0.5])
    assert times[0] == np.datetime64("2024-01-01T00:00")
    assert times[-1] == np.datetime64("2024-01-02T01:00")
    assert np.all(np.diff(times) > np.timedelta64(0))


def test_fold_mean_null_averages_placements_column_wise():
    np.testing.assert_allclose(fold_mean_null([np.array([1.0, 2.0, 3.0]), [3.0, 4.0]]), [2.0, 3.0])
    # A zero-trade fold's only placement is itself: it adds its own net return to every draw.
    with_flat = fold_mean_null([[1.0, 2.0, 3.0], [3.0, 4.0], []], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(with_flat, [4.0 / 3.0, 2.0])
    assert fold_mean_null([[1.0, 2.0], []]).size == 0
    assert fold_mean_null([[], []], [0.0, 0.0]).size == 0


def test_seed_fold_means_averages_each_seed_over_folds_and_drops_partial_seeds():
    seeds = pd.DataFrame(
        {
            "fold_id": [0, 0, 0, 1, 1],
            "seed": [0, 1, 2, 0, 1],
            "net_return": [0.01, 0.03, 0.5, 0.03, -0.01],
        }
    )
    np.testing.assert_allclose(seed_fold_means(seeds), [0.02, 0.01])


def test_figures_survive_a_variant_whose_null_is_empty_in_every_fold(data):
    nulls = data.matched_null.copy()
    nulls["net_returns"] = [
        np.empty(0) if variant == "mean_reversion" else values
        for variant, values in zip(nulls["variant"], nulls["net_returns"], strict=True)
    ]
    figures = report_figures(dataclasses.replace(data, matched_null=nulls))
    assert all(png.startswith(b"\x89PNG") for png in figures.values())


def test_decimal_and_none_from_the_database_are_read_as_floats(data):
    rows = data.rows.astype({"cost_bps": object, "p_value_matched": object})
    rows["cost_bps"] = [Decimal(str(cost)) for cost in rows["cost_bps"]]
    rows["p_value_matched"] = [None, *rows["p_value_matched"].iloc[1:]]
    report = dataclasses.replace(data, rows=rows)
    assert report.rows["cost_bps"].dtype == np.float64
    assert np.isnan(report.rows["p_value_matched"].iloc[0])
    assert isinstance(rows["cost_bps"].iloc[0], Decimal)  # the caller's frame is untouched
    assert report_figures(report)["net_return_vs_cost"].startswith(b"\x89PNG")


def test_a_missing_column_is_named_in_the_error(data):
    with pytest.raises(ValueError, match=r"rollup lacks column.*verdict"):
        dataclasses.replace(data, rollup=data.rollup.drop(columns=["verdict"]))


def test_the_report_package_imports_neither_dagster_nor_sqlalchemy():
    probe = (
        "import sys, econ_obs.report; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'sqlalchemy'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
