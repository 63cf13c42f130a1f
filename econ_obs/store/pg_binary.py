"""PostgreSQL's binary formats: rows out as a binary COPY, arrays in as `array_send` bytes.

The result writers COPY their rows (store.partition_writes) and the report reads its arrays
(store.report) in these formats, because the text ones cost most of both. A model row carries
a thousand-value null array: as an INSERT parameter psycopg2 writes it as ARRAY[...] of decimal
literals that PostgreSQL parses one by one, and reading it back as text parses them again. In
the binary formats a float is its eight IEEE bytes, so every value arrives exactly as it was
held: NaN and the infinities too (for the tables' CHECKs to refuse as an INSERT's are refused),
and -0.0, whose sign a decimal literal loses. COPY checks every constraint an INSERT checks
(NOT NULL, CHECK, UNIQUE) and fires the same triggers; its errors are raised as the SQLAlchemy
exceptions an INSERT raises.
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
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

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


def _column_types(connection: Connection, table: str, columns: list[str]) -> dict[str, str]:
    """Return each column's type as the catalog names it; refuse a type with no encoder."""
    types = dict(connection.execute(_COLUMN_TYPES, {"table": table}).all())
    unsupported = {c: types[c] for c in columns if types[c] not in _FIELDS}
    if unsupported:
        raise TypeError(f"{table} columns {unsupported} have no COPY encoder here")
    return types


def _encoders(connection: Connection, table: str, columns: list[str]) -> list[Callable]:
    types = _column_types(connection, table, columns)
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


def copy_rows(
    connection: Connection, table: str, columns_of: Sequence[str], rows: Sequence[dict]
) -> None:
    """COPY `rows` into `table` in the connection's transaction; every row has the same keys,
    a subset of `columns_of` (the table's columns, in the order COPY lists them)."""
    columns = [c for c in columns_of if c in rows[0]]
    unknown = set(rows[0]) - set(columns)
    if unknown:
        raise ValueError(f"{table} has no columns {sorted(unknown)}")
    data = _copy_data(table, columns, _encoders(connection, table, columns), rows)
    _copy_in(connection, table, columns, data)


@dataclass(frozen=True)
class ColumnBlock:
    """Rows given by column: `constants` hold one value for every row, `arrays` one value per
    row (numpy arrays or sequences, all of one length). The random baseline's seeds of one
    partition are such a block: its key once, then seed, net_return, sharpe and n_trades."""

    constants: dict[str, object]
    arrays: dict[str, object]


# A block's per-row field layout by column type: the field's length, then its value.
_BLOCK_VALUES = {
    "integer": (4, np.dtype(">i4")),
    "bigint": (8, np.dtype(">i8")),
    "double precision": (8, np.dtype(">f8")),
}


def _block_values(table: str, column: str, kind: str, values: object) -> np.ndarray:
    """Return one array column as the type its COPY field holds; a fractional or non-finite
    value for an integer column names the column, as a row's would."""
    array = np.asarray(values)
    if kind == "double precision":
        if array.dtype.kind not in "fiu":
            raise ValueError(f"{table}.{column} cannot hold a {array.dtype} array")
        return array.astype(np.float64)
    if array.dtype.kind == "f":
        bad = np.flatnonzero(~(np.isfinite(array) & (array == np.round(array))))
        if bad.size:
            row = int(bad[0])
            raise ValueError(
                f"{table}.{column} cannot hold {array[row].item()!r} (row {row} of its block):"
                " not a whole number"
            )
    elif array.dtype.kind not in "iu":
        raise ValueError(f"{table}.{column} cannot hold a {array.dtype} array")
    limits = np.iinfo(_BLOCK_VALUES[kind][1])
    bad = np.flatnonzero((array < limits.min) | (array > limits.max))
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"{table}.{column} cannot hold {array[row].item()!r} (row {row} of its block):"
            f" out of range for {kind}"
        )
    return array.astype(_BLOCK_VALUES[kind][1])


