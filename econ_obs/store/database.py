"""The one place that opens database connections: URL resolution, engine, database creation."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from econ_obs.store.embedded import EmbeddedServerError, ensure_embedded_server

DATABASE_ENV_VAR = "ECON_OBS_DATABASE_URL"
# psycopg2 comes with dagster-postgres; SQLAlchemy 2.1 would otherwise pick psycopg 3.
DRIVER_NAME = "postgresql+psycopg2"
DAGSTER_DATABASE_ENV_VAR = "ECON_OBS_DAGSTER_DATABASE_URL"
EMBEDDED_DATABASE = "econ_obs"
# "scheme://user:password@": mask to the last "@" (over-masking is safe), and "?password=".
_URL_PASSWORD = re.compile(r"(://[^:/?#@]*:).*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


class DatabaseError(RuntimeError):
    """A database that cannot be reached or a URL that cannot be parsed; the message is one line."""


def parse_url(url: str, source: str = DATABASE_ENV_VAR) -> URL:
    """Return the parsed PostgreSQL URL, or raise DatabaseError naming what is wrong with it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(
            f"malformed database URL in {source}: {mask_password(url)!r}; "
            "expected postgresql://user:password@host:port/database"
        ) from None
    except ValueError:  # SQLAlchemy parses the port with int() and lets its error through
        raise DatabaseError(
            f"malformed database URL in {source}: {mask_password(url)!r} has a port that is"
            " not a number; write e.g. postgresql://user:password@host:5432/database"
        ) from None
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseError(
            f"{source} must be a postgresql:// URL (econ_obs is PostgreSQL only), "
            f"got backend {parsed.get_backend_name()!r}"
        )
    if not parsed.database:
        raise DatabaseError(f"{source} names no database: {shown(parsed)!r}")
    return parsed.set(drivername=DRIVER_NAME)


def mask_password(url: str) -> str:
    """Return a URL string, parsable or not, with any password replaced by ***."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", url))


def shown(url: URL) -> str:
    """Return the URL as every message and log line shows it: password masked."""
    return mask_password(url.render_as_string(hide_password=True))


def describe(url: URL) -> str:
    """Return 'database X on host:port' (or the socket folder) for error messages."""
    host = url.host or url.query.get("host") or "localhost"
    if isinstance(host, tuple):
        host = ",".join(host)
    port = f":{url.port}" if url.port else ""
    return f"database {url.database!r} on {host}{port}"


def with_database(url: URL, database: str) -> URL:
    """Return the same server's URL for another database."""
    return url.set(database=database)


def resolve_database_url(keep_embedded_running: bool = False) -> URL:
    """Return the application database URL: $ECON_OBS_DATABASE_URL, else the embedded server.

    The embedded server's `econ_obs` database is created on first use.
    """
    configured = os.environ.get(DATABASE_ENV_VAR)
    if configured:
        return parse_url(configured)
    try:
        embedded = ensure_embedded_server(keep_running=keep_embedded_running)
    except EmbeddedServerError as error:
        raise DatabaseError(str(error)) from None
    server_url = parse_url(embedded, "pgserver")
    ensure_database(server_url, EMBEDDED_DATABASE)
    return with_database(server_url, EMBEDDED_DATABASE)


def resolve_dagster_url(app_url: URL) -> URL:
    """Return the URL of Dagster's own instance storage: $ECON_OBS_DAGSTER_DATABASE_URL, else
    a database named `<app database>_dagster` on the same server (created if missing)."""
    configured = os.environ.get(DAGSTER_DATABASE_ENV_VAR)
    if configured:
        return parse_url(configured, DAGSTER_DATABASE_ENV_VAR)
    name = f"{app_url.database}_dagster"
    ensure_database(app_url, name)
    return with_database(app_url, name)


def make_engine(url: URL) -> Engine:
    """Return an engine for the URL; connections are checked before use."""
    return sa.create_engine(url, pool_pre_ping=True, future=True)


def render(url: URL) -> str:
    """Return the URL as SQLAlchemy and Dagster take it (psycopg2 driver), password included."""
    return url.set(drivername=DRIVER_NAME).render_as_string(hide_password=False)


def render_libpq(url: URL) -> str:
    """Return the URL as psql takes it, password included."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def connect(engine: Engine) -> Iterator[Connection]:
    """Yield a connection, turning connection failures into one-line DatabaseErrors."""
    try:
        connection = engine.connect()
    except DBAPIError as error:
        reason = first_line(error.orig)
        for secret in (engine.url.password, engine.url.query.get("password")):
            if secret and isinstance(secret, str):  # a driver may quote what it was given
                reason = reason.replace(secret, "***")
        raise DatabaseError(f"cannot connect to {describe(engine.url)}: {reason}") from None
    with connection:
        yield connection


def first_line(error: BaseException | None) -> str:
    """Return the first non-empty line of an error's text."""
    text = str(error or "").strip()
    return text.splitlines()[0] if text else type(error).__name__


def ensure_database(server_url: URL, database: str) -> None:
    """Create `database` on the server of `server_url` if it does not exist."""
    admin = make_engine(with_database(server_url, "postgres"))
    try:
        with connect(admin.execution_options(isolation_level="AUTOCOMMIT")) as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            ).scalar()
            if not exists:
                quoted = connection.dialect.identifier_preparer.quote(database)
                connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
    finally:
        admin.dispose()


def drop_database(server_url: URL, database: str) -> None:
    """Drop `database` (and its open connections) on the server of `server_url`."""
    admin = make_engine(with_database(server_url, "postgres"))
    try:
        with connect(admin.execution_options(isolation_level="AUTOCOMMIT")) as connection:
            quoted = connection.dialect.identifier_preparer.quote(database)
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        admin.dispose()
