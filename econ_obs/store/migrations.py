"""Numbered plain-SQL migrations: apply in order, one transaction each, refuse checksum drift."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from econ_obs.paths import migrations_dir
from econ_obs.store.database import connect

MIGRATIONS_TABLE = "schema_migrations"
_FILE_PATTERN = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = sa.text(
    """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INT PRIMARY KEY,
        name       TEXT NOT NULL,
        checksum   TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )
    """
)
_SELECT_APPLIED = sa.text("SELECT version, name, checksum, applied_at FROM schema_migrations")
_INSERT_APPLIED = sa.text(
    "INSERT INTO schema_migrations (version, name, checksum) VALUES (:version, :name, :checksum)"
)
# Serialises concurrent `migrate` calls (two test workers, a sweep and the UI starting together).
_LOCK = sa.text("SELECT pg_advisory_xact_lock(4242001)")


class MigrationError(RuntimeError):
    """A migration folder or database state that must be fixed by hand; one-line message."""


@dataclass(frozen=True)
class MigrationFile:
    version: int
    name: str
    path: Path
    checksum: str  # SHA-256 hex of the file's bytes


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    name: str
    state: str  # "applied" or "pending"
    applied_at: datetime | None


def migration_files(folder: Path | None = None) -> list[MigrationFile]:
    """Return the folder's migrations sorted by version; reject misnamed or duplicate files."""
    folder = folder or migrations_dir()
    if not folder.is_dir():
        raise MigrationError(f"migrations folder not found: {folder}")
    files: dict[int, MigrationFile] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _FILE_PATTERN.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files must be named NNN_description.sql")
        version = int(match.group(1))
        if version in files:
            raise MigrationError(
                f"{path}: version {version:03d} also used by {files[version].path}"
            )
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        files[version] = MigrationFile(version, match.group(2), path, checksum)
    return [files[version] for version in sorted(files)]


def _applied(connection: Connection) -> dict[int, sa.Row]:
    connection.execute(_CREATE_TABLE)
    return {row.version: row for row in connection.execute(_SELECT_APPLIED)}


def _check_drift(files: list[MigrationFile], applied: dict[int, sa.Row]) -> None:
    for migration in files:
        row = applied.get(migration.version)
        if row is not None and row.checksum != migration.checksum:
            raise MigrationError(
                f"checksum drift: {migration.path.name} was applied with checksum {row.checksum} "
                f"but the file now has {migration.checksum}; restore the file and add a new "
                "migration instead of editing an applied one"
            )


def migration_status(engine: Engine, folder: Path | None = None) -> list[MigrationStatus]:
    """Return every migration with its state; raise MigrationError on checksum drift."""
    files = migration_files(folder)
    with connect(engine) as connection, connection.begin():
        applied = _applied(connection)
    _check_drift(files, applied)
    return [
        MigrationStatus(
            m.version,
            m.name,
            "applied" if m.version in applied else "pending",
            applied[m.version].applied_at if m.version in applied else None,
        )
        for m in files
    ]


def migrate(engine: Engine, folder: Path | None = None) -> list[MigrationFile]:
    """Apply the pending migrations in order, each in its own transaction; return those applied.

    Nothing runs when any applied migration's file has changed (checksum drift).
    """
    files = migration_files(folder)
    done: list[MigrationFile] = []
    with connect(engine) as connection:
        with connection.begin():
            connection.execute(_LOCK)
            applied = _applied(connection)
        _check_drift(files, applied)
        for migration in files:
            if migration.version in applied:
                continue
            with connection.begin():
                connection.execute(_LOCK)
                if connection.execute(
                    sa.text("SELECT 1 FROM schema_migrations WHERE version = :version"),
                    {"version": migration.version},
                ).scalar():
                    continue  # another process applied it while we waited for the lock
                connection.exec_driver_sql(migration.path.read_text())
                connection.execute(
                    _INSERT_APPLIED,
                    {
                        "version": migration.version,
                        "name": migration.name,
                        "checksum": migration.checksum,
                    },
                )
            done.append(migration)
    return done
