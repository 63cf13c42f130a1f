"""Writing result partitions: each one replaced whole, alone or with others in a transaction.

A partition's rows (and, for baselines, its random seeds) are deleted and inserted under an
advisory lock on its key, in one transaction. Several partitions can share the transaction
(`replace_partitions`): then either every one of them is replaced or none is, so no reader
ever sees half a partition, and a sweep pays a transaction's round trips once per batch
instead of once per partition.

The rows go in with a binary COPY in that transaction. A model row carries a thousand-value
null array: as an INSERT parameter psycopg2 writes it as ARRAY[...] of decimal literals that
PostgreSQL parses one by one, which made the writes a fifth of a sweep. In COPY's binary
format a float is its eight IEEE bytes, so every value arrives exactly as Python held it:
NaN and the infinities too, for the CHECKs to refuse as before, and -0.0, whose sign the
INSERT's decimal literal lost (-0.0 is an unsigned numeric in SQL). COPY checks
every constraint an INSERT checks (NOT NULL, CHECK, UNIQUE) and fires the same triggers, and
its errors are raised as the SQLAlchemy exceptions an INSERT raises.
"""

from __future__ import annotations

import io
import numbers
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from econ_obs.core.baselines import BASELINE_TYPES
from econ_obs.store.database import describe, first_line
from econ_obs.store.results import (
    _TABLES,
    BASELINES_TABLE,
    BASIS_COLUMNS,
    KEY_COLUMNS,
    SEEDS_TABLE,
    PartitionBasis,
    PartitionWriteError,
)

# One lock per partition key, taken in sorted order so two writers never wait on each other.
_LOCKS = sa.text(
    "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest(CAST(:lock_keys AS text[])) AS k"
)
# Read from the catalog, so the encoding follows the migrations.
_COLUMN_TYPES = sa.text(
    "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
    "WHERE attrelid = CAST(:table AS regclass) AND attnum > 0 AND NOT attisdropped"
)
# COPY's binary format: a header, then per row its field count and each field as a signed
# 32-bit length (-1 for NULL) and that many bytes, then -1 as a field count.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_NULL_FIELD = struct.pack(">i", -1)
_LENGTH = struct.Struct(">i")
_INT4_FIELD = struct.Struct(">ii")  # length 4, value
_INT8_FIELD = struct.Struct(">iq")
_FLOAT8_FIELD = struct.Struct(">id")
# A one-dimensional array's field: length, 1 dimension, has NULLs, element type, size, from 1.
_ARRAY_HEADER = struct.Struct(">iiiiii")
_FLOAT8_OID = 701
_JSONB_VERSION = b"\x01"
# timestamptz is a count of microseconds since 2000-01-01 00:00 UTC.
_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Elements of a float8[] with no NULL among them: each one's length (8), then its value.
_FLOAT8_ELEMENTS = np.dtype([("length", ">i4"), ("value", ">f8")])
# Bytes psycopg2 sends to the server per read of the COPY data.
_COPY_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class PartitionRows:
    """What one partition holds in `table`: its rows, and the random baseline's seeds."""

    basis: PartitionBasis
    rows: Sequence[dict]
    random_seeds: Sequence[dict] | None = None


def _check(table: str, write: PartitionRows) -> None:
    basis = write.basis
    if write.random_seeds is not None and table != BASELINES_TABLE:
        raise ValueError(f"random seeds are written with {BASELINES_TABLE}, not {table}")
    if table == BASELINES_TABLE:
        types = sorted(row["baseline_type"] for row in write.rows)
        if types != sorted(BASELINE_TYPES):
            raise ValueError(
                f"baselines for {basis.describe()} must be exactly {list(BASELINE_TYPES)}, "
                f"got {types}"
            )
    key = basis.as_row()
    for row in write.rows:
        mismatched = [c for c in (*KEY_COLUMNS, *BASIS_COLUMNS) if row[c] != key[c]]
        if mismatched:
            raise ValueError(f"row for {basis.describe()} differs from its basis in {mismatched}")


def _whole(value: object) -> int:
    # A float is refused, never rounded: a fractional count is a writer's bug.
    if type(value) is int:  # most values; the isinstance check below costs ten times more
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"a {type(value).__name__} for an integer column")
    return int(value)


def _real(value: object) -> float:
    if type(value) is float:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"a {type(value).__name__} for a float column")
    return float(value)


def _text(value: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"a {type(value).__name__} for a text column (JSON comes dumped)")
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


def _jsonb(value: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"a {type(value).__name__} for a JSON column; json.dumps it first")
    data = _JSONB_VERSION + value.encode()
    return _LENGTH.pack(len(data)) + data


def _timestamptz(value: object) -> bytes:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise TypeError(f"{value!r} for a timestamptz column; give it a time zone")
    # datetime's own subtraction (a pandas Timestamp's is twenty times slower) drops the
    # nanoseconds a Timestamp may hold: rounded to the nearest microsecond, as PostgreSQL
    # rounded the text psycopg2 sent.
    microseconds = datetime.__sub__(value, _POSTGRES_EPOCH) // _MICROSECOND
    if getattr(value, "nanosecond", 0) >= 500:
        microseconds += 1
    return _INT8_FIELD.pack(8, microseconds)


def _float8_array(value: object) -> bytes:
    if not isinstance(value, list | tuple | np.ndarray):
        raise TypeError(f"a {type(value).__name__} for a float array column")
    n = len(value)
    if n == 0:  # an empty array has no dimensions
        body = struct.pack(">iii", 0, 0, _FLOAT8_OID)
        return _LENGTH.pack(len(body)) + body
    if not isinstance(value, np.ndarray) and None in value:
        elements = b"".join(
            _NULL_FIELD if element is None else _FLOAT8_FIELD.pack(8, _real(element))
            for element in value
        )
        has_nulls = 1
    else:
        packed = np.empty(n, dtype=_FLOAT8_ELEMENTS)
        packed["length"] = 8
        packed["value"] = np.asarray(value, dtype=np.float64)
        elements, has_nulls = packed.tobytes(), 0
    return _ARRAY_HEADER.pack(20 + len(elements), 1, has_nulls, _FLOAT8_OID, n, 1) + elements


