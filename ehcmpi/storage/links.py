"""SQL implementation of the link repository port (guideline §4.1.1 索引合并, 索引拆分).

Source records are the ``source_identifiers`` rows: unique (system, value) with a NOT NULL
golden record, so the database itself keeps every source record linked to exactly one golden
record.  What a source sent (demographics, document numbers, phones) and the blocking keys are
protected at rest (§6.3 数据存储安全): SM4-GCM ciphertext and HMAC-SM3 blind indexes, never
plaintext.  Review tasks and merge records are in ``ehcmpi.storage.reviews``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa

from ehcmpi.core.links import (
    FieldComparison,
    LinkEvent,
    LinkOrigin,
    LinkState,
    MatchDecision,
    SourceRecord,
)
from ehcmpi.core.model import Demographics, IdentityDocument, SourceIdentifier
from ehcmpi.storage import codec
from ehcmpi.storage.driver import Hot
from ehcmpi.storage.patient_sql import SOURCE_INSERT
from ehcmpi.storage.patients import LinkedIds
from ehcmpi.storage.reviews import SqlReviewRepository, aware_or_none, source_of
from ehcmpi.storage.rows import aware, insert_ignoring_conflicts, now
from ehcmpi.storage.tables import (
    MATCH_KEY_PREFIX,
    link_events,
    match_decisions,
    match_keys,
    source_identifiers,
)

SOURCE_CONTEXT = "source.record"
MATCH_KEY_KIND = "match_key"

_s, _e, _m, _k = source_identifiers.c, link_events.c, match_decisions.c, match_keys.c

SOURCE = sa.select(source_identifiers).where(
    _s.system == sa.bindparam("system"), _s.value == sa.bindparam("value")
)
LINKED_IDS = Hot(
    sa.select(_s.system, _s.value, _s.link_state)
    .where(_s.mpi_id == sa.bindparam("mpi_id"))
    .order_by(_s.id)
)
SOURCES_OF = (
    sa.select(source_identifiers).where(_s.mpi_id == sa.bindparam("mpi_id")).order_by(_s.id)
)
EVENT_INSERT = Hot(link_events.insert())
DECISION_INSERT = Hot(match_decisions.insert())
SOURCE_UPDATE = Hot(
    source_identifiers.update().where(
        _s.system == sa.bindparam("of_system"), _s.value == sa.bindparam("of_value")
    )
)
#: Size of a blind index (HMAC-SM3): the unit the packed statements below cut their keys into.
BIDX_SIZE = 32
_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")


def _key_at(n: str) -> str:
    """SQL for the ``n``-th (from 1) blind index of the ``:keys`` parameter (``_packed``)."""
    return f"substr(:keys, ({n} - 1) * {BIDX_SIZE} + 1, {BIDX_SIZE})"


def _by_key(key: str) -> str:
    """SQL: the match keys equal to ``key`` (an SQL expression) through ``ix_match_keys_key``,
    whose expression ``substr(key_bidx, 1, 8)`` the condition repeats so that both databases
    use it."""
    prefix = f"substr(key_bidx, 1, {MATCH_KEY_PREFIX})"
    return f"{prefix} = substr({key}, 1, {MATCH_KEY_PREFIX}) AND key_bidx = {key}"


# PostgreSQL: the candidates of packed keys (``_packed``), the n-th key at most its cap
# (``caps``: "20,20,10,..."), distinct.  One plan for any number of keys; PostgreSQL spends
# about half the CPU it spent on the six-branch UNION of ``_candidates_sql`` (53-55 vs
# 98-120 us per lookup of six keys, 4 alternating runs of 4,000 over 300,000 keys).
# Generic: with the number of keys known PostgreSQL estimates it cheaper and plans it for
# every call, 0.12 ms of planning against 0.08 ms of running (``storage.wire``).
CANDIDATES_PACKED = Hot(
    sa.text(
        "SELECT DISTINCT m.mpi_id "
        "FROM unnest(string_to_array(:caps, ',')::int[]) WITH ORDINALITY AS k(cap, n) "
        "CROSS JOIN LATERAL (SELECT mpi_id FROM match_keys "
        f"WHERE {_by_key(_key_at('k.n::int'))} "
        "ORDER BY mpi_order DESC LIMIT k.cap) AS m"
    ).bindparams(sa.bindparam("keys", type_=sa.LargeBinary), sa.bindparam("caps", type_=sa.String)),
    generic=True,
)
KEYS_DELETE = Hot(match_keys.delete().where(_k.mpi_id == sa.bindparam("of_mpi_id")))
KEYS_INSERT = Hot(match_keys.insert())
# PostgreSQL: a record's blind indexes end to end in one parameter, one INSERT for all of
# them — five statements fewer for psycopg to adapt and send per record; the rows are the
# same and PostgreSQL's CPU per record measured the same either way.  Generic, as the
# candidates above: planned for its parameters it was planned for every record.
KEYS_INSERT_PACKED = Hot(
    sa.text(
        "INSERT INTO match_keys (mpi_id, mpi_order, key_bidx) "
        f"SELECT :mpi_id, :mpi_order, {_key_at('n')} "
        f"FROM generate_series(1, length(:keys) / {BIDX_SIZE}) AS n"
    ).bindparams(
        sa.bindparam("mpi_id", type_=sa.String),
        sa.bindparam("mpi_order", type_=sa.BigInteger),
        sa.bindparam("keys", type_=sa.LargeBinary),
    ),
    generic=True,
    writes=match_keys,
)
DECISION = sa.select(match_decisions).where(_m.id == sa.bindparam("id"))


def _between(subject: sa.ColumnElement[Any], candidate: sa.ColumnElement[Any]) -> Any:
    """Either role: (a, b) or (b, a)."""
    a: sa.BindParameter[str] = sa.bindparam("a")
    b: sa.BindParameter[str] = sa.bindparam("b")
    return sa.or_(sa.and_(subject == a, candidate == b), sa.and_(subject == b, candidate == a))


DECISIONS_BETWEEN = (
    sa.select(match_decisions)
    .where(_between(_m.subject, _m.candidate))
    .order_by(_m.at.desc(), _m.id.desc())
)
LATEST_MANUAL = (
    sa.select(_m.outcome)
    .where(_between(_m.subject, _m.candidate), _m.origin == LinkOrigin.MANUAL.value)
    .order_by(_m.at.desc(), _m.id.desc())
    .limit(1)
)


class SqlLinkRepository(SqlReviewRepository):
    """Source records, link history, decisions, review tasks, merges and blocking keys."""

    #: What the unit of work's patient repository loaded (``patients.LinkedIds``), if shared.
    loaded: LinkedIds | None = None
    #: Candidate lookups announced by ``expect_candidates`` (a group of registrations
    #: announces one per record), each statement by its keys; the repository lives for one
    #: unit of work.
    _expected: dict[tuple[tuple[str, int], ...], tuple[Hot, dict[str, Any]]] | None = None
    #: Blocking keys' blind indexes computed in this unit of work (``_key_bidx``).
    _key_bidxs: dict[str, bytes] | None = None

    # --- source records ------------------------------------------------------------------

    def _record_enc(self, source: SourceRecord) -> bytes:
        text = codec.source_to_json(source.demographics, source.documents).decode()
        return self._crypto.encrypt_field(text, SOURCE_CONTEXT)

    def _link_values(self, source: SourceRecord) -> dict[str, Any]:
        return {
            "mpi_id": source.mpi_id,
            "link_state": source.state.value,
            "link_origin": source.origin.value,
            "weight": source.weight,
            "decision_id": source.decision_id,
            "record_enc": self._record_enc(source),
            "updated_at": source.updated_at or now(),
        }

    def _source_record(self, row: Any) -> SourceRecord:
        demographics = Demographics()  # an identifier recorded before migration 0003
        documents: tuple[IdentityDocument, ...] = ()
        if row.record_enc is not None:
            text = self._crypto.decrypt_field(row.record_enc, SOURCE_CONTEXT)
            demographics, documents = codec.source_from_json(text.encode())
        return SourceRecord(
            identifier=SourceIdentifier(row.system, row.value),
            mpi_id=row.mpi_id,
            demographics=demographics,
            documents=documents,
            state=LinkState(row.link_state),
            origin=LinkOrigin(row.link_origin),
            weight=row.weight,
            decision_id=row.decision_id,
            updated_at=aware_or_none(row.updated_at),
        )

    def get_source(self, identifier: SourceIdentifier) -> SourceRecord | None:
        params = {"system": identifier.system, "value": identifier.value}
        row = self._conn.execute(SOURCE, params).first()
        return self._source_record(row) if row is not None else None

    def sources_of(self, mpi_id: str) -> list[SourceRecord]:
        rows = self._conn.execute(SOURCES_OF, {"mpi_id": mpi_id})
        return [self._source_record(row) for row in rows]

    def linked_identifiers(self, mpi_id: str) -> list[tuple[SourceIdentifier, LinkState]]:
        """The source identifiers of a golden record and their link states, nothing decrypted
        (in a read-only unit of work that loaded the record: as loaded with it)."""
        if self.loaded is not None and mpi_id in self.loaded:
            return list(self.loaded[mpi_id])
        rows = LINKED_IDS.rows(self._conn, {"mpi_id": mpi_id})
        return [(SourceIdentifier(r.system, r.value), LinkState(r.link_state)) for r in rows]

    def add_source(self, source: SourceRecord) -> bool:
        row = self._link_values(source) | {
            "system": source.identifier.system,
            "value": source.identifier.value,
            "created_at": now(),
        }
        return insert_ignoring_conflicts(self._conn, source_identifiers, [row], "id") == 1

    def update_source(self, source: SourceRecord, *, fresh: bool = False) -> None:
        """Relink and store what the source sent; ``LookupError`` for an unknown source
        (``fresh``: this transaction inserted the row, so it is there and nothing is checked)."""
        sid = source.identifier
        values = self._link_values(source)
        row = {"system": sid.system, "value": sid.value}
        if fresh and SOURCE_INSERT.amend_queued(self._conn, row, values):
            return  # its INSERT (``insert_new``) still waits: it carries the link itself
        rows = [values | {"of_system": sid.system, "of_value": sid.value}]
        if fresh:
            SOURCE_UPDATE.later(self._conn, rows)
        elif SOURCE_UPDATE.run(self._conn, rows) != 1:
            raise LookupError(f"no source record {sid.system}|{sid.value}")

    def remove_source(self, identifier: SourceIdentifier) -> bool:
        """Delete the source record; its events and decisions stay as history (RULES 15)."""
        stmt = source_identifiers.delete().where(
            _s.system == identifier.system, _s.value == identifier.value
        )
        return bool(self._conn.execute(stmt).rowcount == 1)

    # --- link history --------------------------------------------------------------------

    def add_event(self, event: LinkEvent) -> None:
        EVENT_INSERT.later(
            self._conn,
            [
                {
                    "kind": event.kind,
                    "system": event.source.system,
                    "value": event.source.value,
                    "from_mpi_id": event.from_mpi_id,
                    "to_mpi_id": event.to_mpi_id,
                    "state": event.state.value,
                    "origin": event.origin.value,
                    "actor": event.actor,
                    "at": event.at,
                    "reason": event.reason,
                    "merge_id": event.merge_id,
                }
            ],
        )

    def events(
        self, *, mpi_id: str | None = None, source: SourceIdentifier | None = None
    ) -> list[LinkEvent]:
        if mpi_id is None and source is None:
            raise ValueError("events() needs a golden record or a source record")
        stmt = sa.select(link_events).order_by(_e.at, _e.id)
        if mpi_id is not None:
            stmt = stmt.where(sa.or_(_e.to_mpi_id == mpi_id, _e.from_mpi_id == mpi_id))
        if source is not None:
            stmt = stmt.where(_e.system == source.system, _e.value == source.value)
        return [
            LinkEvent(
                kind=r.kind,
                source=SourceIdentifier(r.system, r.value),
                from_mpi_id=r.from_mpi_id,
                to_mpi_id=r.to_mpi_id,
                state=LinkState(r.state),
                origin=LinkOrigin(r.origin),
                actor=r.actor,
                at=aware(r.at),
                reason=r.reason or "",
                merge_id=r.merge_id,
            )
            for r in self._conn.execute(stmt)
        ]

    # --- decisions -----------------------------------------------------------------------

    def add_decision(self, decision: MatchDecision) -> None:
        fields = [[f.name, f.level, f.weight] for f in decision.fields]
        source = decision.source
        DECISION_INSERT.later(
            self._conn,
            [
                {
                    "id": decision.id,
                    "subject": decision.subject,
                    "candidate": decision.candidate,
                    "outcome": decision.outcome.value,
                    "origin": decision.origin.value,
                    "weight": decision.weight,
                    "fields": orjson.dumps(fields).decode(),
                    "rules_version": decision.rules_version,
                    "reason": decision.reason,
                    "actor": decision.actor,
                    "at": decision.at,
                    "system": source.system if source else None,
                    "value": source.value if source else None,
                }
            ],
        )

    @staticmethod
    def _decision(r: Any) -> MatchDecision:
        return MatchDecision(
            id=r.id,
            subject=r.subject,
            candidate=r.candidate,
            outcome=LinkState(r.outcome),
            origin=LinkOrigin(r.origin),
            weight=r.weight,
            fields=tuple(FieldComparison(*f) for f in orjson.loads(r.fields)),
            rules_version=r.rules_version,
            reason=r.reason or "",
            actor=r.actor,
            at=aware(r.at),
            source=source_of(r.system, r.value),
        )

    def get_decision(self, decision_id: str) -> MatchDecision | None:
        row = self._conn.execute(DECISION, {"id": decision_id}).first()
        return self._decision(row) if row is not None else None

    def decisions_between(self, a: str, b: str) -> list[MatchDecision]:
        return [self._decision(r) for r in self._conn.execute(DECISIONS_BETWEEN, {"a": a, "b": b})]

    def manual_no_match(self, a: str, b: str) -> bool:
        """The operator's latest word on the pair is NO_MATCH (a later MANUAL MATCH undoes it)."""
        outcome = self._conn.execute(LATEST_MANUAL, {"a": a, "b": b}).scalar()
        return outcome == LinkState.NO_MATCH.value

    # --- blocking keys -------------------------------------------------------------------

    def _key_bidx(self, key: str) -> bytes:
        """A blocking key's blind index, computed once per unit of work: a new record's keys
        are those its registration searched with a moment before."""
        if self._key_bidxs is None:
            self._key_bidxs = {}
        found = self._key_bidxs.get(key)
        if found is None:
            found = self._key_bidxs[key] = self._crypto.blind_index(MATCH_KEY_KIND, key)
        return found

    def _bidx(self, keys: Sequence[str]) -> list[bytes]:
        """Distinct blind indexes, in the order the keys came."""
        return list(dict.fromkeys(map(self._key_bidx, keys)))

    def replace_keys(self, mpi_id: str, keys: Sequence[str], *, fresh: bool = False) -> None:
        if not fresh:
            KEYS_DELETE.later(self._conn, [{"of_mpi_id": mpi_id}])
        found = self._bidx(keys)
        row = {"mpi_id": mpi_id, "mpi_order": mpi_order(mpi_id)}
        if self._conn.dialect.name != "postgresql":
            KEYS_INSERT.later(self._conn, [row | {"key_bidx": b} for b in found])
        elif found:
            KEYS_INSERT_PACKED.later(self._conn, [row | {"keys": _packed(found)}])

    def candidates(self, keys: Sequence[str], cap: int) -> list[str]:
        return self.candidates_capped([(key, cap) for key in keys])

    def candidates_capped(self, keys: Sequence[tuple[str, int]]) -> list[str]:
        """One query: per-key ``LIMIT cap`` lookups on ``ix_match_keys_key``, distinct.

        A common key (a shared phone, a frequent name and birth year) cannot flood the
        matcher: each key contributes at most its cap of golden records, the newest (a
        master-index ID begins with the millisecond it was made, ``crypto.software``): a
        window that moves with the records coming in, where the first ones would stay the
        only ones a common key ever finds.  On PostgreSQL the
        keys go packed in one parameter and a LATERAL lookup runs once per key
        (``CANDIDATES_PACKED``); elsewhere a UNION of one subquery per key, its SQL text
        depending only on the number of keys and built once.
        """
        query = self._expected.pop(tuple(keys), None) if self._expected else None
        if query is None:
            query = self._candidates_query(keys)
        if query is None:
            return []
        rows = query[0].rows(self._conn, query[1])
        return sorted(str(row[0]) for row in rows)

    def expect_candidates(self, keys: Sequence[tuple[str, int]]) -> None:
        """``candidates_capped(keys)`` follows: its read goes with the next one (``Hot.ahead``)."""
        query = self._candidates_query(keys)
        if query is not None:
            query[0].ahead(self._conn, query[1])
            if self._expected is None:
                self._expected = {}
            self._expected[tuple(keys)] = query

    def _candidates_query(
        self, keys: Sequence[tuple[str, int]]
    ) -> tuple[Hot, dict[str, Any]] | None:
        caps: dict[bytes, int] = {}
        for key, cap in keys:
            if cap > 0:
                bidx = self._key_bidx(key)
                caps[bidx] = max(cap, caps.get(bidx, 0))
        if not caps:
            return None
        if self._conn.dialect.name == "postgresql":
            packed = {"keys": _packed(list(caps)), "caps": ",".join(map(str, caps.values()))}
            return CANDIDATES_PACKED, packed
        params: dict[str, Any] = {}
        for n, (bidx, cap) in enumerate(caps.items()):
            params[f"k{n}"], params[f"c{n}"] = bidx, cap
        return _candidates_sql(len(caps)), params


