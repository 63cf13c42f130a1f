"""Reads the sweep report: every model row beside its baselines and significance figures.

No best-variant pick: a variant chosen after the fact on the test window is a biased
estimate, so the report lists every variant and leaves selection to the roll-up's verdict.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from econ_obs.store.results import KEY_COLUMNS, PartitionBasis

# What `econ-obs report` shows per model row, in order (also the csv/json fields).
REPORT_COLUMNS = (
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
_JOIN = " AND ".join(f"b.{c} = r.{c}" for c in KEY_COLUMNS)
_ROWS = sa.text(
    f"""
    SELECT r.crypto, r.fold_id, r.cost_bps, r.slippage_bps, r.variant, r.net_return,
           r.n_trades, r.exposure, r.sharpe, bh.net_return AS buy_and_hold,
           rnd.net_return AS random_mean, nv.net_return AS naive, r.matched_null_mean,
           r.matched_null_p05, r.matched_null_p95, r.p_value_matched, r.p_value_random,
           r.deflated_sharpe, r.breakeven_cost_bps, r.gross_edge_bps_per_trade,
           r.gross_return, r.test_start, r.test_end
    FROM finetune_results r
    LEFT JOIN finetune_baselines bh ON {_JOIN.replace("b.", "bh.")}
        AND bh.baseline_type = 'buy_and_hold'
    LEFT JOIN finetune_baselines rnd ON {_JOIN.replace("b.", "rnd.")}
        AND rnd.baseline_type = 'random'
    LEFT JOIN finetune_baselines nv ON {_JOIN.replace("b.", "nv.")}
        AND nv.baseline_type = 'naive'
    WHERE r.run_id = :run_id AND r.strategy = :strategy
    ORDER BY r.crypto, r.fold_id, r.cost_bps, r.slippage_bps, r.variant
    """
)
_NULLS = sa.text(
    """
    SELECT crypto, fold_id, cost_bps, slippage_bps, variant, matched_null_net_returns
    FROM finetune_results WHERE run_id = :run_id AND strategy = :strategy
    ORDER BY crypto, fold_id, cost_bps, slippage_bps, variant
    """
)
_SEEDS = sa.text(
    """
    SELECT crypto, fold_id, cost_bps, slippage_bps, seed, net_return
    FROM finetune_random_seeds WHERE run_id = :run_id AND strategy = :strategy
    ORDER BY crypto, fold_id, cost_bps, slippage_bps, seed
    """
)
_EQUITY = sa.text(
    """
    SELECT crypto, fold_id, cost_bps, slippage_bps, variant AS series, equity_curve
    FROM finetune_results WHERE run_id = :run_id AND strategy = :strategy
      AND equity_curve IS NOT NULL
    UNION ALL
    SELECT crypto, fold_id, cost_bps, slippage_bps, baseline_type AS series, equity_curve
    FROM finetune_baselines WHERE run_id = :run_id AND strategy = :strategy
      AND equity_curve IS NOT NULL
    ORDER BY crypto, cost_bps, slippage_bps, series, fold_id
    """
)


def report_rows(connection: Connection, run_id: str, strategy: str) -> list[dict]:
    """Return one dict per model row (REPORT_COLUMNS), sorted by key and variant."""
    params = {"run_id": run_id, "strategy": strategy}
    return [dict(row._mapping) for row in connection.execute(_ROWS, params)]


def matched_null_draws(connection: Connection, run_id: str, strategy: str) -> list[dict]:
    """Return each model row's key, variant and its stored matched-null net returns."""
    params = {"run_id": run_id, "strategy": strategy}
    return [dict(row._mapping) for row in connection.execute(_NULLS, params)]


def random_seed_values(connection: Connection, run_id: str, strategy: str) -> list[dict]:
    """Return every stored random seed's net return with its key."""
    params = {"run_id": run_id, "strategy": strategy}
    return [dict(row._mapping) for row in connection.execute(_SEEDS, params)]


def equity_curves(connection: Connection, run_id: str, strategy: str) -> list[dict]:
    """Return the stored equity curves of model rows and baselines (series = variant or type)."""
    params = {"run_id": run_id, "strategy": strategy}
    return [dict(row._mapping) for row in connection.execute(_EQUITY, params)]


_PARTITION_BASELINES = sa.text(
    """
    SELECT baseline_type, net_return FROM finetune_baselines
    WHERE run_id = :run_id AND strategy = :strategy AND crypto = :crypto
      AND fold_id = :fold_id AND cost_bps = :cost_bps AND slippage_bps = :slippage_bps
    """
)


def stored_baseline_net_returns(connection: Connection, basis: PartitionBasis) -> dict[str, float]:
    """Return {baseline_type: net_return} stored for one partition's key."""
    params = {name: basis.as_row()[name] for name in KEY_COLUMNS}
    return {
        row.baseline_type: row.net_return
        for row in connection.execute(_PARTITION_BASELINES, params)
    }
