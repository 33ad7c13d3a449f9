"""§4.1.1 基于规则的自动合并 at registration: MATCH links, POSSIBLE queues, NO_MATCH stays apart."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from ehcmpi.bootstrap import Container
from ehcmpi.core.links import LinkOrigin, LinkState, SourceRecord
from ehcmpi.core.model import RegistrationMode, SourceIdentifier
from tests.core.support import (
    CLERK,
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    citizen_id,
    his,
    lis,
    request,
)

FEED = RegistrationMode.FEED
PHONE = "13800138000"


def _source(container: Container, identifier: SourceIdentifier) -> SourceRecord:
    with container.uow() as uow:
        source = uow.links.get_source(identifier)
    assert source is not None
    return source


def _his_zhang_wei(container: Container) -> str:
    result = container.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), phones=(PHONE,), mode=FEED),
        CLERK,
    )
    return result.patient.mpi_id


def test_a_feed_without_document_links_to_the_same_person(linked: Container) -> None:
    golden = _his_zhang_wei(linked)
    second = linked.registration.register(
        request(
            "张伟", sources=(lis("L-9"),), birth_date=ZHANG_WEI_BIRTH, phones=(PHONE,), mode=FEED
        ),
        CLERK,
    )
    assert second.patient.mpi_id == golden
    assert not second.created
    assert lis("L-9") in second.patient.source_ids
    source = _source(linked, lis("L-9"))
    assert (source.state, source.origin) == (LinkState.MATCH, LinkOrigin.AUTO)
    assert source.demographics.name == "张伟"
    with linked.uow() as uow:
        assert source.decision_id is not None
        decision = uow.links.get_decision(source.decision_id)
    assert decision is not None
    levels = {f.name: f.level for f in decision.fields}
    assert levels == {
        "document": None,
        "name": "exact",
        "birth_date": "exact",
        "gender": None,
        "phone": "exact",
    }
    assert decision.weight == 27.0
    assert "phone=exact" in decision.reason


def test_a_possible_match_gets_its_own_record_and_a_review_task(linked: Container) -> None:
    golden = _his_zhang_wei(linked)
    second = linked.registration.register(
        request("张伟", sources=(lis("L-2"),), birth_date=ZHANG_WEI_BIRTH, mode=FEED), CLERK
    )
    assert second.created and second.patient.mpi_id != golden
    assert _source(linked, lis("L-2")).state is LinkState.POSSIBLE_MATCH
    total, items = linked.review.queue(CLERK)
    assert total == 1
    assert (items[0].record.mpi_id, items[0].candidate.mpi_id) == (second.patient.mpi_id, golden)
    assert items[0].task.weight == 14.0


def test_twins_sharing_phone_and_birth_date_stay_apart(linked: Container) -> None:
    born = dt.date(2015, 6, 1)
    first = linked.registration.register(
        request("李想", ("01", citizen_id("110105", born, 11)), phones=(PHONE,), mode=FEED), CLERK
    )
    twin = linked.registration.register(
        request("李思", ("01", citizen_id("110105", born, 13)), phones=(PHONE,), mode=FEED), CLERK
    )
    assert twin.created and twin.patient.mpi_id != first.patient.mpi_id
    assert linked.review.queue(CLERK)[0] == 0


def test_a_linked_source_updates_the_golden_record_by_survivorship(linked: Container) -> None:
    golden = _his_zhang_wei(linked)
    later = linked.registration.register(
        request(
            "张伟",
            sources=(lis("L-9"),),
            birth_date=ZHANG_WEI_BIRTH,
            phones=(PHONE, "13900139000"),
            mode=FEED,
        ),
        CLERK,
    )
    assert later.patient.mpi_id == golden
    assert later.patient.demographics.phones == ("13800138000", "13900139000")
    with linked.uow() as uow:
        stored = uow.patients.get(golden)
        assert stored is not None
        assert set(stored.demographics.phones) == {"13800138000", "13900139000"}


def test_the_golden_record_keeps_the_name_in_characters(linked: Container) -> None:
    golden = _his_zhang_wei(linked)
    later = linked.registration.register(
        request("Zhang Wei", sources=(lis("L-3"),), birth_date=ZHANG_WEI_BIRTH, phones=(PHONE,),
                mode=FEED),
        CLERK,
    )  # fmt: skip
    assert later.patient.mpi_id == golden
    assert later.patient.demographics.name == "张伟"
    assert _source(linked, lis("L-3")).demographics.name == "Zhang Wei"


def test_a_linked_source_brings_the_mothers_maiden_name(linked: Container) -> None:
    """Survivorship carries the mother's maiden name (PID-6) like the other simple fields."""
    golden = _his_zhang_wei(linked)
    lis_feed = request(
        "张伟", sources=(lis("L-8"),), birth_date=ZHANG_WEI_BIRTH, phones=(PHONE,), mode=FEED
    )
    demographics = replace(lis_feed.demographics, mothers_maiden_name="李秀英")

    later = linked.registration.register(replace(lis_feed, demographics=demographics), CLERK)

    assert later.patient.mpi_id == golden
    assert later.patient.demographics.mothers_maiden_name == "李秀英"
    assert _source(linked, lis("L-8")).demographics.mothers_maiden_name == "李秀英"
    with linked.uow() as uow:
        stored = uow.patients.get(golden)
    assert stored is not None and stored.demographics.mothers_maiden_name == "李秀英"
    # The same source corrects it (an A08): the most recent value of the source wins.
    corrected = replace(demographics, mothers_maiden_name="李秀兰")
    again = linked.registration.register(replace(lis_feed, demographics=corrected), CLERK)
    assert again.patient.demographics.mothers_maiden_name == "李秀兰"
