"""The roll-up of a sweep across folds: per (crypto, variant, cost), is there an edge?

A single fold is one test window; a verdict needs the folds together. The rule (also in the
README), applied in this order to the folds of one (crypto, variant, cost_bps, slippage_bps):

* ``no_trades``: the variant traded in no fold.
* ``edge``: at least 2 folds, mean net return > 0, its t-statistic across folds >= 2, and at
  least half of the folds beat their matched null (p_value_matched < 0.05).
* ``loses_to_costs``: mean net return <= 0 while the mean gross return (before costs) is > 0:
  the trades find something, and the costs take more than all of it.
* ``no_edge``: anything else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np

SIGNIFICANCE_LEVEL = 0.05
MIN_T_STAT = 2.0
MIN_SHARE_SIGNIFICANT = 0.5
VERDICTS = ("edge", "no_edge", "loses_to_costs", "no_trades")


@dataclass(frozen=True)
class RollupRow:
    """One (crypto, variant, cost basis) across its folds."""

    crypto: str
    variant: str
    cost_bps: int
    slippage_bps: float
    n_folds: int
    mean_net_return: float
    t_stat: float | None  # mean / (sample std / sqrt(n_folds)); None for < 2 folds or std 0
    share_positive: float  # share of folds with net_return > 0
    share_significant: float  # share of folds with p_value_matched < 0.05
    mean_gross_return: float
    verdict: str

    def as_dict(self) -> dict:
        return asdict(self)


ROLLUP_FIELDS = tuple(field.name for field in fields(RollupRow))


def t_statistic(values: np.ndarray) -> float | None:
    """Return mean / (std ddof 1 / sqrt(n)); None for fewer than 2 values or no spread."""
    if values.size < 2:
        return None
    std = float(values.std(ddof=1))
    if std == 0 or not math.isfinite(std):
        return None
    return float(values.mean()) / (std / math.sqrt(values.size))


def verdict(
    n_folds: int,
    total_trades: int,
    mean_net: float,
    t_stat: float | None,
    share_significant: float,
    mean_gross: float,
) -> str:
    """Return the one-word verdict of the module docstring's rule."""
    if total_trades == 0:
        return "no_trades"
    if (
        n_folds >= 2
        and mean_net > 0
        and t_stat is not None
        and t_stat >= MIN_T_STAT
        and share_significant >= MIN_SHARE_SIGNIFICANT
    ):
        return "edge"
    if mean_net <= 0 < mean_gross:
        return "loses_to_costs"
    return "no_edge"


def rollup(rows: Iterable[Mapping]) -> list[RollupRow]:
    """Return one RollupRow per (crypto, variant, cost_bps, slippage_bps), sorted by that key.

    Each row needs crypto, variant, cost_bps, slippage_bps, net_return, gross_return, n_trades
    and p_value_matched (None for a fold without trades, which then counts as not significant).
    """
    groups: dict[tuple, list[Mapping]] = {}
    for row in rows:
        key = (row["crypto"], row["variant"], row["cost_bps"], row["slippage_bps"])
        groups.setdefault(key, []).append(row)
    out = []
    for key in sorted(groups):
        folds = groups[key]
        net = np.array([float(r["net_return"]) for r in folds])
        gross = np.array([float(r["gross_return"]) for r in folds])
        significant = [
            r["p_value_matched"] is not None and r["p_value_matched"] < SIGNIFICANCE_LEVEL
            for r in folds
        ]
        t_stat = t_statistic(net)
        share_significant = float(np.mean(significant))
        mean_net, mean_gross = float(net.mean()), float(gross.mean())
        total_trades = int(sum(int(r["n_trades"]) for r in folds))
        out.append(
            RollupRow(
                *key,
                n_folds=len(folds),
                mean_net_return=mean_net,
                t_stat=t_stat,
                share_positive=float(np.mean(net > 0)),
                share_significant=share_significant,
                mean_gross_return=mean_gross,
                verdict=verdict(
                    len(folds), total_trades, mean_net, t_stat, share_significant, mean_gross
                ),
            )
        )
    return out
