"""The patient repository's SQL, built once: constructing a select costs more than executing it
here (guideline §6.3: documents and phones are found by their HMAC-SM3 blind index)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ehcmpi.core.model import KeyKind, PatientStatus
from ehcmpi.storage.driver import Hot
from ehcmpi.storage.tables import (
    INVALID_DOCUMENT,
    VALID_DOCUMENT,
    account_numbers,
    patient_documents,
    patient_phones,
    patient_versions,
    patients,
    source_identifiers,
)

_d, _s, _p, _c = patient_documents.c, source_identifiers.c, patient_phones.c, patients.c
_IDS: sa.BindParameter[list[str]] = sa.bindparam("ids", expanding=True)
# The partial indexes' own conditions (tables.py), so that SQLite uses them.
BY_VALID_DOCUMENT = Hot(
    sa.select(_d.mpi_id).where(_d.number_bidx == sa.bindparam("bidx"), sa.text(VALID_DOCUMENT))
)
BY_INVALID_DOCUMENT = (
    sa.select(_d.mpi_id)
    .where(_d.number_bidx == sa.bindparam("bidx"), sa.text(INVALID_DOCUMENT))
    .limit(20)
)
BY_SOURCE = Hot(
    sa.select(_s.mpi_id).where(
        _s.system == sa.bindparam("system"), _s.value == sa.bindparam("value")
    )
)
_a = account_numbers.c
# The records asked for and, recursively, the records merged into them (UNION, not UNION ALL:
# a cycle of parents, which merging never makes, would still end).
_members = (
    sa.select(_c.mpi_id.label("member"), _c.mpi_id.label("root"))
    .where(_c.mpi_id.in_(_IDS))
    .cte("members", recursive=True)
)
_merged = patients.alias("merged")
_members = _members.union(
    sa.select(_merged.c.mpi_id, _members.c.root).where(
        _merged.c.parent_id == _members.c.member,
        _merged.c.status == PatientStatus.MERGED.value,
    )
)
#: Account numbers (PID-18) of each record asked for, with those of the records merged into it.
ACCOUNTS_OF = (
    sa.select(_members.c.root.label("mpi_id"), _a.system, _a.value)
    .join_from(_members, account_numbers, _a.mpi_id == _members.c.member)
    .order_by(_a.id)
)
BY_ACCOUNT = sa.select(_a.mpi_id).where(_a.value == sa.bindparam("value")).distinct().limit(1000)
BY_EHC_ID = Hot(sa.select(_c.mpi_id).where(_c.ehc_id == sa.bindparam("value")))
BY_ARCHIVE_NO = Hot(sa.select(_c.mpi_id).where(_c.archive_no == sa.bindparam("value")))
BY_MPI_ID = Hot(sa.select(_c.mpi_id).where(_c.mpi_id == sa.bindparam("value")))
MOVE_DOCUMENT = (
    patient_documents.update()
    .where(
        _d.mpi_id == sa.bindparam("src"),
        _d.doc_type == sa.bindparam("dtype"),
        _d.number_bidx == sa.bindparam("bidx"),
    )
    .values(mpi_id=sa.bindparam("dst"))
)
ACTIVE_PAGE = (
    sa.select(_c.mpi_id)
    .where(_c.status == PatientStatus.ACTIVE.value, _c.mpi_id > sa.bindparam("after"))
    .order_by(_c.mpi_id)
    .limit(sa.bindparam("limit"))
)
PATIENT_ROWS = patients.select().where(_c.mpi_id.in_(_IDS))
_NO_TEXT = sa.cast(sa.null(), sa.String)
_NO_BYTES = sa.cast(sa.null(), sa.LargeBinary)


def _child_rows(
    of: Callable[[sa.ColumnElement[str]], sa.ColumnElement[bool]],
) -> sa.CompoundSelect[Any]:
    """Documents, source identifiers (with their link state) and phones of the patients
    ``of(mpi_id)`` selects, in one round trip: kind, mpi_id, order, text1, text2, text3,
    ciphertext, flag1, flag2."""
    return sa.union_all(
        sa.select(
            sa.literal("d").label("kind"), _d.mpi_id, _d.id.label("seq"),
            _d.doc_type.label("t1"), _d.reason.label("t2"), _NO_TEXT.label("t3"),
            _d.number_enc.label("enc"), _d.valid.label("f1"), _d.is_primary.label("f2"),
        ).where(of(_d.mpi_id)),
        sa.select(
            sa.literal("s"), _s.mpi_id, _s.id, _s.system, _s.value, _s.link_state, _NO_BYTES,
            sa.false(), sa.false(),
        ).where(of(_s.mpi_id)),
        sa.select(
            sa.literal("p"), _p.mpi_id, _p.position, _NO_TEXT, _NO_TEXT, _NO_TEXT, _p.phone_enc,
            sa.false(), sa.false(),
        ).where(of(_p.mpi_id)),
    ).order_by("kind", "mpi_id", "seq")  # fmt: skip


CHILD_ROWS = _child_rows(lambda mpi_id: mpi_id.in_(_IDS))
_OF_ONE = _child_rows(lambda mpi_id: mpi_id == sa.bindparam("id"))
CHILDREN_OF = Hot(_OF_ONE)


def _with_children(owner: sa.ColumnElement[Any], *, each: bool = False) -> Hot:
    """The patient ``owner`` names with its children — the read of nearly every request — in
    one round trip: one row per child (the ``patients`` columns repeated beside kind, seq, t1,
    t2, t3, enc, f1, f2), or one row with ``kind`` NULL for a patient without any.

    ``each``: ``owner`` is ``ANY`` of an array (PostgreSQL), several patients in mpi_id
    order, each with its own children."""
    children = _child_rows(lambda mpi_id: mpi_id == owner).subquery("c")
    return Hot(
        sa.select(patients, *(c for c in children.c if c.name != "mpi_id"))
        .select_from(
            patients.outerjoin(children, children.c.mpi_id == _c.mpi_id if each else sa.true())
        )
        .where(_c.mpi_id == owner)
        .order_by(*([_c.mpi_id] if each else []), children.c.kind, children.c.seq)
    )


def _owner(of: sa.Select[Any]) -> sa.ScalarSelect[Any]:
    """``of``'s first mpi_id; never correlated, though it reads a table the query reads."""
    return of.limit(1).correlate(None).scalar_subquery()


