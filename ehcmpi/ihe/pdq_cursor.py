"""The PDQ continuation pointer (IHE ITI TF-2 3.21.4.1.3 continuation, RULES 21; FHIR R4
http paging for PDQm ITI-78).

The pointer is an opaque string that carries the query and the master-index ID the page
starts after (or ends before), so no server keeps state (DESIGN.md: replicas behind a load
balancer) and ``cancel`` (``QCN^J01``) has nothing to release.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from ehcmpi.core.errors import InvalidInputError
from ehcmpi.core.search import PatientSearch
from ehcmpi.ihe.results import PixError

CURSOR_VERSION = 2


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page starts: after (or before) a master-index ID."""

    key: str
    before: bool = False


def encode(
    search: PatientSearch,
    targets: tuple[str, ...] | None,
    page_size: int | None,
    at: Position,
) -> str:
    body = {
        "v": CURSOR_VERSION, "q": search.to_plain(), "t": targets, "n": page_size,
        "k": at.key, "b": at.before,
    }  # fmt: skip
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def decode(cursor: str) -> tuple[PatientSearch, tuple[str, ...] | None, int | None, Position]:
    try:
        body = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if body["v"] != CURSOR_VERSION:
            raise ValueError("version")
        search = PatientSearch.from_plain(body["q"])
        targets = tuple(str(t) for t in body["t"]) if body["t"] is not None else None
        size = int(body["n"]) if body["n"] is not None else None
        return search, targets, size, Position(str(body["k"]), bool(body["b"]))
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error, InvalidInputError):
        raise PixError(
            "invalid_cursor", "无法识别的续查指针 (unreadable continuation pointer)"
        ) from None


def continued(
    cursor: str,
    search: PatientSearch | None,
    target_systems: Sequence[str] | None,
    page_size: int | None,
) -> tuple[PatientSearch, tuple[str, ...] | None, int | None, Position]:
    """The query a cursor continues; a resent query (HL7 DSC, a FHIR page link's
    parameters) must be the same query."""
    query, targets, size, at = decode(cursor)
    if search is not None and search != query:
        raise PixError(
            "invalid_cursor", "续查指针与查询条件不符 (the pointer belongs to another query)"
        )
    if target_systems and tuple(target_systems) != targets:
        raise PixError(
            "invalid_cursor", "续查指针与返回域不符 (the pointer belongs to other domains)"
        )
    return query, targets, page_size if page_size is not None else size, at