def mpi_order(mpi_id: str) -> int:
    """The order of master-index IDs as a number (``match_keys.mpi_order``, migration 0014):
    the first 16 hex digits, shifted into a signed 64-bit integer so that numbers and IDs sort
    alike.  An ID begins with the millisecond it was made (``crypto.software``): newest
    first.  An ID of another form sorts as 0."""
    head = mpi_id[:16]
    return int(head, 16) - (1 << 63) if _HEX16.fullmatch(head) else 0


def _packed(bidxs: Sequence[bytes]) -> bytes:
    """Blind indexes end to end, for the statements that cut them apart again."""
    if any(len(b) != BIDX_SIZE for b in bidxs):
        raise ValueError(f"blind indexes must be {BIDX_SIZE} bytes to be packed")
    return b"".join(bidxs)


@lru_cache(maxsize=64)
def _candidates_sql(count: int) -> Hot:
    # SQLite refuses LIMIT inside a compound member unless it is a subquery.
    parts = [
        f"SELECT mpi_id FROM (SELECT mpi_id FROM match_keys "
        f"WHERE {_by_key(f':k{n}')} "
        f"ORDER BY mpi_order DESC LIMIT :c{n}) AS m{n}"
        for n in range(count)
    ]
    return Hot(sa.text(" UNION ".join(parts)))
