"""The link repository (§4.1.1 索引合并, 索引拆分) on SQLite and PostgreSQL: source records
and their one golden record, link history, decisions and blocking keys (§6.3: what a source
sent and the keys are never stored in plaintext)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.core.links import (
    FieldComparison,
    LinkEvent,
    LinkOrigin,
    LinkState,
    MatchDecision,
    SourceRecord,
)
from ehcmpi.core.model import Address, Demographics, IdentityDocument, PatientRecord
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.storage.links import MATCH_KEY_KIND
from ehcmpi.storage.tables import match_keys, source_identifiers
from ehcmpi.storage.uow import SqlUnitOfWork
from ehcmpi.storage.wire import Batch
from tests.core.support import HIS_SYSTEM, ZHANG_WEI_BIRTH, ZHANG_WEI_ID, his
from tests.storage.conftest import UowMaker
from tests.storage.support import PHONE, T0, A, B, C, D, add_patients, at, raw_dump

ZHANG = Demographics(
    name="张伟",
    name_pinyin="zhang wei",
    gender="2",
    birth_date=ZHANG_WEI_BIRTH,
    ethnicity="01",
    phones=(PHONE,),
    addresses=(Address(text="北京市朝阳区", area_code="110105"),),
)


def _source(value: str, mpi_id: str, **changes: object) -> SourceRecord:
    fields: dict[str, object] = {
        "identifier": his(value),
        "mpi_id": mpi_id,
        "demographics": ZHANG,
        "documents": (IdentityDocument("01", ZHANG_WEI_ID, primary=True),),
        "weight": 12.5,
        "decision_id": "dec-1",
        "updated_at": at(0),
    }
    return SourceRecord(**(fields | changes))  # type: ignore[arg-type]


# --- source records ------------------------------------------------------------------------


def test_source_record_round_trip_keeps_what_the_source_sent_encrypted(
    uow: UowMaker, engine: Engine
) -> None:
    add_patients(uow, A)
    source = _source("H-1", A)
    with uow() as u:
        assert u.links.add_source(source)
        u.commit()

    with uow() as u:
        assert u.links.get_source(his("H-1")) == source
        assert u.links.sources_of(A) == [source]
        assert u.links.get_source(his("nobody")) is None
        assert u.patients.find_by_source(his("H-1")) == A
    dump = raw_dump(engine, source_identifiers)
    assert "H-1" in dump
    assert ZHANG_WEI_ID not in dump and PHONE not in dump and "张伟" not in dump


def test_identifiers_registered_before_links_read_as_auto_matches(uow: UowMaker) -> None:
    with uow() as u:
        u.patients.insert(PatientRecord(A, Demographics(name="张伟"), source_ids=(his("H-1"),)))
        assert u.patients.add_source_id(A, his("H-2"))
        u.commit()

    with uow() as u:
        old = u.links.get_source(his("H-2"))
        assert u.patients.get(A).source_ids == (his("H-1"), his("H-2"))  # type: ignore[union-attr]
        assert [s.identifier for s in u.links.sources_of(A)] == [his("H-1"), his("H-2")]
    assert old == SourceRecord(his("H-2"), A, Demographics())
    assert (old.state, old.origin, old.weight, old.updated_at) == (
        LinkState.MATCH,
        LinkOrigin.AUTO,
        None,
        None,
    )


def test_a_source_record_links_to_exactly_one_golden_record(uow: UowMaker, engine: Engine) -> None:
    add_patients(uow, A, B)
    with uow() as u:
        assert u.links.add_source(_source("H-1", A))
        assert not u.links.add_source(_source("H-1", B))
        assert not u.patients.add_source_id(B, his("H-1"))
        u.commit()

    row = {"mpi_id": B, "system": HIS_SYSTEM, "value": "H-1", "created_at": T0}
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(source_identifiers.insert(), row)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(source_identifiers.insert(), row | {"value": "H-2", "mpi_id": None})
    with uow() as u:
        assert u.links.get_source(his("H-1")).mpi_id == A  # type: ignore[union-attr]


def test_update_source_relinks_and_stores_the_new_demographics(uow: UowMaker) -> None:
    add_patients(uow, A, B)
    with uow() as u:
        u.links.add_source(_source("H-1", A))
        u.commit()
    moved = _source(
        "H-1",
        B,
        demographics=Demographics(name="张伟", phones=("15987654321",)),
        documents=(),
        state=LinkState.POSSIBLE_MATCH,
        origin=LinkOrigin.MANUAL,
        weight=-3.25,
        decision_id="dec-2",
        updated_at=at(5),
    )

    with uow() as u:
        u.links.update_source(moved)
        u.commit()

    with uow() as u:
        assert u.links.get_source(his("H-1")) == moved
        assert u.links.sources_of(A) == []
        assert u.patients.find_by_source(his("H-1")) == B
        with pytest.raises(LookupError):
            u.links.update_source(_source("H-404", B))


# --- link history and decisions ------------------------------------------------------------


def _event(kind: str, value: str, src: str | None, dst: str, minutes: int) -> LinkEvent:
    return LinkEvent(
        kind, his(value), src, dst, LinkState.MATCH, LinkOrigin.AUTO, "system", at(minutes)
    )


def test_events_oldest_first_by_golden_record_or_by_source(uow: UowMaker) -> None:
    merge = LinkEvent(
        "MERGE", his("H-1"), A, B, LinkState.MATCH, LinkOrigin.MANUAL, "op", at(9), "dup", "m-1"
    )
    with uow() as u:
        u.links.add_event(_event("LINK", "H-2", None, B, 2))
        u.links.add_event(merge)
        u.links.add_event(_event("LINK", "H-1", None, A, 1))
        u.links.add_event(_event("LINK", "H-3", None, C, 3))
        u.commit()

    with uow() as u:
        of_b = u.links.events(mpi_id=B)
        of_a = u.links.events(mpi_id=A)
        of_h1 = u.links.events(source=his("H-1"))
        both = u.links.events(mpi_id=C, source=his("H-1"))
        with pytest.raises(ValueError):
            u.links.events()
    assert [(e.kind, e.source.value) for e in of_b] == [("LINK", "H-2"), ("MERGE", "H-1")]
    assert of_a == [_event("LINK", "H-1", None, A, 1), merge]
    assert of_h1 == of_a
    assert both == []


def _decision(
    id_: str, subject: str, candidate: str, outcome: LinkState, origin: LinkOrigin, minutes: int
) -> MatchDecision:
    return MatchDecision(
        id=id_,
        subject=subject,
        candidate=candidate,
        outcome=outcome,
        origin=origin,
        weight=7.5,
        fields=(FieldComparison("name", "exact", 4.0), FieldComparison("phone", None, 0.0)),
        rules_version="2026.1",
        reason="name and birth date agree",
        actor="matcher",
        at=at(minutes),
        source=his("H-1") if origin is LinkOrigin.AUTO else None,
    )


def test_decisions_round_trip_newest_first_in_either_role(uow: UowMaker) -> None:
    first = _decision("d1", A, B, LinkState.POSSIBLE_MATCH, LinkOrigin.AUTO, 1)
    second = _decision("d2", B, A, LinkState.MATCH, LinkOrigin.MANUAL, 2)
    other = _decision("d3", A, C, LinkState.NO_MATCH, LinkOrigin.AUTO, 3)
    with uow() as u:
        for decision in (first, second, other):
            u.links.add_decision(decision)
        u.commit()

    with uow() as u:
        assert u.links.get_decision("d1") == first
        assert u.links.get_decision("d2") == second
        assert u.links.get_decision("nope") is None
        assert u.links.decisions_between(A, B) == [second, first]
        assert u.links.decisions_between(B, A) == [second, first]
        assert u.links.decisions_between(B, C) == []


def test_manual_no_match_needs_an_operator_in_either_order(uow: UowMaker) -> None:
    def add(decision: MatchDecision) -> None:
        with uow() as u:
            u.links.add_decision(decision)
            u.commit()

    def pair_refused() -> tuple[bool, bool]:
        with uow() as u:
            return u.links.manual_no_match(A, B), u.links.manual_no_match(B, A)

    add(_decision("auto", A, B, LinkState.NO_MATCH, LinkOrigin.AUTO, 1))
    add(_decision("yes", A, B, LinkState.MATCH, LinkOrigin.MANUAL, 2))
    assert pair_refused() == (False, False)

    add(_decision("no", B, A, LinkState.NO_MATCH, LinkOrigin.MANUAL, 3))
    assert pair_refused() == (True, True)
    with uow() as u:
        assert not u.links.manual_no_match(A, C)

    # The operator's latest word counts: a later manual MATCH lifts the refusal.
    add(_decision("yes-again", A, B, LinkState.MATCH, LinkOrigin.MANUAL, 4))
    assert pair_refused() == (False, False)


# --- blocking keys -------------------------------------------------------------------------


def test_keys_are_blind_indexes_and_candidates_are_capped_per_key(
    uow: UowMaker, engine: Engine, crypto: CryptoProvider
) -> None:
    add_patients(uow, A, B, C, D)
    phone_key, id_key, name_key = f"phone:{PHONE}", f"doc:01:{ZHANG_WEI_ID}", "name:zhangwei"
    with uow() as u:
        u.links.replace_keys(A, [phone_key, id_key, name_key, name_key])
        u.links.replace_keys(B, [phone_key, name_key])
        u.links.replace_keys(C, [phone_key])
        u.links.replace_keys(D, ["stale"])
        u.links.replace_keys(D, [name_key])
        u.commit()

    with uow() as u:
        assert u.links.candidates([phone_key], cap=10) == [A, B, C]
        # A key over its cap gives its newest records (master-index IDs sort by age).
        assert u.links.candidates([phone_key], cap=2) == [B, C]
        assert u.links.candidates([phone_key, name_key, id_key], cap=10) == [A, B, C, D]
        # One key's cap leaves the others' candidates: the newest by phone, A by ID number.
        capped = u.links.candidates([phone_key, id_key], cap=1)
        assert capped == [A, C]
        two = u.links.candidates([phone_key, name_key], cap=2)
        assert len(two) == len(set(two)) and 2 <= len(two) <= 4
        assert u.links.candidates(["stale"], cap=10) == []
        assert u.links.candidates([], cap=10) == []
        u.links.replace_keys(A, [])
        assert u.links.candidates([id_key], cap=10) == []

    with engine.connect() as conn:
        stored = {bytes(b) for b in conn.execute(sa.select(match_keys.c.key_bidx)).scalars()}
    assert crypto.blind_index(MATCH_KEY_KIND, phone_key) in stored
    assert len(stored) == 3 and all(len(b) == 32 for b in stored)
    dump = raw_dump(engine, match_keys)
    assert PHONE not in dump and ZHANG_WEI_ID not in dump and "zhangwei" not in dump


def test_candidates_are_looked_up_through_the_key_index(
    uow: UowMaker, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_patients(uow, A, B)
    with uow() as u:
        u.links.replace_keys(A, ["k1", "k2"])
        u.links.replace_keys(B, ["k2"])
        u.commit()
    captured: list[tuple[str, Any]] = []

    def capture(_c: object, _cur: object, statement: str, params: Any, *_: object) -> None:
        captured.append((statement, params))

    send = Batch.send

    def record(batch: Batch, commands: list[Any]) -> Any:  # Hot statements on PostgreSQL
        captured.extend((c[0].source, c[1]) for c in commands if not isinstance(c, bytes))
        return send(batch, commands)

    monkeypatch.setattr(Batch, "send", record)
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with uow() as u:
            assert u.links.candidates(["k1", "k2"], cap=5) == [A, B]
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    [(query, params)] = [c for c in captured if "match_keys" in c[0]]  # one query for all keys

    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + query, params)
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            rows = conn.exec_driver_sql("EXPLAIN " + query, params)
        plan = "\n".join(str(tuple(r)) for r in rows)
    # The short index (the key's first bytes, the ID's order; migration 0014).
    assert "ix_match_keys_key" in plan, plan
    assert "SCAN match_keys" not in plan and "Seq Scan" not in plan, plan


def test_linked_identifiers_are_the_sources_with_their_states_in_order(uow: UowMaker) -> None:
    add_patients(uow, A, B)
    with uow() as u:
        u.links.add_source(_source("H-2", A))
        u.links.add_source(_source("H-1", A, state=LinkState.POSSIBLE_MATCH))
        u.links.add_source(_source("H-3", B))
        u.commit()
    with uow() as u:
        assert u.links.linked_identifiers(A) == [
            (his("H-2"), LinkState.MATCH),
            (his("H-1"), LinkState.POSSIBLE_MATCH),
        ]
        assert [s.identifier for s in u.links.sources_of(A)] == [his("H-2"), his("H-1")]


def test_linked_identifiers_after_loading_the_record_are_the_same_and_never_stale(
    uow: UowMaker, engine: Engine, crypto: CryptoProvider
) -> None:
    """A read-only unit of work answers from the record it loaded (one round trip less for a
    PIX query); a writing one asks the database, so it sees the sources it added itself."""
    add_patients(uow, A)
    with uow() as u:
        u.links.add_source(_source("H-2", A))
        u.links.add_source(_source("H-1", A, state=LinkState.POSSIBLE_MATCH))
        u.commit()
    expected = [(his("H-2"), LinkState.MATCH), (his("H-1"), LinkState.POSSIBLE_MATCH)]
    with SqlUnitOfWork(engine, crypto) as r:  # read-only
        patient = r.patients.get(A)
        assert patient is not None and patient.source_ids == (his("H-2"), his("H-1"))
        assert r.links.linked_identifiers(A) == expected
    with uow() as w:
        assert w.patients.get(A) is not None
        assert w.links.add_source(_source("H-3", A, state=LinkState.POSSIBLE_MATCH))
        assert w.links.linked_identifiers(A) == [*expected, (his("H-3"), LinkState.POSSIBLE_MATCH)]
