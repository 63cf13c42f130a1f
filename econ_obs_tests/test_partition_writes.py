"""replace_partitions writes with COPY: every value reads back exactly as an INSERT stores it,
and the database still refuses what it refused before, with the same exceptions. Also the
batched read of the baselines and seeds a batch of partitions wrote."""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from econ_obs.store.partition_writes import PartitionRows, replace_partition, replace_partitions
from econ_obs.store.pg_binary import ColumnBlock
from econ_obs.store.report import stored_baseline_net_returns
from econ_obs.store.results import (
    _TABLES,
    BASELINES_TABLE,
    RESULT_COLUMNS,
    RESULTS_TABLE,
    SEED_COLUMNS,
    SEEDS_TABLE,
    result_row,
    seed_block,
    seed_rows,
)
from econ_obs.store.significance import stored_baseline_returns, stored_seed_net_returns
from econ_obs_tests.test_results_store import (
    BASIS,
    VARIANTS,
    baselines,
    metrics,
    results,
    stored,
)

NAN, INF = float("nan"), float("inf")
AWKWARD_FLOATS = [
    5e-324,  # the smallest subnormal
    2.2250738585072014e-308,
    1.7976931348623157e308,
    0.1 + 0.2,
    -1 / 3,
    1e22,
    123456789.12345679,
]
AWKWARD_TEXT = 'o\'brien "q" \\ tab\there\nnewline\r ü → 日本 🚀 \\N'
CURVE_POINTS = 5000
OTHER_RUN = "insert_reference"


def curve(points: int) -> dict:
    start = datetime(2024, 2, 2, tzinfo=UTC)
    return {
        "time": [str(start + timedelta(hours=i)) for i in range(points)],
        "bar": list(range(points)),
        # jsonb keeps numbers as decimals: a huge double reads back as a Python int
        "equity": [5e-324, -0.0, 0.1 + 0.2, *(1.0 + i * 1e-7 for i in range(points - 3))][:points],
        "note": AWKWARD_TEXT,
    }


def awkward_results(basis, zero: float) -> list[dict]:
    """Three model rows holding the values a writer's encoding could get wrong; `zero` is 0.0
    or -0.0, which an INSERT stored as 0 (its decimal literal -0.0 is numeric, unsigned)."""
    nulls = {
        "matched_n_perms": None,
        "matched_null_seed": None,
        "matched_null_net_returns": None,  # a NULL array
        "p_value_matched": None,
        "return_skew": None,
    }
    full = {
        "matched_n_perms": 2**31 - 1,
        "matched_null_seed": 2**63 - 1,
        "matched_null_net_returns": [*AWKWARD_FLOATS, zero, None, 0.5],
        "matched_null_mean": zero,
        "matched_null_p05": 5e-324,
        "matched_null_p95": 1.7976931348623157e308,
        "p_value_matched": 1.0,
        "breakeven_cost_bps": -1 / 3,
        "n_returns": 1,
        "deflated_sharpe": 0.0,
    }
    empty = {"matched_null_net_returns": [], "random_n_seeds": 100, "sharpe_per_bar": zero}
    hyperparams = {"alpha": 5e-324, "name": AWKWARD_TEXT, "nested": {"list": [1, -0.0, None]}}
    rows = []
    for variant, significance, equity in [
        (f"nulls {AWKWARD_TEXT}", nulls, None),
        ("full", full, curve(CURVE_POINTS)),
        ("empty", empty, curve(1)),
    ]:
        row_metrics = {**metrics(zero), "gross_return": 1e-300, "sharpe": -1.7976931348623157e308}
        row = result_row(
            basis,
            variant,
            hyperparams,
            AWKWARD_TEXT,
            row_metrics,
            AWKWARD_TEXT,
            significance,
            equity,
        )
        rows.append(row)
    return rows


def as_text(engine: Engine, run_id: str) -> list[tuple]:
    """Every column of run_id's model rows but id, run_id and created_at, as PostgreSQL's text.

    float8's text is its shortest exact form and keeps -0, so equal text is equal bits."""
    columns = [c for c in RESULT_COLUMNS if c != "run_id"]
    query = sa.text(
        f"SELECT {', '.join(f'CAST({c} AS text)' for c in columns)} "  # columns: constants
        f"FROM {RESULTS_TABLE} WHERE run_id = :run_id ORDER BY variant"
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query, {"run_id": run_id})]


