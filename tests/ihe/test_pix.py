"""PIX Manager (ehcmpi.ihe.pix) on SQLite and PostgreSQL: ITI-8/ITI-30 feed and A40 merge
(RULES 13–15), ITI-9 / PIXm ITI-83 cross-references (RULES 5–10, 24–25)."""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container, build
from ehcmpi.core.links import LinkState
from ehcmpi.core.model import (
    Demographics,
    PatientStatus,
    RegistrationMode,
    RegistrationRequest,
    SourceIdentifier,
)
from ehcmpi.ihe.pix import PixManager
from ehcmpi.ihe.results import PixError
from ehcmpi.settings import MatchingSettings, Settings
from ehcmpi.terminology.systems import (
    EHC_ID_SYSTEM,
    ID_CARD_SYSTEM,
    MPI_ID_SYSTEM,
    document_system,
)
from tests.core.lifecycle.conftest import RULES
from tests.core.support import (
    ADMIN,
    CLERK,
    HIS_SYSTEM,
    LIS_SYSTEM,
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    citizen_id,
    his,
    lis,
    request,
    with_bad_check_digit,
)

FEED = RegistrationMode.FEED
UNKNOWN = "urn:oid:1.2.3.4.5.6.7"
LI_NA_ID = citizen_id("310101", dt.date(1985, 6, 15), 24)
PASSPORT = "E12345678"


def pix_of(container: Container) -> PixManager:
    return PixManager(
        container.uow,
        container.registration,
        container.merges,
        container.linker,
        container.domains,
        container.audit,
    )


@pytest.fixture
def pix(container: Container) -> PixManager:
    return pix_of(container)


def _feed(
    pix: PixManager, *sources: SourceIdentifier, name: str = "张伟", doc: str | None = None
) -> str:
    documents = (("01", doc),) if doc else ()
    return pix.feed(request(name, *documents, sources=sources), CLERK).patient.mpi_id


def _zhang(pix: PixManager) -> str:
    """张伟 known to HIS as H-1 and H-2 and to LIS as L-1: one golden record."""
    mpi_id = _feed(pix, his("H-1"), doc=ZHANG_WEI_ID)
    assert _feed(pix, lis("L-1"), doc=ZHANG_WEI_ID) == mpi_id
    assert _feed(pix, his("H-2"), doc=ZHANG_WEI_ID) == mpi_id
    return mpi_id


def _ehc_id(container: Container, mpi_id: str) -> str:
    ehc_id = container.query.get(mpi_id, CLERK).ehc_id
    assert ehc_id is not None
    return ehc_id


def _kind(exc: pytest.ExceptionInfo[PixError]) -> str:
    return exc.value.kind


# --- ITI-9 / ITI-83 -------------------------------------------------------------------------


def test_found_lists_every_domain_without_the_queried_id(
    container: Container, pix: PixManager
) -> None:
    mpi_id = _zhang(pix)
    answer = pix.cross_references(lis("L-1"))
    assert answer.found and answer.patient.mpi_id == mpi_id
    assert answer.identifiers == [
        (HIS_SYSTEM, "H-1"),
        (HIS_SYSTEM, "H-2"),  # several ids of one domain: successive (RULES 5 Case 6)
        (ID_CARD_SYSTEM, ZHANG_WEI_ID),
        (EHC_ID_SYSTEM, _ehc_id(container, mpi_id)),
        (MPI_ID_SYSTEM, mpi_id),
    ]


def test_one_id_per_requested_domain(pix: PixManager) -> None:
    _zhang(pix)
    assert pix.cross_references(his("H-1"), [LIS_SYSTEM]).identifiers == [(LIS_SYSTEM, "L-1")]
    answer = pix.cross_references(his("H-1"), [HIS_SYSTEM, ID_CARD_SYSTEM])
    assert answer.identifiers == [(HIS_SYSTEM, "H-2"), (ID_CARD_SYSTEM, ZHANG_WEI_ID)]


def test_the_queried_id_is_excluded_in_any_form(container: Container, pix: PixManager) -> None:
    mpi_id = _zhang(pix)
    for value in (ZHANG_WEI_ID, ZHANG_WEI_ID.lower(), "110105491231002"):
        answer = pix.cross_references(SourceIdentifier(ID_CARD_SYSTEM, value))
        assert answer.patient.mpi_id == mpi_id
        assert ID_CARD_SYSTEM not in {s for s, _ in answer.identifiers}
    by_mpi = pix.cross_references(SourceIdentifier(MPI_ID_SYSTEM, mpi_id.lower()))
    assert (MPI_ID_SYSTEM, mpi_id) not in by_mpi.identifiers
    assert (HIS_SYSTEM, "H-1") in by_mpi.identifiers
    ehc = SourceIdentifier(EHC_ID_SYSTEM, _ehc_id(container, mpi_id))
    assert pix.cross_references(ehc, [EHC_ID_SYSTEM, MPI_ID_SYSTEM]).identifiers == [
        (MPI_ID_SYSTEM, mpi_id)
    ]


