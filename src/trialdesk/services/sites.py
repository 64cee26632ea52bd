"""Site settings: the IANA time zone a site's pages show times in.

Times are stored and exported in UTC (ISO 8601 with offset; CDISC ODM 1.3.2 ``DateTimeStamp``);
only the pages convert them, so a monitor reading two sites' records can still compare them.
Zones are IANA tz database names (e.g. ``Asia/Jakarta``), read by `zoneinfo` (PEP 615).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import not_found, require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import ValidationProblem
from trialdesk.services.uow import change_record, service
from trialdesk.services.views import SiteView
from trialdesk.store.models import Site, User


def valid_time_zone(name: str) -> str:
    """The IANA zone `name`, or a `ValidationProblem` naming the field and an example."""
    text = (name or "").strip()
    if text and text in available_timezones() | {"UTC"}:
        try:
            ZoneInfo(text)
            return text
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise ValidationProblem(
        "time_zone",
        f"{text!r} is not an IANA time zone name (for example Asia/Jakarta, Europe/Paris, UTC)",
    )


@service
def set_site_time_zone(
    session: Session,
    actor: Actor,
    site_id: int,
    *,
    time_zone: str,
    expected_version: int,
    reason: str,
) -> SiteView:
    """Change the zone the site's pages show times in (administrators; audited with reason)."""
    require(actor, Permission.MANAGE_USERS, table="sites", record_id=site_id)
    site = session.get(Site, site_id)
    if site is None:
        raise not_found("sites", site_id)
    change_record(
        session,
        actor,
        site,
        {"time_zone": valid_time_zone(time_zone)},
        reason=reason,
        expected_version=expected_version,
    )
    return SiteView.model_validate(site)


def site_time_zone(session: Session, actor: Actor) -> str:
    """The zone of the actor's (first) site, in which their pages show times; UTC without one."""
    if not actor.site_ids:
        return "UTC"
    site = session.get(Site, min(actor.site_ids))
    return site.time_zone if site is not None else "UTC"


def user_display_names(session: Session) -> dict[int, str]:
    """Staff full names by user id, for pages that would otherwise show a bare id."""
    return {u.id: u.full_name for u in session.scalars(select(User))}
