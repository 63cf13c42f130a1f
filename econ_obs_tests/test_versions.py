"""Code and data versions: which config change reaches which asset, and what Dagster records.

The unit tests pin which config key paths change which asset's code_version. The Dagster
tests materialise on a real instance (PostgreSQL storage) and read the versions back from
the materialisation events' tags with the public `dg.DataProvenance.from_tags`; one uses
Dagster's own stale-status resolver (a test helper of Dagster's, not public API) to show what
the UI marks stale after a data change.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from econ_obs.config import SweepConfig, load_sweep_config
from econ_obs.defs import versions
from econ_obs.defs.assets import build_assets
from econ_obs.defs.partitions import decode_slice_key, sweep_partitions
from econ_obs.defs.report import build_report_asset
from econ_obs.defs.sweep import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from econ_obs.defs.versions import (
    ASSET_CONFIG_PATHS,
    VERSION_HEX_CHARS,
    asset_code_versions,
    bars_data_version,
)
from econ_obs_tests.conftest import SMALL_SWEEP_YAML, run_small_sweep
from econ_obs_tests.test_bad_files_corpus import csv_text, good_frame

ASSETS = ("market_bars", "feature_slice", "baseline_rows", "model_results", "sweep_report")
DOWNSTREAM_OF_SLICES = {"feature_slice", "baseline_rows", "model_results", "sweep_report"}
RESULTS_AND_REPORT = {"baseline_rows", "model_results", "sweep_report"}
SAMPLE_DATA = "data: {format: sample, timeframe: 1h}"
N_BARS = 2000  # enough for the small sweep's 2 folds of 600 + 12 + 240 bars


def config_from(tmp_path: Path, yaml_text: str, name: str = "sweep.yaml") -> SweepConfig:
    path = tmp_path / name
    path.write_text(yaml_text)
    return load_sweep_config(path)


def sweep_assets(config: SweepConfig) -> list[dg.AssetsDefinition]:
    """The sweep's five assets as definitions.py builds them (without checks or jobs)."""
    parts = sweep_partitions(
        config.data_cryptos,
        config.cryptos,
        config.folds.n_folds,
        config.costs_bps,
        config.slippage_bps,
    )
    assets = build_assets(config, parts)
    model_results = next(a for a in assets if a.key.path[-1] == "model_results")
    return [*assets, build_report_asset(config, model_results)]


def changed_assets(before: SweepConfig, after: SweepConfig) -> set[str]:
    old, new = asset_code_versions(before), asset_code_versions(after)
    return {asset for asset in ASSETS if old[asset] != new[asset]}


# ---- which config change reaches which asset ------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("factor: returns", "factor: returns", set()),  # the same config: nothing changes
        (SAMPLE_DATA, "data: {format: sample, timeframe: 1h, as_of: '2022-03-01T00:00:00Z'}",
         set(ASSETS)),
        (SAMPLE_DATA, "data: {format: sample, timeframe: 1h, max_abs_log_return: 0.5}",
         set(ASSETS)),
        (SAMPLE_DATA, "data: {format: sample, timeframe: 1h, max_gap_bars: 3}",
         DOWNSTREAM_OF_SLICES),
        ("test_bars: 240", "test_bars: 200", DOWNSTREAM_OF_SLICES),
        ("purge_bars: 12", "purge_bars: 24", DOWNSTREAM_OF_SLICES),
        ("factor: returns", "factor: returns\nfactor_params: {lags: 3}", DOWNSTREAM_OF_SLICES),
        ("n_seeds: 20", "n_seeds: 30", RESULTS_AND_REPORT),
        ("hold_bars: 12", "hold_bars: 6", RESULTS_AND_REPORT),
        ("run_id: test_run", "run_id: other_run", RESULTS_AND_REPORT),
        ("strategy: test_strategy", "strategy: other", RESULTS_AND_REPORT),
        ("random: {n_seeds: 20, hold_bars: 12}",
         "random: {n_seeds: 20, hold_bars: 12}\n  matched: {n_perms: 50}",
         {"model_results", "sweep_report"}),
        ("alpha: 10.0", "alpha: 20.0", {"model_results", "sweep_report"}),
        # Partition dimensions: new partitions are missing, the existing ones stay as they are.
        ("costs_bps: [10, 30]", "costs_bps: [10, 30, 50]", {"sweep_report"}),
        ("slippage_bps: 1", "slippage_bps: [1, 2]", {"sweep_report"}),
        ("cryptos: [BTCUSDT, ETHUSDT]", "cryptos: [BTCUSDT, ETHUSDT, SOLUSDT]",
         {"sweep_report"}),
        ('cron: "30 3 * * *"', 'cron: "0 4 * * *"', set()),  # when, not what
        # Anchored at the end, more folds move every window; at the start, they add folds.
        ("n_folds: 2", "n_folds: 3", DOWNSTREAM_OF_SLICES),
        ("purge_bars: 12}", "purge_bars: 12, anchor: start}", DOWNSTREAM_OF_SLICES),
    ],
)  # fmt: skip
def test_a_config_change_changes_the_code_version_of_exactly_the_assets_it_reaches(
    tmp_path, old, new, expected
):
    assert old in SMALL_SWEEP_YAML
    before = config_from(tmp_path, SMALL_SWEEP_YAML, "before.yaml")
    after = config_from(tmp_path, SMALL_SWEEP_YAML.replace(old, new), "after.yaml")

    assert changed_assets(before, after) == expected


