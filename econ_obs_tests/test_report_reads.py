"""The report's fast reads give what the driver's own decoding gives: every stored null draw bit
for bit (empty, NULL and NULL-element arrays too) and every equity curve's times and values.

Real PostgreSQL: literal arrays sent through `array_send`, then a small sweep materialised and
read back both ways.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from econ_obs.defs.checks import expected_keys
from econ_obs.report.data import RANDOM_SEED_COLUMNS
from econ_obs.store.pg_binary import sent_array
from econ_obs.store.report_data import load_report_data
from econ_obs_tests.conftest import run_small_sweep

ARRAY_LITERALS = [
    None,
    "{}",
    "{1.5}",
    "{0.1,-0.0,0,5e-324,2.2250738585072014e-308,1.7976931348623157e308,-3.3333333333333335}",
    "{NaN,Infinity,-Infinity}",
    "{1,NULL,3}",
    "{NULL}",
    "{{1,2,3},{4,5,6}}",
]
_BOTH_WAYS = sa.text(
    "SELECT CAST(:value AS DOUBLE PRECISION[]) AS decoded, "
    "array_send(CAST(:value AS DOUBLE PRECISION[])) AS sent"
)


def _driver_array(values: list | None) -> np.ndarray:
    """The old reading: the driver's list (None for a NULL array) as a float array."""
    return np.asarray(values or [], dtype=float)


def _assert_same_doubles(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == np.float64 and actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)  # NaN matches NaN
    np.testing.assert_array_equal(np.signbit(actual), np.signbit(expected))  # -0.0 stays -0.0


@pytest.mark.parametrize("literal", ARRAY_LITERALS)
def test_a_sent_sent_array_decodes_to_the_drivers_values(engine, literal):
    with engine.connect() as connection:
        row = connection.execute(_BOTH_WAYS, {"value": literal}).one()
    _assert_same_doubles(sent_array(row.sent), _driver_array(row.decoded))


def test_a_thousand_random_doubles_come_back_bit_for_bit(engine):
    rng = np.random.default_rng(3)
    values = rng.normal(0.0, 1.0, 1000) * 10.0 ** rng.uniform(-300, 300, 1000)
    with engine.connect() as connection:
        row = connection.execute(_BOTH_WAYS, {"value": values.tolist()}).one()
    assert sent_array(row.sent).tobytes() == values.tobytes()
    assert _driver_array(row.decoded).tobytes() == values.tobytes()


def test_an_int4_array_decodes_to_int64_and_another_type_is_refused(engine):
    with engine.connect() as connection:
        ints = connection.execute(sa.text("SELECT array_send('{7,-1,2147483647}'::int4[])"))
        text = connection.execute(sa.text("SELECT array_send(ARRAY['a']::text[])"))
        ints_sent, text_sent = ints.scalar_one(), text.scalar_one()
    decoded = sent_array(ints_sent)
    assert decoded.dtype == np.int64 and decoded.tolist() == [7, -1, 2147483647]
    with pytest.raises(ValueError, match="float8"):
        sent_array(text_sent)


_STORED_NULLS = sa.text(
    "SELECT crypto, fold_id, cost_bps, slippage_bps, variant, matched_null_net_returns "
    "FROM finetune_results WHERE run_id = :run_id"
)
_STORED_SEEDS = sa.text(
    "SELECT crypto, fold_id, cost_bps, slippage_bps, seed, net_return FROM finetune_random_seeds "
    "WHERE run_id = :run_id ORDER BY crypto, fold_id, cost_bps, slippage_bps, seed"
)
_STORED_CURVES = sa.text(
    """
    SELECT crypto, fold_id, cost_bps, slippage_bps, variant AS series, equity_curve
    FROM finetune_results WHERE run_id = :run_id AND equity_curve IS NOT NULL
    UNION ALL
    SELECT crypto, fold_id, cost_bps, slippage_bps, baseline_type, equity_curve
    FROM finetune_baselines WHERE run_id = :run_id AND equity_curve IS NOT NULL
    """
)
# Zero-trade rows store NULL or an empty array; a NULL element must read as NaN, not be dropped.
_SET_NULLS = sa.text(
    """
    UPDATE finetune_results SET matched_null_net_returns = CASE CAST(:how AS TEXT)
        WHEN 'empty' THEN '{}'::DOUBLE PRECISION[]
        WHEN 'null' THEN NULL
        ELSE matched_null_net_returns[1:2] || ARRAY[NULL::DOUBLE PRECISION]
    END
    WHERE run_id = :run_id AND crypto = :crypto AND fold_id = 0 AND cost_bps = :cost_bps
      AND variant = :variant
    """
)


