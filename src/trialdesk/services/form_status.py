"""Form status per participant, visit and form, as REDCap's "Complete?" field: Incomplete,
Unverified, Complete (REDCap's ``<form>_complete`` field: 0, 1, 2). The site marks a form
complete when every value of it is entered and checked against source; monitors and data
managers read the statuses to know what is ready for review. A status is a clinical record:
versioned, audited, changed with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.protocol.unscheduled import UNSCHEDULED_FORMS, is_unscheduled
from trialdesk.services.access import get_participant
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import ValidationProblem
from trialdesk.services.study import current_protocol
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.views import RecordView
from trialdesk.store.enums import FormStatus
from trialdesk.store.models import FormStatusRecord


class FormStatusView(RecordView):
    participant_id: int
    visit_code: str
    form: str
    status: FormStatus


def check_form(visit_code: str, form: str) -> None:
    """The form must be one the protocol's schedule lists at that visit (or, at an unscheduled
    visit such as ``M3.U01``, one of the forms every unscheduled visit offers)."""
    if is_unscheduled(visit_code):
        if form not in UNSCHEDULED_FORMS:
            raise ValidationProblem(
                "form",
                f"{form!r} is not a form of unscheduled visits ({', '.join(UNSCHEDULED_FORMS)})",
            )
        return
    for visit in current_protocol().schedule:
        if visit.code == visit_code:
            if form not in visit.forms:
                raise ValidationProblem(
                    "form",
                    f"{form!r} is not a form of visit {visit_code} ({', '.join(visit.forms)})",
                )
            return
    raise ValidationProblem("visit_code", f"{visit_code!r} is not a visit of the schedule")


def _current(
    session: Session, participant_id: int, visit_code: str, form: str
) -> FormStatusRecord | None:
    return session.scalars(
        select(FormStatusRecord).where(
            FormStatusRecord.participant_id == participant_id,
            FormStatusRecord.visit_code == visit_code,
            FormStatusRecord.form == form,
        )
    ).first()


@dataclass(frozen=True, kw_only=True)
class FormStatusChange:
    """A form of a visit marked with a status (REDCap's "Complete?"); `expected_version` and
    `reason` only matter when the form already has a status."""

    visit_code: str
    form: str
    status: FormStatus | str
    expected_version: int | None = None
    reason: str | None = None


@service
def set_form_status(
    session: Session, actor: Actor, participant_id: int, change: FormStatusChange
) -> FormStatusView:
    """Set a form's status (created on first use; afterwards changed with a reason, by default
    "form status: old → new", the version checked when `expected_version` is given)."""
    visit_code, form, status = change.visit_code, change.form, change.status
    expected_version, reason = change.expected_version, change.reason
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    check_form(visit_code, form)
    try:
        new = FormStatus(status)
    except ValueError:
        choices = ", ".join(s.value for s in FormStatus)
        raise ValidationProblem("status", f"{status!r} is not one of {choices}") from None
    row = _current(session, participant.id, visit_code, form)
    if row is None:
        row = FormStatusRecord(
            participant_id=participant.id, visit_code=visit_code, form=form, status=new
        )
        add_record(session, actor, row, participant)
    elif row.status is not new:
        change_record(
            session,
            actor,
            row,
            {"status": new, "voided": False},
            reason=reason or f"form status: {row.status.value} → {new.value}",
            expected_version=expected_version,
            participant=participant,
        )
    return FormStatusView.model_validate(row)


@service
def list_form_statuses(session: Session, actor: Actor, participant_id: int) -> list[FormStatusView]:
    """Every form status of a participant (visit code, form, status, version)."""
    participant = get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    rows = session.scalars(
        select(FormStatusRecord)
        .where(
            FormStatusRecord.participant_id == participant.id, FormStatusRecord.voided.is_(False)
        )
        .order_by(FormStatusRecord.id)
    )
    return [FormStatusView.model_validate(r) for r in rows]