def test_known_id_without_ids_in_the_requested_domains_is_not_found(pix: PixManager) -> None:
    _feed(pix, his("H-9"), name="无名氏")
    answer = pix.cross_references(his("H-9"), [LIS_SYSTEM, ID_CARD_SYSTEM])
    assert (answer.found, answer.identifiers) == (False, [])  # Case 2: AA / NF (RULES 6)
    only_itself = pix.cross_references(his("H-9"), [HIS_SYSTEM])
    assert (only_itself.found, only_itself.identifiers) == (False, [])


def test_unknown_id_in_a_known_domain(pix: PixManager) -> None:
    _zhang(pix)
    for identifier in (his("nobody"), SourceIdentifier(ID_CARD_SYSTEM, LI_NA_ID)):
        with pytest.raises(PixError) as exc:
            pix.cross_references(identifier)
        assert _kind(exc) == "unknown_id" and exc.value.code == "not-found"  # Case 3


def test_unknown_source_domain(pix: PixManager) -> None:
    _zhang(pix)
    with pytest.raises(PixError) as exc:
        pix.cross_references(SourceIdentifier(UNKNOWN, "H-1"), [HIS_SYSTEM, UNKNOWN])
    assert _kind(exc) == "unknown_source_domain"  # Case 4 comes before Case 5
    assert "Assigning Authority not found" in exc.value.message


def test_unknown_target_domains_are_listed_by_ordinal(pix: PixManager) -> None:
    _zhang(pix)
    targets = [LIS_SYSTEM, UNKNOWN, document_system("03"), "urn:oid:9.9", EHC_ID_SYSTEM]
    with pytest.raises(PixError) as exc:
        pix.cross_references(his("nobody"), targets)
    assert _kind(exc) == "unknown_target_domain"  # Case 5, before Case 3
    assert exc.value.ordinals == (2, 4)
    assert exc.value.message.startswith("未知的目标标识域")


def test_a_merged_record_answers_for_its_survivor(container: Container, pix: PixManager) -> None:
    kept = _feed(pix, his("H-1"), doc=ZHANG_WEI_ID)
    gone = _feed(pix, lis("L-5"), name="李娜", doc=LI_NA_ID)
    gone_ehc = _ehc_id(container, gone)
    container.merges.merge(kept, gone, ADMIN)
    for identifier in (
        SourceIdentifier(MPI_ID_SYSTEM, gone),
        SourceIdentifier(EHC_ID_SYSTEM, gone_ehc),
        lis("L-5"),
    ):
        answer = pix.cross_references(identifier, [HIS_SYSTEM])
        assert answer.patient.mpi_id == kept
        assert answer.identifiers == [(HIS_SYSTEM, "H-1")]


def test_a_cancelled_record_is_not_found(container: Container, pix: PixManager) -> None:
    mpi_id = _zhang(pix)
    container.maintenance.cancel(mpi_id, "死亡", ADMIN)
    with pytest.raises(PixError) as exc:
        pix.cross_references(his("H-1"))
    assert _kind(exc) == "unknown_id"


@pytest.fixture
def linked(settings: Settings, engine: Engine, tmp_path: pathlib.Path) -> Iterator[Container]:
    """The round-number rules of tests/core/lifecycle: name + birth date is a POSSIBLE_MATCH."""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES.replace("1.0e-0", "0.999999"), encoding="utf-8")
    configured = settings.model_copy(update={"matching": MatchingSettings(rules=str(rules))})
    wired = build(configured, engine=engine)
    yield wired
    wired.audit.flush()


def test_possible_matches_are_not_published(linked: Container) -> None:
    pix = pix_of(linked)
    phone = ("13812345678",)
    golden = pix.feed(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), phones=phone), CLERK
    ).patient.mpi_id
    doubt = pix.feed(request("张伟", sources=(lis("L-2"),), birth_date=ZHANG_WEI_BIRTH), CLERK)
    with linked.uow() as uow:
        assert uow.links.get_source(lis("L-2")).state is LinkState.POSSIBLE_MATCH  # type: ignore[union-attr]
    assert doubt.patient.mpi_id != golden
    answer = pix.cross_references(lis("L-2"))
    assert (answer.found, answer.identifiers) == (False, [])  # RULES 10
    assert (LIS_SYSTEM, "L-2") not in pix.cross_references(his("H-1")).identifiers


# --- ITI-8 / ITI-30 feed --------------------------------------------------------------------


def test_feed_creates_then_updates_the_source_and_golden_records(
    container: Container, pix: PixManager
) -> None:
    first = pix.feed(request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),)), CLERK)
    assert first.created and first.ehc_issued
    again = pix.feed(request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),)), CLERK)
    assert not again.created and again.patient.mpi_id == first.patient.mpi_id

    a08 = RegistrationRequest(
        Demographics(name="张卫", gender="2", phones=("13912345678",)),
        source_ids=(his("H-1"),),
    )
    updated = pix.feed(a08, CLERK)
    assert updated.patient.mpi_id == first.patient.mpi_id
    assert updated.patient.demographics.name == "张卫"  # survivorship: the latest source wins
    assert updated.patient.demographics.phones == ("13912345678",)
    with container.uow() as uow:
        source = uow.links.get_source(his("H-1"))
    assert source is not None and source.demographics.name == "张卫"
    assert container.query.get(first.patient.mpi_id, CLERK).demographics.name == "张卫"


