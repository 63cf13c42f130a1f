"""What a scheduled tick has to materialise: each stage's partitions that are missing or stale.

A partition is up to date when its latest materialisation was made by the asset's current
code version from the inputs its upstream holds now. The inputs are compared by fingerprints
each partition records in its own metadata, not by Dagster's data versions, because Dagster
(1.13) records one data version for every partition of a ranged run (dagster-io/dagster#18649)
and a sweep's stages are ranged runs; per-partition fingerprints keep one crypto's new bars
from re-running every other crypto's results.

* market_bars (the root) is always loaded: loading is how a tick sees new bars. It records
  each crypto's bar ``fingerprint``.
* feature_slice records the ``input_fingerprints`` of the bars it was cut from (its crypto's,
  and BTC's under btc_overlay) and the ``slice_fingerprint`` of what it holds.
* baseline_rows and model_results record the ``slice_fingerprint`` they were computed from.

So appended bars re-cut the slices of that crypto (cheap), and only a slice whose window,
features or prices actually changed re-runs its results: under ``folds.anchor: start`` the
existing folds stay up to date and a new fold's partitions are simply missing.

The partitions to run go to as few ranged runs as possible, at most MAX_RUNS_PER_STAGE
(`partition_ranges`); beyond that the ranges are widened, so some up-to-date partitions
between stale ones may run again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import dagster as dg

from econ_obs.config import OVERLAY_CRYPTO
from econ_obs.defs.partitions import decode_result_key, decode_slice_key, encode_slice_key
from econ_obs.defs.sweep import SweepStage

BARS_FINGERPRINT = "fingerprint"
INPUT_FINGERPRINTS = "input_fingerprints"
SLICE_FINGERPRINT = "slice_fingerprint"
MAX_RUNS_PER_STAGE = 4
_PAGE = 1000


def input_fingerprints_text(fingerprints: Mapping[str, str]) -> str:
    """Return the bars a slice was cut from as one comparable text: `BTCUSDT=ab12...,...`."""
    return ",".join(f"{crypto}={fingerprints[crypto]}" for crypto in sorted(fingerprints))


def latest_materialisations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition_keys: Iterable[str]
) -> dict[str, dg.AssetMaterialization]:
    """Return the newest materialisation of each of `partition_keys` that has one, reading the
    asset's event log newest first and stopping once each has been seen."""
    wanted = set(instance.get_materialized_partitions(asset_key)) & set(partition_keys)
    found: dict[str, dg.AssetMaterialization] = {}
    cursor = None
    while len(found) < len(wanted):
        page = instance.fetch_materializations(asset_key, limit=_PAGE, cursor=cursor)
        for record in page.records:
            materialisation = record.asset_materialization
            partition = materialisation.partition if materialisation else None
            if partition in wanted and partition not in found:
                found[partition] = materialisation
        if not page.has_more:
            break
        cursor = page.cursor
    return found


def _metadata_text(materialisation: dg.AssetMaterialization | None, name: str) -> str | None:
    value = materialisation.metadata.get(name) if materialisation is not None else None
    return None if value is None else str(value.value)


def _upstream_expectations(
    instance: dg.DagsterInstance, prefix: Sequence[str], asset_name: str, needs_btc: bool, keys
) -> dict[str, str | None]:
    """Return, per partition of `asset_name`, the fingerprint its upstream holds now."""
    if asset_name == "feature_slice":
        cryptos = {decode_slice_key(key).crypto for key in keys}
        if needs_btc:
            cryptos.add(OVERLAY_CRYPTO)
        bars = latest_materialisations(instance, dg.AssetKey([*prefix, "market_bars"]), cryptos)
        held = {crypto: _metadata_text(bars.get(crypto), BARS_FINGERPRINT) for crypto in cryptos}
        expected = {}
        for key in keys:
            crypto = decode_slice_key(key).crypto
            read = {crypto, OVERLAY_CRYPTO} if needs_btc else {crypto}
            fingerprints = {c: held[c] for c in read}
            complete = all(fingerprints.values())
            expected[key] = input_fingerprints_text(fingerprints) if complete else None
        return expected
    slice_of = {key: str(encode_slice_key(decode_result_key(key).slice_key)) for key in keys}
    slices = latest_materialisations(
        instance, dg.AssetKey([*prefix, "feature_slice"]), set(slice_of.values())
    )
    return {key: _metadata_text(slices.get(slice_of[key]), SLICE_FINGERPRINT) for key in keys}


