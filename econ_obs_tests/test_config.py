"""The sweep config: the shipped files load, and every bad input names its key and value."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from econ_obs.config import (
    DEFAULT_SWEEP_PATH,
    SWEEP_ENV_VAR,
    ConfigError,
    SweepConfig,
    load_sweep_config,
    parse_sweep_config,
    resolve_sweep_path,
)

VALID: dict[str, Any] = {
    "run_id": "test_run",
    "strategy": "ridge_next_bar",
    "data": {"format": "sample", "timeframe": "1h"},
    "cryptos": ["BTCUSDT", "ETHUSDT"],
    "folds": {"n_folds": 2, "train_bars": 200, "test_bars": 50, "purge_bars": 5},
    "costs_bps": [10, 30],
    "slippage_bps": 2,
    "model": {"variants": [{"name": "ridge_a1_t5", "alpha": 1.0, "threshold_bps": 5}]},
}


def _raw(**changes: Any) -> dict[str, Any]:
    """A valid sweep mapping with top-level keys replaced; a value of ... removes the key."""
    raw = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is ...:
            raw.pop(key)
        else:
            raw[key] = value
    return raw


def _write(folder: Path, raw: dict[str, Any], name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _csv_folder(tmp_path: Path, cryptos: tuple[str, ...] = ("BTCUSDT",)) -> Path:
    folder = tmp_path / "bars"
    folder.mkdir()
    for crypto in cryptos:
        (folder / f"{crypto}_1h.csv").write_text(
            "timestamp,open,high,low,close,volume\n", encoding="utf-8"
        )
    return folder


def _error(raw: dict[str, Any], source_path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_sweep_config(raw, source_path)
    message = str(caught.value)
    assert message.startswith(str(source_path)), message
    assert "\n" not in message
    return message


def test_shipped_default_loads_with_documented_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SWEEP_ENV_VAR, raising=False)
    config = load_sweep_config()
    assert config.source_path == DEFAULT_SWEEP_PATH
    assert (config.run_id, config.strategy) == ("default", "ridge_next_bar")
    assert (config.data.data_format, config.data.path, config.data.timeframe) == (
        "sample",
        None,
        "1h",
    )
    assert config.cryptos == ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    folds = config.folds
    assert (folds.n_folds, folds.train_bars, folds.test_bars, folds.purge_bars) == (
        4,
        2000,
        720,
        24,
    )
    assert config.costs_bps == (10, 15, 30)
    assert config.slippage_bps == (2.0,)
    assert config.factor == "returns"
    assert [variant.name for variant in config.variants] == [
        "ridge_a1_t5",
        "ridge_a10_t5",
        "ridge_a10_t10",
    ]
    assert (config.random_baseline.n_seeds, config.random_baseline.hold_bars) == (100, 24)
    assert config.schedule_cron == "0 2 * * *"
    assert not config.needs_btc
    assert config.data_cryptos == config.cryptos


def test_shipped_binance_sweep_loads_with_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _csv_folder(tmp_path, ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"))
    monkeypatch.setenv("ECON_OBS_DATA_DIR", str(folder))
    config = load_sweep_config(DEFAULT_SWEEP_PATH.parent / "binance_1h.yaml")
    assert config.data.path == folder.resolve()
    assert len(config.cryptos) * config.folds.n_folds * len(config.costs_bps) == 4 * 6 * 3


def test_env_var_selects_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SWEEP_ENV_VAR, str(_write(tmp_path, _raw(run_id="from_env"))))
    assert load_sweep_config().run_id == "from_env"


def test_explicit_path_beats_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SWEEP_ENV_VAR, str(_write(tmp_path, _raw(run_id="from_env"))))
    explicit = _write(tmp_path, _raw(run_id="explicit"), "explicit.yaml")
    assert load_sweep_config(explicit).run_id == "explicit"
    assert resolve_sweep_path(str(explicit)) == explicit.resolve()


def test_missing_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SWEEP_ENV_VAR, str(tmp_path / "nowhere.yaml"))
    with pytest.raises(ConfigError, match=r"nowhere\.yaml.*ECON_OBS_SWEEP"):
        resolve_sweep_path()


def test_key_written_twice_in_yaml_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(yaml.safe_dump(_raw()) + "slippage_bps: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'slippage_bps' is written twice"):
        load_sweep_config(path)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"colour": "red"}, ["colour", "top level", "allowed: run_id"]),
        (
            {"folds": {**VALID["folds"], "test_barz": 5}},
            ["folds.test_barz", "'test_barz' in folds", "test_bars"],
        ),
        ({"costs_bps": [10, -5]}, ["costs_bps[1]", "-5", "negative"]),
        ({"costs_bps": [10, 15, 10]}, ["costs_bps[2]", "10", "twice"]),
        ({"costs_bps": [10, 2.5]}, ["costs_bps[1]", "2.5", "whole"]),
        ({"costs_bps": [True]}, ["costs_bps[0]", "True", "whole"]),
        ({"costs_bps": ...}, ["costs_bps", "missing", "[10, 15, 30]"]),
        ({"costs_bps": []}, ["costs_bps", "[]", "non-empty"]),
        ({"slippage_bps": ...}, ["slippage_bps", "missing"]),
        ({"slippage_bps": -1}, ["slippage_bps", "-1", ">= 0"]),
        ({"cryptos": []}, ["cryptos", "[]", "non-empty"]),
        ({"cryptos": ["BTCUSDT", "btcusdt"]}, ["cryptos[1]", "'btcusdt'", "upper-case"]),
        ({"cryptos": ["BTCUSDT", "DOGEUSDT"]}, ["cryptos[1]", "'DOGEUSDT'", "sample data"]),
        ({"data": {"format": "parquet"}}, ["data.format", "'parquet'", "ohlcv_csv"]),
        ({"data": {"format": "ohlcv_csv"}}, ["data.path", "missing"]),
        ({"data": {"format": "sample", "path": "x"}}, ["data.path", "'x'", "remove"]),
        ({"factor": "moon_phase"}, ["factor", "'moon_phase'", "returns"]),
        ({"schedule": {"cron": "0 2 * *"}}, ["schedule.cron", "'0 2 * *'", "5-field"]),
        ({"run_id": "my run"}, ["run_id", "'my run'"]),
        ({"strategy": ...}, ["strategy", "missing"]),
        ({"folds": {**VALID["folds"], "n_folds": True}}, ["folds.n_folds", "True", "whole"]),
        ({"folds": {"n_folds": 2}}, ["folds.train_bars", "missing"]),
        ({"folds": {**VALID["folds"], "anchor": "middle"}}, ["folds.anchor", "'middle'", "start"]),
        ({"folds": {**VALID["folds"], "anchor": 1}}, ["folds.anchor", "1", "string"]),
        ({"model": {"variants": []}}, ["model.variants", "[]"]),
        ({"model": {"variants": ["ridge"]}}, ["model.variants[0]", "'ridge'", "mapping"]),
        ({"model": {**VALID["model"], "class": "no_colon"}}, ["model.class", "'no_colon'"]),
        ({"baselines": {"random": {"n_seeds": 0}}}, ["baselines.random.n_seeds", "0"]),
        ({"baselines": {"random": {"entry_prob": 2.0}}}, ["baselines.random.entry_prob", "2.0"]),
        ({"baselines": {"randum": {}}}, ["baselines.randum", "allowed: random, matched"]),
        ({"baselines": {"matched": {"n_perms": -5}}}, ["baselines.matched.n_perms", "-5"]),
        ({"baselines": {"matched": {"n_perms": 0}}}, ["baselines.matched.n_perms", "0"]),
        ({"baselines": {"matched": {"n_perms": 2.5}}}, ["baselines.matched.n_perms", "2.5"]),
        ({"baselines": {"matched": {"n_perms": "many"}}}, ["baselines.matched.n_perms", "'many'"]),
        ({"baselines": {"matched": {"n_perm": 10}}}, ["baselines.matched.n_perm", "allowed"]),
    ],
)
def test_bad_input_names_key_and_value(
    tmp_path: Path, changes: dict[str, Any], expected: list[str]
) -> None:
    message = _error(_raw(**changes), tmp_path / "sweep.yaml")
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("n_perms_text", ["2.5", "many", "1e3", "1.0e+3", "true"])
def test_a_non_integer_n_perms_names_its_key_once_with_a_sensible_example(
    tmp_path: Path, n_perms_text: str
) -> None:
    raw = _raw()
    raw["baselines"] = {"matched": {"n_perms": 1000}}
    text = yaml.safe_dump(raw).replace("n_perms: 1000", f"n_perms: {n_perms_text}")
    path = tmp_path / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_sweep_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.count(str(path)) == 1, message
    assert message.count("baselines.matched.n_perms") == 1, message
    assert "not a whole number" in message
    assert "e.g. 1000" in message and "e.g. 24" not in message, message


def test_crypto_missing_from_csv_folder_names_crypto_and_folder(tmp_path: Path) -> None:
    folder = _csv_folder(tmp_path)
    raw = _raw(data={"format": "ohlcv_csv", "path": str(folder)}, cryptos=["BTCUSDT", "ETHUSDT"])
    message = _error(raw, tmp_path / "sweep.yaml")
    assert "cryptos[1]" in message
    assert "'ETHUSDT'" in message
    assert str(folder) in message


def test_relative_data_path_resolves_against_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _csv_folder(tmp_path)
    config_folder = tmp_path / "configs"
    config_folder.mkdir()
    monkeypatch.chdir(config_folder / "..")  # not the config's folder: the path must not care
    raw = _raw(data={"format": "ohlcv_csv", "path": "../bars"}, cryptos=["BTCUSDT"])
    config = load_sweep_config(_write(config_folder, raw))
    assert config.data.path == folder.resolve()
    assert config.data.path.is_absolute()


def test_env_var_in_data_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _csv_folder(tmp_path)
    monkeypatch.setenv("ECON_OBS_TEST_DATA", str(folder))
    raw = _raw(data={"format": "ohlcv_csv", "path": "${ECON_OBS_TEST_DATA}"}, cryptos=["BTCUSDT"])
    config = parse_sweep_config(raw, tmp_path / "sweep.yaml")
    assert config.data.path == folder.resolve()


def test_unset_env_var_in_data_path_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECON_OBS_TEST_DATA", raising=False)
    raw = _raw(data={"format": "ohlcv_csv", "path": "${ECON_OBS_TEST_DATA}/1h"})
    message = _error(raw, tmp_path / "sweep.yaml")
    assert "data.path" in message
    assert "ECON_OBS_TEST_DATA" in message
    assert "not set" in message


def test_btc_overlay_adds_btc_to_data_cryptos(tmp_path: Path) -> None:
    config = parse_sweep_config(
        _raw(factor="btc_overlay", cryptos=["ETHUSDT"]), tmp_path / "sweep.yaml"
    )
    assert isinstance(config, SweepConfig)
    assert config.needs_btc
    assert config.cryptos == ("ETHUSDT",)
    assert config.data_cryptos == ("ETHUSDT", "BTCUSDT")


def test_btc_overlay_needs_btc_in_the_data_folder(tmp_path: Path) -> None:
    folder = _csv_folder(tmp_path, ("ETHUSDT",))
    raw = _raw(
        data={"format": "ohlcv_csv", "path": str(folder)}, cryptos=["ETHUSDT"], factor="btc_overlay"
    )
    message = _error(raw, tmp_path / "sweep.yaml")
    assert "factor" in message
    assert "'BTCUSDT'" in message


def test_optional_keys_take_documented_defaults(tmp_path: Path) -> None:
    config = parse_sweep_config(_raw(), tmp_path / "sweep.yaml")
    assert config.factor == "returns"
    assert config.factor_params == {}
    assert config.schedule_cron == "0 2 * * *"
    assert config.random_baseline.n_seeds == 100
    assert config.random_baseline.entry_prob is None
    assert config.matched_null.n_perms == 1000