def test_test_bars_reach_the_slices_and_n_seeds_stop_at_the_baselines(tmp_path):
    base = config_from(tmp_path, SMALL_SWEEP_YAML, "base.yaml")
    test_bars = config_from(tmp_path, SMALL_SWEEP_YAML.replace("test_bars: 240", "test_bars: 200"))
    n_seeds = config_from(
        tmp_path, SMALL_SWEEP_YAML.replace("n_seeds: 20", "n_seeds: 21"), "n.yaml"
    )

    assert changed_assets(base, test_bars) == DOWNSTREAM_OF_SLICES
    assert "market_bars" not in changed_assets(base, test_bars)
    assert "baseline_rows" in changed_assets(base, n_seeds)
    assert "feature_slice" not in changed_assets(base, n_seeds)


def test_code_versions_are_short_stable_and_ignore_where_the_file_lives(tmp_path):
    first = config_from(tmp_path, SMALL_SWEEP_YAML, "a.yaml")
    elsewhere = tmp_path / "moved"
    elsewhere.mkdir()
    second = config_from(elsewhere, SMALL_SWEEP_YAML, "b.yaml")

    codes = asset_code_versions(first)
    assert codes == asset_code_versions(second)
    assert set(codes) == set(ASSETS) == set(ASSET_CONFIG_PATHS)
    assert all(len(code) == VERSION_HEX_CHARS and int(code, 16) >= 0 for code in codes.values())
    assert len(set(codes.values())) == len(ASSETS)  # each asset hashes other config


def test_bumping_the_accounting_code_version_changes_every_asset(tmp_path, monkeypatch):
    config = config_from(tmp_path, SMALL_SWEEP_YAML)
    before = asset_code_versions(config)

    monkeypatch.setattr(versions, "ACCOUNTING_CODE_VERSION", versions.ACCOUNTING_CODE_VERSION + 1)

    after = asset_code_versions(config)
    assert all(before[asset] != after[asset] for asset in ASSETS)


def test_every_asset_is_defined_with_its_code_version(tmp_path):
    config = config_from(tmp_path, SMALL_SWEEP_YAML)

    defined = {a.key.path[-1]: a.code_versions_by_key[a.key] for a in sweep_assets(config)}

    assert defined == asset_code_versions(config)


def test_the_data_version_of_one_crypto_is_its_fingerprint_and_of_several_their_hash():
    assert bars_data_version({"BTCUSDT": "ab" * 32}) == "ab" * 32
    both = bars_data_version({"BTCUSDT": "ab" * 32, "ETHUSDT": "cd" * 32})
    assert both == bars_data_version({"ETHUSDT": "cd" * 32, "BTCUSDT": "ab" * 32})
    assert both != bars_data_version({"BTCUSDT": "ab" * 32, "ETHUSDT": "ce" * 32})
    assert both not in ("ab" * 32, "cd" * 32)
    with pytest.raises(ValueError, match="no bars"):
        bars_data_version({})


# ---- what Dagster records ------------------------------------------------------------------


def materialise(assets, names, partition_keys, instance, resources) -> None:
    """One run of `names` over `partition_keys`: a ranged run (as the sweep does) or one key."""
    if len(partition_keys) == 1:
        range_args = {"partition_key": partition_keys[0]}
    else:
        range_args = {
            "tags": {
                ASSET_PARTITION_RANGE_START_TAG: partition_keys[0],
                ASSET_PARTITION_RANGE_END_TAG: partition_keys[-1],
            }
        }
    result = dg.materialize(
        assets,
        selection=[a.key for a in assets if a.key.path[-1] in names],
        instance=instance,
        resources=resources,
        raise_on_error=False,
        **range_args,
    )
    assert result.success, [str(e) for e in result.all_events if e.is_failure]


def latest(instance, asset: str, partition_key: str | None = None) -> dg.AssetMaterialization:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["test_run", asset]),
            asset_partitions=None if partition_key is None else [partition_key],
        ),
        limit=1,
    ).records
    assert records, f"{asset} {partition_key} was not materialised"
    return records[0].asset_materialization


def provenance(instance, asset: str, partition_key: str | None = None) -> dg.DataProvenance:
    recorded = dg.DataProvenance.from_tags(latest(instance, asset, partition_key).tags)
    assert recorded is not None
    return recorded


