"""The pre-screening log: EHR pre-screening runs, their candidates, and each candidate's way to
the screening visit (issue 7: "candidate → screening visit").

* `record_prescreen_run` stores a ``trialdesk prescreen`` run at a site with its ranked persons
  (coordinator or investigator of that site; `check_prescreen_run_allowed` asks beforehand);
* `list_prescreen_runs` / `list_prescreen_candidates` / `get_prescreen_candidate` read the log,
  site-scoped: runs (counts only) need clinical read access; candidates, whose EHR key leads
  straight to a patient's hospital record, need identity read access (coordinator,
  investigator, monitor — not the statistician, who sees de-identified data only);
* `mark_candidate` records an invitation or a refusal (with the date and reason);
* `link_candidate_to_participant` closes the loop once the candidate is registered and
  screened: the candidate points at the participant and their screening;
* `void_prescreen_run` voids a run recorded in error (not once a candidate was screened);
* `prescreen_candidate_history` is a candidate's audit trail.

Every write goes through `add_record` / `change_record` / `void_record`, so each field is
audited old → new in the same transaction, with the site on the audit entry (and the
participant once linked). Before consent nothing identifying is stored: see
`trialdesk.services.prescreening_entries`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trialdesk.services import paging
from trialdesk.services.access import get_participant, not_found, require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import Forbidden, RuleViolation, ValidationProblem
from trialdesk.services.listing import DEFAULT_LIMIT, FIRST_PAGE, paginate
from trialdesk.services.prescreening_entries import (
    CandidateRow,
    PrescreenCandidateView,
    PrescreenRunView,
    a_date,
    attrition_steps,
    candidate_rows,
    positive_days,
    source_text,
)
from trialdesk.services.prescreening_entries import status_counts as checked_counts
from trialdesk.services.records import _entry_view, _usernames
from trialdesk.services.screening import latest_screening
from trialdesk.services.uow import add_record, change_record, service, void_record
from trialdesk.services.validate import choice, not_after_today, required_text
from trialdesk.services.views import AuditEntryView, Page
from trialdesk.store import audit
from trialdesk.store.models import (
    CandidateWorkflow,
    Participant,
    PrescreenCandidate,
    PrescreenRun,
    PrescreenStatus,
    Screening,
    Site,
    User,
)

RUNS = PrescreenRun.__tablename__
CANDIDATES = PrescreenCandidate.__tablename__
W = CandidateWorkflow


class CandidateAction(StrEnum):
    INVITE = "invite"
    DECLINE = "decline"


# Which workflow statuses each action may start from (module docstring of the model).
_FROM: dict[CandidateAction, frozenset[CandidateWorkflow]] = {
    CandidateAction.INVITE: frozenset({W.NEW}),
    CandidateAction.DECLINE: frozenset({W.NEW, W.INVITED}),
}
_TO = {CandidateAction.INVITE: W.INVITED, CandidateAction.DECLINE: W.DECLINED}


@dataclass(frozen=True)
class _AtSite:
    """Where a record without a participant lives, for the audit entry (`uow._where` reads
    ``site_id`` and ``id`` — the participant id, none before consent)."""

    site_id: int
    id: int | None = None


# --- loading, site-scoped -----------------------------------------------------------------------


def _site(session: Session, actor: Actor, site_code: str, permission: Permission) -> Site:
    site = session.scalars(select(Site).where(Site.code == site_code)).first()
    if site is None:
        raise ValidationProblem("site_code", f"unknown site {site_code!r}")
    if not actor.sees_site(site.id):
        raise Forbidden(
            "site_not_assigned",
            f"{actor} does not belong to site {site.code}",
            table=RUNS,
            site_id=site.id,
        )
    require(actor, permission, table=RUNS, site_id=site.id)
    return site


def _run(session: Session, actor: Actor, run_id: int, permission: Permission) -> PrescreenRun:
    run = session.get(PrescreenRun, run_id)
    if run is None or not actor.sees_site(run.site_id):
        raise not_found(RUNS, run_id, site_id=run.site_id if run else None)
    require(actor, permission, table=RUNS, record_id=run_id, site_id=run.site_id)
    return run


def _candidate(
    session: Session, actor: Actor, candidate_id: int, permission: Permission
) -> PrescreenCandidate:
    row = session.get(PrescreenCandidate, candidate_id)
    if row is None or not actor.sees_site(row.site_id):
        raise not_found(CANDIDATES, candidate_id, site_id=row.site_id if row else None)
    require(actor, permission, table=CANDIDATES, record_id=candidate_id, site_id=row.site_id)
    return row


def _where(row: PrescreenCandidate) -> Any:
    """The audit location: the participant once linked, else the site."""
    if row.participant_id is not None:
        return _AtSite(row.site_id, row.participant_id)
    return _AtSite(row.site_id)


# --- views --------------------------------------------------------------------------------------


def _run_view(session: Session, run: PrescreenRun) -> PrescreenRunView:
    stored = session.scalar(
        select(func.count())
        .select_from(PrescreenCandidate)
        .where(PrescreenCandidate.run_id == run.id, PrescreenCandidate.voided.is_(False))
    )
    site = session.get(Site, run.site_id)
    user = session.get(User, run.run_by)
    fields = {
        name: getattr(run, name) for name in PrescreenRunView.model_fields if hasattr(run, name)
    }
    return PrescreenRunView.model_validate(
        {
            **fields,
            "site_code": site.code if site else "",
            "run_by_username": user.username if user else "",
            "candidates_stored": stored or 0,
        }
    )


def _candidate_view(session: Session, row: PrescreenCandidate) -> PrescreenCandidateView:
    run = session.get(PrescreenRun, row.run_id)
    site = session.get(Site, row.site_id)
    participant = session.get(Participant, row.participant_id) if row.participant_id else None
    fields = {
        name: getattr(row, name)
        for name in PrescreenCandidateView.model_fields
        if hasattr(row, name)
    }
    return PrescreenCandidateView.model_validate(
        {
            **fields,
            "site_code": site.code if site else "",
            "study_id": participant.study_id if participant else None,
            "index_date": run.index_date if run else None,
        }
    )


# --- use cases ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PrescreenProvenance:
    """Where a pre-screening run's persons come from, each item a column of the run: the
    protocol, the index date and look-back window, the data source, and the whole run's numbers.
    `persons_assessed` / `status_counts` (persons in the look-back window, by status) are given
    when the run's rows hold only some of them; by default they are counted from the rows.
    `attrition` is the run's funnel (`AttritionStep` rows)."""

    protocol_id: str
    index_date: date
    lookback_days: int
    source_description: str
    persons_assessed: int | None = None
    status_counts: Mapping[str, int] | None = None
    attrition: Sequence[Mapping[str, Any]] = ()


