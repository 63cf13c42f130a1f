"""The one partition-key codec and the partitions of the asset graph.

Dagster's MultiPartitionsDefinition takes at most two dimensions, and a result partition has
three coordinates (crypto, fold, cost). The design:

- `market_bars`:   crypto                         e.g. "BTCUSDT"
- `feature_slice`: crypto x fold                  e.g. "BTCUSDT|0"
- `model_results`, `baseline_rows`: crypto x fold_cost, where fold_cost joins fold and cost
  into one readable static key, e.g. "BTCUSDT|fold0_10bps".

In the UI a user picks the crypto on one axis and `fold0_10bps` on the other. Results map to
their slice through a MultiPartitionMapping: identity on crypto, and a StaticPartitionMapping
from each fold to its fold_cost keys. Encoding and parsing live here and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dagster as dg

CRYPTO_DIM = "crypto"
FOLD_DIM = "fold"
FOLD_COST_DIM = "fold_cost"
_FOLD_COST = re.compile(r"fold([0-9]+)_([0-9]+)bps")
_FOLD = re.compile(r"[0-9]+")


class PartitionKeyError(ValueError):
    """A partition key that does not follow the codec; the message names the key."""


@dataclass(frozen=True, order=True)
class ResultKey:
    """The coordinates of one model-results / baseline-rows partition."""

    crypto: str
    fold_id: int
    cost_bps: int

    @property
    def slice_key(self) -> SliceKey:
        return SliceKey(self.crypto, self.fold_id)


@dataclass(frozen=True, order=True)
class SliceKey:
    """The coordinates of one feature-slice partition."""

    crypto: str
    fold_id: int


def fold_cost_key(fold_id: int, cost_bps: int) -> str:
    """Return the fold_cost dimension key, e.g. `fold0_10bps`."""
    return f"fold{fold_id}_{cost_bps}bps"


def parse_fold_cost_key(key: str) -> tuple[int, int]:
    """Return (fold_id, cost_bps) from a fold_cost key such as `fold0_10bps`."""
    match = _FOLD_COST.fullmatch(key)
    if not match:
        raise PartitionKeyError(f"fold_cost key {key!r} must look like 'fold0_10bps'")
    return int(match.group(1)), int(match.group(2))


def encode_result_key(key: ResultKey) -> dg.MultiPartitionKey:
    """Return the Dagster partition key of a result partition."""
    return dg.MultiPartitionKey(
        {CRYPTO_DIM: key.crypto, FOLD_COST_DIM: fold_cost_key(key.fold_id, key.cost_bps)}
    )


def decode_result_key(partition_key: str | dg.MultiPartitionKey) -> ResultKey:
    """Return the ResultKey of a partition key such as `BTCUSDT|fold0_10bps`."""
    dims = _dimensions(partition_key, FOLD_COST_DIM)
    try:
        fold_id, cost_bps = parse_fold_cost_key(dims[FOLD_COST_DIM])
    except PartitionKeyError as error:
        raise PartitionKeyError(f"result partition key {partition_key!r}: {error}") from None
    return ResultKey(dims[CRYPTO_DIM], fold_id, cost_bps)


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
        example = "BTCUSDT|0" if second == FOLD_DIM else "BTCUSDT|fold0_10bps"
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
        return [decode_result_key(k) for k in self.results.get_partition_keys()]


def sweep_partitions(
    data_cryptos: tuple[str, ...],
    cryptos: tuple[str, ...],
    n_folds: int,
    costs_bps: tuple[int, ...],
) -> SweepPartitions:
    """Return the partitions of a sweep over cryptos x folds x costs.

    market_bars also holds the overlay's second asset (BTCUSDT for btc_overlay), so
    `data_cryptos` may be longer than `cryptos`.
    """
    fold_ids = [str(fold_id) for fold_id in range(n_folds)]
    crypto_dim = dg.StaticPartitionsDefinition(list(cryptos))
    fold_costs = {
        str(fold_id): [fold_cost_key(fold_id, cost) for cost in costs_bps]
        for fold_id in range(n_folds)
    }
    fold_cost_dim = dg.StaticPartitionsDefinition(
        [key for keys in fold_costs.values() for key in keys]
    )
    return SweepPartitions(
        market=dg.StaticPartitionsDefinition(list(data_cryptos)),
        slices=dg.MultiPartitionsDefinition(
            {CRYPTO_DIM: crypto_dim, FOLD_DIM: dg.StaticPartitionsDefinition(fold_ids)}
        ),
        results=dg.MultiPartitionsDefinition(
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
