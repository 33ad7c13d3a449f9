"""Storage fixtures: fresh, empty databases (for migrations), a PostgreSQL-only engine, and
units of work on the emptied test database of each backend."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.crypto.software import SoftwareCryptoProvider
from ehcmpi.storage import migrate
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.tables import metadata
from ehcmpi.storage.uow import SqlUnitOfWork

UowMaker = Callable[[], SqlUnitOfWork]


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    """An empty database of each backend, never migrated."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("own_pg_database_url"))
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


@pytest.fixture(scope="session")
def crypto(key_file: pathlib.Path) -> CryptoProvider:
    return SoftwareCryptoProvider.from_keyfile(key_file)


@pytest.fixture
def uow(engine: Engine, crypto: CryptoProvider) -> UowMaker:
    """Write units of work on the emptied database: ``with uow() as u: …; u.commit()``."""
    return lambda: SqlUnitOfWork(engine, crypto, write=True)
