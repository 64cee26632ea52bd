"""Correcting a screening's findings (a yes/no answer transcribed wrongly), with a reason.

The eligibility criteria are evaluated again on the corrected findings and the stored data, and
the new verdict replaces the old one in the same audited change, so the record never shows a
verdict its own findings contradict. A participant already enrolled whose corrected screening
is no longer eligible keeps the enrollment (it happened) but gets a protocol deviation of
category eligibility, raised automatically (ICH E6(R2) 4.5.3: deviations are documented; ICH E3
§10.2 lists "subjects who entered the study even though they did not satisfy the entry
criteria" as an important deviation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from trialdesk.services.access import current_enrollment, get_record
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.crf_entries import DeviationEntry
from trialdesk.services.deviations import record_deviation
from trialdesk.services.errors import RuleViolation
from trialdesk.services.screening import (
    _evaluate,
    check_findings,
    eligibility_record,
    latest_screening,
    private_strings,
    screening_view,
)
from trialdesk.services.uow import change_record, service
from trialdesk.services.validate import today
from trialdesk.services.views import ScreeningView
from trialdesk.store.enums import ParticipantStatus, ScreeningStatus
from trialdesk.store.models import Screening


@service
def update_screening(
    session: Session,
    actor: Actor,
    screening_id: int,
    *,
    expected_version: int,
    reason: str,
    findings: Mapping[str, Any],
) -> ScreeningView:
    """Correct some findings of a screening (the others are kept) and judge it again."""
    row, participant = get_record(
        session, actor, Screening, screening_id, Permission.WRITE_CLINICAL
    )
    if row.voided:
        raise RuleViolation("voided", f"screening {screening_id} is voided", conflict=True)
    corrected = {**row.findings, **check_findings(findings)}
    for name, value in findings.items():
        if value is None:  # answered "not recorded": the finding is removed
            corrected.pop(name, None)
    raw = eligibility_record(session, participant, row.screened_on, corrected)
    result = _evaluate(session, participant, raw, row.screened_on)
    was = row.status
    change_record(
        session,
        actor,
        row,
        {
            "findings": corrected,
            "status": ScreeningStatus(result.status.value),
            "result": result.to_dict(),
        },
        reason=reason,
        expected_version=expected_version,
        participant=participant,
    )
    _follow_up(session, actor, row, participant, was)
    return screening_view(row, private_strings(session, actor, participant))


def _follow_up(
    session: Session, actor: Actor, row: Screening, participant: Any, was: ScreeningStatus
) -> None:
    """The participant's status follows their latest screening; an enrolled participant found
    ineligible on correction gets an eligibility deviation."""
    if row.status is was:
        return
    if current_enrollment(session, participant.id) is not None:
        if row.status is ScreeningStatus.INELIGIBLE:
            record_deviation(
                session,
                actor,
                participant.id,
                DeviationEntry(
                    category="eligibility",
                    severity="major",
                    description=(
                        f"screening of {row.screened_on.isoformat()} corrected: not eligible, "
                        "but already enrolled"
                    ),
                    detected_on=today(),
                ),
            )
        return
    latest = latest_screening(session, participant.id)
    still_screening = participant.status in (
        ParticipantStatus.SCREENING,
        ParticipantStatus.SCREEN_FAILED,
    )
    if still_screening and latest is not None and latest.id == row.id:
        status = (
            ParticipantStatus.SCREEN_FAILED
            if row.status is ScreeningStatus.INELIGIBLE
            else ParticipantStatus.SCREENING
        )
        change_record(
            session, actor, participant, {"status": status},
            reason=f"screening of {row.screened_on.isoformat()} corrected: {row.status.value}",
            expected_version=None, participant=participant,
        )  # fmt: skip