@service
def record_prescreen_run(
    session: Session,
    actor: Actor,
    *,
    site_code: str,
    rows: Iterable[CandidateRow | Mapping[str, Any]],
    provenance: PrescreenProvenance,
) -> PrescreenRunView:
    """Store a pre-screening run at `site_code` and its ranked persons (each `workflow_status`
    ``new``), with the run's `provenance`."""
    site = _site(session, actor, site_code, Permission.WRITE_CLINICAL)
    if actor.user_id is None:
        raise ValidationProblem("user", "a pre-screening run is recorded by a named user")
    checked = candidate_rows(rows)
    source = provenance
    persons, counts = checked_counts(source.status_counts, checked, source.persons_assessed)
    run = PrescreenRun(
        site_id=site.id,
        protocol_id=required_text(source.protocol_id, "protocol_id", 50),
        index_date=a_date(source.index_date, "index_date"),
        lookback_days=positive_days(source.lookback_days),
        source_description=source_text(source.source_description),
        run_by=actor.user_id,
        persons_assessed=persons,
        status_counts=counts,
        attrition=attrition_steps(source.attrition, persons),
    )
    where = _AtSite(site.id)
    add_record(session, actor, run, where)
    for row in checked:
        candidate = PrescreenCandidate(
            run_id=run.id,
            site_id=site.id,
            ehr_person_key=row.ehr_person_key,
            rank=row.rank,
            prescreen_status=row.prescreen_status,
            criteria={cid: o.model_dump() for cid, o in row.criteria.items()},
            workflow_status=W.NEW,
        )
        add_record(session, actor, candidate, where)
    return _run_view(session, run)


@service
def check_prescreen_run_allowed(session: Session, actor: Actor, *, site_code: str) -> None:
    """Refuse now (audited, like the write itself) when `actor` could not record a run at
    `site_code`: lets a command line check before a long pre-screen query."""
    _site(session, actor, site_code, Permission.WRITE_CLINICAL)
    if actor.user_id is None:
        raise ValidationProblem("user", "a pre-screening run is recorded by a named user")


