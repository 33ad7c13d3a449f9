"""Schema migrations with Alembic (``ehcmpi db upgrade``; applied at start on SQLite).

On PostgreSQL the upgrade holds an advisory lock, on SQLite the database write lock, so that
two replicas (or HTTP worker processes) starting together do not both migrate.

Rolling a release back (guideline §6.x 回退): the newer release steps the schema back with
``ehcmpi db downgrade <revision>`` before the older one starts.  An older release that meets
a schema newer than it knows refuses with :class:`MigrationError` (one line naming both
revisions), as does a step to a revision that does not exist, never with Alembic's traceback.
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Callable

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine

from ehcmpi.storage.engine import write_options

MIGRATIONS = pathlib.Path(__file__).with_name("migrations")
LOCK_KEY = 7_301_020_231  # arbitrary, fixed: "ehcmpi schema"


def _config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


@functools.cache
def _script() -> ScriptDirectory:
    """The migrations of this release, read once (about 10 ms a time otherwise)."""
    return ScriptDirectory.from_config(_config())


def head_revision() -> str | None:
    return _script().get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class MigrationError(Exception):
    """A schema this release cannot step from or to; the message is one line."""


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def check_known(engine: Engine) -> None:
    """Raise :class:`MigrationError` if the schema was written by a newer release."""
    current = current_revision(engine)
    if current is not None and not _known(current):
        head = head_revision()
        raise MigrationError(
            f"数据库结构 {current} 来自更新版本的 ehcmpi，本版本只到 {head}：请运行更新的版本，"
            f"或用它先执行 `ehcmpi db downgrade {head}` "
            f"(the database schema {current} was written by a newer ehcmpi; this release "
            f"knows up to {head}: run the newer release, or first roll back with it: "
            f"`ehcmpi db downgrade {head}`)"
        )


def _known(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except CommandError:
        return False


def upgrade(engine: Engine, revision: str = "head") -> None:
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Step the schema back to ``revision`` (rolling a release back, guideline §6.x)."""
    _run(engine, command.downgrade, revision)


def _run(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    check_known(engine)
    if revision != "head" and not _known(revision):
        raise MigrationError(
            f"没有这个数据库结构版本 (no such schema revision): {revision}; "
            f"本版本的版本 (this release's revisions): {' '.join(_revisions())}"
        )
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({LOCK_KEY})")
            conn.commit()
        else:
            # SQLite has no advisory lock: hold the write lock (BEGIN IMMEDIATE) from the first
            # statement, so that a second process starting at the same time (several HTTP
            # workers on a new database) waits, then finds the schema current.  Alembic runs
            # inside this one transaction.
            conn.execution_options(**write_options(engine)).begin()
        try:
            step(_config(conn), revision)
            conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({LOCK_KEY})")
                conn.commit()


def _revisions() -> list[str]:
    """Every revision this release knows, oldest first."""
    return [r.revision for r in reversed(list(_script().walk_revisions()))]


def revision(message: str, engine: Engine) -> None:
    """Autogenerate a new migration from ``tables.metadata`` (developers only)."""
    with engine.connect() as conn:
        command.revision(_config(conn), message=message, autogenerate=True)
