"""replace_partition on a real PostgreSQL: idempotent, refuses bad sets, atomic under failure."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from econ_obs.core.baselines import BASELINE_TYPES
from econ_obs.store.partition_writes import replace_partition
from econ_obs.store.results import (
    BASELINES_TABLE,
    KEY_COLUMNS,
    RESULTS_TABLE,
    SEEDS_TABLE,
    PartitionBasis,
    PartitionWriteError,
    baseline_row,
    result_row,
    seed_block,
)

BASIS = PartitionBasis(
    run_id="store_run",
    strategy="store_strategy",
    crypto="BTCUSDT",
    fold_id=1,
    cost_bps=10,
    slippage_bps=1.5,
    train_start=datetime(2024, 1, 1, tzinfo=UTC),
    train_end=datetime(2024, 2, 1, tzinfo=UTC),
    test_start=datetime(2024, 2, 2, tzinfo=UTC),
    test_end=datetime(2024, 3, 1, tzinfo=UTC),
    n_test_bars=648,
    train_missing_bars=3,
    test_missing_bars=5,
    test_largest_gap_bars=2,
    test_span_hours=652.0,
)
VARIANTS = ("ridge_a1_t0", "ridge_a10_t5")
KILL_TRIGGER = "econ_obs_test_kill_on_naive"


def metrics(net_return: float) -> dict:
    return {
        "net_return": net_return,
        "gross_return": net_return + 0.01,
        "n_trades": 4,
        "sharpe": 1.0,
        "max_drawdown": 0.05,
        "exposure": 0.5,
        "hit_rate": 0.5,
    }


def baselines(basis: PartitionBasis, writer: str, net_return: float = 0.1) -> list[dict]:
    return [
        baseline_row(basis, kind, {"writer": writer}, metrics(net_return), writer)
        for kind in BASELINE_TYPES
    ]


def results(basis: PartitionBasis, writer: str, net_return: float = 0.2) -> list[dict]:
    return [
        result_row(basis, variant, {"alpha": 1.0}, "hash", metrics(net_return), writer)
        for variant in VARIANTS
    ]


def stored(engine: Engine, table: str, basis: PartitionBasis = BASIS) -> list[tuple]:
    """Return (dagster_run_id, net_return) of the partition's rows in `table`."""
    query = sa.text(
        f"SELECT dagster_run_id, net_return FROM {table} "  # table: a module constant
        "WHERE run_id = :run_id AND strategy = :strategy AND crypto = :crypto "
        "AND fold_id = :fold_id AND cost_bps = :cost_bps AND slippage_bps = :slippage_bps "
        "ORDER BY id"
    )
    key = {k: basis.as_row()[k] for k in KEY_COLUMNS}
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query, key)]


@pytest.mark.parametrize(
    ("table", "make_rows", "n_rows"),
    [(BASELINES_TABLE, baselines, 3), (RESULTS_TABLE, results, 2)],
)
def test_writing_a_partition_twice_leaves_only_the_second_set(engine, table, make_rows, n_rows):
    assert replace_partition(engine, table, BASIS, make_rows(BASIS, "first", 0.1)) == n_rows
    assert replace_partition(engine, table, BASIS, make_rows(BASIS, "second", -0.3)) == n_rows

    assert stored(engine, table) == [("second", -0.3)] * n_rows


def test_other_partitions_are_left_alone(engine):
    neighbours = [
        replace(BASIS, cost_bps=30),
        replace(BASIS, slippage_bps=2.5),  # another cost basis, so another partition
        replace(BASIS, slippage_bps=0.0),
        replace(BASIS, fold_id=0),
        replace(BASIS, crypto="ETHUSDT"),
        replace(BASIS, strategy="o'brien; DROP TABLE finetune_baselines"),
        replace(BASIS, run_id="another_run"),
    ]
    for neighbour in neighbours:
        replace_partition(engine, BASELINES_TABLE, neighbour, baselines(neighbour, "neighbour"))

    replace_partition(engine, BASELINES_TABLE, BASIS, baselines(BASIS, "first"))
    replace_partition(engine, BASELINES_TABLE, BASIS, baselines(BASIS, "second"))

    assert stored(engine, BASELINES_TABLE) == [("second", 0.1)] * 3
    for neighbour in neighbours:
        assert stored(engine, BASELINES_TABLE, neighbour) == [("neighbour", 0.1)] * 3


