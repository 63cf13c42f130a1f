"""The SQL behind the blocking asset checks: completeness, uniqueness, same basis.

Each query looks at one (run_id, strategy) in PostgreSQL directly, so a check never loads
partitions through an IO manager, and returns the offending keys as plain dicts.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

UNIQUE_CONSTRAINTS = {
    "finetune_results": "uq_finetune_result",
    "finetune_baselines": "uq_finetune_baseline",
}

_MISSING_BASELINES = sa.text(
    """
    SELECT r.crypto, r.fold_id, r.cost_bps,
           ARRAY(SELECT t FROM unnest(ARRAY['buy_and_hold', 'random', 'naive']) AS t
                 WHERE t <> ALL (coalesce(b.types, ARRAY[]::TEXT[]))) AS missing
    FROM (SELECT DISTINCT crypto, fold_id, cost_bps FROM finetune_results
          WHERE run_id = :run_id AND strategy = :strategy) AS r
    LEFT JOIN (SELECT crypto, fold_id, cost_bps, array_agg(baseline_type) AS types
               FROM finetune_baselines WHERE run_id = :run_id AND strategy = :strategy
               GROUP BY crypto, fold_id, cost_bps) AS b
      USING (crypto, fold_id, cost_bps)
    WHERE b.types IS NULL OR NOT (b.types @> ARRAY['buy_and_hold', 'random', 'naive'])
    ORDER BY r.crypto, r.fold_id, r.cost_bps
    """
)

_DUPLICATE_RESULTS = sa.text(
    """
    SELECT 'finetune_results' AS table_name, crypto, fold_id, cost_bps, variant AS member,
           count(*) AS n_rows
    FROM finetune_results WHERE run_id = :run_id AND strategy = :strategy
    GROUP BY crypto, fold_id, cost_bps, variant HAVING count(*) > 1
    UNION ALL
    SELECT 'finetune_baselines', crypto, fold_id, cost_bps, baseline_type, count(*)
    FROM finetune_baselines WHERE run_id = :run_id AND strategy = :strategy
    GROUP BY crypto, fold_id, cost_bps, baseline_type HAVING count(*) > 1
    ORDER BY 1, 2, 3, 4, 5
    """
)

_CONSTRAINTS = sa.text(
    """
    SELECT conname FROM pg_constraint
    WHERE contype = 'u' AND conrelid = to_regclass(:table_name) AND conname = :constraint_name
    """
)

# cost_bps is part of the join key: a baseline at another cost than its model rows shows up
# as an orphan here and as missing in the completeness check.
_BASIS_MISMATCHES = sa.text(
    """
    WITH model AS (
        SELECT DISTINCT crypto, fold_id, cost_bps, slippage_bps, test_start, test_end, n_test_bars
        FROM finetune_results WHERE run_id = :run_id AND strategy = :strategy
    ), base AS (
        SELECT crypto, fold_id, cost_bps, baseline_type, slippage_bps, test_start, test_end,
               n_test_bars
        FROM finetune_baselines WHERE run_id = :run_id AND strategy = :strategy
    )
    SELECT b.crypto, b.fold_id, b.cost_bps, b.baseline_type,
           CASE WHEN m.crypto IS NULL THEN 'no model rows at this key'
                ELSE concat_ws(', ',
                    CASE WHEN b.test_start <> m.test_start THEN 'test_start' END,
                    CASE WHEN b.test_end <> m.test_end THEN 'test_end' END,
                    CASE WHEN b.n_test_bars <> m.n_test_bars THEN 'n_test_bars' END,
                    CASE WHEN b.slippage_bps <> m.slippage_bps THEN 'slippage_bps' END)
           END AS differs_in
    FROM base AS b
    LEFT JOIN model AS m USING (crypto, fold_id, cost_bps)
    WHERE m.crypto IS NULL
       OR (b.test_start, b.test_end, b.n_test_bars, b.slippage_bps)
          IS DISTINCT FROM (m.test_start, m.test_end, m.n_test_bars, m.slippage_bps)
    ORDER BY b.crypto, b.fold_id, b.cost_bps, b.baseline_type
    """
)


def _rows(connection: Connection, query: sa.TextClause, **params: object) -> list[dict]:
    return [dict(row._mapping) for row in connection.execute(query, params)]


def missing_baselines(connection: Connection, run_id: str, strategy: str) -> list[dict]:
    """Return each model key lacking a baseline type, with the missing types."""
    rows = _rows(connection, _MISSING_BASELINES, run_id=run_id, strategy=strategy)
    return [{**row, "missing": list(row["missing"])} for row in rows]


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
    """Return each baseline row whose window or slippage differs from its model rows."""
    return _rows(connection, _BASIS_MISMATCHES, run_id=run_id, strategy=strategy)
