"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is the real server at ``EHCMPI_TEST_PG`` (default 127.0.0.1:5432, user postgres);
each test session creates its own database and drops it at the end.  An unreachable
PostgreSQL fails the run, in CI and on a developer machine alike: never a silent skip.
"""

from __future__ import annotations

import os
import pathlib
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.crypto.keys import init_keyfile
from ehcmpi.settings import Settings
from ehcmpi.storage import migrate, wire
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.tables import metadata
from tests.support import settings_for

PG_SERVER = os.environ.get("EHCMPI_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5)


def _require_pg() -> None:
    """PostgreSQL runs on every machine of this project (and CI): unreachable is a failure."""
    try:
        _pg_admin().close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL unreachable at {PG_SERVER} (set EHCMPI_TEST_PG): {exc}")


def _fresh_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    _require_pg()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_SERVER}/{name}"
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    yield from _fresh_pg_database("ehcmpi_test")


@pytest.fixture
def own_pg_database_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own (a server process's, say), dropped after."""
    yield from _fresh_pg_database("ehcmpi_own")


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_database_url"))
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'ehcmpi.db'}"


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(migrated_engine: Engine) -> Engine:
    """The migrated engine, emptied before the test."""
    with migrated_engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(sa.delete(table))
    return migrated_engine


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("keys") / "ehcmpi.key"
    init_keyfile(path)
    return path


@pytest.fixture
def settings(database_url: str, key_file: pathlib.Path, tmp_path: pathlib.Path) -> Settings:
    return settings_for(tmp_path / "ehcmpi.toml", database_url, key_file)


@pytest.fixture
def container(settings: Settings, engine: Engine) -> Iterator[Container]:
    wired = build(settings, engine=engine)
    yield wired
    wired.audit.flush()


@pytest.fixture
def statements(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What reaches the database from the test's thread (not a background writer's): ``Hot``
    batches (PostgreSQL) and SQLAlchemy statements (both backends), one entry per round
    trip."""
    sent: list[str] = []
    send = wire.Batch.send
    me = threading.get_ident()

    def counting(batch: wire.Batch, commands: Any) -> Any:
        if threading.get_ident() == me:
            sent.append("batch")
        return send(batch, commands)

    def executing(*args: Any) -> None:
        if threading.get_ident() == me:
            sent.append(args[2])

    monkeypatch.setattr(wire.Batch, "send", counting)
    sa.event.listen(engine, "before_cursor_execute", executing)
    yield sent
    sa.event.remove(engine, "before_cursor_execute", executing)