def bits(value: float) -> bytes:
    return struct.pack(">d", value)


def test_awkward_values_are_stored_as_an_insert_stores_them(engine):
    rows = awkward_results(BASIS, zero=0.0)
    assert replace_partition(engine, RESULTS_TABLE, BASIS, rows) == len(rows)
    # The same rows through SQLAlchemy's INSERT, the writer's way before COPY.
    reference = replace(BASIS, run_id=OTHER_RUN)
    with engine.begin() as connection:
        connection.execute(sa.insert(_TABLES[RESULTS_TABLE]), awkward_results(reference, 0.0))

    assert as_text(engine, BASIS.run_id) == as_text(engine, OTHER_RUN)


def test_awkward_values_read_back_exactly(engine):
    rows = awkward_results(BASIS, zero=-0.0)
    assert replace_partition(engine, RESULTS_TABLE, BASIS, rows) == len(rows)

    query = sa.text(
        "SELECT variant, feature_hash, dagster_run_id, model_hyperparams, equity_curve, "
        "matched_null_net_returns, matched_null_seed, matched_n_perms, net_return, sharpe, "
        "matched_null_mean, matched_null_p05, matched_null_p95, p_value_matched, train_start "
        f"FROM {RESULTS_TABLE} WHERE run_id = :run_id ORDER BY variant"
    )
    with engine.connect() as connection:
        back = {row.variant: row for row in connection.execute(query, {"run_id": BASIS.run_id})}
    by_variant = {row["variant"]: row for row in rows}
    assert set(back) == set(by_variant)
    for variant, row in back.items():
        written = by_variant[variant]
        assert row.feature_hash == AWKWARD_TEXT
        assert row.dagster_run_id == AWKWARD_TEXT
        assert row.model_hyperparams == json.loads(written["model_hyperparams"])
        expected_curve = written["equity_curve"]
        assert row.equity_curve == (None if expected_curve is None else json.loads(expected_curve))
        assert row.train_start == BASIS.train_start
        for column in ("net_return", "sharpe"):
            assert bits(getattr(row, column)) == bits(written[column])
    assert back["full"].matched_null_seed == 2**63 - 1
    assert back["full"].matched_n_perms == 2**31 - 1
    assert [None if v is None else bits(v) for v in back["full"].matched_null_net_returns] == [
        None if v is None else bits(v) for v in [*AWKWARD_FLOATS, -0.0, None, 0.5]
    ]
    assert bits(back["full"].matched_null_mean) == bits(-0.0)
    assert back["full"].matched_null_p05 == 5e-324
    assert back["full"].matched_null_p95 == 1.7976931348623157e308
    assert len(back["full"].equity_curve["equity"]) == CURVE_POINTS
    assert back["empty"].matched_null_net_returns == []
    nulls = back[f"nulls {AWKWARD_TEXT}"]
    assert nulls.matched_null_net_returns is None
    assert nulls.matched_null_seed is None
    assert nulls.p_value_matched is None
    assert nulls.equity_curve is None


def test_timestamps_keep_their_instant_whatever_their_zone(engine):
    tokyo = timezone(timedelta(hours=9))
    basis = replace(
        BASIS,
        train_start=pd.Timestamp("2024-01-01 09:00:00.123456", tz=tokyo),
        train_end=datetime(2024, 2, 1, 0, 0, 0, 999999, tzinfo=UTC),
        test_start=pd.Timestamp("2024-02-02", tz="UTC"),
        test_end=pd.Timestamp("2024-03-01 05:00", tz="America/New_York"),
    )
    replace_partition(engine, RESULTS_TABLE, basis, results(basis, "zones"))
    query = sa.text(
        f"SELECT DISTINCT train_start, train_end, test_start, test_end FROM {RESULTS_TABLE}"
    )
    with engine.connect() as connection:
        (stored_times,) = connection.execute(query).all()
    assert stored_times == (basis.train_start, basis.train_end, basis.test_start, basis.test_end)


def test_a_timestamp_before_2000_is_stored_as_written(engine):
    basis = replace(
        BASIS,
        train_start=datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        train_end=datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=11000),
    )
    replace_partition(engine, BASELINES_TABLE, basis, baselines(basis, "early"))
    with engine.connect() as connection:
        starts = connection.execute(
            sa.text(f"SELECT DISTINCT train_start, train_end FROM {BASELINES_TABLE}")
        ).all()
    assert starts == [(basis.train_start, basis.train_end)]


