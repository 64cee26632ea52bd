"""Screening-log entries of candidates who declined or were not consented.

The screening log (ICH E6(R3) Appendix C, essential record "subject screening log") lists every
candidate approached, so that the CONSORT 2010 flow diagram can count "assessed for eligibility"
and "excluded: declined to participate" (Schulz, Altman & Moher, BMJ 2010;340:c332, item 13a).
A candidate who declines is not registered as a participant: no name or date of birth is kept,
only the site's screening number or initials.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.crf_entries import ScreeningLogEntry
from trialdesk.services.errors import Forbidden, ValidationProblem
from trialdesk.services.uow import add_record, service
from trialdesk.services.validate import (
    FREE_TEXT_MAX_CHARS,
    choice,
    not_after_today,
    required_text,
)
from trialdesk.services.views import ScreeningDeclineView
from trialdesk.store.enums import ScreeningDeclineOutcome, ScreeningDeclineReason
from trialdesk.store.models import ScreeningDecline, Site

TABLE = "screening_declines"


@dataclass(frozen=True)
class _AtSite:
    """Where a record without a participant lives, for its audit entry."""

    site_id: int
    id: int | None = None


def site_by_code(session: Session, actor: Actor, site_code: str, permission: Permission) -> Site:
    """The site of `site_code`, if the actor belongs to it and has `permission` there."""
    site = session.scalars(select(Site).where(Site.code == site_code)).first()
    if site is None:
        raise ValidationProblem("site_code", f"there is no site {site_code!r}")
    if not actor.sees_site(site.id):
        raise Forbidden(
            "site_not_assigned", f"{actor} does not work at site {site.code}", site_id=site.id
        )
    require(actor, permission, table=TABLE, site_id=site.id)
    return site


@service
def log_screening_decline(
    session: Session,
    actor: Actor,
    entry: ScreeningLogEntry,
) -> ScreeningDeclineView:
    """Log a candidate who declined or was not consented, with the reason (audited)."""
    site = site_by_code(session, actor, entry.site_code, Permission.WRITE_CLINICAL)
    category = choice(ScreeningDeclineReason, entry.reason_category or "", "reason_category")
    text = (entry.reason or "").strip() or None
    if category is ScreeningDeclineReason.OTHER and text is None:
        raise ValidationProblem("reason", "is required when the reason category is other")
    if text is not None and len(text) > FREE_TEXT_MAX_CHARS:
        raise ValidationProblem("reason", f"must be at most {FREE_TEXT_MAX_CHARS} characters")
    row = ScreeningDecline(
        site_id=site.id,
        approached_on=not_after_today(entry.approached_on, "approached_on"),
        candidate_label=required_text(entry.candidate_label, "candidate_label", 20),
        outcome=choice(ScreeningDeclineOutcome, entry.outcome or "", "outcome"),
        reason_category=category,
        reason=text,
    )
    add_record(session, actor, row, _AtSite(site.id))
    return ScreeningDeclineView.model_validate(row)


@service
def list_screening_declines(session: Session, actor: Actor) -> list[ScreeningDeclineView]:
    """Live decline entries at the actor's sites, newest first."""
    require(actor, Permission.READ_CLINICAL, table=TABLE)
    rows = session.scalars(
        select(ScreeningDecline)
        .where(ScreeningDecline.site_id.in_(actor.site_ids), ScreeningDecline.voided.is_(False))
        .order_by(ScreeningDecline.approached_on.desc(), ScreeningDecline.id.desc())
    )
    return [ScreeningDeclineView.model_validate(r) for r in rows]
