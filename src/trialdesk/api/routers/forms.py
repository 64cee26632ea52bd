"""A visit's forms at once, and the status of each form (REDCap's Incomplete / Unverified /
Complete): the same use cases as the visit page, so the API and the browser obey one rule set."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from trialdesk.api.deps import ActorDep, SessionDep
from trialdesk.api.numbers import Number
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.routers.adverse_events import AdverseEventCreate
from trialdesk.api.routers.transplantation import TransplantationCreate
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body
from trialdesk.services.form_status import (
    FormStatusChange,
    FormStatusView,
    list_form_statuses,
    set_form_status,
)
from trialdesk.services.visit_forms import (
    VisitFormsEntry,
    VisitIttEntry,
    VisitValue,
    save_visit_forms,
)
from trialdesk.store.enums import FormStatus

router = APIRouter(tags=["visits"], route_class=EventLoopRoute)


class MeasurementValue(Body):
    element: str = Field(description="Catalogue data element, e.g. hba1c")
    value: str
    unit: str | None = None


class IttValues(Body):
    samples: dict[Number, Number] = Field(description="Minute → glucose, in glucose_unit")
    glucose_unit: str
    insulin_dose_u_per_kg: Number | None = None


class InsulinValues(Body):
    start_date: date
    total_units_per_day: Number
    basal_units_per_day: Number | None = None
    bolus_units_per_day: Number | None = None
    regimen: str | None = None


class OgldValues(Body):
    start_date: date
    drug: str
    daily_dose_mg: Number
    ddd_mg: Number | None = None


class VisitForms(Body):
    visit_code: str = Field(description="Visit of the schedule, e.g. M3")
    measurements: list[MeasurementValue] = Field(default_factory=list)
    itt: IttValues | None = None
    insulin: InsulinValues | None = None
    ogld: OgldValues | None = None
    statuses: dict[str, FormStatus] = Field(
        default_factory=dict, description="Form (e.g. labs) → incomplete | unverified | complete"
    )
    transplantation: TransplantationCreate | None = Field(
        None, description="On the visit whose forms include it (TX); visit_code is this visit"
    )
    adverse_event: AdverseEventCreate | None = Field(None, description="A new adverse event")
    opened_with: list[str] | None = Field(
        None,
        description=(
            "The elements that had a value when you read the visit (GET /measurements; "
            "itt_glucose for an ITT). A value sent for an element someone else entered since "
            "is refused with 409 entered_meanwhile, each such field in details with its value "
            "now (current); nothing is saved. Omitted: not checked."
        ),
    )


class VisitFormsResult(BaseModel):
    saved: list[str] = Field(description="What was saved, one phrase per value or record")
    raised: list[str] = Field(description="Queries, deviations and SAE clocks the save raised")


class StatusChange(Body):
    visit_code: str = Field(description="Visit of the schedule, e.g. M3")
    form: str = Field(description="A form of that visit, e.g. labs")
    status: FormStatus
    reason: str | None = Field(None, description="Default: 'form status: old → new'")


@router.post(
    "/participants/{participant_id}/visit-forms",
    status_code=status.HTTP_201_CREATED,
    summary="Save every block of a visit at once (all or nothing; refusals in details)",
    responses=CREATE_ERRORS,
)
def post_visit_forms(
    participant_id: int, body: VisitForms, session: SessionDep, actor: ActorDep
) -> VisitFormsResult:
    entry = VisitFormsEntry(
        measurements=[VisitValue(m.element, m.value, m.unit) for m in body.measurements],
        itt=VisitIttEntry(**body.itt.model_dump()) if body.itt else None,
        insulin=body.insulin.model_dump() if body.insulin else None,
        ogld=body.ogld.model_dump(exclude_none=True) if body.ogld else None,
        statuses={form: s.value for form, s in body.statuses.items()},
        transplantation=(
            body.transplantation.model_dump(exclude={"visit_code"})
            if body.transplantation
            else None
        ),
        adverse_event=body.adverse_event.model_dump() if body.adverse_event else None,
        opened_with=None if body.opened_with is None else frozenset(body.opened_with),
    )
    done = save_visit_forms(session, actor, participant_id, body.visit_code, entry)
    return VisitFormsResult(saved=list(done.saved), raised=list(done.raised))


def _without_visit(body: TransplantationCreate | None) -> dict[str, Any] | None:
    """The transplantation's keywords; its visit is the one being saved."""
    return body.model_dump(exclude={"visit_code"}) if body is not None else None


@router.get(
    "/participants/{participant_id}/form-statuses",
    summary="Status of every form of every visit of a participant",
    responses=READ_ERRORS,
)
def get_form_statuses(
    participant_id: int, session: SessionDep, actor: ActorDep
) -> list[FormStatusView]:
    return list_form_statuses(session, actor, participant_id)


@router.put(
    "/participants/{participant_id}/form-statuses",
    summary="Set a form's status (audited)",
    responses=WRITE_ERRORS,
)
def put_form_status(
    participant_id: int,
    body: StatusChange,
    session: SessionDep,
    actor: ActorDep,
) -> FormStatusView:
    change = FormStatusChange(
        visit_code=body.visit_code, form=body.form, status=body.status, reason=body.reason
    )
    return set_form_status(session, actor, participant_id, change)
