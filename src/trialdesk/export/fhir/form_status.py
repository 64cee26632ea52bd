"""A form's status (Incomplete / Unverified / Complete) on the FHIR Observations of its values.

The Bundle carries the data as Observations, not as QuestionnaireResponses (there is no FHIR
Questionnaire of the CRF to answer), so the status goes where a FHIR consumer reads whether a
result is final: ``Observation.status`` (FHIR R4B, value set observation-status, required
binding). Its definitions decide the mapping: ``preliminary`` is "an initial or interim
observation: data may be incomplete or unverified", ``final`` "complete and verified by an
authorized person". A form marked Incomplete or Unverified therefore gives ``preliminary``; a
Complete form, or one with values and no recorded status (REDCap exports that as Complete too),
gives ``final``; a test not performed stays ``cancelled``. Because two statuses share
``preliminary``, the exact one also travels in an extension (FHIR R4B §2.22 "Extensibility": a
``valueCode`` under the study's own URL), so a REDCap import gets 0/1/2 back unchanged.
"""

from __future__ import annotations

from typing import Any

from trialdesk.export.fhir import terminology as t

FORM_STATUS_EXTENSION = f"{t.TRIALDESK}:StructureDefinition:form-status"
OBSERVATION_STATUS = {"incomplete": "preliminary", "unverified": "preliminary", "complete": "final"}


def apply_form_status(observation: dict[str, Any], status: str | None) -> None:
    """Set `observation`'s status from its form's `status` (module docstring); a cancelled
    (not performed) observation keeps its status, and still says its form's status."""
    if status is None:
        return
    if observation.get("status") != "cancelled":
        observation["status"] = OBSERVATION_STATUS[status]
    observation.setdefault("extension", []).append(
        {"url": FORM_STATUS_EXTENSION, "valueCode": status}
    )
