"""Golden records and links (guideline §4.1.1 索引合并, 索引拆分, 索引定时任务).

A *source record* is a hospital system's patient, keyed by its domain and local ID
(``SourceIdentifier``), with the demographics and documents that system last sent.  It links
to exactly one golden record (the master-index ``PatientRecord``); the database enforces it.
A link has a state (MATCH, or POSSIBLE_MATCH while a review task asks whether it belongs to
another golden record), an origin (AUTO from the matcher, MANUAL from an operator) and a
history.  Every matching decision is kept with its comparison vector so that it can be
explained; merges keep what they changed so that a split can restore it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from ehcmpi.core.model import Demographics, IdentityDocument, SourceIdentifier


class LinkState(StrEnum):
    MATCH = "MATCH"
    POSSIBLE_MATCH = "POSSIBLE_MATCH"
    NO_MATCH = "NO_MATCH"


class LinkOrigin(StrEnum):
    AUTO = "AUTO"
    MANUAL = "MANUAL"


class TaskStatus(StrEnum):
    OPEN = "OPEN"
    DONE = "DONE"


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A hospital system's patient and its link to one golden record."""

    identifier: SourceIdentifier
    mpi_id: str
    demographics: Demographics
    documents: tuple[IdentityDocument, ...] = ()
    state: LinkState = LinkState.MATCH
    origin: LinkOrigin = LinkOrigin.AUTO
    weight: float | None = None
    decision_id: str | None = None
    updated_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class FieldComparison:
    """One field of a stored decision: the level reached (None: missing) and its weight."""

    name: str
    level: str | None
    weight: float


@dataclass(frozen=True, slots=True)
class MatchDecision:
    """Why two records were (or were not) linked: the vector, score, rules and who decided.

    ``subject`` is the golden record the source record was linked to (or would have been);
    ``candidate`` the golden record it was compared with.  A MANUAL NO_MATCH decision is
    remembered: the matcher never links that pair again.
    """

    id: str
    subject: str
    candidate: str
    outcome: LinkState
    origin: LinkOrigin
    weight: float
    fields: tuple[FieldComparison, ...]
    rules_version: str
    reason: str
    actor: str
    at: dt.datetime
    source: SourceIdentifier | None = None


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """One change of a source record's link: LINK, RELINK, MERGE, SPLIT, UNLINK."""

    kind: str
    source: SourceIdentifier
    from_mpi_id: str | None
    to_mpi_id: str
    state: LinkState
    origin: LinkOrigin
    actor: str
    at: dt.datetime
    reason: str = ""
    merge_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewTask:
    """A POSSIBLE_MATCH pair for an operator: is ``mpi_id`` the same person as ``candidate``?"""

    id: str
    mpi_id: str
    candidate: str
    decision_id: str
    weight: float
    status: TaskStatus
    created_at: dt.datetime
    source: SourceIdentifier | None = None
    resolution: LinkState | None = None
    resolved_by: str | None = None
    resolved_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class MergeRecord:
    """A merge of ``retired`` into ``survivor``, with what it moved so that it can be undone.

    ``documents`` are (doc_type, number) pairs moved with their EHC accounts (``ehc_ids``):
    the EHC ID always follows the person holding the document.
    """

    id: str
    survivor: str
    retired: str
    sources: tuple[SourceIdentifier, ...]
    documents: tuple[tuple[str, str], ...]
    ehc_ids: tuple[str, ...]
    actor: str
    at: dt.datetime
    reason: str = ""
    reversed_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class JobSchedule:
    """A scheduled job (§4.1.1 索引定时任务): every ``interval_seconds`` while enabled."""

    name: str
    interval_seconds: int
    enabled: bool
    next_run_at: dt.datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True, slots=True)
class JobRun:
    """One run of a job, with its counts."""

    id: str
    job: str
    holder: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: str = "running"
    examined: int = 0
    merged: int = 0
    queued: int = 0
    error: str | None = None
