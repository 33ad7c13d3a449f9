"""Storage fixtures: fresh, empty databases (for migrations) and a PostgreSQL-only engine."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.storage import migrate
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.tables import metadata


def _server(database_url: str) -> str:
    return database_url.rsplit("/", 1)[0]


@pytest.fixture
def fresh_pg_url(pg_database_url: str) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database, dropped after the test."""
    server = _server(pg_database_url)
    name = f"ehcmpi_fresh_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    """An empty database of each backend, never migrated."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite:///{tmp_path / 'fresh.db'}"


@pytest.fixture
def pg_engine(pg_database_url: str) -> Iterator[Engine]:
    """The session's PostgreSQL database, migrated and emptied (for multi-process tests)."""
    engine = create_database_engine(pg_database_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(sa.delete(table))
    yield engine
    engine.dispose()
