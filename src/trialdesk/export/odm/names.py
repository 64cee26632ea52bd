"""OIDs and constants of trialdesk's CDISC ODM 1.3.2 documents (ODM1-3-2-Final §2.9: OIDs are
unique, case-sensitive strings; the prefixes follow OpenClinica's SE_/F_/IG_/I_ habit with dots)."""

from __future__ import annotations

import re

NS = "http://www.cdisc.org/ns/odm/v1.3"
ODM_VERSION = "1.3.2"
MDV_OID = "MDV.1"


def mdv_oid(label: str) -> str:
    """One MetaDataVersion per registered protocol version: ``MDV.<version label>``."""
    return f"MDV.{label}"


TRIALDESK = "trialdesk"  # Alias Context prefix for links to the catalogue


def q(tag: str) -> str:
    """The Clark name of an ODM element."""
    return f"{{{NS}}}{tag}"


def study_oid(study_id: str) -> str:
    return f"ST.{study_id}"


def event_oid(code: str) -> str:
    return f"SE.{code}"


def form_oid(name: str) -> str:
    return f"F.{name}"


def group_oid(name: str) -> str:
    return f"IG.{name}"


def item_oid(name: str) -> str:
    return f"IT.{name}"


def codelist_oid(name: str) -> str:
    return f"CL.{name}"


def condition_oid(name: str) -> str:
    return f"COND.{name}"


def method_oid(derivation: str) -> str:
    return f"MT.{derivation}"


def unit_oid(unit: str) -> str:
    slug = re.sub(
        r"[^A-Za-z0-9]+", "_", unit.replace("%", "PCT").replace("µ", "U").replace("²", "2")
    ).strip("_")
    return f"MU.{slug or 'UNIT'}"


def user_oid(user: str) -> str:
    return f"USR.{user}"


def location_oid(code: str) -> str:
    return f"LOC.{code}"


def strip(oid: str, prefix: str) -> str:
    """The name inside an OID written by trialdesk (`IT.hba1c` → `hba1c`)."""
    return oid[len(prefix) + 1 :] if oid.startswith(prefix + ".") else oid


#: ODM/@Description of a file exported from a locked study database: the data cut (the lock,
#: who, when, why), after the simulated-data note when there is one.
DATA_CUT_PREFIX = "Data cut: "
DATA_CUT_SEPARATOR = " | "
#: ODM/@SourceSystem of a file made from simulated data; ODM/@Description then starts with
#: `SIMULATED_PREFIX` and says how the data were simulated (read back by the importer, so an
#: imported copy is marked simulated too).
SIMULATED_SOURCE_SYSTEM = "trialdesk simulator"
SIMULATED_PREFIX = "SIMULATED DATA, not collected from people: "
