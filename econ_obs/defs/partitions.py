"""The one partition-key codec and the partitions of the asset graph.

Dagster's MultiPartitionsDefinition takes at most two dimensions, and a result partition has
four coordinates (crypto, fold, cost_bps, slippage_bps). The design:

- `market_bars`:   crypto                         e.g. "BTCUSDT"
- `feature_slice`: crypto x fold                  e.g. "BTCUSDT|0"
- `model_results`, `baseline_rows`: crypto x fold_cost, where fold_cost joins the fold and the
  cost basis into one readable static key, e.g. "BTCUSDT|fold0_10bps_2slip" (fold 0, fee
  10 bps, slippage 2 bps per side) or "fold3_15bps_2.5slip". Slippage is written in plain
  decimal, shortest form that reads back as the same float (no exponent, no trailing zeros),
  so every basis has exactly one key.

In the UI a user picks the crypto on one axis and `fold0_10bps_2slip` on the other. Results map to
their slice through a MultiPartitionMapping: identity on crypto, and a StaticPartitionMapping
from each fold to its fold_cost keys. Encoding and parsing live here and nowhere else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import numpy as np

CRYPTO_DIM = "crypto"
FOLD_DIM = "fold"
FOLD_COST_DIM = "fold_cost"
_FOLD_COST = re.compile(r"fold([0-9]+)_([0-9]+)bps_([0-9]+(?:\.[0-9]+)?)slip")
_EXAMPLE = "fold0_10bps_2slip"
_FOLD = re.compile(r"[0-9]+")


class PartitionKeyError(ValueError):
    """A partition key that does not follow the codec; the message names the key."""


@dataclass(frozen=True, order=True)
class ResultKey:
    """The coordinates of one model-results / baseline-rows partition."""

    crypto: str
    fold_id: int
    cost_bps: int
    slippage_bps: float

    @property
    def slice_key(self) -> SliceKey:
        return SliceKey(self.crypto, self.fold_id)


@dataclass(frozen=True, order=True)
class SliceKey:
    """The coordinates of one feature-slice partition."""

    crypto: str
    fold_id: int


def slippage_text(slippage_bps: float) -> str:
    """Return slippage as plain decimal, shortest round-tripping form: 2 -> "2", 2.5 -> "2.5"."""
    value = float(slippage_bps)
    if not math.isfinite(value) or value < 0:
        raise PartitionKeyError(f"slippage_bps {slippage_bps!r} must be a finite number >= 0")
    return np.format_float_positional(value, trim="-")


def fold_cost_key(fold_id: int, cost_bps: int, slippage_bps: float) -> str:
    """Return the fold_cost dimension key, e.g. `fold0_10bps_2slip` or `fold0_10bps_2.5slip`."""
    return f"fold{fold_id}_{cost_bps}bps_{slippage_text(slippage_bps)}slip"


def parse_fold_cost_key(key: str) -> tuple[int, int, float]:
    """Return (fold_id, cost_bps, slippage_bps) from a key such as `fold0_10bps_2.5slip`."""
    match = _FOLD_COST.fullmatch(key)
    if not match:
        raise PartitionKeyError(f"fold_cost key {key!r} must look like {_EXAMPLE!r}")
    fold_id, cost_bps, slippage_bps = int(match[1]), int(match[2]), float(match[3])
    # One key per basis: "fold00_10bps_2.50slip" would name the same basis as another key.
    if fold_cost_key(fold_id, cost_bps, slippage_bps) != key:
        raise PartitionKeyError(
            f"fold_cost key {key!r} is not canonical; write "
            f"{fold_cost_key(fold_id, cost_bps, slippage_bps)!r}"
        )
    return fold_id, cost_bps, slippage_bps


def encode_result_key(key: ResultKey) -> dg.MultiPartitionKey:
    """Return the Dagster partition key of a result partition."""
    fold_cost = fold_cost_key(key.fold_id, key.cost_bps, key.slippage_bps)
    return dg.MultiPartitionKey({CRYPTO_DIM: key.crypto, FOLD_COST_DIM: fold_cost})


def decode_result_key(partition_key: str | dg.MultiPartitionKey) -> ResultKey:
    """Return the ResultKey of a partition key such as `BTCUSDT|fold0_10bps_2slip`."""
    dims = _dimensions(partition_key, FOLD_COST_DIM)
    try:
        fold_id, cost_bps, slippage_bps = parse_fold_cost_key(dims[FOLD_COST_DIM])
    except PartitionKeyError as error:
        raise PartitionKeyError(f"result partition key {partition_key!r}: {error}") from None
    return ResultKey(dims[CRYPTO_DIM], fold_id, cost_bps, slippage_bps)


def encode_slice_key(key: SliceKey) -> dg.MultiPartitionKey:
    """Return the Dagster partition key of a slice partition."""
    return dg.MultiPartitionKey({CRYPTO_DIM: key.crypto, FOLD_DIM: str(key.fold_id)})


def decode_slice_key(partition_key: str | dg.MultiPartitionKey) -> SliceKey:
    """Return the SliceKey of a partition key such as `BTCUSDT|0`."""
    dims = _dimensions(partition_key, FOLD_DIM)
    if not _FOLD.fullmatch(dims[FOLD_DIM]):
        raise PartitionKeyError(f"slice partition key {partition_key!r} has a non-numeric fold")
    return SliceKey(dims[CRYPTO_DIM], int(dims[FOLD_DIM]))


def _dimensions(partition_key: str | dg.MultiPartitionKey, second: str) -> dict[str, str]:
    if isinstance(partition_key, dg.MultiPartitionKey):
        dims = dict(partition_key.keys_by_dimension)
        if set(dims) != {CRYPTO_DIM, second}:
            raise PartitionKeyError(
                f"partition key {partition_key!r} has dimensions {sorted(dims)}, "
                f"expected {[CRYPTO_DIM, second]}"
            )
        return dims
    # Dagster orders dimensions by name: "crypto" sorts before "fold" and "fold_cost".
    parts = str(partition_key).split("|")
    if len(parts) != 2 or not all(parts):
        example = "BTCUSDT|0" if second == FOLD_DIM else f"BTCUSDT|{_EXAMPLE}"
        raise PartitionKeyError(
            f"partition key {partition_key!r} must be '<crypto>|<{second}>', e.g. {example!r}"
        )
    return {CRYPTO_DIM: parts[0], second: parts[1]}


@dataclass(frozen=True)
class SweepPartitions:
    """The partitions definitions and mappings of one sweep."""

    market: dg.StaticPartitionsDefinition
    slices: dg.MultiPartitionsDefinition
    results: dg.MultiPartitionsDefinition
    slice_to_result: dg.MultiPartitionMapping

    def result_keys(self) -> list[ResultKey]:
        """The sweep's expected keys: every crypto x fold x (cost_bps, slippage_bps)."""
        return [decode_result_key(k) for k in self.results.get_partition_keys()]


