"""Every setting is checked when the config loads, before any row is written: one line, one key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from econ_obs.config import ConfigError, load_sweep_config
from econ_obs.core.models import PLUGIN_MODULES_ENV_VAR

VALID: dict[str, Any] = {
    "run_id": "bounds",
    "strategy": "ridge_next_bar",
    "data": {"format": "sample", "timeframe": "1h"},
    "cryptos": ["BTCUSDT"],
    "folds": {"n_folds": 2, "train_bars": 200, "test_bars": 50, "purge_bars": 5},
    "costs_bps": [10],
    "slippage_bps": 2,
    "model": {"variants": [{"name": "ridge", "alpha": 1.0, "threshold_bps": 5}]},
    "baselines": {"random": {"n_seeds": 20, "hold_bars": 12}},
    "schedule": {"cron": "30 3 * * *"},
}


def _load_error(tmp_path: Path, section: str, value: Any) -> str:
    raw = copy.deepcopy(VALID)
    raw[section] = value
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_sweep_config(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def _variants(*variants: dict) -> dict:
    return {"variants": list(variants)}


def _folds(**changes: int) -> dict:
    return {**VALID["folds"], **changes}


FACTOR_WINDOW = "factor_params.volatility_windows[1]"


def test_the_valid_base_loads(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(VALID), encoding="utf-8")
    assert load_sweep_config(path).run_id == "bounds"


@pytest.mark.parametrize(
    ("section", "value", "key", "words"),
    [
        ("model", _variants({"alpha": 1.0}, {"alpha": -1.0}), "model.variants[1]", "alpha=-1.0"),
        ("model", _variants({"alpha": 1.0, "beta": 2}), "model.variants[0]", "'beta'"),
        ("model", {"class": "no_such_module:Model", **_variants({})}, "model.class", "import"),
        (
            "model",
            _variants({"class": "econ_obs_tests.plugin_models:Missing"}),
            "model.variants[0]",
            "has no class",
        ),
        ("model", _variants(*({"alpha": float(n)} for n in range(1001))), "model.variants", "1001"),
        ("schedule", {"cron": "99 99 99 99 99"}, "schedule.cron", "minute field '99'"),
        ("schedule", {"cron": "0 24 * * *"}, "schedule.cron", "hour field"),
        ("schedule", {"cron": "0 0 32 * *"}, "schedule.cron", "day field"),
        ("schedule", {"cron": "0 0 * 13 *"}, "schedule.cron", "month field"),
        ("schedule", {"cron": "0 0 * * 8"}, "schedule.cron", "weekday field"),
        ("schedule", {"cron": "*/0 * * * *"}, "schedule.cron", "minute field"),
        ("costs_bps", [10, 2147483648], "costs_bps[1]", "over 10000"),
        ("costs_bps", [10001], "costs_bps[0]", "over 10000"),
        (
            "folds",
            {"n_folds": 1_000_000, "train_bars": 200, "test_bars": 50, "purge_bars": 5},
            "folds.n_folds",
            "over 1000",
        ),
        ("baselines", {"random": {"n_seeds": 10**9}}, "baselines.random.n_seeds", "over 100000"),
        ("baselines", {"random": {"hold_bars": 10**23}}, "baselines.random.hold_bars", "10000000"),
        ("data", {"format": "sample", "max_gap_bars": 10**23}, "data.max_gap_bars", "10000000"),
        ("folds", _folds(train_bars=10_000_001), "folds.train_bars", "over 10000000"),
        ("folds", _folds(test_bars=10**23), "folds.test_bars", "over 10000000"),
        ("folds", _folds(purge_bars=10**23), "folds.purge_bars", "over 10000000"),
        ("factor_params", {"nope": 3}, "factor_params.nope", "unknown key 'nope'"),
        ("factor_params", {"lags": 0}, "factor_params.lags", "lags=0"),
        ("factor_params", {"lags": 10**23}, "factor_params.lags", "over 1000"),
        ("factor_params", {"volatility_windows": [24, 10**23]}, FACTOR_WINDOW, "over 10000000"),
        ("factor_params", {"momentum_horizons": [1]}, "factor_params.momentum_horizons", ">= 2"),
        ("factor_params", [3], "factor_params", "not a mapping"),
        ("factor_params", {"momentum_horizons": [*range(2, 1100)]}, "factor_params", "columns"),
        (
            "model",
            _variants({"alpha": 1.0}, {"name": "few", "features": ["ret_lag_1", "no_such_col"]}),
            "model.variants[1].features[1]",
            "variant 'few' names column 'no_such_col'",
        ),
    ],
)
def test_a_bad_setting_fails_at_load_naming_its_key(tmp_path, section, value, key, words):
    message = _load_error(tmp_path, section, value)
    assert f": {key}: " in message
    assert words in message


@pytest.mark.parametrize(
    "cron", ["*/15 0-23/2 1,15 jan-mar mon-fri", "0 0 * * 7", "0/5 * * * *", "0 2 * * *"]
)
def test_valid_crons_load(tmp_path, cron):
    raw = {**copy.deepcopy(VALID), "schedule": {"cron": cron}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_sweep_config(path).schedule_cron == cron


def test_the_bounds_themselves_are_accepted(tmp_path):
    raw = copy.deepcopy(VALID)
    raw["costs_bps"] = [0, 10000]
    raw["folds"]["n_folds"] = 1000
    raw["baselines"]["random"]["n_seeds"] = 100_000
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = load_sweep_config(path)
    assert config.costs_bps == (0, 10000) and config.folds.n_folds == 1000


def test_the_bar_bounds_and_a_variant_using_factor_columns_load(tmp_path):
    raw = copy.deepcopy(VALID)
    raw["folds"].update(train_bars=10_000_000, purge_bars=10_000_000)
    raw["data"]["max_gap_bars"] = 10_000_000
    raw["baselines"]["random"]["hold_bars"] = 10_000_000
    raw["factor"] = "btc_overlay"
    raw["factor_params"] = {"lags": 2, "volatility_windows": [10_000_000]}
    raw["model"] = _variants({"features": ["ret_lag_2", "btc_vol_10000000"]})
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = load_sweep_config(path)
    assert config.factor_params == {"lags": 2, "volatility_windows": [10_000_000]}
    assert config.random_baseline.hold_bars == 10_000_000


def test_a_plugin_outside_the_allow_list_fails_at_load(tmp_path, monkeypatch):
    monkeypatch.setenv(PLUGIN_MODULES_ENV_VAR, "my_models")
    message = _load_error(tmp_path, "model", {"class": "this:Foo", **_variants({})})
    assert ": model.class: " in message and "not in ECON_OBS_PLUGIN_MODULES" in message


def test_a_sweep_over_the_partition_bound_is_refused_naming_the_product(tmp_path):
    from econ_obs.config import parse_sweep_config
    from econ_obs.config.yaml_reader import ConfigError
    from econ_obs_tests.test_config import _raw

    raw = _raw(folds={"n_folds": 1000, "train_bars": 10, "test_bars": 10, "purge_bars": 1})
    raw["costs_bps"] = list(range(30))
    with pytest.raises(ConfigError) as refused:
        parse_sweep_config(raw, tmp_path / "sweep.yaml")
    message = str(refused.value)
    assert "\n" not in message and "result partitions, over 20000" in message
    assert "1000 folds" in message