def test_seeds_read_back_exactly(engine):
    per_seed = {
        "net_return": [-0.0, *AWKWARD_FLOATS],
        "sharpe": [*reversed(AWKWARD_FLOATS), -0.0],
        "n_trades": list(range(len(AWKWARD_FLOATS) + 1)),
    }
    seeds = seed_rows(BASIS, per_seed)
    replace_partition(
        engine, BASELINES_TABLE, BASIS, baselines(BASIS, "seeds"), seed_block(BASIS, per_seed)
    )
    query = sa.text(
        f"SELECT {', '.join(SEED_COLUMNS)} FROM {SEEDS_TABLE} ORDER BY seed"  # constants
    )
    with engine.connect() as connection:
        back = [row._asdict() for row in connection.execute(query)]
    assert len(back) == len(seeds)
    assert bits(back[0]["net_return"]) == bits(-0.0)
    for row, written in zip(back, seeds, strict=True):
        assert row == written
        assert bits(row["net_return"]) == bits(written["net_return"])
        assert bits(row["sharpe"]) == bits(written["sharpe"])


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("net_return", NAN, "ck_finetune_result_metrics"),
        ("sharpe", -INF, "ck_finetune_result_metrics"),
        ("exposure", NAN, "ck_finetune_result_metrics"),
        ("matched_null_mean", NAN, "ck_finetune_result_significance"),
        ("matched_null_net_returns", [0.1, NAN], "ck_finetune_result_significance"),
        ("matched_null_net_returns", [INF], "ck_finetune_result_significance"),
        ("feature_hash", None, "feature_hash"),  # NOT NULL
    ],
)
def test_a_non_finite_value_is_still_refused_and_the_old_rows_kept(
    engine, column, value, constraint
):
    replace_partition(engine, RESULTS_TABLE, BASIS, results(BASIS, "old"))
    bad = results(BASIS, "new")
    bad[-1] = {**bad[-1], column: value}

    with pytest.raises(sa.exc.IntegrityError, match=constraint) as refused:
        replace_partition(engine, RESULTS_TABLE, BASIS, bad)

    assert "violates" in str(refused.value)
    assert stored(engine, RESULTS_TABLE) == [("old", 0.2)] * len(bad)


def test_a_nan_seed_is_refused_with_its_baselines(engine):
    replace_partition(engine, BASELINES_TABLE, BASIS, baselines(BASIS, "old"))
    seeds = seed_block(BASIS, {"net_return": [0.1, NAN], "sharpe": [1.0, 1.0], "n_trades": [1, 2]})

    with pytest.raises(sa.exc.IntegrityError, match="ck_finetune_random_seed_values"):
        replace_partition(engine, BASELINES_TABLE, BASIS, baselines(BASIS, "new"), seeds)

    assert stored(engine, BASELINES_TABLE) == [("old", 0.1)] * 3


