import hashlib
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from econ_obs.paths import migrations_dir
from econ_obs.store.database import make_engine
from econ_obs.store.migrations import MigrationError, migrate, migration_files, migration_status


@pytest.fixture
def empty_engine(empty_database_url):
    engine = make_engine(empty_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    return folder


def tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_migrations_apply_on_an_empty_database_and_record_checksums(empty_engine):
    applied = migrate(empty_engine)

    assert [m.version for m in applied] == [m.version for m in migration_files()]
    assert {"finetune_results", "finetune_baselines", "alerts", "schema_migrations"} <= tables(
        empty_engine
    )
    with empty_engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT name, checksum FROM schema_migrations"))
        recorded = {row.name: row.checksum for row in rows}
    for migration in migration_files():
        assert recorded[migration.name] == hashlib.sha256(migration.path.read_bytes()).hexdigest()


def test_the_null_array_is_stored_out_of_line_uncompressed(empty_engine):
    """009: pglz, which saves nothing on a thousand doubles, is never tried on the array."""
    migrate(empty_engine)
    with empty_engine.connect() as connection:
        storage = connection.execute(
            sa.text(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = 'finetune_results'::regclass"
                " AND attname = 'matched_null_net_returns'"
            )
        ).scalar_one()

    assert storage == "e"  # EXTERNAL (the array type's default is "x", EXTENDED: compressed)


def test_a_second_migrate_is_a_no_op(empty_engine):
    migrate(empty_engine)
    with empty_engine.connect() as connection:
        before = connection.execute(sa.text("SELECT version, applied_at FROM schema_migrations"))
        before = sorted(before)

    assert migrate(empty_engine) == []
    with empty_engine.connect() as connection:
        after = sorted(
            connection.execute(sa.text("SELECT version, applied_at FROM schema_migrations"))
        )
    assert after == before


def test_status_lists_applied_and_pending(empty_engine, migrations_copy):
    migrate(empty_engine, migrations_copy)
    (migrations_copy / "999_add_nothing.sql").write_text("SELECT 1;\n")

    states = {(s.version, s.state) for s in migration_status(empty_engine, migrations_copy)}

    assert (999, "pending") in states
    assert (1, "applied") in states


def test_checksum_drift_is_refused_and_nothing_runs(empty_engine, migrations_copy):
    migrate(empty_engine, migrations_copy)
    edited = migrations_copy / "001_create_finetune_results.sql"
    old_checksum = hashlib.sha256(edited.read_bytes()).hexdigest()
    edited.write_text(edited.read_text() + "\n-- an edit after the fact\n")
    new_checksum = hashlib.sha256(edited.read_bytes()).hexdigest()
    (migrations_copy / "999_create_marker.sql").write_text("CREATE TABLE drift_marker (x INT);\n")

    with pytest.raises(MigrationError) as raised:
        migrate(empty_engine, migrations_copy)

    message = str(raised.value)
    assert "001_create_finetune_results.sql" in message
    assert old_checksum in message and new_checksum in message
    assert "drift_marker" not in tables(empty_engine)
    with pytest.raises(MigrationError, match="checksum drift"):
        migration_status(empty_engine, migrations_copy)


def test_a_failing_migration_rolls_back_alone(empty_engine, migrations_copy):
    (migrations_copy / "998_create_half.sql").write_text(
        "CREATE TABLE half_done (x INT);\nSELECT no_such_column FROM half_done;\n"
    )

    with pytest.raises(sa.exc.ProgrammingError):
        migrate(empty_engine, migrations_copy)

    assert "half_done" not in tables(empty_engine)
    assert "finetune_results" in tables(empty_engine)  # earlier migrations stay applied


def test_misnamed_migration_file_is_named_in_the_error(tmp_path):
    (tmp_path / "1_bad.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"1_bad\.sql"):
        migration_files(tmp_path)
