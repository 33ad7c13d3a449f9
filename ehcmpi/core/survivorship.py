"""Survivorship: a golden record's demographics derived from its linked source records.

Guideline §4.1.1 索引合并 leaves the surviving values to the site; the rules here are the
usual ones of master-data management, applied field by field:

1. **trusted source** — a source whose domain has the higher ``trust`` (configuration of
   ``[[identifier_domains]]``) wins;
2. **most recent** — among equally trusted sources, the one updated last;
3. **most complete** — a source that lacks the field is passed over, so a value is never
   replaced by nothing; a full birth date beats none; a name in Chinese characters beats a
   name in pinyin (张伟 says more than "Zhang Wei"), whatever the trust and recency.

Phones are the union, best source first.  When no source has a field, the golden record keeps
what it had (a value registered directly, e.g. at a reader terminal, is not lost).  Without
any source demographics the golden record is left as it is.  Recomputed whenever its links
change: a link, a merge, a split.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace

from ehcmpi.core.links import LinkState, SourceRecord
from ehcmpi.core.model import Demographics
from ehcmpi.terminology.pinyin import has_cjk

Trust = Callable[[str], int]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FIELDS = ("gender", "birth_date", "ethnicity", "addresses", "mothers_maiden_name")


def ranked(sources: Sequence[SourceRecord], trust: Trust) -> list[SourceRecord]:
    """Sources that count (linked as MATCH, with demographics), best first."""
    usable = [s for s in sources if s.state is LinkState.MATCH and s.demographics != Demographics()]
    return sorted(
        usable,
        key=lambda s: (trust(s.identifier.system), s.updated_at or _EPOCH),
        reverse=True,
    )


def survive(current: Demographics, sources: Sequence[SourceRecord], trust: Trust) -> Demographics:
    """The golden record's demographics from ``sources`` (see the module docstring)."""
    best = ranked(sources, trust)
    if not best:
        return current
    named = next(
        (s.demographics for s in best if s.demographics.name and has_cjk(s.demographics.name)),
        next((s.demographics for s in best if s.demographics.name), None),
    )
    values: dict[str, object] = {
        "name": named.name if named else current.name,
        "name_pinyin": named.name_pinyin if named else current.name_pinyin,
    }
    for name in FIELDS:
        chosen = next(
            (getattr(s.demographics, name) for s in best if getattr(s.demographics, name)),
            None,
        )
        values[name] = chosen if chosen else getattr(current, name)
    phones = tuple(dict.fromkeys(p for s in best for p in s.demographics.phones))
    return replace(current, **values, phones=phones or current.phones)  # type: ignore[arg-type]
