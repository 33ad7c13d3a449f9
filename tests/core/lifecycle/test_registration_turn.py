"""Registrations answered together (``core/registration_turn.py``; §4.1.2 索引注册, §4.4.1 建档,
§5.1.1): each request gets what registering it alone would give, new records share one
transaction, and any doubt falls back to one at a time."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import CancelledError, InvalidDocumentError
from ehcmpi.core.model import RegistrationRequest, RegistrationResult
from ehcmpi.core.registration import RegistrationService
from ehcmpi.storage.patients import SqlPatientRepository
from tests.core.support import (
    ADMIN,
    CLERK,
    ZHANG_WEI_BIRTH,
    ZHANG_WEI_ID,
    citizen_id,
    his,
    lis,
    request,
    with_bad_check_digit,
)

NAMES = ["王芳", "李强", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周杰"]
PHONE = "13800138000"


def _new(i: int) -> RegistrationRequest:
    """A patient nobody has registered: own name, birth date, document and HIS number."""
    born = dt.date(1970, 1, 1) + dt.timedelta(days=400 * i)
    return request(NAMES[i], ("01", citizen_id("110105", born, 10 + i)), sources=(his(f"N-{i}"),))


def _each(container: Container, requests: list[RegistrationRequest]) -> list[Any]:
    return container.registration.register_each([(r, CLERK) for r in requests])


def _results(answers: list[Any]) -> list[RegistrationResult]:
    assert all(isinstance(a, RegistrationResult) for a in answers), answers
    return answers


def _outcomes(container: Container) -> list[str]:
    """The call audit's outcomes of the registrations so far, sorted."""
    container.audit.flush()
    with container.uow() as uow:
        return sorted(e.outcome for e in uow.audit.recent(50, action="register"))


def _count(container: Container) -> int:
    with container.uow() as uow:
        return uow.patients.count()


@pytest.fixture
def commits(linked: Container, engine: Engine) -> Iterator[list[str]]:
    """Commits made by this thread's connections: registrations' (the call audit's are made
    by its writer thread, started here as the server starts it)."""
    made: list[str] = []
    me = threading.get_ident()

    def commit(conn: Any) -> None:
        if threading.get_ident() == me:
            made.append("commit")

    linked.audit.start()
    sa.event.listen(engine, "commit", commit)
    yield made
    sa.event.remove(engine, "commit", commit)
    linked.audit.stop()


def test_new_patients_answered_together_share_one_transaction_and_get_their_own_ehc_ids(
    linked: Container, engine: Engine, statements: list[str], commits: list[str]
) -> None:
    asked = [_new(i) for i in range(6)]
    statements.clear()

    results = _results(_each(linked, asked))
    trips = list(statements)

    assert [r.created and r.ehc_issued for r in results] == [True] * 6
    assert len({r.patient.mpi_id for r in results}) == 6
    for req, result in zip(asked, results, strict=True):
        number = req.documents[0].number
        assert result.patient.ehc_id == linked.crypto.ehc_id(result.patient.mpi_id, "01", number)
        found = linked.query.find("urn:oid:2.16.156.10011.1.3", number, CLERK)
        assert found is not None and found.mpi_id == result.patient.mpi_id
        by_his = linked.query.find(*_his(req), CLERK)
        assert by_his is not None and by_his.mpi_id == found.mpi_id
    assert commits == ["commit"]
    if engine.dialect.name == "postgresql":  # the reads in one round trip, the writes in one
        assert trips == ["batch", "batch"], trips
    linked.audit.flush()
    with linked.uow() as uow:
        entries = uow.audit.recent(20, action="register")
    assert sorted((e.target, e.detail, e.outcome) for e in entries) == sorted(
        (r.patient.mpi_id, "created", "success") for r in results
    )

    commits.clear()

    again = _results(_each(linked, asked))

    assert [(r.patient.mpi_id, r.created) for r in again] == [
        (r.patient.mpi_id, False) for r in results
    ]
    assert _count(linked) == 6
    assert commits == ["commit"]  # known records join the group's transaction too


