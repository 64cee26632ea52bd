"""Intravenous short insulin tolerance tests: timed glucose samples; KITT on reading."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.numbers import Number
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.pagination import PageDep, page_of
from trialdesk.api.routers._records import add_record_routes
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body, Change
from trialdesk.services.crf_entries import IttTestChanges, IttTestEntry
from trialdesk.services.itt import list_itt_tests, record_itt_test, update_itt_test
from trialdesk.services.views import IttTestView, Page

router = APIRouter(tags=["itt"], route_class=EventLoopRoute)


class IttSample(Body):
    minute: Number = Field(description="Minutes after the insulin bolus (0, 3, 6, … 15)")
    glucose: Number = Field(description="Glucose in the test's `glucose_unit`")


class IttMissingSample(Body):
    """A sample not taken: its minute, missing-data code and the site's reason."""

    minute: Number = Field(description="Minutes after the insulin bolus, e.g. 9")
    code: str = Field(description="ND, NA, UNK, ASKU, NASK, NAV or MSK (REDCap / HL7)")
    reason: str = Field(description="Why it was not taken, e.g. 'line blocked'")


def _coded(samples: list[IttMissingSample] | None) -> dict[float, tuple[str, str]] | None:
    return None if samples is None else {s.minute: (s.code, s.reason) for s in samples}


class IttCreate(Body):
    visit_code: str = Field(description="Visit of the schedule (recorded as done), e.g. SCR")
    glucose_unit: str = Field(description="mmol/L or mg/dL")
    samples: list[IttSample] = Field(min_length=1)
    performed_on: date | None = Field(None, description="Default: the visit date")
    insulin_dose_u_per_kg: Number | None = Field(None, description="Bolus, usually 0.1 U/kg")
    missing_samples: list[IttMissingSample] = Field(
        default_factory=list,
        description="Samples not taken; KITT then uses the others if >= 3 remain in 3–15 min",
    )


class IttChange(Change):
    glucose_unit: str | None = None
    samples: list[IttSample] | None = Field(
        None, description="Replace every sample (the old ones are voided, not deleted)"
    )
    performed_on: date | None = None
    insulin_dose_u_per_kg: Number | None = None
    missing_samples: list[IttMissingSample] | None = Field(
        None, description="Samples not taken (with `samples`; default: those already coded)"
    )


def _pairs(samples: list[IttSample] | None) -> list[tuple[float, float]] | None:
    return None if samples is None else [(s.minute, s.glucose) for s in samples]


@router.get(
    "/participants/{participant_id}/itt-tests",
    summary="ITTs of a participant, with KITT (%/min; ln-glucose slope over 3–15 min)",
    responses=READ_ERRORS,
)
def get_itt_tests(
    participant_id: int,
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    include_voided: bool = False,
) -> Page[IttTestView]:
    rows = list_itt_tests(session, actor, participant_id, include_voided=include_voided)
    return page_of(rows, page)


@router.post(
    "/participants/{participant_id}/itt-tests",
    status_code=status.HTTP_201_CREATED,
    summary="Record an ITT (each sample edit-checked like a glucose value)",
    responses=CREATE_ERRORS,
)
def post_itt_test(
    participant_id: int,
    body: IttCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> IttTestView:
    view = record_itt_test(
        session,
        actor,
        participant_id,
        IttTestEntry(
            visit_code=body.visit_code,
            samples=_pairs(body.samples) or [],
            glucose_unit=body.glucose_unit,
            performed_on=body.performed_on,
            insulin_dose_u_per_kg=body.insulin_dose_u_per_kg,
            missing_samples=_coded(body.missing_samples),
        ),
    )
    set_etag(response, view.version)
    return view


@router.patch(
    "/itt-tests/{itt_test_id}",
    summary="Correct an ITT (If-Match; reason)",
    responses=WRITE_ERRORS,
)
def patch_itt_test(
    *,
    itt_test_id: int,
    body: IttChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> IttTestView:
    view = update_itt_test(
        session,
        actor,
        itt_test_id,
        IttTestChanges(
            expected_version=version,
            reason=body.reason or "",
            samples=_pairs(body.samples),
            missing_samples=_coded(body.missing_samples),
            glucose_unit=body.glucose_unit,
            performed_on=body.performed_on,
            insulin_dose_u_per_kg=body.insulin_dose_u_per_kg,
        ),
    )
    set_etag(response, view.version)
    return view


add_record_routes(router, "/itt-tests", "itt_tests", "insulin tolerance test", IttTestView)