def _key(row) -> tuple:
    return (row.crypto, int(row.fold_id), int(row.cost_bps), float(row.slippage_bps))


def test_the_report_reads_every_stored_null_and_curve_as_the_driver_does(
    small_config, sweep_resources, instance, engine
):
    assert all(o.success for o in run_small_sweep(small_config, sweep_resources, instance))
    config = small_config
    crypto, (low_cost, high_cost) = config.cryptos[0], config.costs_bps
    edge_rows = {
        (crypto, 0, low_cost, "ridge_a1_t0"): "empty",
        (crypto, 0, low_cost, "ridge_a10_t5"): "null",
        (crypto, 0, high_cost, "ridge_a1_t0"): "null element",
    }
    with engine.begin() as connection:
        for (row_crypto, _, cost_bps, variant), how in edge_rows.items():
            params = {"crypto": row_crypto, "cost_bps": cost_bps, "variant": variant, "how": how}
            assert connection.execute(_SET_NULLS, {**params, "run_id": config.run_id}).rowcount
    with engine.connect() as connection:
        data = load_report_data(connection, config.run_id, config.strategy, expected_keys(config))
        stored_nulls = connection.execute(_STORED_NULLS, {"run_id": config.run_id}).all()
        stored_curves = connection.execute(_STORED_CURVES, {"run_id": config.run_id}).all()
        stored_seeds = connection.execute(_STORED_SEEDS, {"run_id": config.run_id}).all()

    read_nulls = {
        (*_key(row), row.variant): row.net_returns
        for row in data.matched_null.itertuples(index=False)
    }
    assert len(read_nulls) == len(stored_nulls) == len(data.rows)
    for row in stored_nulls:
        expected = _driver_array(row.matched_null_net_returns)
        _assert_same_doubles(read_nulls[(*_key(row), row.variant)], expected)
    edge_arrays = {
        how: next(a for k, a in read_nulls.items() if (*k[:3], k[4]) == key)
        for key, how in edge_rows.items()
    }
    assert edge_arrays["empty"].size == edge_arrays["null"].size == 0
    assert edge_arrays["null element"].size == 3
    assert np.isnan(edge_arrays["null element"]).tolist() == [False, False, True]

    read_curves = {
        (*_key(row), row.series): (row.times, row.equity)
        for row in data.equity.itertuples(index=False)
    }
    assert len(read_curves) == len(stored_curves) > 0
    for row in stored_curves:
        times, equity = read_curves[(*_key(row), row.series)]
        curve = row.equity_curve
        old_times = pd.to_datetime(curve["time"], utc=True).tz_convert(None)
        assert times.dtype == np.dtype("datetime64[ns]")
        np.testing.assert_array_equal(times, old_times.to_numpy(dtype="datetime64[ns]"))
        assert equity.tobytes() == np.asarray(curve["equity"], dtype=float).tobytes()

    seeds = data.random_seeds
    assert list(seeds.columns) == list(RANDOM_SEED_COLUMNS) and len(seeds) == len(stored_seeds)
    for column in RANDOM_SEED_COLUMNS:
        expected = [getattr(row, column) for row in stored_seeds]
        assert seeds[column].tolist() == expected, column
