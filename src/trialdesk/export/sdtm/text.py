"""Text and date conventions of SDTM datasets.

SAS XPORT v5 holds ASCII text; the registry's criteria contain "≤", "㎏/㎡" and full-width
punctuation, so text is folded to ASCII (NFKC compatibility forms first: "㎏" → "kg"). Dates are
ISO 8601 (SDTMIG §4.4.1); study days follow the SDTMIG §4.4.4 algorithm (no day 0).
"""

from __future__ import annotations

import math
import unicodedata
from datetime import date, datetime
from typing import Any

MAX_TEXT_LENGTH = 200
"""Longest character value of a SAS XPORT v5 variable, and so of an SDTM text variable (SDTMIG
v3.4 §4.5.3: text over 200 characters goes to SUPP--)."""

MAX_NAME_LENGTH = 8
"""Longest SDTM variable name, --TESTCD, TSPARMCD and ETCD (SAS XPORT v5; CDISC CORE rules
CORE-000182, CORE-000147, CORE-000143)."""

MAX_LABEL_LENGTH = 40
"""Longest variable label, --TEST and TSPARM (SAS XPORT v5; CORE-000019, CORE-000148)."""

MAX_ARMCD_LENGTH = 20
"""Longest ARMCD (SDTMIG v3.4 Trial Arms (TA) assumptions; CDISC CORE rule CORE-000010)."""

ISO_DATE_LENGTH = len("YYYY-MM-DD")
"""Characters of a complete ISO 8601 date; shorter --DTC values are partial (SDTMIG §4.4.2)."""

_REPLACE = {
    "≤": "<=",
    "≥": ">=",
    "µ": "u",
    "μ": "u",
    "×": "x",
    "–": "-",
    "—": "-",
    "’": "'",
    "‘": "'",
    "“": '"',
    "”": '"',
    "…": "...",
    "²": "2",
    "³": "3",
}


def ascii_text(text: str) -> str:
    """The text folded to printable ASCII, whitespace collapsed."""
    folded = "".join(_REPLACE.get(ch, ch) for ch in text)
    folded = unicodedata.normalize("NFKC", folded)
    folded = "".join(_REPLACE.get(ch, ch) for ch in folded)
    ascii_only = folded.encode("ascii", "ignore").decode("ascii")
    return " ".join(ascii_only.split())


def fit(text: str, limit: int = MAX_TEXT_LENGTH) -> str:
    """At most `limit` characters (SDTM text variables are ≤ 200), cut at a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 3].rsplit(" ", 1)[0]
    return cut + "..."


def iso(value: Any) -> str | None:
    """ISO 8601 text of a date, datetime or pandas Timestamp; None when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "to_pydatetime"):
        if str(value) == "NaT":
            return None
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.hour == value.minute == value.second == 0 and value.tzinfo is None:
            return value.date().isoformat()
        return value.replace(microsecond=0, tzinfo=None).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def study_day(when: Any, reference: Any) -> int | None:
    """SDTMIG study day: date − reference + 1 on or after the reference date, date − reference
    before it (there is no day 0). None when either date is missing."""
    a, b = _as_date(when), _as_date(reference)
    if a is None or b is None:
        return None
    delta = (a - b).days
    return delta + 1 if delta >= 0 else delta


def _as_date(value: Any) -> date | None:
    text = iso(value)
    if text is None:
        return None
    return date.fromisoformat(text[:10])