@service
def list_prescreen_runs(
    session: Session,
    actor: Actor,
    *,
    site_code: str | None = None,
    include_voided: bool = False,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> Page[PrescreenRunView]:
    """Pre-screening runs at the actor's sites, newest first (counts, no persons)."""
    require(actor, Permission.READ_CLINICAL, table=RUNS)
    query = select(PrescreenRun).where(PrescreenRun.site_id.in_(actor.site_ids))
    if site_code is not None:
        site = _site(session, actor, site_code, Permission.READ_CLINICAL)
        query = query.where(PrescreenRun.site_id == site.id)
    if not include_voided:
        query = query.where(PrescreenRun.voided.is_(False))
    query = query.order_by(PrescreenRun.id.desc())
    return paginate(session, query, limit, offset, lambda r: _run_view(session, r))


@dataclass(frozen=True, kw_only=True)
class CandidateFilter:
    """Which persons of the screening log to list: one run, one site, one workflow or
    pre-screen status, and whether voided entries show. Each item is the API's query parameter
    of the same name."""

    run_id: int | None = None
    site_code: str | None = None
    workflow_status: CandidateWorkflow | str | None = None
    prescreen_status: PrescreenStatus | str | None = None
    include_voided: bool = False


@service
def list_prescreen_candidates(
    session: Session,
    actor: Actor,
    *,
    where: CandidateFilter | None = None,
    page: paging.Page = FIRST_PAGE,
) -> Page[PrescreenCandidateView]:
    """The screening log's candidates at the actor's sites, by run (newest first) and rank."""
    require(actor, Permission.READ_IDENTITY, table=CANDIDATES)
    where = where or CandidateFilter()
    query = select(PrescreenCandidate).where(PrescreenCandidate.site_id.in_(actor.site_ids))
    if where.run_id is not None:
        _run(session, actor, where.run_id, Permission.READ_IDENTITY)
        query = query.where(PrescreenCandidate.run_id == where.run_id)
    if where.site_code is not None:
        site = _site(session, actor, where.site_code, Permission.READ_IDENTITY)
        query = query.where(PrescreenCandidate.site_id == site.id)
    if where.workflow_status is not None:
        wanted = choice(CandidateWorkflow, where.workflow_status, "workflow_status")
        query = query.where(PrescreenCandidate.workflow_status == wanted)
    if where.prescreen_status is not None:
        status = choice(PrescreenStatus, where.prescreen_status, "prescreen_status")
        query = query.where(PrescreenCandidate.prescreen_status == status)
    if not where.include_voided:
        query = query.where(PrescreenCandidate.voided.is_(False))
    query = query.order_by(
        PrescreenCandidate.run_id.desc(), PrescreenCandidate.rank, PrescreenCandidate.id
    )
    return paginate(session, query, page.limit, page.offset, lambda r: _candidate_view(session, r))


@service
def get_prescreen_candidate(
    session: Session, actor: Actor, candidate_id: int
) -> PrescreenCandidateView:
    return _candidate_view(
        session, _candidate(session, actor, candidate_id, Permission.READ_IDENTITY)
    )


def _live(row: PrescreenCandidate) -> None:
    if row.voided:
        raise RuleViolation(
            "candidate_voided",
            f"pre-screening candidate {row.id} is voided ({row.void_reason})",
            conflict=True,
        )


def _contact_date(on: date, run: PrescreenRun) -> date:
    not_after_today(on, "on")
    # One day of slack: the run's time is UTC, the site may be a day ahead.
    if on < run.created_at.date() - timedelta(days=1):
        raise ValidationProblem(
            "on", f"{on.isoformat()} is before the pre-screening run that found the candidate"
        )
    return on


@service
def mark_candidate(
    session: Session,
    actor: Actor,
    candidate_id: int,
    *,
    action: CandidateAction | str,
    on: date,
    expected_version: int,
    reason: str | None = None,
) -> PrescreenCandidateView:
    """Record that the candidate was invited to a screening visit (``invite``: new → invited)
    or declined / is not to be approached (``decline``: new or invited → declined, reason
    required)."""
    row = _candidate(session, actor, candidate_id, Permission.WRITE_CLINICAL)
    what = choice(CandidateAction, action, "action")
    _live(row)
    if row.workflow_status not in _FROM[what]:
        raise RuleViolation(
            "candidate_status",
            f"pre-screening candidate {row.id} is {row.workflow_status.value}: it cannot be "
            f"marked {_TO[what].value} (allowed from "
            f"{' or '.join(sorted(s.value for s in _FROM[what]))})",
            "workflow_status",
            conflict=True,
        )
    run = session.get(PrescreenRun, row.run_id)
    assert run is not None  # foreign key
    day = _contact_date(on, run)
    why = (reason or "").strip() or (
        "invited to the screening visit" if what is CandidateAction.INVITE else None
    )
    change_record(
        session,
        actor,
        row,
        {"workflow_status": _TO[what], "status_changed_on": day, "status_reason": why},
        reason=why,
        expected_version=expected_version,
        participant=_where(row),
    )
    return _candidate_view(session, row)


def _screening(session: Session, participant: Participant, screening_id: int | None) -> Screening:
    if screening_id is not None:
        found = session.get(Screening, screening_id)
        if found is None or found.participant_id != participant.id or found.voided:
            raise ValidationProblem(
                "screening_id",
                f"screening {screening_id} is not a live screening of {participant.study_id}",
            )
        return found
    latest = latest_screening(session, participant.id)
    if latest is None:
        raise RuleViolation(
            "screening_required",
            f"{participant.study_id} has no screening yet: register, consent and screen the "
            "candidate first, then link them",
            "participant_id",
        )
    return latest


def _refuse_double_link(
    session: Session, row: PrescreenCandidate, participant: Participant
) -> None:
    other = session.scalars(
        select(PrescreenCandidate.id).where(
            PrescreenCandidate.participant_id == participant.id,
            PrescreenCandidate.voided.is_(False),
            PrescreenCandidate.id != row.id,
        )
    ).first()
    if other is not None:
        raise RuleViolation(
            "participant_already_linked",
            f"{participant.study_id} is already linked to pre-screening candidate {other}",
            "participant_id",
            conflict=True,
        )


@service
def link_candidate_to_participant(
    session: Session,
    actor: Actor,
    candidate_id: int,
    *,
    participant_id: int,
    expected_version: int,
    screening_id: int | None = None,
    reason: str | None = None,
) -> PrescreenCandidateView:
    """The candidate came to the screening visit: link them to the registered participant and
    their screening (`screening_id`, default the latest), new or invited → screened."""
    row = _candidate(session, actor, candidate_id, Permission.WRITE_CLINICAL)
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    _live(row)
    if participant.voided:
        raise RuleViolation(
            "participant_voided", f"{participant.study_id} is voided", "participant_id"
        )
    if participant.site_id != row.site_id:
        raise RuleViolation(
            "candidate_other_site",
            f"{participant.study_id} is registered at another site than pre-screening "
            f"candidate {row.id}",
            "participant_id",
        )
    if row.workflow_status not in (W.NEW, W.INVITED):
        raise RuleViolation(
            "candidate_status",
            f"pre-screening candidate {row.id} is {row.workflow_status.value}: only a new or "
            "invited candidate can be linked to a screened participant",
            "workflow_status",
            conflict=True,
        )
    _refuse_double_link(session, row, participant)
    screening = _screening(session, participant, screening_id)
    why = (reason or "").strip() or (
        f"registered as {participant.study_id} and screened on {screening.screened_on.isoformat()}"
    )
    change_record(
        session,
        actor,
        row,
        {
            "workflow_status": W.SCREENED,
            "status_changed_on": screening.screened_on,
            "status_reason": why,
            "participant_id": participant.id,
            "screening_id": screening.id,
        },
        reason=why,
        expected_version=expected_version,
        participant=participant,
    )
    return _candidate_view(session, row)


@service
def void_prescreen_run(
    session: Session, actor: Actor, run_id: int, *, expected_version: int, reason: str
) -> PrescreenRunView:
    """Void a run recorded in error, with its candidates (kept, marked voided). Refused once a
    candidate of the run was screened: that link is trial history."""
    run = _run(session, actor, run_id, Permission.WRITE_CLINICAL)
    candidates = list(
        session.scalars(
            select(PrescreenCandidate).where(
                PrescreenCandidate.run_id == run.id, PrescreenCandidate.voided.is_(False)
            )
        )
    )
    screened = [c.id for c in candidates if c.workflow_status is W.SCREENED]
    if screened:
        raise RuleViolation(
            "run_has_screened_candidates",
            f"pre-screening run {run.id} has screened candidate(s) {screened}: it cannot be voided",
            conflict=True,
        )
    where = _AtSite(run.site_id)
    void_record(
        session, actor, run, reason=reason, expected_version=expected_version, participant=where
    )
    for candidate in candidates:
        void_record(
            session, actor, candidate, reason=reason, expected_version=None, participant=where
        )
    return _run_view(session, run)


@service
def prescreen_candidate_history(
    session: Session, actor: Actor, candidate_id: int
) -> list[AuditEntryView]:
    """Every audit entry of one pre-screening candidate, oldest first."""
    _candidate(session, actor, candidate_id, Permission.READ_IDENTITY)
    require(actor, Permission.READ_AUDIT, table=CANDIDATES, record_id=candidate_id)
    entries = audit.history(session, CANDIDATES, candidate_id)
    names = _usernames(session, entries)
    return [_entry_view(e, names) for e in entries]