def test_a_refusal_inside_the_shared_transaction_leaves_the_others_registered(
    linked: Container, commits: list[str]
) -> None:
    """A cancelled record is only found to be cancelled in the shared transaction: it fails
    it (nothing of it written), and each request then registers alone — the cancelled one
    refused as ``register`` refuses it, the others registered."""
    cancelled = linked.registration.register(_new(0), CLERK).patient
    linked.maintenance.cancel(cancelled.mpi_id, "重复建档", ADMIN)
    commits.clear()

    new, refused, known = _each(linked, [_new(1), _new(0), _new(1)])

    assert isinstance(refused, CancelledError)
    assert new.created and not known.created and known.patient.mpi_id == new.patient.mpi_id
    assert _count(linked) == 2
    assert commits == ["commit", "commit"]  # the first of _new(1) alone, then its repeat


def _his(req: RegistrationRequest) -> tuple[str, str]:
    return req.source_ids[0].system, req.source_ids[0].value


def test_a_refused_request_is_answered_alone_and_spoils_no_other(linked: Container) -> None:
    bad = request("错号", ("01", with_bad_check_digit(citizen_id("110105", ZHANG_WEI_BIRTH, 7))))

    first, refused, last = _each(linked, [_new(0), bad, _new(1)])

    assert isinstance(refused, InvalidDocumentError)
    assert first.created and last.created
    assert _count(linked) == 2
    assert _outcomes(linked) == sorted(["success", "success", f"error:{refused.code}"])


def test_one_patient_named_twice_in_a_group_is_one_record(linked: Container) -> None:
    """The second request naming the same document (or HIS number) waits for the first and
    finds its record, as it would arriving just after it."""
    zhang = ("01", ZHANG_WEI_ID)
    asked = [
        request("张伟", zhang, sources=(his("H-1"),)),
        _new(0),
        request("张伟", zhang, sources=(lis("L-1"),)),
        request("李娜", sources=(his("H-9"),), birth_date=dt.date(1990, 7, 1)),
        request(
            "李娜", ("01", citizen_id("110105", dt.date(1990, 7, 1), 22)), sources=(his("H-9"),)
        ),
    ]

    a, new, b, c, d = _results(_each(linked, asked))

    assert a.created and not b.created and a.patient.mpi_id == b.patient.mpi_id
    assert set(b.patient.source_ids) == {his("H-1"), lis("L-1")}
    assert c.created and not d.created and c.patient.mpi_id == d.patient.mpi_id
    assert c.patient.ehc_id is None and d.patient.ehc_id is not None  # issued on arrival
    assert new.created
    assert _count(linked) == 3


def test_a_match_to_an_existing_record_links_to_it_as_alone(linked: Container) -> None:
    """Name + birth date + phone is a MATCH under the test rules: the request joins that
    record; name + birth date alone is possible: its own record and a review task."""
    golden = linked.registration.register(
        request("张伟", ("01", ZHANG_WEI_ID), sources=(his("H-1"),), phones=(PHONE,)), CLERK
    )
    same = request("张伟", sources=(lis("L-9"),), birth_date=ZHANG_WEI_BIRTH, phones=(PHONE,))
    maybe = request("张伟", sources=(lis("L-2"),), birth_date=ZHANG_WEI_BIRTH)

    matched, possible, new = _results(_each(linked, [same, maybe, _new(3)]))

    assert not matched.created and matched.patient.mpi_id == golden.patient.mpi_id
    assert lis("L-9") in matched.patient.source_ids
    assert possible.created and possible.patient.mpi_id != golden.patient.mpi_id
    total, items = linked.review.queue(CLERK)
    assert total == 1 and items[0].record.mpi_id == possible.patient.mpi_id
    assert new.created