def _block_data(table: str, columns: list[str], types: dict[str, str], block: ColumnBlock):
    """Return a block's rows in COPY's binary format, built as one numpy record per row."""
    lengths = {len(values) for values in block.arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"a block for {table} has array columns of lengths {sorted(lengths)}")
    (n_rows,) = lengths
    fields: list[tuple] = [("field_count", ">i2")]
    values: dict[str, object] = {"field_count": len(columns)}
    for index, column in enumerate(columns):
        kind = types[column]
        if column in block.constants:
            value = block.constants[column]
            try:
                encoded = _NULL_FIELD if value is None else _FIELDS[kind](value)
            except (TypeError, ValueError, struct.error) as error:
                raise ValueError(f"{table}.{column} cannot hold {value!r:.80}: {error}") from None
            fields.append((f"c{index}", "u1", (len(encoded),)))
            values[f"c{index}"] = np.frombuffer(encoded, dtype=np.uint8)
            continue
        if kind not in _BLOCK_VALUES:
            raise TypeError(f"{table}.{column} ({kind}) can only be a constant of a block")
        size, dtype = _BLOCK_VALUES[kind]
        fields += [(f"n{index}", ">i4"), (f"v{index}", dtype)]
        values[f"n{index}"] = size
        values[f"v{index}"] = _block_values(table, column, kind, block.arrays[column])
    records = np.empty(n_rows, dtype=np.dtype(fields))
    for name, value in values.items():
        records[name] = value
    return records.tobytes()


def copy_blocks(
    connection: Connection, table: str, columns_of: Sequence[str], blocks: Sequence[ColumnBlock]
) -> None:
    """COPY the rows of `blocks` into `table` in the connection's transaction, as copy_rows
    would copy the same rows given one dict each, without making a dict or a field at a time:
    numeric columns go in as arrays. Every block names the same columns."""
    names = {*blocks[0].constants, *blocks[0].arrays}
    columns = [c for c in columns_of if c in names]
    if names - set(columns):
        raise ValueError(f"{table} has no columns {sorted(names - set(columns))}")
    for block in blocks:
        if {*block.constants, *block.arrays} != names:
            raise ValueError(f"a block for {table} names other columns than the first block")
    types = _column_types(connection, table, columns)
    parts = [_block_data(table, columns, types, block) for block in blocks]
    _copy_in(connection, table, columns, b"".join([_COPY_HEADER, *parts, _COPY_TRAILER]))


def _copy_in(connection: Connection, table: str, columns: list[str], data: bytes) -> None:
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


# PostgreSQL's binary array format (array_send): ndim, has-nulls flag and element type OID, one
# (length, lower bound) pair per dimension, then each element as its byte length and its value.
_INT4_OID = 23
_ELEMENT_TYPES = {_FLOAT8_OID: np.dtype(">f8"), _INT4_OID: np.dtype(">i4")}
_NULL_LENGTH = -1


def sent_array(binary: bytes | memoryview | None) -> np.ndarray:
    """Return a float8[] or int4[] sent by `array_send` as a float64 or int64 array, bit for bit.

    A NULL array is an empty array and a NULL element of a float8[] is NaN, as
    `np.asarray(values, float)` of the driver's list would give; an array of several dimensions
    keeps its shape. Binary, because parsing 1,000 doubles per row from text (the driver's way)
    costs most of the report's read.
    """
    if binary is None:
        return np.empty(0)
    buffer = bytes(binary)
    n_dims, has_nulls, element_oid = (int(v) for v in np.frombuffer(buffer, ">i4", 3))
    if element_oid not in _ELEMENT_TYPES:
        raise ValueError(
            f"expected a float8[] or int4[] (element type {list(_ELEMENT_TYPES)}), got type "
            f"{element_oid}"
        )
    value_type = _ELEMENT_TYPES[element_oid]
    native = np.dtype(np.float64 if value_type.kind == "f" else np.int64)
    if n_dims == 0:
        return np.empty(0, dtype=native)
    shape = tuple(int(n) for n in np.frombuffer(buffer, ">i4", 2 * n_dims, offset=12)[0::2])
    offset = 12 + 8 * n_dims
    if has_nulls:
        if element_oid != _FLOAT8_OID:
            raise ValueError(f"an integer array (type {element_oid}) holds a NULL element")
        values = []
        while offset < len(buffer):
            (length,) = struct.unpack_from(">i", buffer, offset)
            offset += 4
            if length == _NULL_LENGTH:
                values.append(np.nan)
                continue
            values.append(struct.unpack_from(">d", buffer, offset)[0])
            offset += 8
        array = np.array(values, dtype=native)
    else:
        element = np.dtype([("length", ">i4"), ("value", value_type)])
        array = np.frombuffer(buffer, element, offset=offset)["value"].astype(native)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"an array of shape {shape} arrived with {array.size} values")
    return array.reshape(shape)
