"""The significance columns of finetune_results and the random seeds they are tested against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


# The keys of many partitions, numbered from 1 in the order given. Each key's rows are read in
# a LATERAL subquery, so each is an index lookup on the table's unique key, never a hash join
# over the whole table, whatever the planner's statistics say right after a write.
_KEYS = """
    unnest(CAST(:run_id AS text[]), CAST(:strategy AS text[]), CAST(:crypto AS text[]),
           CAST(:fold_id AS int[]), CAST(:cost_bps AS int[]), CAST(:slippage_bps AS float8[]))
        WITH ORDINALITY AS k(run_id, strategy, crypto, fold_id, cost_bps, slippage_bps, position)
"""
_SAME_KEY = """
    run_id = k.run_id AND strategy = k.strategy AND crypto = k.crypto AND fold_id = k.fold_id
    AND cost_bps = k.cost_bps AND slippage_bps = k.slippage_bps
"""
_MANY_SEED_NET_RETURNS = sa.text(
    f"""
    SELECT k.position, s.net_returns FROM {_KEYS}
    CROSS JOIN LATERAL (
        SELECT array_agg(net_return ORDER BY seed) AS net_returns FROM finetune_random_seeds
        WHERE {_SAME_KEY}
    ) AS s
    WHERE s.net_returns IS NOT NULL
    """
)
_MANY_BASELINE_NET_RETURNS = sa.text(
    f"""
    SELECT k.position, b.baseline_type, b.net_return FROM {_KEYS}
    CROSS JOIN LATERAL (
        SELECT baseline_type, net_return FROM finetune_baselines WHERE {_SAME_KEY}
    ) AS b
    """
)


@dataclass(frozen=True)
class StoredBaselineReturns:
    """A partition's stored random seeds' net returns (in seed order) and its baselines'."""

    seed_net_returns: np.ndarray
    baseline_net_returns: dict[str, float]  # {baseline_type: net_return}


def stored_baseline_returns(
    connection: Connection, bases: Sequence[PartitionBasis]
) -> list[StoredBaselineReturns]:
    """Return each basis's stored seeds and baselines, in the order given, in two queries.

    What stored_seed_net_returns and report.stored_baseline_net_returns return for one key,
    for many at once: a key with no rows gets an empty array and an empty dict. Per key, the
    two reads and their round trips cost about 2 ms, most of a batch's reading time.
    """
    keys = [basis.as_row() for basis in bases]
    params = {name: [key[name] for key in keys] for name in KEY_COLUMNS}
    seeds = [np.empty(0)] * len(keys)
    baselines: list[dict[str, float]] = [{} for _ in keys]
    if keys:
        for position, net_returns in connection.execute(_MANY_SEED_NET_RETURNS, params):
            seeds[position - 1] = np.asarray(net_returns, dtype=np.float64)
        for position, kind, net_return in connection.execute(_MANY_BASELINE_NET_RETURNS, params):
            baselines[position - 1][kind] = net_return
    return [StoredBaselineReturns(s, b) for s, b in zip(seeds, baselines, strict=True)]


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


# What str(Timestamp) writes after the seconds, by time zone: nothing for naive times.
_UTC_NAMES = frozenset({"UTC", "utc", "Etc/UTC"})


def _offset_suffix(index: pd.DatetimeIndex) -> str | None:
    if index.tz is None:
        return ""
    return "+00:00" if str(index.tz) in _UTC_NAMES else None


def equity_time_texts(times: Sequence, bars: np.ndarray) -> list[str]:
    """Return the text of each sampled bar's time, as str(Timestamp) writes it."""
    picked = pd.DatetimeIndex(times)[np.asarray(bars, dtype=np.int64)]
    nanoseconds = picked.as_unit("ns").asi8
    if (nanoseconds % 1_000_000_000).any():  # str writes microseconds, astype milliseconds
        return [str(t) for t in picked]
    suffix = _offset_suffix(picked)
    if suffix is None:  # another zone: its own offset per time, as pandas writes it
        return picked.astype(str).tolist()
    # UTC or naive whole seconds, the bars' usual case: numpy writes the wall-clock time in C
    # ("2024-01-01T00:00:00"), ten times faster than pandas' astype(str) of a tz-aware index.
    wall_clock = np.datetime_as_string(nanoseconds.astype("datetime64[ns]"), unit="s")
    return [f"{text[:10]} {text[11:]}{suffix}" for text in wall_clock.tolist()]


def equity_json(
    times: Sequence, bars: np.ndarray, equity: np.ndarray, time_texts: list[str] | None = None
) -> dict:
    """Return a row's sampled equity curve as JSON-ready {"time", "bar", "equity"} lists;
    `time_texts`, if given, is equity_time_texts(times, bars) already made."""
    return {
        "time": equity_time_texts(times, bars) if time_texts is None else time_texts,
        "bar": np.asarray(bars, dtype=np.int64).tolist(),
        "equity": np.asarray(equity, dtype=np.float64).tolist(),
    }
