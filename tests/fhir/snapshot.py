"""Everything the index holds, for "nothing was written" assertions.

Every table except the call audit (a lookup or a refused request is still recorded there,
guideline §6 安全审计), read in full and made order-independent.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.storage.tables import metadata

Snapshot = dict[str, list[str]]
NOT_DATA = {"audit_log"}


def snapshot(engine: Engine) -> Snapshot:
    with engine.connect() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(sa.select(table)))
            for table in metadata.sorted_tables
            if table.name not in NOT_DATA
        }
