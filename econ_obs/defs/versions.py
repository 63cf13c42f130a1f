"""Code and data versions: what lets Dagster mark exactly the partitions a change made stale.

An asset's ``code_version`` is a short hash of the config its output depends on, directly or
through its upstream assets, plus ACCOUNTING_CODE_VERSION. Dagster marks a materialised
partition stale ("has a new code version") when the asset's code version differs from the
one recorded on it, and does not carry a stale upstream's cause downstream until the upstream
is materialised again; so each asset hashes its upstream's config too, and a config change
marks every asset it reaches stale at once. What each asset hashes (keys of
``canonical_config``, the form sweep_runs records):

* market_bars: how bars are loaded: data.format, path, timeframe, max_abs_log_return, as_of.
* feature_slice: those + data.max_gap_bars, folds, factor, factor_params.
* baseline_rows: those + baselines.random, run_id and strategy.
* model_results: those + baselines.matched and model (its variants); its p-values use the
  random baseline's stored seeds, so baselines.random is in it.
* sweep_report: the whole canonical config.

run_id and strategy are in the result assets' and the report's versions and nowhere else:
those write (and read) their rows under (run_id, strategy), so another run_id has none of
them yet, whereas bars and slices are stored per asset and partition whatever the run_id.
cryptos, costs_bps and slippage_bps are partition dimensions: a new value adds partitions
(missing, not stale) and leaves the existing ones as they are; so is folds.n_folds under
``folds.anchor: start``, where a fold's window does not depend on the number of folds.
The schedule and the YAML's path decide no output and are in no version.

market_bars reports a data version from the fingerprint of the bars it loaded
(``bars_data_version``); the downstream assets' data versions are Dagster's, from their code
version and their inputs' data versions, so a partition re-materialised on the same data
under the same config keeps its version and makes nothing downstream stale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from econ_obs.config import SweepConfig
from econ_obs.store.sweep_runs import canonical_config

# Bump when code changes what an asset computes from the same config and data (accounting,
# features, folds, baselines, significance, a model's fit): every asset then goes stale.
ACCOUNTING_CODE_VERSION = 1
VERSION_HEX_CHARS = 16

_BARS = ("data.format", "data.path", "data.timeframe", "data.max_abs_log_return", "data.as_of")
_SLICES = (*_BARS, "data.max_gap_bars", "folds", "factor", "factor_params")
_BASELINES = (*_SLICES, "baselines.random", "run_id", "strategy")
_RESULTS = (*_BASELINES, "baselines.matched", "model")
WHOLE_CONFIG = ""  # the key path of the whole canonical config
ASSET_CONFIG_PATHS: dict[str, tuple[str, ...]] = {
    "market_bars": _BARS,
    "feature_slice": _SLICES,
    "baseline_rows": _BASELINES,
    "model_results": _RESULTS,
    "sweep_report": (WHOLE_CONFIG,),
}


def short_hash(value: Any) -> str:
    """Return the first VERSION_HEX_CHARS hex digits of the SHA-256 of value's sorted JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:VERSION_HEX_CHARS]


def _at(canonical: dict[str, Any], key_path: str) -> Any:
    value = canonical
    for key in filter(None, key_path.split(".")):
        value = value[key]
    return value


def asset_code_versions(config: SweepConfig) -> dict[str, str]:
    """Return each asset's code version: a hash of its config key paths' values and
    ACCOUNTING_CODE_VERSION."""
    whole = canonical_config(config)
    canonical = whole
    if whole["folds"].get("anchor") == "start":
        # Anchored at the first bar, a fold's window does not depend on how many folds there
        # are: raising n_folds adds partitions (missing) and leaves the existing ones fresh.
        folds = {k: v for k, v in whole["folds"].items() if k != "n_folds"}
        canonical = {**whole, "folds": folds}
    return {
        asset: short_hash(
            {
                "accounting_code_version": ACCOUNTING_CODE_VERSION,
                "config": {
                    path: _at(whole if path == WHOLE_CONFIG else canonical, path) for path in paths
                },
            }
        )
        for asset, paths in ASSET_CONFIG_PATHS.items()
    }


def bars_data_version(fingerprints: Mapping[str, str]) -> str:
    """Return market_bars' data version for a run from each loaded crypto's bar fingerprint.

    One crypto: its fingerprint. Several: a hash of the crypto-to-fingerprint mapping, because
    Dagster (1.13) records one data version per output and copies it to every partition of a
    ranged run (dagster-io/dagster#18649, #34013). A sweep loads all its cryptos in one run, so
    a change in one crypto's bars marks the slices of every crypto of that run stale, never
    fewer; each partition's own fingerprint stays in its "fingerprint" metadata.
    """
    if not fingerprints:
        raise ValueError("no bars were loaded, so there is no data version to report")
    if len(fingerprints) == 1:
        (fingerprint,) = fingerprints.values()
        return fingerprint
    return hashlib.sha256(
        json.dumps(dict(fingerprints), sort_keys=True, separators=(",", ":")).encode("utf-8")
    ).hexdigest()