@pytest.mark.parametrize(
    "types",
    [("buy_and_hold", "random"), (), ("buy_and_hold", "random", "naive", "naive")],
)
def test_an_incomplete_baseline_set_is_refused_before_writing(engine, types):
    replace_partition(engine, BASELINES_TABLE, BASIS, baselines(BASIS, "earlier"))
    rows = [baseline_row(BASIS, kind, {}, metrics(0.9), "later") for kind in types]

    with pytest.raises(ValueError, match="must be exactly") as refused:
        replace_partition(engine, BASELINES_TABLE, BASIS, rows)

    assert "crypto=BTCUSDT fold_id=1 cost_bps=10 slippage_bps=1.5" in str(refused.value)
    assert stored(engine, BASELINES_TABLE) == [("earlier", 0.1)] * 3


@pytest.mark.parametrize(
    ("column", "other_value"),
    [
        ("cost_bps", 30),
        ("slippage_bps", 2.0),
        ("test_end", datetime(2024, 3, 2, tzinfo=UTC)),
        ("n_test_bars", 647),
        ("test_missing_bars", 0),
        ("crypto", "ETHUSDT"),
    ],
)
@pytest.mark.parametrize(
    ("table", "make_rows"), [(BASELINES_TABLE, baselines), (RESULTS_TABLE, results)]
)
def test_a_row_off_its_basis_is_refused(engine, table, make_rows, column, other_value):
    replace_partition(engine, table, BASIS, make_rows(BASIS, "earlier"))
    rows = make_rows(BASIS, "later")
    rows[-1] = {**rows[-1], column: other_value}

    with pytest.raises(ValueError, match="differs from its basis") as refused:
        replace_partition(engine, table, BASIS, rows)

    assert column in str(refused.value)
    assert [run_id for run_id, _ in stored(engine, table)] == ["earlier"] * len(rows)


@pytest.mark.parametrize(
    ("table", "make_rows", "n_rows"),
    [(BASELINES_TABLE, baselines, 3), (RESULTS_TABLE, results, 2)],
)
def test_two_simultaneous_writers_leave_one_consistent_set(engine, table, make_rows, n_rows):
    for attempt in range(10):
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def write(writer: str, net_return: float, barrier=barrier, errors=errors) -> None:
            rows = make_rows(BASIS, writer, net_return)
            try:
                barrier.wait(timeout=10)
                replace_partition(engine, table, BASIS, rows)
            except BaseException as error:  # reported below, in the test's thread
                errors.append(error)

        threads = [
            threading.Thread(target=write, args=(f"a{attempt}", 1.0 + attempt)),
            threading.Thread(target=write, args=(f"b{attempt}", -1.0 - attempt)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert errors == []
        rows = stored(engine, table)
        assert len(rows) == n_rows, (attempt, rows)
        assert len(set(rows)) == 1, (attempt, rows)  # every row from the same writer
        assert rows[0] in {(f"a{attempt}", 1.0 + attempt), (f"b{attempt}", -1.0 - attempt)}


@contextmanager
def connection_dies_on_naive(engine: Engine) -> Iterator[None]:
    """Drop the writer's connection when it inserts a `naive` baseline, for the block's length."""
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                f"CREATE FUNCTION {KILL_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF NEW.baseline_type = 'naive' THEN "
                "PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$"
            )
        )
        connection.execute(
            sa.text(
                f"CREATE TRIGGER {KILL_TRIGGER} BEFORE INSERT ON {BASELINES_TABLE} "
                f"FOR EACH ROW EXECUTE FUNCTION {KILL_TRIGGER}()"
            )
        )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(
                sa.text(f"DROP TRIGGER IF EXISTS {KILL_TRIGGER} ON {BASELINES_TABLE}")
            )
            connection.execute(sa.text(f"DROP FUNCTION IF EXISTS {KILL_TRIGGER}()"))


