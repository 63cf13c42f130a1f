"""Models: variant parsing, plug-in loading, and proof that test positions cannot see the future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from econ_obs.core.accounting import CostBasis, PricePath, evaluate_positions
from econ_obs.core.features import compute_features
from econ_obs.core.folds import FoldConfig, walk_forward_folds
from econ_obs.core.market_data import MarketBars
from econ_obs.core.models import (
    DEFAULT_MODEL_CLASS,
    RidgeSignal,
    load_model_class,
    model_positions,
    parse_variants,
)
from econ_obs.core.sample_data import sample_bars
from econ_obs_tests.plugin_models import ConstantSignal, MemorisingOracle

ORACLE = "econ_obs_tests.plugin_models:MemorisingOracle"


def test_parse_variants_fills_params_and_derives_names() -> None:
    variants = parse_variants([{"alpha": 2.0, "threshold_bps": 5}, {"name": "mine"}], None)
    assert variants[0].params == {"alpha": 2.0, "threshold_bps": 5, "class": DEFAULT_MODEL_CLASS}
    assert variants[0].name == "alpha=2.0,threshold_bps=5"
    assert variants[0].name == parse_variants([{"threshold_bps": 5, "alpha": 2.0}], None)[0].name
    assert variants[1].name == "mine" and "name" not in variants[1].params
    plugin = parse_variants([{"level_bps": 3}], "econ_obs_tests.plugin_models:ConstantSignal")
    assert plugin[0].params["class"].endswith("ConstantSignal") and "alpha" not in plugin[0].params
    assert plugin[0].name.startswith("ConstantSignal,")


def test_parse_variants_rejects_duplicates_and_bad_values() -> None:
    with pytest.raises(ValueError, match="both named 'a'"):
        parse_variants([{"name": "a"}, {"name": "a", "alpha": 3}], None)
    with pytest.raises(ValueError, match="threshold_bps"):
        parse_variants([{"threshold_bps": "high"}], None)
    with pytest.raises(ValueError, match="features"):
        parse_variants([{"features": "ret_lag_1"}], None)


def test_load_model_class_errors_are_clear() -> None:
    assert load_model_class(DEFAULT_MODEL_CLASS) is RidgeSignal
    assert load_model_class("econ_obs_tests.plugin_models:ConstantSignal") is ConstantSignal
    with pytest.raises(ValueError, match="cannot import 'no_such_module'"):
        load_model_class("no_such_module:Model")
    with pytest.raises(ValueError, match="has no class 'Missing'"):
        load_model_class("econ_obs_tests.plugin_models:Missing")
    with pytest.raises(ValueError, match="lacks predict"):
        load_model_class("econ_obs_tests.plugin_models:NoPredict")
    with pytest.raises(ValueError, match=r"package\.module:Class"):
        load_model_class("econ_obs.core.models.RidgeSignal")


def test_ridge_recovers_a_linear_signal() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, 3))
    target = features @ np.array([0.5, -0.2, 0.0]) + 0.1
    model = RidgeSignal(alpha=1e-6).fit(features, target)
    np.testing.assert_allclose(model.predict(features), target, atol=1e-6)


def setup_fold(n_bars: int = 1200, purge_bars: int = 0) -> tuple[MarketBars, pd.DataFrame, list]:
    bars = sample_bars("BTCUSDT", n_bars=n_bars)
    features = compute_features("returns", bars).frame
    config = FoldConfig(n_folds=2, train_bars=500, test_bars=200, purge_bars=purge_bars)
    return bars, features, walk_forward_folds(bars.frame.index, config, "BTCUSDT")


def test_plugin_gets_constructor_kwargs_and_positions_are_int8() -> None:
    bars, features, windows = setup_fold()
    window = windows[0]
    variant = parse_variants(
        [{"level_bps": 3, "threshold_bps": 2}], "econ_obs_tests.plugin_models:ConstantSignal"
    )[0]
    positions = model_positions(
        variant, features, bars.frame["close"], window.train_slice, window.test_slice
    )
    assert positions.dtype == np.int8 and positions.size == window.n_test_bars
    assert positions.all()  # 3 bps clears 2 bps
    higher = parse_variants(
        [{"level_bps": 3, "threshold_bps": 4}], "econ_obs_tests.plugin_models:ConstantSignal"
    )[0]
    assert not model_positions(
        higher, features, bars.frame["close"], window.train_slice, window.test_slice
    ).any()


def test_training_labels_stop_inside_the_train_window() -> None:
    # With purge_bars=0 the first test bar directly follows the train window; a 10x spike on it
    # would show up in the last train row's label if the pipeline let it in.
    bars, features, windows = setup_fold(purge_bars=0)
    window = windows[0]
    close = bars.frame["close"].copy()
    close.iloc[window.test_slice.start] *= 10
    MemorisingOracle.seen_targets.clear()
    model_positions(
        parse_variants([{}], ORACLE)[0], features, close, window.train_slice, window.test_slice
    )
    seen = MemorisingOracle.seen_targets[-1]
    log_close = np.log(close.to_numpy())
    train = np.arange(window.train_slice.start, window.train_slice.stop - 1)
    usable = features.iloc[train].notna().all(axis=1).to_numpy()
    np.testing.assert_array_equal(seen, (log_close[train + 1] - log_close[train])[usable])
    assert np.abs(seen).max() < 0.5


def test_a_memorising_oracle_earns_nothing_on_the_test_window() -> None:
    # Features that identify each bar: the oracle would know every test bar's return if any test
    # label reached fit, and would then be long exactly on the up bars.
    bars, _, windows = setup_fold()
    bar_id = pd.DataFrame({"bar_id": np.arange(bars.n_bars, dtype=float)}, index=bars.frame.index)
    close = bars.frame["close"]
    for window in windows:
        positions = model_positions(
            parse_variants([{}], ORACLE)[0], bar_id, close, window.train_slice, window.test_slice
        )
        path = PricePath(close.to_numpy()[window.test_slice], bars.bars_per_year)
        assert not positions.any()
        assert evaluate_positions(path, positions, CostBasis(0, 0)).net_return == 0.0


@pytest.mark.parametrize("offset", [0, 57, 199])
def test_test_positions_ignore_prices_after_their_bar(offset: int) -> None:
    bars, _, windows = setup_fold()
    window = windows[1]
    variant = parse_variants([{"alpha": 1.0, "threshold_bps": 0}], None)[0]
    before = model_positions(
        variant,
        compute_features("returns", bars).frame,
        bars.frame["close"],
        window.train_slice,
        window.test_slice,
    )
    cut = window.test_slice.start + offset
    close = bars.frame["close"].to_numpy().copy()
    close[cut + 1 :] *= np.exp(np.random.default_rng(offset).normal(0, 0.1, close.size - cut - 1))
    altered = MarketBars("BTCUSDT", bars.frame.assign(close=close), bars.bar_interval, "test")
    after = model_positions(
        variant,
        compute_features("returns", altered).frame,
        altered.frame["close"],
        window.train_slice,
        window.test_slice,
    )
    np.testing.assert_array_equal(before[: offset + 1], after[: offset + 1])


def test_test_rows_without_features_are_flat() -> None:
    bars, features, windows = setup_fold()
    window = windows[0]
    features = features.copy()
    features.iloc[window.test_slice.start + 3, 0] = np.nan
    variant = parse_variants([{"level_bps": 5}], "econ_obs_tests.plugin_models:ConstantSignal")[0]
    positions = model_positions(
        variant, features, bars.frame["close"], window.train_slice, window.test_slice
    )
    assert positions[3] == 0 and positions.sum() == window.n_test_bars - 1
