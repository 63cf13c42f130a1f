"""The SQL behind the blocking asset checks: completeness, no stray keys, uniqueness, same basis,
and the stored windows that window_matches_config compares with the current data's.

Each query looks at one (run_id, strategy) in PostgreSQL directly, so a check never loads
partitions through an IO manager, and returns the offending keys as plain dicts. A key is
(crypto, fold_id, cost_bps, slippage_bps). The sweep's expected keys (crypto x fold x every
(cost_bps, slippage_bps) of the config) are the reference: they travel as four bound arrays
and are unnested in SQL, never formatted into the query. The report reads only those keys
too, through the same `EXPECTED_CTE` and `key_in_expected`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from econ_obs.store.results import refresh_statistics

UNIQUE_CONSTRAINTS = {
    "finetune_results": "uq_finetune_result",
    "finetune_baselines": "uq_finetune_baseline",
    "finetune_random_seeds": "uq_finetune_random_seed",
}
# What a key lacks, as baselines_complete names it: a baseline type or the model rows.
MODEL_ROWS = "model_results"


class ExpectedKey(Protocol):
    """One expected (crypto, fold_id, cost_bps, slippage_bps); defs.partitions.ResultKey is one."""

    crypto: str
    fold_id: int
    cost_bps: int
    slippage_bps: float


def expected_params(expected: Sequence[ExpectedKey]) -> dict[str, list]:
    """Return the expected keys as the four bound arrays that `EXPECTED_CTE` unnests."""
    return {
        "expected_cryptos": [key.crypto for key in expected],
        "expected_fold_ids": [int(key.fold_id) for key in expected],
        "expected_costs_bps": [int(key.cost_bps) for key in expected],
        "expected_slippages_bps": [float(key.slippage_bps) for key in expected],
    }


EXPECTED_CTE = """
    expected AS (
        SELECT * FROM unnest(
            CAST(:expected_cryptos AS TEXT[]), CAST(:expected_fold_ids AS INT[]),
            CAST(:expected_costs_bps AS INT[]),
            CAST(:expected_slippages_bps AS DOUBLE PRECISION[])
        ) AS e(crypto, fold_id, cost_bps, slippage_bps)
    )"""


def key_in_expected(alias: str) -> str:
    """Return the SQL condition "row `alias`'s key is one of the `expected` CTE's keys".

    `alias` is a table alias written in the query (a constant), never a value; a query using
    the condition starts WITH `EXPECTED_CTE` and binds `expected_params`.
    """
    return (
        "EXISTS (SELECT 1 FROM expected AS e"
        " WHERE (e.crypto, e.fold_id, e.cost_bps, e.slippage_bps)"
        f" = ({alias}.crypto, {alias}.fold_id, {alias}.cost_bps, {alias}.slippage_bps))"
    )


# Starts from the expected keys, not from the rows stored, so a key with neither model rows
# nor baselines (a partition that never ran) is reported too.
_MISSING = sa.text(
    f"""
    WITH {EXPECTED_CTE},
    base AS (
        SELECT crypto, fold_id, cost_bps, slippage_bps, array_agg(baseline_type) AS types
        FROM finetune_baselines WHERE run_id = :run_id AND strategy = :strategy
        GROUP BY crypto, fold_id, cost_bps, slippage_bps
    ), model AS (
        SELECT DISTINCT crypto, fold_id, cost_bps, slippage_bps
        FROM finetune_results WHERE run_id = :run_id AND strategy = :strategy
    )
    SELECT e.crypto, e.fold_id, e.cost_bps, e.slippage_bps,
           ARRAY(SELECT t FROM unnest(ARRAY['buy_and_hold', 'random', 'naive']) AS t
                 WHERE t <> ALL (coalesce(b.types, ARRAY[]::TEXT[])))
           || CASE WHEN m.crypto IS NULL THEN ARRAY[CAST(:model_rows AS TEXT)]
                   ELSE ARRAY[]::TEXT[] END
           AS missing
    FROM expected AS e
    LEFT JOIN base AS b USING (crypto, fold_id, cost_bps, slippage_bps)
    LEFT JOIN model AS m USING (crypto, fold_id, cost_bps, slippage_bps)
    WHERE m.crypto IS NULL OR b.types IS NULL
       OR NOT (b.types @> ARRAY['buy_and_hold', 'random', 'naive'])
    ORDER BY 1, 2, 3, 4
    """
)

_UNEXPECTED = sa.text(
    f"""
    WITH {EXPECTED_CTE},
    stored AS (
        SELECT 'finetune_results' AS table_name, crypto, fold_id, cost_bps, slippage_bps
        FROM finetune_results WHERE run_id = :run_id AND strategy = :strategy
        UNION ALL
        SELECT 'finetune_baselines', crypto, fold_id, cost_bps, slippage_bps
        FROM finetune_baselines WHERE run_id = :run_id AND strategy = :strategy
        UNION ALL
        SELECT 'finetune_random_seeds', crypto, fold_id, cost_bps, slippage_bps
        FROM finetune_random_seeds WHERE run_id = :run_id AND strategy = :strategy
    )
    SELECT s.crypto, s.fold_id, s.cost_bps, s.slippage_bps, s.table_name, count(*) AS n_rows
    FROM stored AS s
    WHERE NOT {key_in_expected("s")}
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    """
)

_DUPLICATE_RESULTS = sa.text(
    """
    SELECT 'finetune_results' AS table_name, crypto, fold_id, cost_bps, slippage_bps,
           variant AS member, count(*) AS n_rows
    FROM finetune_results WHERE run_id = :run_id AND strategy = :strategy
    GROUP BY crypto, fold_id, cost_bps, slippage_bps, variant HAVING count(*) > 1
    UNION ALL
    SELECT 'finetune_baselines', crypto, fold_id, cost_bps, slippage_bps, baseline_type, count(*)
    FROM finetune_baselines WHERE run_id = :run_id AND strategy = :strategy
    GROUP BY crypto, fold_id, cost_bps, slippage_bps, baseline_type HAVING count(*) > 1
    ORDER BY 1, 2, 3, 4, 5, 6
    """
)

_CONSTRAINTS = sa.text(
    """
    SELECT conname FROM pg_constraint
    WHERE contype = 'u' AND conrelid = to_regclass(:table_name) AND conname = :constraint_name
    """
)

# The whole basis (cost_bps and slippage_bps) is the join key: a baseline at another cost or
# slippage than its model rows shows up as an orphan here and as missing in the completeness
# check.
_BASIS_MISMATCHES = sa.text(
    """
    WITH model AS (
        SELECT DISTINCT crypto, fold_id, cost_bps, slippage_bps, test_start, test_end, n_test_bars
        FROM finetune_results WHERE run_id = :run_id AND strategy = :strategy
    ), base AS (
        SELECT crypto, fold_id, cost_bps, slippage_bps, baseline_type, test_start, test_end,
               n_test_bars
        FROM finetune_baselines WHERE run_id = :run_id AND strategy = :strategy
    )
    SELECT b.crypto, b.fold_id, b.cost_bps, b.slippage_bps, b.baseline_type,
           CASE WHEN m.crypto IS NULL THEN 'no model rows at this key'
                ELSE concat_ws(', ',
                    CASE WHEN b.test_start <> m.test_start THEN 'test_start' END,
                    CASE WHEN b.test_end <> m.test_end THEN 'test_end' END,
                    CASE WHEN b.n_test_bars <> m.n_test_bars THEN 'n_test_bars' END)
           END AS differs_in
    FROM base AS b
    LEFT JOIN model AS m USING (crypto, fold_id, cost_bps, slippage_bps)
    WHERE m.crypto IS NULL
       OR (b.test_start, b.test_end, b.n_test_bars)
          IS DISTINCT FROM (m.test_start, m.test_end, m.n_test_bars)
    ORDER BY b.crypto, b.fold_id, b.cost_bps, b.slippage_bps, b.baseline_type
    """
)

# Only rows at an expected key: a row at another key, cost or slippage is no_unexpected_keys's.
# Rows of a table and key that share a window are one row here, with their count.
_STORED_WINDOWS = sa.text(
    f"""
    WITH {EXPECTED_CTE},
    stored AS (
        SELECT 'finetune_results' AS table_name, crypto, fold_id, cost_bps, slippage_bps,
               train_start, train_end, test_start, test_end, n_test_bars
        FROM finetune_results WHERE run_id = :run_id AND strategy = :strategy
        UNION ALL
        SELECT 'finetune_baselines', crypto, fold_id, cost_bps, slippage_bps,
               train_start, train_end, test_start, test_end, n_test_bars
        FROM finetune_baselines WHERE run_id = :run_id AND strategy = :strategy
    )
    SELECT s.crypto, s.fold_id, s.cost_bps, s.slippage_bps, s.table_name AS "table",
           s.train_start, s.train_end, s.test_start, s.test_end, s.n_test_bars,
           count(*) AS n_rows
    FROM stored AS s
    JOIN expected AS e USING (crypto, fold_id, cost_bps, slippage_bps)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    """
)


def _rows(connection: Connection, query: sa.TextClause, **params: object) -> list[dict]:
    # A check runs right after the sweep's writes: plan it on the tables' real sizes.
    refresh_statistics(connection)
    return [dict(row._mapping) for row in connection.execute(query, params)]


def missing_keys(
    connection: Connection, run_id: str, strategy: str, expected: Sequence[ExpectedKey]
) -> list[dict]:
    """Return each expected key lacking a baseline type or model rows, with what it lacks."""
    rows = _rows(
        connection,
        _MISSING,
        run_id=run_id,
        strategy=strategy,
        model_rows=MODEL_ROWS,
        **expected_params(expected),
    )
    return [{**row, "missing": list(row["missing"])} for row in rows]


def unexpected_keys(
    connection: Connection, run_id: str, strategy: str, expected: Sequence[ExpectedKey]
) -> list[dict]:
    """Return each stored key outside the expected set, per table, with its row count."""
    return _rows(
        connection, _UNEXPECTED, run_id=run_id, strategy=strategy, **expected_params(expected)
    )


def duplicate_keys(connection: Connection, run_id: str, strategy: str) -> list[dict]:
    """Return each key stored more than once in either table."""
    return _rows(connection, _DUPLICATE_RESULTS, run_id=run_id, strategy=strategy)


def missing_unique_constraints(connection: Connection) -> list[dict]:
    """Return the unique constraints the schema promises but the catalog lacks."""
    missing = []
    for table_name, constraint_name in UNIQUE_CONSTRAINTS.items():
        found = connection.execute(
            _CONSTRAINTS, {"table_name": table_name, "constraint_name": constraint_name}
        ).first()
        if found is None:
            missing.append({"table_name": table_name, "constraint": constraint_name})
    return missing


def basis_mismatches(connection: Connection, run_id: str, strategy: str) -> list[dict]:
    """Return each baseline row whose test window differs from its model rows, or has none."""
    return _rows(connection, _BASIS_MISMATCHES, run_id=run_id, strategy=strategy)


def stored_windows(
    connection: Connection, run_id: str, strategy: str, expected: Sequence[ExpectedKey]
) -> list[dict]:
    """Return each distinct window stored at an expected key, per table, with its row count
    (crypto, fold_id, cost_bps, slippage_bps, table, train/test start and end, n_test_bars)."""
    return _rows(
        connection, _STORED_WINDOWS, run_id=run_id, strategy=strategy, **expected_params(expected)
    )