# Each column type's field encoder (length prefix included), by PostgreSQL's name for it.
_FIELDS: dict[str, Callable[[object], bytes]] = {
    "text": _text,
    "integer": lambda value: _INT4_FIELD.pack(4, _whole(value)),
    "bigint": lambda value: _INT8_FIELD.pack(8, _whole(value)),
    "double precision": lambda value: _FLOAT8_FIELD.pack(8, _real(value)),
    "jsonb": _jsonb,
    "timestamp with time zone": _timestamptz,
    "double precision[]": _float8_array,
}


def _encoders(connection: Connection, table: str, columns: list[str]) -> list[Callable]:
    types = dict(connection.execute(_COLUMN_TYPES, {"table": table}).all())
    unsupported = {c: types[c] for c in columns if types[c] not in _FIELDS}
    if unsupported:
        raise TypeError(f"{table} columns {unsupported} have no COPY encoder here")
    return [_FIELDS[types[c]] for c in columns]


def _copy_data(table: str, columns: list[str], encoders: list[Callable], rows) -> bytes:
    """Return `rows` in COPY's binary format; a value of the wrong type names its column."""
    field_count = struct.pack(">h", len(columns))
    keys = set(columns)
    parts = [_COPY_HEADER]
    for row in rows:
        if row.keys() != keys:
            differ = sorted(keys ^ row.keys())
            raise ValueError(f"a row for {table} differs from the first row in {differ}")
        parts.append(field_count)
        for column, encode in zip(columns, encoders, strict=True):
            value = row[column]
            if value is None:
                parts.append(_NULL_FIELD)
                continue
            try:
                parts.append(encode(value))
            except (TypeError, ValueError, struct.error) as error:
                raise ValueError(f"{table}.{column} cannot hold {value!r:.80}: {error}") from None
    parts.append(_COPY_TRAILER)
    return b"".join(parts)


def _copy_rows(connection: Connection, table: str, rows: Sequence[dict]) -> None:
    """COPY `rows` into `table` in the connection's transaction; every row has the same keys."""
    columns = [c for c in _TABLES[table].c.keys() if c in rows[0]]
    unknown = set(rows[0]) - set(columns)
    if unknown:
        raise ValueError(f"{table} has no columns {sorted(unknown)}")
    data = _copy_data(table, columns, _encoders(connection, table, columns), rows)
    # Names are module constants, never values.
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)"
    driver_connection = connection.connection.driver_connection
    dbapi_error = connection.dialect.loaded_dbapi.Error
    with driver_connection.cursor() as cursor:
        try:
            cursor.copy_expert(statement, io.BytesIO(data), size=_COPY_CHUNK_BYTES)
        except dbapi_error as error:
            # The exception SQLAlchemy raises for the same failure of an INSERT:
            # IntegrityError for a CHECK or UNIQUE, OperationalError for a lost connection,
            # which then leaves the pool.
            lost = connection.dialect.is_disconnect(error, driver_connection, cursor)
            if lost:
                connection.invalidate(error)
            raise DBAPIError.instance(
                statement,
                None,
                error,
                dbapi_error,
                connection_invalidated=lost,
                dialect=connection.dialect,
            ) from error


def replace_partitions(engine: Engine, table: str, writes: Sequence[PartitionRows]) -> int:
    """Replace each partition's rows in `table` in one transaction; return the rows written.

    Baselines are all three types or nothing: an incomplete set is refused before writing.
    With baselines, each partition's random seeds replace its seed rows in the same
    transaction, so the mean row and its seeds can never disagree.
    """
    if not writes:
        return 0
    for write in writes:
        _check(table, write)
    keys = [tuple(write.basis.as_row()[c] for c in KEY_COLUMNS) for write in writes]
    targets = [(table, [row for write in writes for row in write.rows])]
    if any(write.random_seeds is not None for write in writes):
        seeds = [row for write in writes for row in write.random_seeds or ()]
        targets.append((SEEDS_TABLE, seeds))
    lock_keys = sorted(f"{table}|{write.basis.describe()}" for write in writes)
    try:
        with engine.begin() as connection:
            connection.execute(_LOCKS, {"lock_keys": lock_keys})
            for target_table, rows in targets:
                target = _TABLES[target_table]
                key_of = sa.tuple_(*(target.c[c] for c in KEY_COLUMNS))
                connection.execute(sa.delete(target).where(key_of.in_(keys)))
                if rows:
                    _copy_rows(connection, target_table, rows)
    except DBAPIError as error:
        if not error.connection_invalidated and not isinstance(error, sa.exc.OperationalError):
            raise
        what = writes[0].basis.describe() + (f" and {len(writes) - 1} more" if writes[1:] else "")
        raise PartitionWriteError(
            f"writing {table} for {what} to {describe(engine.url)} failed, "
            f"nothing was changed: {first_line(error.orig)}"
        ) from error
    return sum(len(write.rows) for write in writes)


def replace_partition(
    engine: Engine,
    table: str,
    basis: PartitionBasis,
    rows: Sequence[dict],
    random_seeds: Sequence[dict] | None = None,
) -> int:
    """Replace one partition's rows in `table` in one transaction; return the count."""
    return replace_partitions(engine, table, [PartitionRows(basis, rows, random_seeds)])
