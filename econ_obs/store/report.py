"""Reads the sweep report: every model row beside its baselines and significance figures.

No best-variant pick: a variant chosen after the fact on the test window is a biased
estimate, so the report lists every variant and leaves selection to the roll-up's verdict.

Every reader takes the config's expected keys and returns rows at those keys only: rows a
bigger, older config of the same run_id left (a cost or fold since dropped) stay out of the
report, as they stay out of the checks' expected set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from econ_obs.report.data import ROW_COLUMNS as REPORT_COLUMNS  # noqa: F401 (re-exported)
from econ_obs.store.checks import EXPECTED_CTE, ExpectedKey, expected_params, key_in_expected
from econ_obs.store.results import KEY_COLUMNS, PartitionBasis, refresh_statistics

_JOIN = " AND ".join(f"b.{c} = r.{c}" for c in KEY_COLUMNS)
_ROWS = sa.text(
    f"""
    WITH {EXPECTED_CTE}
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
    WHERE r.run_id = :run_id AND r.strategy = :strategy AND {key_in_expected("r")}
    ORDER BY r.crypto, r.fold_id, r.cost_bps, r.slippage_bps, r.variant
    """
)
_NULLS = sa.text(
    f"""
    WITH {EXPECTED_CTE}
    SELECT crypto, fold_id, cost_bps, slippage_bps, variant, matched_null_net_returns
    FROM finetune_results AS r WHERE run_id = :run_id AND strategy = :strategy
      AND {key_in_expected("r")}
    ORDER BY crypto, fold_id, cost_bps, slippage_bps, variant
    """
)
_SEEDS = sa.text(
    f"""
    WITH {EXPECTED_CTE}
    SELECT crypto, fold_id, cost_bps, slippage_bps, seed, net_return
    FROM finetune_random_seeds AS s WHERE run_id = :run_id AND strategy = :strategy
      AND {key_in_expected("s")}
    ORDER BY crypto, fold_id, cost_bps, slippage_bps, seed
    """
)
_EQUITY = sa.text(
    f"""
    WITH {EXPECTED_CTE}
    SELECT crypto, fold_id, cost_bps, slippage_bps, variant AS series, equity_curve
    FROM finetune_results AS r WHERE run_id = :run_id AND strategy = :strategy
      AND equity_curve IS NOT NULL AND {key_in_expected("r")}
    UNION ALL
    SELECT crypto, fold_id, cost_bps, slippage_bps, baseline_type AS series, equity_curve
    FROM finetune_baselines AS b WHERE run_id = :run_id AND strategy = :strategy
      AND equity_curve IS NOT NULL AND {key_in_expected("b")}
    ORDER BY crypto, cost_bps, slippage_bps, series, fold_id
    """
)


Reader = Callable[[Connection, str, str, Sequence[ExpectedKey]], list[dict]]


def _reader(query: sa.TextClause) -> Reader:
    """Return a function reading `query`'s rows of one (run_id, strategy) at the expected keys
    (defs.checks.expected_keys of the config being reported) as dicts."""

    def read(
        connection: Connection, run_id: str, strategy: str, expected: Sequence[ExpectedKey]
    ) -> list[dict]:
        params = {"run_id": run_id, "strategy": strategy, **expected_params(expected)}
        refresh_statistics(connection)  # a sweep may have just written these rows
        return [dict(row._mapping) for row in connection.execute(query, params)]

    return read


# Each reader takes (connection, run_id, strategy, expected keys).
# Every model row (REPORT_COLUMNS) with its baselines, sorted by key and variant.
report_rows = _reader(_ROWS)
# Each model row's key, variant and stored matched-null net returns.
matched_null_draws = _reader(_NULLS)
# Every stored random seed's net return with its key.
random_seed_values = _reader(_SEEDS)
# The stored equity curves of model rows and baselines (series = variant or baseline type).
equity_curves = _reader(_EQUITY)


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
