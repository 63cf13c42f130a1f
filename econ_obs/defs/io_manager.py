"""Pickle storage for the in-between assets (market_bars, feature_slice), one file per partition.

Dagster's filesystem IO manager refuses an output that spans several partitions, which a
single-run backfill produces; this one takes a dict keyed by partition key and always loads
a dict, whether the run covers one partition or all of them.

A file's path is keyed by what its value depends on: the asset key, which starts with the
sweep's name, and the asset's code_version, a hash of the config parts it is built from
(defs/versions.py). A slice built under another sweep or another folds config is never
read: after a config change the downstream step finds no file and says to materialise it.
"""

import pickle
import re
from pathlib import Path

import dagster as dg

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]")


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
            temporary.write_bytes(pickle.dumps(obj[key], protocol=pickle.HIGHEST_PROTOCOL))
            temporary.replace(path)  # readers never see half a file

    def load_input(self, context: dg.InputContext) -> dict:
        loaded = {}
        upstream = context.upstream_output
        assert upstream is not None  # an asset's input always has its upstream's context
        for key in context.asset_partition_keys:
            path = self._path(upstream, key)
            if not path.exists():
                # A missing upstream is not transient: fail the step at once with this line as
                # its message, rather than let the asset's retry policy hide it for ~20 s.
                raise dg.Failure(
                    description=f"{context.asset_key.to_user_string()} partition {key!r} has "
                    f"not been materialised under this config (no {path}); materialise it first",
                    allow_retries=False,
                )
            try:
                loaded[key] = pickle.loads(path.read_bytes())
            except Exception as error:  # a truncated or foreign file will not heal on retry
                raise dg.Failure(
                    description=f"{context.asset_key.to_user_string()} partition {key!r} could "
                    f"not be read from {path} ({type(error).__name__}: {error}); "
                    "materialise it again",
                    allow_retries=False,
                ) from error
        return loaded