def test_a_duplicate_row_breaks_the_unique_key_and_the_whole_batch(engine):
    other = replace(BASIS, fold_id=2)
    replace_partition(engine, RESULTS_TABLE, BASIS, results(BASIS, "old"))
    twice = results(other, "new") + results(other, "new")[:1]

    with pytest.raises(sa.exc.IntegrityError, match="uq_finetune_result"):
        replace_partitions(
            engine,
            RESULTS_TABLE,
            [PartitionRows(BASIS, results(BASIS, "new")), PartitionRows(other, twice)],
        )

    assert stored(engine, RESULTS_TABLE) == [("old", 0.2)] * 2
    assert stored(engine, RESULTS_TABLE, other) == []


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("n_trades", 4.0, "integer column"),  # refused, never rounded
        ("matched_n_perms", True, "integer column"),
        ("net_return", "0.1", "float column"),
        ("model_hyperparams", {"alpha": 1.0}, "json.dumps it first"),
        ("train_start", datetime(2024, 1, 1), "give it a time zone"),
        ("matched_null_seed", 2**63, "matched_null_seed"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_before_writing(engine, column, value, message):
    replace_partition(engine, RESULTS_TABLE, BASIS, results(BASIS, "old"))
    rows = results(BASIS, "new")
    rows[-1] = {**rows[-1], column: value}
    if column == "train_start":  # a basis column: the rows and their basis must agree
        basis = replace(BASIS, train_start=value)
        rows = [{**row, column: value} for row in rows]
    else:
        basis = BASIS

    with pytest.raises(ValueError, match=message) as refused:
        replace_partition(engine, RESULTS_TABLE, basis, rows)

    assert f"{RESULTS_TABLE}.{column}" in str(refused.value)
    assert stored(engine, RESULTS_TABLE) == [("old", 0.2)] * len(rows)


def test_rows_with_different_columns_are_refused(engine):
    rows = results(BASIS, "new")
    del rows[-1]["dagster_run_id"]

    with pytest.raises(ValueError, match=r"differs from the first row in \['dagster_run_id'\]"):
        replace_partition(engine, RESULTS_TABLE, BASIS, rows)


def test_a_column_left_out_of_every_row_takes_its_default(engine):
    rows = [{k: v for k, v in row.items() if k != "dagster_run_id"} for row in results(BASIS, "")]

    replace_partition(engine, RESULTS_TABLE, BASIS, rows)

    assert stored(engine, RESULTS_TABLE) == [(None, 0.2)] * len(rows)
    with engine.connect() as connection:
        (created,) = connection.execute(
            sa.text(f"SELECT DISTINCT created_at IS NOT NULL FROM {RESULTS_TABLE}")
        ).one()
    assert created


def test_the_keys_written_are_the_keys_deleted(engine):
    # Written twice, a batch leaves one set: the copied key columns equal the deleted keys,
    # a slippage that is no short decimal included.
    bases = [replace(BASIS, fold_id=fold_id, slippage_bps=0.1 + 0.2) for fold_id in (0, 1)]
    for writer in ("first", "second"):
        batch = [PartitionRows(b, results(b, writer)) for b in bases]
        replace_partitions(engine, RESULTS_TABLE, batch)

    for basis in bases:
        assert stored(engine, RESULTS_TABLE, basis) == [("second", 0.2)] * len(VARIANTS)


def test_many_partitions_read_back_as_each_one_alone(engine):
    bases = [replace(BASIS, fold_id=fold_id) for fold_id in (1, 2)] + [
        replace(BASIS, slippage_bps=0.1 + 0.2)  # same crypto, fold and cost: another key
    ]
    for n, basis in enumerate(bases):
        per_seed = {
            "net_return": [-0.0, 5e-324, 0.1 * n],
            "sharpe": [1.0] * 3,
            "n_trades": [1] * 3,
        }
        block = seed_block(basis, per_seed)  # written out of seed order:
        seeds = ColumnBlock(block.constants, {k: v[::-1] for k, v in block.arrays.items()})
        replace_partition(engine, BASELINES_TABLE, basis, baselines(basis, "w", n), seeds)
    unwritten = replace(BASIS, crypto="ETHUSDT")
    asked = [bases[2], unwritten, bases[0], bases[1], bases[0]]

    with engine.connect() as connection:
        many = stored_baseline_returns(connection, asked)
        alone = [
            (stored_seed_net_returns(connection, b), stored_baseline_net_returns(connection, b))
            for b in asked
        ]
        assert stored_baseline_returns(connection, []) == []

    assert len(many) == len(asked)
    for stored_returns, (seed_net_returns, baseline_net_returns) in zip(many, alone, strict=True):
        assert stored_returns.seed_net_returns.tobytes() == seed_net_returns.tobytes()
        assert stored_returns.baseline_net_returns == baseline_net_returns
    assert many[0].seed_net_returns.tobytes() == np.array([-0.0, 5e-324, 0.2]).tobytes()
    assert many[0].baseline_net_returns == dict.fromkeys(("buy_and_hold", "random", "naive"), 2)
    assert many[1].seed_net_returns.shape == (0,)
    assert many[1].baseline_net_returns == {}


@pytest.mark.parametrize(
    ("per_seed", "message"),
    [
        (
            {"net_return": [0.1, 0.2], "sharpe": [1.0, 1.0], "n_trades": [1, 2.5]},
            r"finetune_random_seeds\.n_trades cannot hold 2\.5 \(row 1 of its block\): not a whole",
        ),
        (
            {"net_return": [0.1, 0.2], "sharpe": [1.0, 1.0], "n_trades": [1, NAN]},
            r"finetune_random_seeds\.n_trades cannot hold nan \(row 1 of its block\)",
        ),
        (
            {"net_return": [0.1, 0.2], "sharpe": [1.0, 1.0], "n_trades": [1, 2**31]},
            r"n_trades cannot hold 2147483648 \(row 1 of its block\): out of range for integer",
        ),
        (
            {"net_return": [0.1, 0.2], "sharpe": [1.0], "n_trades": [1, 2]},
            r"a block for finetune_random_seeds has array columns of lengths \[1, 2\]",
        ),
        (
            {"net_return": ["0.1", "0.2"], "sharpe": [1.0, 1.0], "n_trades": [1, 2]},
            r"finetune_random_seeds\.net_return cannot hold a <U3 array",
        ),
    ],
)
def test_a_seed_block_that_cannot_be_written_is_refused_in_one_line_and_nothing_changes(
    engine, per_seed, message
):
    """The seeds go in by column (copy_blocks): a fractional, non-finite or too large count,
    columns of unequal length or text for a number stop the write with one line naming the
    column, and the partition's earlier baselines and seeds stay."""
    old = {"net_return": [0.5], "sharpe": [2.0], "n_trades": [3]}
    replace_partition(
        engine, BASELINES_TABLE, BASIS, baselines(BASIS, "old"), seed_block(BASIS, old)
    )

    with pytest.raises(ValueError, match=message) as refused:
        replace_partition(
            engine, BASELINES_TABLE, BASIS, baselines(BASIS, "new"), seed_block(BASIS, per_seed)
        )

    assert "\n" not in str(refused.value)
    assert stored(engine, BASELINES_TABLE) == [("old", 0.1)] * 3
    with engine.connect() as connection:
        seeds = connection.execute(sa.text(f"SELECT seed, n_trades FROM {SEEDS_TABLE}")).all()
    assert seeds == [(0, 3)]


def test_a_block_of_whole_float_counts_writes_the_counts(engine):
    """The random baseline keeps its per-seed counts in a float array: whole values go in as
    the integers they are."""
    per_seed = {"net_return": [0.1, -0.2], "sharpe": [1.0, -1.0], "n_trades": np.array([4.0, 0.0])}
    replace_partition(
        engine, BASELINES_TABLE, BASIS, baselines(BASIS, "w"), seed_block(BASIS, per_seed)
    )
    with engine.connect() as connection:
        back = [
            row._asdict()
            for row in connection.execute(
                sa.text(f"SELECT {', '.join(SEED_COLUMNS)} FROM {SEEDS_TABLE} ORDER BY seed")
            )
        ]
    assert back == seed_rows(BASIS, per_seed)
    assert [type(row["n_trades"]) for row in back] == [int, int]


def test_a_seed_block_is_the_same_copy_bytes_as_its_rows_one_by_one():
    """copy_blocks' encoding of a partition's seeds is byte for byte what copy_rows makes of
    the same rows as dicts: -0.0, the smallest subnormal, the largest double, a long key."""
    from econ_obs.store.pg_binary import _FIELDS, _block_data, _copy_data

    types = {
        **dict.fromkeys(("run_id", "strategy", "crypto"), "text"),
        **dict.fromkeys(("fold_id", "cost_bps", "seed", "n_trades"), "integer"),
        **dict.fromkeys(("slippage_bps", "net_return", "sharpe"), "double precision"),
    }
    columns = list(SEED_COLUMNS)
    basis = replace(BASIS, crypto="1000PEPEUSDT", run_id="r" * 300)
    per_seed = {
        "net_return": [-0.0, *AWKWARD_FLOATS],
        "sharpe": [*reversed(AWKWARD_FLOATS), 5e-324],
        "n_trades": np.arange(len(AWKWARD_FLOATS) + 1, dtype=np.float64) * 7,
    }
    rows = _copy_data(
        SEEDS_TABLE, columns, [_FIELDS[types[c]] for c in columns], seed_rows(basis, per_seed)
    )
    block = _block_data(SEEDS_TABLE, columns, types, seed_block(basis, per_seed))

    header, trailer = 19, 2  # COPY's signature, flags and extension length; its end marker
    assert rows[header:-trailer] == block
