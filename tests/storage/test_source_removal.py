"""``LinkRepository.remove_source`` on SQLite and PostgreSQL (ITI-8 A40, RULES 15): the removed
identifier names nobody any more, the golden record's other identifiers stay, history stays."""

from __future__ import annotations

from ehcmpi.core.links import LinkEvent, LinkOrigin, LinkState, SourceRecord
from ehcmpi.core.model import Demographics
from tests.core.support import his, lis
from tests.storage.conftest import UowMaker
from tests.storage.support import A, add_patients, at


def test_a_removed_source_record_names_nobody(uow: UowMaker) -> None:
    add_patients(uow, A)
    with uow() as u:
        for identifier in (his("H-1"), his("H-2"), lis("L-1")):
            assert u.links.add_source(SourceRecord(identifier, A, Demographics(name="张伟")))
        u.links.add_event(
            LinkEvent("LINK", his("H-2"), None, A, LinkState.MATCH, LinkOrigin.AUTO, "t", at(0))
        )
        u.commit()

    with uow() as u:
        assert u.links.remove_source(his("H-2"))
        assert not u.links.remove_source(his("H-2"))
        assert not u.links.remove_source(his("nobody"))
        u.commit()

    with uow() as u:
        assert u.links.get_source(his("H-2")) is None
        assert u.patients.find_by_source(his("H-2")) is None
        assert [s.identifier for s in u.links.sources_of(A)] == [his("H-1"), lis("L-1")]
        assert u.patients.get(A).source_ids == (his("H-1"), lis("L-1"))  # type: ignore[union-attr]
        assert [e.kind for e in u.links.events(source=his("H-2"))] == ["LINK"]
        # The identifier is free again: a later feed may use it for a new source record.
        assert u.links.add_source(SourceRecord(his("H-2"), A, Demographics()))


def test_removal_rolls_back_with_its_transaction(uow: UowMaker) -> None:
    add_patients(uow, A)
    with uow() as u:
        u.links.add_source(SourceRecord(his("H-1"), A, Demographics()))
        u.commit()
    with uow() as u:
        assert u.links.remove_source(his("H-1"))  # no commit
    with uow() as u:
        assert u.links.get_source(his("H-1")) is not None