def test_market_bars_record_the_fingerprint_as_their_data_version(
    small_config, sweep_resources, instance
):
    (market_bars,) = [a for a in sweep_assets(small_config) if a.key.path[-1] == "market_bars"]
    fingerprints = {c: small_config.data.load_bars(c).fingerprint() for c in small_config.cryptos}
    code_version = asset_code_versions(small_config)["market_bars"]

    materialise([market_bars], ["market_bars"], ["ETHUSDT"], instance, sweep_resources)

    one = latest(instance, "market_bars", "ETHUSDT")
    assert one.tags["dagster/data_version"] == fingerprints["ETHUSDT"]
    assert one.metadata["fingerprint"].value == fingerprints["ETHUSDT"]
    assert provenance(instance, "market_bars", "ETHUSDT").code_version == code_version

    # The sweep's ranged run: Dagster copies one version to every partition of the run.
    materialise(
        [market_bars], ["market_bars"], list(small_config.cryptos), instance, sweep_resources
    )

    for crypto in small_config.cryptos:
        recorded = latest(instance, "market_bars", crypto)
        assert recorded.tags["dagster/data_version"] == bars_data_version(fingerprints)
        assert recorded.metadata["fingerprint"].value == fingerprints[crypto]
        assert provenance(instance, "market_bars", crypto).code_version == code_version


def test_a_config_change_leaves_exactly_the_assets_it_reaches_on_an_old_code_version(
    small_config, sweep_resources, instance, tmp_path
):
    outcomes = run_small_sweep(small_config, sweep_resources, instance)
    assert all(o.success for o in outcomes)
    recorded = {asset: provenance(instance, asset).code_version for asset in ASSETS}
    assert recorded == asset_code_versions(small_config)

    more_seeds = config_from(tmp_path, SMALL_SWEEP_YAML.replace("n_seeds: 20", "n_seeds: 30"))
    redefined = {a.key.path[-1]: a.code_versions_by_key[a.key] for a in sweep_assets(more_seeds)}

    # Dagster's "has a new code version": the definition's version is not the recorded one.
    assert {asset for asset in ASSETS if redefined[asset] != recorded[asset]} == RESULTS_AND_REPORT


def test_new_bars_make_stale_only_the_slices_of_their_crypto(sweep_resources, instance, tmp_path):
    from dagster._core.definitions.data_version import StaleStatus
    from dagster._utils.test.data_versions import get_stale_status_resolver

    data = tmp_path / "data"
    data.mkdir()
    frames = {"BTCUSDT": good_frame(N_BARS), "ETHUSDT": good_frame(N_BARS).assign(volume=20.0)}
    for crypto, frame in frames.items():
        (data / f"{crypto}_1h.csv").write_text(csv_text(frame))
    config = config_from(
        tmp_path,
        SMALL_SWEEP_YAML.replace(
            SAMPLE_DATA, f"data: {{format: ohlcv_csv, path: {data}, timeframe: 1h}}"
        ),
    )
    assets = sweep_assets(config)
    slices = next(a for a in assets if a.key.path[-1] == "feature_slice")
    slice_keys = slices.partitions_def.get_partition_keys()
    cryptos = list(config.cryptos)

    def slice_status() -> dict[str, set[str]]:
        resolver = get_stale_status_resolver(instance, assets)
        by_crypto: dict[str, set[str]] = {crypto: set() for crypto in cryptos}
        for key in slice_keys:
            status = resolver.get_status(slices.key, key)
            by_crypto[decode_slice_key(key).crypto].add(status.value)
        return by_crypto

    materialise(assets, ["market_bars"], cryptos, instance, sweep_resources)
    materialise(assets, ["feature_slice"], slice_keys, instance, sweep_resources)
    assert slice_status() == {crypto: {StaleStatus.FRESH.value} for crypto in cryptos}

    # The same bars again: the same data version, nothing downstream goes stale.
    materialise(assets, ["market_bars"], cryptos, instance, sweep_resources)
    assert slice_status() == {crypto: {StaleStatus.FRESH.value} for crypto in cryptos}

    # ETH's file changes and only ETH is loaded again: only ETH's slices are stale.
    frames["ETHUSDT"].loc[1000, "volume"] = 25.0
    (data / "ETHUSDT_1h.csv").write_text(csv_text(frames["ETHUSDT"]))
    materialise(assets, ["market_bars"], ["ETHUSDT"], instance, sweep_resources)
    assert slice_status() == {
        "BTCUSDT": {StaleStatus.FRESH.value},
        "ETHUSDT": {StaleStatus.STALE.value},
    }

    # The sweep's ranged run records one version for both cryptos (dagster-io/dagster#18649):
    # BTC's slices go stale too, never fewer than the changed data reaches.
    materialise(assets, ["feature_slice"], slice_keys, instance, sweep_resources)
    materialise(assets, ["market_bars"], cryptos, instance, sweep_resources)
    assert slice_status() == {crypto: {StaleStatus.STALE.value} for crypto in cryptos}


def test_anchored_at_the_start_more_folds_stale_nothing_but_the_report(tmp_path):
    anchored = SMALL_SWEEP_YAML.replace("purge_bars: 12}", "purge_bars: 12, anchor: start}")
    assert anchored != SMALL_SWEEP_YAML
    before = config_from(tmp_path, anchored, "before.yaml")
    after = config_from(tmp_path, anchored.replace("n_folds: 2", "n_folds: 3"), "after.yaml")

    assert (before.folds.anchor, after.folds.n_folds) == ("start", 3)
    assert changed_assets(before, after) == {"sweep_report"}
