"""Reads the sweep report: every model row beside its baselines and significance figures.

No best-variant pick: a variant chosen after the fact on the test window is a biased
estimate, so the report lists every variant and leaves selection to the roll-up's verdict.

Every reader takes the config's expected keys and returns rows at those keys only: rows a
bigger, older config of the same run_id left (a cost or fold since dropped) stay out of the
report, as they stay out of the checks' expected set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from econ_obs.report.data import RANDOM_SEED_COLUMNS, utc_times
from econ_obs.report.data import ROW_COLUMNS as REPORT_COLUMNS  # noqa: F401 (re-exported)
from econ_obs.store.checks import EXPECTED_CTE, ExpectedKey, expected_params, key_in_expected
from econ_obs.store.pg_binary import sent_array
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
    SELECT crypto, fold_id, cost_bps, slippage_bps, variant,
           array_send(matched_null_net_returns) AS matched_null_net_returns
    FROM finetune_results AS r WHERE run_id = :run_id AND strategy = :strategy
      AND {key_in_expected("r")}
    ORDER BY crypto, fold_id, cost_bps, slippage_bps, variant
    """
)
# One row per key with its seeds and their net returns as two binary arrays (seed order): on the
# 240-partition bench (100 seeds a key) about three times faster than 24,000 rows as dicts.
_SEEDS = sa.text(
    f"""
    WITH {EXPECTED_CTE}
    SELECT crypto, fold_id, cost_bps, slippage_bps,
           array_send(array_agg(seed ORDER BY seed)) AS seeds,
           array_send(array_agg(net_return ORDER BY seed)) AS net_returns
    FROM finetune_random_seeds AS s WHERE run_id = :run_id AND strategy = :strategy
      AND {key_in_expected("s")}
    GROUP BY crypto, fold_id, cost_bps, slippage_bps
    ORDER BY crypto, fold_id, cost_bps, slippage_bps
    """
)
# The curve's times as JSON text and its equity values as a binary float8 array: the report
# never reads the curve's bars, and decoding the whole JSON object per row costs more than these.
_CURVE_PARTS = """(equity_curve->'time')::text AS times_json,
           array_send(ARRAY(
               SELECT CAST(value AS DOUBLE PRECISION)
               FROM jsonb_array_elements_text(equity_curve->'equity') WITH ORDINALITY
                   AS e(value, position)
               ORDER BY position)) AS equity"""
_EQUITY = sa.text(
    f"""
    WITH {EXPECTED_CTE}
    SELECT crypto, fold_id, cost_bps, slippage_bps, variant AS series, {_CURVE_PARTS}
    FROM finetune_results AS r WHERE run_id = :run_id AND strategy = :strategy
      AND equity_curve IS NOT NULL AND {key_in_expected("r")}
    UNION ALL
    SELECT crypto, fold_id, cost_bps, slippage_bps, baseline_type AS series, {_CURVE_PARTS}
    FROM finetune_baselines AS b WHERE run_id = :run_id AND strategy = :strategy
      AND equity_curve IS NOT NULL AND {key_in_expected("b")}
    ORDER BY crypto, cost_bps, slippage_bps, series, fold_id
    """
)


def _decode_null_draws(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["matched_null_net_returns"] = sent_array(row["matched_null_net_returns"])
    return rows


def _decode_curves(rows: list[dict]) -> list[dict]:
    """Replace each row's times_json and binary equity by `times` and `equity` arrays."""
    # The curves of one test window share their times: parse each distinct list once, and all
    # of them in one call, rather than one pandas parse per curve.
    distinct = list(dict.fromkeys(row["times_json"] for row in rows))
    lists = [json.loads(text) if text is not None else [] for text in distinct]
    parsed = utc_times(np.array([t for times in lists for t in times], dtype=object))
    boundaries = np.cumsum([len(times) for times in lists])[:-1]
    times_by_text = dict(zip(distinct, np.split(parsed, boundaries), strict=True))
    for row in rows:
        row["times"] = times_by_text[row.pop("times_json")].copy()
        row["equity"] = sent_array(row.pop("equity"))
    return rows


class Reader(Protocol):
    def __call__(
        self,
        connection: Connection,
        run_id: str,
        strategy: str,
        expected: Sequence[ExpectedKey],
        *,
        refresh: bool = True,
    ) -> list[dict]: ...


def _reader(
    query: sa.TextClause, decode: Callable[[list[dict]], list[dict]] | None = None
) -> Reader:
    """Return a function reading `query`'s rows of one (run_id, strategy) at the expected keys
    (defs.checks.expected_keys of the config being reported) as dicts, `decode`d if given.

    `refresh=False` skips refreshing the planner's statistics, for a caller that just did.
    """

    def read(
        connection: Connection,
        run_id: str,
        strategy: str,
        expected: Sequence[ExpectedKey],
        *,
        refresh: bool = True,
    ) -> list[dict]:
        params = {"run_id": run_id, "strategy": strategy, **expected_params(expected)}
        if refresh:
            refresh_statistics(connection)  # a sweep may have just written these rows
        rows = [dict(row._mapping) for row in connection.execute(query, params)]
        return rows if decode is None else decode(rows)

    return read


# Each reader takes (connection, run_id, strategy, expected keys).
# Every model row (REPORT_COLUMNS) with its baselines, sorted by key and variant.
report_rows = _reader(_ROWS)
# Each model row's key, variant and stored matched-null net returns (a float64 array, empty
# where none is stored).
matched_null_draws = _reader(_NULLS, _decode_null_draws)
_seed_arrays = _reader(_SEEDS)
_SEED_KEY = ("crypto", "fold_id", "cost_bps", "slippage_bps")
# The stored equity curves of model rows and baselines (series = variant or baseline type):
# `times` as naive UTC datetime64[ns] and `equity` as float64, one array each per curve.
equity_curves = _reader(_EQUITY, _decode_curves)


def random_seed_values(
    connection: Connection,
    run_id: str,
    strategy: str,
    expected: Sequence[ExpectedKey],
    *,
    refresh: bool = True,
) -> pd.DataFrame:
    """Return every stored random seed's net return with its key, one row per seed (columns
    RANDOM_SEED_COLUMNS), sorted by key and seed. Takes what the readers above take."""
    rows = _seed_arrays(connection, run_id, strategy, expected, refresh=refresh)
    if not rows:
        return pd.DataFrame(columns=list(RANDOM_SEED_COLUMNS))
    seeds = [sent_array(row["seeds"]) for row in rows]
    counts = [seed.size for seed in seeds]
    keys = {name: np.repeat([row[name] for row in rows], counts) for name in _SEED_KEY}
    net_returns = np.concatenate([sent_array(row["net_returns"]) for row in rows])
    return pd.DataFrame({**keys, "seed": np.concatenate(seeds), "net_return": net_returns})


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
