"""Which case report form of which visit a data element or a stored record belongs to.

The protocol's schedule names the forms of each visit (``SCR``: consent, demographics,
eligibility, …); a monitor verifies, and the record status grid counts, data form by form, so a
stored record must be placed on its form. Measurements go by the SDTM domain of their element
(CDISC SDTMIG v3.4: VS vital signs, LB laboratory, DM demographics, MH medical history),
dosing by the OMOP drug domain, the ITT series on the ``itt`` form; other records by their kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.catalogue import Catalogue, DataElement, ElementKind
from trialdesk.store.models import IttTest, Visit

DOMAIN_FORMS = {"VS": "vital_signs", "LB": "labs", "DM": "demographics", "MH": "medical_history"}
"""SDTM domain of a measured element → the form it is entered on."""
OTHER_FORM = "medical_history"
SCREENING_VISIT = "SCR"

# Records that are not measurements: their form, and whether it is tied to the screening visit.
TABLE_FORMS: dict[str, str] = {
    "itt_tests": "itt",
    "itt_samples": "itt",
    "insulin_doses": "dosing",
    "ogld_doses": "dosing",
    "transplantations": "transplantation",
    "adverse_events": "adverse_events",
    "consents": "consent",
    "screenings": "eligibility",
    "participants": "demographics",
    "participant_identities": "demographics",
}
SCREENING_TABLES = frozenset({"consents", "screenings", "participants", "participant_identities"})


def form_of_element(element: DataElement, catalogue: Catalogue) -> str:
    """The form an element's value is entered on (a derived element: that of its first input)."""
    if element.derived_from:
        return form_of_element(catalogue[element.derived_from[0]], catalogue)
    if element.kind is ElementKind.SERIES:
        return "itt"
    if element.codes.omop_domain == "drug":
        return "dosing"
    if element.kind is ElementKind.BOOLEAN and element.codes.sdtm_domain is None:
        return "eligibility"  # pregnancy, nursing, contraception: asked at screening only
    return DOMAIN_FORMS.get(element.codes.sdtm_domain or "", OTHER_FORM)


def forms_of_elements(names: Iterable[str], catalogue: Catalogue) -> set[str]:
    return {form_of_element(catalogue[n], catalogue) for n in names if n in catalogue}


def _visit_code(session: Session, visit_id: int | None) -> str | None:
    if visit_id is None:
        return None
    return session.scalar(select(Visit.code).where(Visit.id == visit_id))


def place_record(
    session: Session, table: str, row: Any, catalogue: Catalogue
) -> tuple[str | None, str | None]:
    """(visit code, form) of a stored record; None where it has none (an adverse event belongs
    to no single visit; a visit record to every form of its visit)."""
    if table == "measurements":
        known = row.element in catalogue
        form = form_of_element(catalogue[row.element], catalogue) if known else OTHER_FORM
        return _visit_code(session, row.visit_id), form
    if table == "visits":
        return row.code, None
    if table in SCREENING_TABLES:
        return SCREENING_VISIT, TABLE_FORMS[table]
    if table == "itt_samples":
        test = session.get(IttTest, row.itt_test_id)
        return _visit_code(session, test.visit_id if test else None), "itt"
    if table in TABLE_FORMS:
        return _visit_code(session, getattr(row, "visit_id", None)), TABLE_FORMS[table]
    return None, None
