"""What a merge or split moves (§4.1.1 索引合并, 索引拆分): documents keep one owner per valid
number, and an EHC account follows its document to the other patient."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.core.model import Demographics, EhcAccount, IdentityDocument, PatientRecord
from ehcmpi.storage.tables import patient_documents
from tests.core.support import ZHANG_WEI_ID
from tests.storage.conftest import UowMaker
from tests.storage.support import PASSPORT, T0, A, B, C, add_patients


def test_move_documents_keeps_one_owner_per_valid_document(uow: UowMaker, engine: Engine) -> None:
    zhang = IdentityDocument("01", ZHANG_WEI_ID, primary=True)
    passport = IdentityDocument("03", PASSPORT)
    with uow() as u:
        u.patients.insert(PatientRecord(A, Demographics(name="甲"), documents=(zhang, passport)))
        u.patients.insert(PatientRecord(B, Demographics(name="乙")))
        u.patients.insert(PatientRecord(C, Demographics(name="丙")))
        u.commit()

    with uow() as u:
        u.patients.move_documents(A, B, [("01", ZHANG_WEI_ID), ("02", ZHANG_WEI_ID)])
        u.commit()

    with uow() as u:
        assert u.patients.find_by_document("01", ZHANG_WEI_ID) == B
        assert u.patients.get(A).documents == (passport,)  # type: ignore[union-attr]
        assert u.patients.get(B).documents == (zhang,)  # type: ignore[union-attr]
        assert not u.patients.add_document(C, IdentityDocument("01", ZHANG_WEI_ID))
        # Moving back (a split) restores the owner; moving it from B again changes nothing.
        u.patients.move_documents(B, A, [("01", ZHANG_WEI_ID)])
        u.patients.move_documents(B, C, [("01", ZHANG_WEI_ID)])
        u.commit()
    with uow() as u:
        assert u.patients.find_by_document("01", ZHANG_WEI_ID) == A
    with engine.connect() as conn:
        valid = conn.execute(
            sa.select(sa.func.count()).where(patient_documents.c.valid)
        ).scalar_one()
    assert valid == 2


def test_reassign_moves_an_ehc_account_to_another_patient(uow: UowMaker) -> None:
    add_patients(uow, A, B)
    account = EhcAccount("E" * 64, A, "01", issued_at=T0)
    with uow() as u:
        assert u.accounts.add(account)
        u.accounts.reassign("E" * 64, B)
        u.commit()

    with uow() as u:
        moved = u.accounts.get("E" * 64)
    assert moved is not None and moved.mpi_id == B and moved.issued_at == T0