def test_another_writer_between_the_groups_reads_and_commit_makes_no_duplicate(
    linked: Container, engine: Engine, monkeypatch: pytest.MonkeyPatch, commits: list[str]
) -> None:
    """Another writer registers one of the group's documents after the group read its
    owners.  On PostgreSQL it commits first: the unique document fails the shared transaction,
    nothing of it is written, and each request then registers alone — that one joining the
    other writer's record.  On SQLite writers queue (``BEGIN IMMEDIATE``): the other writer
    waits for the group and joins the group's record.  One record per person either way."""
    asked = [_new(i) for i in range(4)]
    rival = request(NAMES[2], ("01", asked[2].documents[0].number), sources=(lis("R-2"),))
    answers: list[RegistrationResult] = []
    register_with = RegistrationService.register_with

    def meanwhile(service: RegistrationService, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("keys_free") and not answers and not other.is_alive():
            other.start()
            if engine.dialect.name == "postgresql":
                other.join(timeout=30)
        return register_with(service, *args, **kwargs)

    other = threading.Thread(
        target=lambda: answers.append(linked.registration.register(rival, CLERK))
    )
    monkeypatch.setattr(RegistrationService, "register_with", meanwhile)

    results = _results(_each(linked, asked))
    other.join(timeout=30)

    (theirs,) = answers
    if engine.dialect.name == "postgresql":
        assert theirs.created and not results[2].created
        assert [r.created for r in results] == [True, True, False, True]
        assert len(commits) == 4  # the shared transaction rolled back; each alone
    else:
        assert not theirs.created and results[2].created
        assert [r.created for r in results] == [True] * 4
    assert theirs.patient.mpi_id == results[2].patient.mpi_id
    assert _count(linked) == 4
    record = linked.query.get(theirs.patient.mpi_id, CLERK)
    assert {his("N-2"), lis("R-2")} <= set(record.source_ids)


def test_an_unexpected_failure_of_one_request_fails_only_that_one(
    linked: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that breaks something unforeseen (here: on its own, after the group could
    not be shared) is answered with its exception and audited as a failure; the others are
    registered."""
    asked = [_new(0), _new(1), _new(2)]
    register_checked = RegistrationService.register_checked
    register_with = RegistrationService.register_with

    def no_group(service: RegistrationService, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("keys_free"):
            raise RuntimeError("the shared transaction breaks")
        return register_with(service, *args, **kwargs)

    def broken(service: RegistrationService, req: RegistrationRequest, *args: Any) -> Any:
        if req is asked[1]:
            raise RuntimeError("disk on fire")
        return register_checked(service, req, *args)

    monkeypatch.setattr(RegistrationService, "register_with", no_group)
    monkeypatch.setattr(RegistrationService, "register_checked", broken)

    first, failed, last = _each(linked, asked)

    assert isinstance(failed, RuntimeError)
    assert first.created and last.created
    assert _count(linked) == 2
    assert _outcomes(linked) == ["failure", "success", "success"]


def test_the_candidates_of_a_group_are_read_together_and_decide_as_alone(
    linked: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three new feeds, each a possible match to a different known patient (name and birth
    date, no document): each gets its own record and a review task, as alone; the known
    patients are read once for the whole group, not once per request."""
    known = [_new(i) for i in range(3)]
    for req in known:
        linked.registration.register(req, CLERK)
    born = [linked.query.find(*_his(r), CLERK) for r in known]
    asked = [
        request(r.demographics.name, sources=(lis(f"L-{i}"),), birth_date=b.demographics.birth_date)
        for i, (r, b) in enumerate(zip(known, born, strict=True))
        if b is not None
    ]
    reads: list[list[str]] = []
    get_many = SqlPatientRepository.get_many

    def counted(repo: SqlPatientRepository, ids: Any) -> Any:
        reads.append(list(ids))
        return get_many(repo, ids)

    monkeypatch.setattr(SqlPatientRepository, "get_many", counted)

    results = _results(_each(linked, asked))

    assert [r.created for r in results] == [True] * 3
    total, items = linked.review.queue(CLERK)
    assert total == 3
    pairs = {(t.record.mpi_id, t.candidate.mpi_id) for t in items}
    assert pairs == {
        (r.patient.mpi_id, b.mpi_id) for r, b in zip(results, born, strict=True) if b is not None
    }
    assert sorted(reads[0]) == sorted(b.mpi_id for b in born if b is not None)
    assert len(reads) == 1
