"""The significance columns of finetune_results and the random seeds they are tested against."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from econ_obs.core.assessment import Assessment
from econ_obs.store.results import KEY_COLUMNS, PartitionBasis

_SEED_NET_RETURNS = sa.text(
    """
    SELECT net_return FROM finetune_random_seeds
    WHERE run_id = :run_id AND strategy = :strategy AND crypto = :crypto
      AND fold_id = :fold_id AND cost_bps = :cost_bps AND slippage_bps = :slippage_bps
    ORDER BY seed
    """
)


def stored_seed_net_returns(connection: Connection, basis: PartitionBasis) -> np.ndarray:
    """Return the stored random seeds' net returns of one key, in seed order."""
    params = {name: basis.as_row()[name] for name in KEY_COLUMNS}
    values = [row.net_return for row in connection.execute(_SEED_NET_RETURNS, params)]
    return np.asarray(values, dtype=np.float64)


def significance_columns(assessment: Assessment) -> dict:
    """Return the SIGNIFICANCE_COLUMNS values of one assessed model row (None where undefined)."""
    matched = assessment.matched
    moments = assessment.moments
    return {
        "matched_n_perms": matched.n_perms if matched else None,
        "matched_null_seed": matched.seed if matched else None,
        "matched_null_net_returns": matched.net_returns.tolist() if matched else None,
        "matched_null_mean": matched.mean if matched else None,
        "matched_null_p05": matched.p05 if matched else None,
        "matched_null_p95": matched.p95 if matched else None,
        "p_value_matched": matched.p_value if matched else None,
        "random_n_seeds": assessment.random_n_seeds or None,
        "p_value_random": assessment.p_value_random,
        "breakeven_cost_bps": assessment.breakeven_cost_bps,
        "gross_edge_bps_per_trade": assessment.gross_edge_bps_per_trade,
        "n_returns": moments.n_returns or None,
        "sharpe_per_bar": moments.sharpe_per_bar,
        "return_skew": moments.skew,
        "return_kurtosis": moments.kurtosis,
        "dsr_n_trials": assessment.dsr_n_trials,
        "dsr_sharpe_variance": assessment.dsr_sharpe_variance,
        "dsr_expected_max_sharpe": assessment.dsr_expected_max_sharpe,
        "deflated_sharpe": assessment.deflated_sharpe,
    }


def equity_json(times: Sequence, bars: np.ndarray, equity: np.ndarray) -> dict:
    """Return a row's sampled equity curve as JSON-ready {"time", "bar", "equity"} lists."""
    picked = pd.DatetimeIndex(times)[np.asarray(bars, dtype=np.int64)]
    whole_seconds = not (picked.as_unit("ns").asi8 % 1_000_000_000).any()
    # str(Timestamp) of each, vectorised: the same text whenever there are no fractions of a
    # second (astype(str) writes milliseconds where str writes microseconds).
    texts = picked.astype(str).tolist() if whole_seconds else [str(t) for t in picked]
    return {
        "time": texts,
        "bar": np.asarray(bars, dtype=np.int64).tolist(),
        "equity": np.asarray(equity, dtype=np.float64).tolist(),
    }
