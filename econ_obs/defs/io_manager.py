"""Pickle storage for the in-between assets (market_bars, feature_slice), one file per partition.

Dagster's filesystem IO manager refuses an output that spans several partitions, which a
single-run backfill produces; this one takes a dict keyed by partition key and always loads
a mapping, whether the run covers one partition or all of them.

A file's path is keyed by what its value depends on: the asset key, which starts with the
sweep's name, and the asset's code_version, a hash of the config parts it is built from
(defs/versions.py). A slice built under another sweep or another folds config is never
read: after a config change the downstream step finds no file and says to materialise it.

Memory: a step holds one partition's value at a time where it can. `handle_output` streams
each value to its file and then removes it from the output dict, because Dagster's
execute_in_process keeps every output it is handed until the run's result is dropped (which
in `econ-obs sweep` is after the next stage). `load_input` checks every file exists and
returns a `StoredPartitions` mapping that unpickles a partition when it is read and keeps
nothing, so an asset that reads one key at a time holds one value at a time.
"""

import pickle
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import dagster as dg

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]")
# An AssetIn's keywords for an input this IO manager loads: a mapping, not a dict.
LAZY_INPUT = {"dagster_type": dg.Any}


class StoredPartitions(Mapping):
    """`{partition_key: value}` read from the pickle files on each access, never kept."""

    def __init__(self, asset: str, paths: dict[str, Path]) -> None:
        self._asset = asset
        self._paths = paths

    def __getitem__(self, key: str) -> object:
        path = self._paths[key]
        try:
            with path.open("rb") as file:  # from the file: no second copy of its bytes
                return pickle.load(file)
        except Exception as error:  # a truncated or foreign file will not heal on retry
            raise dg.Failure(
                description=f"{self._asset} partition {key!r} could not be read from {path} "
                f"({type(error).__name__}: {error}); materialise it again",
                allow_retries=False,
            ) from None  # the description says it all; a cause would be shown instead

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


class PartitionedPickleIOManager(dg.ConfigurableIOManager):
    """Stores `{partition_key: value}` outputs as
    `<base_dir>/<sweep>/<asset>/<code_version>/<partition>.pkl`."""

    base_dir: str

    def _path(self, context: dg.OutputContext, partition_key: str) -> Path:
        name = _UNSAFE.sub("_", str(partition_key).replace("|", "__"))
        version = _UNSAFE.sub("_", context.asset_spec.code_version or "unversioned")
        return Path(self.base_dir, *context.asset_key.path, version, f"{name}.pkl")

    def handle_output(self, context: dg.OutputContext, obj: dict) -> None:
        keys = context.asset_partition_keys
        missing = [key for key in keys if key not in obj]
        if missing:
            raise KeyError(f"{context.asset_key.to_user_string()} returned no value for {missing}")
        for key in keys:
            path = self._path(context, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            with temporary.open("wb") as file:  # streamed: no bytes copy of the whole value
                pickle.dump(obj[key], file, protocol=pickle.HIGHEST_PROTOCOL)
            temporary.replace(path)  # readers never see half a file
        # Stored: drop the values, so the copy Dagster keeps of this output holds no data.
        obj.clear()

    def load_input(self, context: dg.InputContext) -> StoredPartitions:
        upstream = context.upstream_output
        assert upstream is not None  # an asset's input always has its upstream's context
        asset = context.asset_key.to_user_string()
        paths = {}
        for key in context.asset_partition_keys:
            path = self._path(upstream, key)
            if not path.exists():
                # A missing upstream is not transient: fail the step at once with this line as
                # its message, rather than let the asset's retry policy hide it for ~20 s.
                raise dg.Failure(
                    description=f"{asset} partition {key!r} has not been materialised under "
                    f"this config (no {path}); materialise it first",
                    allow_retries=False,
                )
            paths[key] = path
        return StoredPartitions(asset, paths)


def one_upstream_at_a_time(
    partition_keys: Iterable[str], stored: Mapping, upstream_of: Callable[[str], str]
) -> Iterator[tuple[list[str], dict]]:
    """Yield (the partition keys that read one upstream partition, {that key: its value}),
    each upstream value read once and in the order first needed: one is held at a time."""
    needed_by: dict[str, list[str]] = defaultdict(list)
    for key in partition_keys:
        needed_by[upstream_of(key)].append(key)
    for upstream_key, keys in needed_by.items():
        yield keys, {upstream_key: stored[upstream_key]}
