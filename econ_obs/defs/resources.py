"""Dagster resources: the PostgreSQL connection, read from the environment when a run starts."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from sqlalchemy.engine import Connection, Engine

from econ_obs.store.database import DATABASE_ENV_VAR, connect, make_engine, parse_url


class PostgresResource(dg.ConfigurableResource):
    """The application database (finetune_results, finetune_baselines, alerts)."""

    database_url: str

    @contextmanager
    def get_engine(self) -> Iterator[Engine]:
        engine = make_engine(parse_url(self.database_url))
        try:
            yield engine
        finally:
            engine.dispose()

    @contextmanager
    def get_connection(self) -> Iterator[Connection]:
        with self.get_engine() as engine, connect(engine) as connection:
            yield connection


def postgres_from_env() -> PostgresResource:
    """Return the resource bound to $ECON_OBS_DATABASE_URL, resolved when a run starts."""
    return PostgresResource(database_url=dg.EnvVar(DATABASE_ENV_VAR))