def test_a_connection_lost_mid_write_keeps_the_old_rows(engine):
    replace_partition(engine, BASELINES_TABLE, BASIS, baselines(BASIS, "old", 0.1))

    with connection_dies_on_naive(engine), pytest.raises(PartitionWriteError) as lost:
        replace_partition(engine, BASELINES_TABLE, BASIS, baselines(BASIS, "new", 0.7))

    message = str(lost.value)
    assert "\n" not in message
    assert BASELINES_TABLE in message
    assert BASIS.describe() in message
    assert "nothing was changed" in message
    # The delete and the rows inserted before `naive` died with the connection's transaction.
    assert stored(engine, BASELINES_TABLE) == [("old", 0.1)] * 3
    # The dead connection left the pool: the next write on the same engine goes through.
    replace_partition(engine, BASELINES_TABLE, BASIS, baselines(BASIS, "new", 0.7))
    assert stored(engine, BASELINES_TABLE) == [("new", 0.7)] * 3


def test_a_lost_connection_is_really_lost_not_a_statement_error(engine):
    # Guards the test above: the trigger must drop the connection, not merely raise an error.
    with connection_dies_on_naive(engine), pytest.raises(PartitionWriteError) as lost:
        replace_partition(engine, BASELINES_TABLE, BASIS, baselines(BASIS, "lost"))

    cause = lost.value.__cause__
    assert isinstance(cause, sa.exc.DBAPIError)
    assert cause.connection_invalidated or isinstance(cause, sa.exc.OperationalError)
    assert stored(engine, BASELINES_TABLE) == []


def test_the_gap_figures_are_stored_on_both_tables(engine):
    replace_partition(engine, BASELINES_TABLE, BASIS, baselines(BASIS, "gaps"))
    replace_partition(engine, RESULTS_TABLE, BASIS, results(BASIS, "gaps"))

    query = (
        "SELECT DISTINCT train_missing_bars, test_missing_bars, test_largest_gap_bars, "
        "test_span_hours FROM {table}"
    )
    with engine.connect() as connection:
        for table in (BASELINES_TABLE, RESULTS_TABLE):
            assert connection.execute(sa.text(query.format(table=table))).all() == [
                (3, 5, 2, 652.0)
            ]


def test_two_slippages_keep_their_own_seed_rows(engine):
    other = replace(BASIS, slippage_bps=4.0)
    for basis in (BASIS, other):
        seeds = seed_block(
            basis, {"net_return": [0.1, 0.2], "sharpe": [1.0, 2.0], "n_trades": [1, 2]}
        )
        replace_partition(engine, BASELINES_TABLE, basis, baselines(basis, "x"), seeds)

    with engine.connect() as connection:
        counts = connection.execute(
            sa.text(f"SELECT slippage_bps, count(*) FROM {SEEDS_TABLE} GROUP BY 1 ORDER BY 1")
        ).all()
    assert counts == [(1.5, 2), (4.0, 2)]


def test_a_batch_of_partitions_is_replaced_whole_or_not_at_all(engine):
    from dataclasses import replace

    from econ_obs.store.partition_writes import PartitionRows, replace_partitions

    bases = [replace(BASIS, fold_id=fold_id) for fold_id in (1, 2, 3)]
    for basis in bases:
        replace_partition(engine, RESULTS_TABLE, basis, results(basis, "old"))

    # The third partition's rows break a CHECK (exposure in [0, 1]): the first two, written
    # earlier in the same transaction, are rolled back with it.
    broken = [{**row, "exposure": 42.0} for row in results(bases[2], "new")]
    batch = [PartitionRows(b, results(b, "new")) for b in bases[:2]] + [
        PartitionRows(bases[2], broken)
    ]
    with pytest.raises(sa.exc.IntegrityError):
        replace_partitions(engine, RESULTS_TABLE, batch)
    assert {row[0] for b in bases for row in stored(engine, RESULTS_TABLE, b)} == {"old"}

    written = replace_partitions(
        engine, RESULTS_TABLE, [PartitionRows(b, results(b, "new")) for b in bases]
    )
    assert written == 3 * len(VARIANTS)
    assert {row[0] for b in bases for row in stored(engine, RESULTS_TABLE, b)} == {"new"}
