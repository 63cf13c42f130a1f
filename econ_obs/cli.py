"""`econ-obs`: the command line. Each verb is a thin wrapper; the work lives elsewhere."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from econ_obs.config import ConfigError
from econ_obs.core.market_data import MarketDataError
from econ_obs.runtime import PortInUseError, prepare_runtime, remove_dotenv_variables, write_dotenv
from econ_obs.signals import Interrupted, stop_on_signals
from econ_obs.store.database import (
    DATABASE_ENV_VAR,
    DatabaseError,
    make_engine,
    render_libpq,
    resolve_database_url,
    shown,
)
from econ_obs.store.embedded import (
    EmbeddedServerError,
    ensure_embedded_server,
    stop_embedded_server,
)
from econ_obs.store.migrations import MigrationError, migrate, migration_status

EXIT_USAGE_OR_SETUP = 2


def _db_migrate(args: argparse.Namespace) -> int:
    engine = make_engine(resolve_database_url())
    try:
        applied = migrate(engine)
    finally:
        engine.dispose()
    for migration in applied:
        print(f"applied {migration.version:03d}_{migration.name}")
    if not applied:
        print("nothing to apply: the database is up to date")
    return 0


def _db_status(args: argparse.Namespace) -> int:
    url = resolve_database_url()
    engine = make_engine(url)
    try:
        rows = migration_status(engine)
    finally:
        engine.dispose()
    print(f"database: {shown(url)}")
    for row in rows:
        when = row.applied_at.isoformat(timespec="seconds") if row.applied_at else ""
        print(f"  {row.version:03d}_{row.name:<32} {row.state:<8} {when}")
    pending = sum(row.state == "pending" for row in rows)
    print(f"{len(rows) - pending} applied, {pending} pending")
    return 0


def _db_url(args: argparse.Namespace) -> int:
    # Keep an embedded server running after we exit, so `psql "$(econ-obs db url)"` reaches it.
    print(render_libpq(resolve_database_url(keep_embedded_running=True)))
    return 0


def _db_start(args: argparse.Namespace) -> int:
    if os.environ.get(DATABASE_ENV_VAR):
        print(f"{DATABASE_ENV_VAR} is set: no embedded PostgreSQL needed")
    else:
        print(ensure_embedded_server(keep_running=True))
    prepare_runtime(keep_embedded_running=True)
    # A bare `dagster dev` (or `dg dev`) started in that folder loads these URLs from it.
    print(f"wrote {write_dotenv()}: `dagster dev` there uses this database and instance")
    return 0


def _db_stop(args: argparse.Namespace) -> int:
    stopped = stop_embedded_server()
    print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    if remove_dotenv_variables():
        print("removed the database URLs from .env: `econ-obs db start` writes them again")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every verb and its --help."""
    parser = argparse.ArgumentParser(
        prog="econ-obs",
        description="Same-basis model and baseline sweeps for crypto trading models.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    db = verbs.add_parser("db", help="the database: migrations, status, URL, embedded server")
    db_verbs = db.add_subparsers(dest="db_verb", required=True, metavar="DB_VERB")
    commands: list[tuple[str, str, Callable[[argparse.Namespace], int]]] = [
        ("migrate", "apply pending migrations (refuses on checksum drift)", _db_migrate),
        ("status", "list applied and pending migrations", _db_status),
        ("url", "print the database URL in use (keeps an embedded server running)", _db_url),
        (
            "start",
            "start the embedded PostgreSQL, leave it running, migrate, and write .env for a "
            "bare `dagster dev`",
            _db_start,
        ),
        ("stop", "stop the embedded PostgreSQL", _db_stop),
    ]
    for name, help_text, handler in commands:
        db_verbs.add_parser(name, help=help_text, description=help_text).set_defaults(
            handler=handler
        )

    from econ_obs import cli_sweep

    cli_sweep.add_verbs(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status (128 + signal if interrupted)."""
    args = build_parser().parse_args(argv)
    if args.verb == "ui":  # forwards SIGINT and SIGTERM to `dagster dev` itself
        return _run(args)
    try:
        with stop_on_signals():
            return _run(args)
    except Interrupted as interrupted:
        print(f"econ-obs: interrupted by {interrupted.signal_name}", file=sys.stderr)
        return interrupted.exit_status


def _run(args: argparse.Namespace) -> int:
    try:
        return args.handler(args)
    except (
        DatabaseError,
        EmbeddedServerError,
        MigrationError,
        ConfigError,
        MarketDataError,
        PortInUseError,
    ) as error:
        print(f"econ-obs: error: {error}", file=sys.stderr)
        return EXIT_USAGE_OR_SETUP


if __name__ == "__main__":
    sys.exit(main())