UPSTREAM = {
    "feature_slice": "market_bars",
    "baseline_rows": "feature_slice",
    "model_results": "feature_slice",
}
RECORDED_INPUT = {
    "feature_slice": INPUT_FINGERPRINTS,
    "baseline_rows": SLICE_FINGERPRINT,
    "model_results": SLICE_FINGERPRINT,
}


def stage_work(
    instance: dg.DagsterInstance,
    stage: SweepStage,
    code_versions: Mapping[str, str],
    needs_btc: bool,
) -> list[str]:
    """Return the stage's partitions that are missing or stale, in the stage's order."""
    keys = list(stage.partition_keys)
    todo: set[str] = set()
    expectations: dict[str, dict[str, str | None]] = {}
    for user_key in stage.asset_keys:
        asset_key = dg.AssetKey.from_user_string(user_key)
        prefix, name = asset_key.path[:-1], asset_key.path[-1]
        if name not in RECORDED_INPUT:  # the root (always loaded) and the unpartitioned report
            if name == "market_bars":
                return keys
            continue
        latest = latest_materialisations(instance, asset_key, keys)
        # Both result assets read the same slices: their fingerprints are read once.
        if UPSTREAM[name] not in expectations:
            expectations[UPSTREAM[name]] = _upstream_expectations(
                instance, prefix, name, needs_btc, keys
            )
        expected = expectations[UPSTREAM[name]]
        for key in keys:
            materialisation = latest.get(key)
            if (
                materialisation is None
                or (materialisation.tags or {}).get("dagster/code_version") != code_versions[name]
                or expected[key] is None
                or _metadata_text(materialisation, RECORDED_INPUT[name]) != expected[key]
            ):
                todo.add(key)
    return [key for key in keys if key in todo]


def _runs(positions: Sequence[int]) -> list[tuple[int, int]]:
    """Return the maximal runs of consecutive positions as (first, last) pairs."""
    runs: list[list[int]] = []
    for position in positions:
        if runs and position == runs[-1][1] + 1:
            runs[-1][1] = position
        else:
            runs.append([position, position])
    return [(first, last) for first, last in runs]


def partition_ranges(
    ordered_keys: Sequence[str], wanted: Iterable[str], max_ranges: int = MAX_RUNS_PER_STAGE
) -> list[tuple[str, str]]:
    """Return (start, end) partition ranges that cover every wanted key, at most `max_ranges`.

    Dagster reads a range of a two-dimensional partition key (`crypto|fold...`) as a
    rectangle: every crypto from start's to end's times every second key from start's to
    end's. So the wanted keys become, per crypto, runs of consecutive second keys; cryptos
    next to each other with the same runs share their rectangles. Past `max_ranges`, each
    group of cryptos gets the one rectangle spanning its runs, and then one rectangle spans
    everything wanted. A one-dimensional key's ranges are its runs of consecutive keys.
    """
    wanted = set(wanted)
    if not wanted:
        return []
    if "|" not in ordered_keys[0]:
        positions = [i for i, key in enumerate(ordered_keys) if key in wanted]
        runs = _runs(positions)
        if len(runs) > max_ranges:
            runs = [(positions[0], positions[-1])]
        return [(ordered_keys[first], ordered_keys[last]) for first, last in runs]
    firsts = list(dict.fromkeys(key.split("|", 1)[0] for key in ordered_keys))
    seconds = list(dict.fromkeys(key.split("|", 1)[1] for key in ordered_keys))
    at = {second: i for i, second in enumerate(seconds)}
    groups: list[tuple[int, int, tuple[tuple[int, int], ...]]] = []  # crypto run, second runs
    for i, first in enumerate(firsts):
        positions = sorted(
            at[key.split("|", 1)[1]] for key in wanted if key.startswith(first + "|")
        )
        runs = tuple(_runs(positions))
        if groups and groups[-1][1] == i - 1 and groups[-1][2] == runs:
            groups[-1] = (groups[-1][0], i, runs)
        elif runs:
            groups.append((i, i, runs))
    rectangles = [(a, b, run) for a, b, runs in groups for run in runs]
    if len(rectangles) > max_ranges:
        rectangles = [(a, b, (runs[0][0], runs[-1][1])) for a, b, runs in groups]
    if len(rectangles) > max_ranges:
        low = min(run[0] for _, _, run in rectangles)
        high = max(run[1] for _, _, run in rectangles)
        rectangles = [(rectangles[0][0], rectangles[-1][1], (low, high))]
    return [
        (f"{firsts[a]}|{seconds[run[0]]}", f"{firsts[b]}|{seconds[run[1]]}")
        for a, b, run in rectangles
    ]