PATIENT_WITH_CHILDREN = _with_children(sa.bindparam("id"))
#: Several patients with their children in one statement below SQLAlchemy (PostgreSQL: the
#: ids go as one array, where an expanding ``IN`` list could not): a registration group's
#: match candidates, a batch job's page.
EACH_WITH_CHILDREN = _with_children(
    sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String))), each=True
)
#: The holder of an identifier (``SqlPatientRepository.find_each``), by ``KeyKind``; with
#: children: the lookup and the read of its holder in one round trip (read-only units of work).
OWNER = {
    KeyKind.DOCUMENT: BY_VALID_DOCUMENT,
    KeyKind.SOURCE: BY_SOURCE,
    KeyKind.EHC_ID: BY_EHC_ID,
    KeyKind.ARCHIVE_NO: BY_ARCHIVE_NO,
    KeyKind.MPI_ID: BY_MPI_ID,
}
OWNER_WITH_CHILDREN = {
    by: _with_children(_owner(cast(sa.Select[Any], hot.statement))) for by, hot in OWNER.items()
}

#: Writes of every registration and update.  ``PATIENT_UPDATE`` sets the columns given and
#: checks the version read (optimistic locking): ``of_mpi_id``, ``of_version``.
PATIENT_UPDATE = Hot(
    patients.update().where(
        _c.mpi_id == sa.bindparam("of_mpi_id"), _c.version == sa.bindparam("of_version")
    )
)
PHONES_INSERT = Hot(patient_phones.insert())
#: A new record's rows where the caller has found its keys free (``insert_new``): a taken key
#: fails the statement.
PATIENT_INSERT = Hot(patients.insert())
DOCUMENT_INSERT = Hot(patient_documents.insert())
SOURCE_INSERT = Hot(source_identifiers.insert())
PHONES_DELETE = Hot(patient_phones.delete().where(_p.mpi_id == sa.bindparam("of_mpi_id")))
VERSION_INSERT = Hot(patient_versions.insert())
