"""Reads the per-key comparison of model variants against their baselines."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from econ_obs.store.results import KEY_COLUMNS, PartitionBasis

_RESULTS = sa.text(
    """
    SELECT crypto, fold_id, cost_bps, variant, net_return
    FROM finetune_results WHERE run_id = :run_id AND strategy = :strategy
    """
)
_BASELINES = sa.text(
    """
    SELECT crypto, fold_id, cost_bps, baseline_type, net_return
    FROM finetune_baselines WHERE run_id = :run_id AND strategy = :strategy
    """
)


@dataclass(frozen=True)
class Comparison:
    """One (crypto, fold_id, cost_bps): the best variant beside the three baselines."""

    crypto: str
    fold_id: int
    cost_bps: int
    n_variants: int
    best_variant: str | None
    best_net_return: float | None
    buy_and_hold: float | None
    random_mean: float | None
    naive: float | None

    @property
    def excess_over_buy_and_hold(self) -> float | None:
        if self.best_net_return is None or self.buy_and_hold is None:
            return None
        return self.best_net_return - self.buy_and_hold

    @property
    def excess_over_random(self) -> float | None:
        if self.best_net_return is None or self.random_mean is None:
            return None
        return self.best_net_return - self.random_mean

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "excess_over_buy_and_hold": self.excess_over_buy_and_hold,
            "excess_over_random": self.excess_over_random,
        }


def comparisons(connection: Connection, run_id: str, strategy: str) -> list[Comparison]:
    """Return one Comparison per key found in either table, sorted by key."""
    params = {"run_id": run_id, "strategy": strategy}
    variants: dict[tuple, dict[str, float]] = {}
    for row in connection.execute(_RESULTS, params):
        variants.setdefault((row.crypto, row.fold_id, row.cost_bps), {})[row.variant] = (
            row.net_return
        )
    baselines: dict[tuple, dict[str, float]] = {}
    for row in connection.execute(_BASELINES, params):
        key = (row.crypto, row.fold_id, row.cost_bps)
        baselines.setdefault(key, {})[row.baseline_type] = row.net_return
    out = []
    for key in sorted(variants.keys() | baselines.keys()):
        by_variant = variants.get(key, {})
        best = max(by_variant, key=lambda name: (by_variant[name], name)) if by_variant else None
        base = baselines.get(key, {})
        out.append(
            Comparison(
                *key,
                n_variants=len(by_variant),
                best_variant=best,
                best_net_return=by_variant[best] if best else None,
                buy_and_hold=base.get("buy_and_hold"),
                random_mean=base.get("random"),
                naive=base.get("naive"),
            )
        )
    return out


_PARTITION_BASELINES = sa.text(
    """
    SELECT baseline_type, net_return FROM finetune_baselines
    WHERE run_id = :run_id AND strategy = :strategy AND crypto = :crypto
      AND fold_id = :fold_id AND cost_bps = :cost_bps
    """
)


def stored_baseline_net_returns(connection: Connection, basis: PartitionBasis) -> dict[str, float]:
    """Return {baseline_type: net_return} stored for one partition's key."""
    params = {name: basis.as_row()[name] for name in KEY_COLUMNS}
    return {
        row.baseline_type: row.net_return
        for row in connection.execute(_PARTITION_BASELINES, params)
    }