def test_feed_registers_in_feed_mode(pix: PixManager) -> None:
    bad = with_bad_check_digit(LI_NA_ID)
    result = pix.feed(request("李娜", ("01", bad), sources=(lis("L-7"),)), CLERK)
    assert result.created and not result.ehc_issued  # kept, flagged (§5.2.1), not refused
    assert result.patient.ehc_id is None


def test_feed_needs_configured_domains(pix: PixManager) -> None:
    with pytest.raises(PixError) as exc:
        pix.feed(request("张伟", sources=(his("H-1"), SourceIdentifier(UNKNOWN, "X"))), CLERK)
    assert _kind(exc) == "unknown_domain"
    with pytest.raises(PixError) as exc:
        pix.feed(request("张伟", ("01", ZHANG_WEI_ID)), CLERK)
    assert _kind(exc) == "missing_id"
    with pytest.raises(PixError):
        pix.cross_references(his("H-1"))  # nothing was stored


# --- ITI-8 / ITI-30 A40 ---------------------------------------------------------------------


def test_merge_of_two_golden_records(container: Container, pix: PixManager) -> None:
    kept = _feed(pix, his("H-1"), lis("L-1"), doc=ZHANG_WEI_ID)
    old = pix.feed(
        request("张卫", ("03", PASSPORT), sources=(his("H-2"),), phones=("13700000000",)), CLERK
    ).patient.mpi_id
    assert old != kept

    survivor = pix.merge(his("H-1"), his("H-2"), ADMIN)

    assert survivor.mpi_id == kept
    assert survivor.demographics.name == "张伟"  # H-2's demographics no longer count
    retired = container.query.get(old, CLERK)
    assert (retired.status, retired.parent_id) == (PatientStatus.MERGED, kept)
    with pytest.raises(PixError) as exc:
        pix.cross_references(his("H-2"))
    assert _kind(exc) == "unknown_id"  # RULES 15: never referenced again
    answer = pix.cross_references(lis("L-1"))
    assert (HIS_SYSTEM, "H-2") not in answer.identifiers
    assert (document_system("03"), PASSPORT) in answer.identifiers  # the person's document
    assert his("H-2") not in container.query.get(kept, CLERK).source_ids
    with container.uow() as uow:
        assert uow.links.get_source(his("H-2")) is None
        events = uow.links.events(source=his("H-2"))
    assert [e.kind for e in events][-2:] == ["MERGE", "UNLINK"]
    assert events[-1].actor == ADMIN.name and "A40" in events[-1].reason


def test_merge_within_one_golden_record(container: Container, pix: PixManager) -> None:
    mpi_id = _zhang(pix)
    survivor = pix.merge(his("H-1"), his("H-2"), ADMIN)
    assert survivor.mpi_id == mpi_id and survivor.status is PatientStatus.ACTIVE
    assert pix.cross_references(lis("L-1"), [HIS_SYSTEM]).identifiers == [(HIS_SYSTEM, "H-1")]
    with pytest.raises(PixError):
        pix.cross_references(his("H-2"))


def test_merge_into_an_unknown_surviving_id_renames(container: Container, pix: PixManager) -> None:
    mpi_id = _feed(pix, his("H-1"), lis("L-1"), doc=ZHANG_WEI_ID)
    survivor = pix.merge(his("H-NEW"), his("H-1"), ADMIN)
    assert survivor.mpi_id == mpi_id
    assert pix.cross_references(lis("L-1"), [HIS_SYSTEM]).identifiers == [(HIS_SYSTEM, "H-NEW")]
    assert pix.cross_references(his("H-NEW"), [LIS_SYSTEM]).identifiers == [(LIS_SYSTEM, "L-1")]
    with pytest.raises(PixError):
        pix.cross_references(his("H-1"))
    with container.uow() as uow:
        renamed = uow.links.get_source(his("H-NEW"))
    assert renamed is not None and renamed.demographics.name == "张伟"


def test_merge_errors(pix: PixManager) -> None:
    _zhang(pix)
    cases = [
        (his("H-1"), lis("L-1"), "domain_mismatch"),
        (his("H-1"), his("nobody"), "unknown_id"),
        (his("nobody"), his("nobody-either"), "unknown_id"),
        (SourceIdentifier(UNKNOWN, "1"), SourceIdentifier(UNKNOWN, "2"), "unknown_domain"),
        (his("H-1"), his("H-1"), "same_id"),
    ]
    for surviving, subsumed, kind in cases:
        with pytest.raises(PixError) as exc:
            pix.merge(surviving, subsumed, ADMIN)
        assert _kind(exc) == kind
    assert pix.cross_references(his("H-1"), [HIS_SYSTEM]).identifiers == [(HIS_SYSTEM, "H-2")]