def expected_result_keys(
    cryptos: Sequence[str],
    n_folds: int,
    costs_bps: Sequence[int],
    slippages_bps: Sequence[float],
) -> list[ResultKey]:
    """Return every result key of a sweep: cryptos x folds x (cost_bps, slippage_bps).

    The same set as `sweep_partitions(...).result_keys()`, without building Dagster objects.
    """
    return [
        ResultKey(crypto, fold_id, cost, slippage)
        for crypto in cryptos
        for fold_id in range(n_folds)
        for cost in costs_bps
        for slippage in slippages_bps
    ]


class RangeCachingPartitionsDefinition(dg.MultiPartitionsDefinition):
    """A MultiPartitionsDefinition that lists a partition range once and keeps the list.

    `add_asset_metadata(partition_key=...)` lists the run's whole partition range on every
    call, to check the key is in it; a ranged run over P partitions calls it P times per asset,
    so the sweep's metadata cost grew with P². Equal to its parent in every other respect.
    """

    def get_partition_keys_in_range(self, partition_key_range, dynamic_partitions_store=None):
        cache = self.__dict__.setdefault("_econ_obs_ranges", {})
        key = (partition_key_range.start, partition_key_range.end)
        if key not in cache:
            cache[key] = super().get_partition_keys_in_range(
                partition_key_range, dynamic_partitions_store
            )
        return cache[key]


def sweep_partitions(
    data_cryptos: Sequence[str],
    cryptos: Sequence[str],
    n_folds: int,
    costs_bps: Sequence[int],
    slippages_bps: Sequence[float],
) -> SweepPartitions:
    """Return the partitions of a sweep over cryptos x folds x costs x slippages.

    market_bars also holds the overlay's second asset (BTCUSDT for btc_overlay), so
    `data_cryptos` may be longer than `cryptos`.
    """
    fold_ids = [str(fold_id) for fold_id in range(n_folds)]
    crypto_dim = dg.StaticPartitionsDefinition(list(cryptos))
    fold_costs = {
        str(fold_id): [
            fold_cost_key(fold_id, cost, slippage)
            for cost in costs_bps
            for slippage in slippages_bps
        ]
        for fold_id in range(n_folds)
    }
    fold_cost_dim = dg.StaticPartitionsDefinition(
        [key for keys in fold_costs.values() for key in keys]
    )
    return SweepPartitions(
        market=dg.StaticPartitionsDefinition(list(data_cryptos)),
        slices=RangeCachingPartitionsDefinition(
            {CRYPTO_DIM: crypto_dim, FOLD_DIM: dg.StaticPartitionsDefinition(fold_ids)}
        ),
        results=RangeCachingPartitionsDefinition(
            {CRYPTO_DIM: crypto_dim, FOLD_COST_DIM: fold_cost_dim}
        ),
        slice_to_result=dg.MultiPartitionMapping(
            {
                CRYPTO_DIM: dg.DimensionPartitionMapping(CRYPTO_DIM, dg.IdentityPartitionMapping()),
                FOLD_DIM: dg.DimensionPartitionMapping(
                    FOLD_COST_DIM, dg.StaticPartitionMapping(fold_costs)
                ),
            }
        ),
    )
