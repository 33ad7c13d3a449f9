"""Migration 0007: patients registered before it get the name parts that PDQ / PDQm search by
(family name in pinyin, given name in characters and pinyin, a Latin name's words)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.storage import migrate
from ehcmpi.storage.engine import create_database_engine

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NAMES = {"A" * 64: "欧阳娜娜", "B" * 64: "单田芳", "C" * 64: "MOHR ALICE", "D" * 64: None}
KEYS = ("family_key", "given_name", "given_key")


@pytest.fixture
def fresh_engine(fresh_url: str) -> Iterator[Engine]:
    engine = create_database_engine(fresh_url)
    yield engine
    engine.dispose()


def _keys(engine: Engine) -> dict[str, tuple[str | None, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT mpi_id, {', '.join(KEYS)} FROM patients")).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_existing_patients_get_their_name_parts_and_lose_them_on_downgrade(
    fresh_engine: Engine,
) -> None:
    migrate.upgrade(fresh_engine, "0006")
    with fresh_engine.begin() as conn:
        for mpi_id, name in NAMES.items():
            conn.execute(
                sa.text(
                    "INSERT INTO patients (mpi_id, status, name, version, created_at, updated_at)"
                    " VALUES (:m, 'active', :n, 1, :at, :at)"
                ),
                {"m": mpi_id, "n": name, "at": NOW},
            )

    migrate.upgrade(fresh_engine)

    assert _keys(fresh_engine) == {
        "A" * 64: ("ouyang", "娜娜", "nana"),
        "B" * 64: ("shan", "田芳", "tianfang"),  # 单 as a surname reads shan
        "C" * 64: ("~mohr", None, "~alice"),
        "D" * 64: (None, None, None),
    }
    migrate.downgrade(fresh_engine, "0006")
    columns = {c["name"] for c in sa.inspect(fresh_engine).get_columns("patients")}
    assert not set(KEYS) & columns
    migrate.upgrade(fresh_engine)
    assert _keys(fresh_engine)["A" * 64] == ("ouyang", "娜娜", "nana")
