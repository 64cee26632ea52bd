"""NCI concept codes of the CDISC Controlled Terminology the SDTM package uses (`ct_codes.yaml`).

define.xml carries them as ``<Alias Context="nci:ExtCodeID" Name="C…"/>`` on a CodeList (the
codelist's code) and on an EnumeratedItem (the term's code), CDISC Define-XML 2.1 §5.3.9
[@Define-XML]. Codelist codes come from the CDISC Library map of SDTMIG 3.4 variables to
codelists [@CDISC-CORE], and with the term codes from the NCI EVS SDTM CT files [@NCI-EVS-CT]
(`tools/ct/check_ct_codes.py` checks them against the releases). Only codes the data file marks
as verified are written: a code from memory stays out of a submission file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from trialdesk import yamlio


@dataclass(frozen=True)
class Codelist:
    """One CDISC CT codelist: its NCI code (None when no single code applies), its name as
    define.xml shows it, and the verified codes of its terms by submission value."""

    name: str
    code: str | None
    extensible: bool
    terms: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Terminology:
    version: str
    codelists: dict[str, Codelist]
    ts_values: dict[str, Codelist] = field(default_factory=dict)
    """The codelist of each coded TS parameter's value (TSPARMCD → codelist), for TSVALCD."""

    def ts_value_code(self, parmcd: str, value: str | None) -> str | None:
        """The verified NCI code of a TS parameter's value (TSVALCD), or None."""
        codelist = self.ts_values.get(parmcd)
        return codelist.terms.get(value or "") if codelist else None

    def codelist(self, domain: str, variable: str, name: str | None) -> Codelist | None:
        """The CT codelist of a variable: a variable-specific entry ("VS.VSORRESU") first,
        then the codelist name of the SDTM spec; None when it is not CDISC CT."""
        return self.codelists.get(f"{domain}.{variable}") or self.codelists.get(name or "")


def _codelist(key: str, raw: dict[str, Any]) -> Codelist:
    verified = raw.get("verified") not in (False, None)
    terms = {
        str(value): str(term["code"])
        for value, term in (raw.get("terms") or {}).items()
        if term.get("verified") not in (False, None)
    }
    return Codelist(
        name=str(raw.get("name") or key),
        code=str(raw["code"]) if raw.get("code") and verified else None,
        extensible=bool(raw.get("extensible")),
        terms=terms,
    )


@cache
def terminology() -> Terminology:
    """The verified codes of `ct_codes.yaml`, with the CT release they belong to."""
    text = resources.files(__package__).joinpath("ct_codes.yaml").read_text(encoding="utf-8")
    data = yamlio.safe_load(text)
    return Terminology(
        version=str(data["ct_version"]),
        codelists={str(k): _codelist(str(k), v) for k, v in data["codelists"].items()},
        ts_values={str(k): _codelist(str(k), v) for k, v in (data.get("ts_values") or {}).items()},
    )
