"""The Jinja2 environment of the web pages: autoescaping everywhere, a few display filters.

Every template is autoescaped (HTML and the inline SVG charts alike), so user text such as an
adverse-event term or a query can never become markup (OWASP XSS Prevention Cheat Sheet, rule 1).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from starlette.templating import Jinja2Templates

from trialdesk.units.convert import format_measure
from trialdesk.units.numbers import format_count

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def fmt_date(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def fmt_when(value: date | datetime | None, zone: str = "UTC") -> str:
    """A stored UTC time in the site's zone, naming the zone (the store keeps UTC); a date as is."""
    if not isinstance(value, datetime):
        return fmt_date(value)
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz, zone = ZoneInfo("UTC"), "UTC"
    return f"{aware.astimezone(tz):%Y-%m-%d %H:%M} {zone}"


@pass_context
def _date_in_site_zone(ctx: Context, value: date | datetime | None) -> str:
    return fmt_when(value, str(ctx.get("site_zone") or "UTC"))


@pass_context
def _who(ctx: Context, user_id: int | None) -> str:
    """A user id as the person's full name (never the bare id)."""
    if user_id is None:
        return "system"
    names = ctx.get("user_names")
    name = names.get(user_id) if names is not None else None
    return name or "a former user"


@pass_context
def _record_words(ctx: Context, table: str, record_id: int) -> str:
    """A record of any kind in words (never "measurements 6")."""
    from trialdesk.services.audit_text import describe_record

    request = ctx.get("request")
    session = getattr(getattr(request, "state", None), "db_session", None)
    if session is None:
        return humanise(table)
    return describe_record(session, table, record_id)


class _UserNames:
    """Staff names read from the database on first use only (most pages show none)."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._names: dict[int, str] | None = None

    def get(self, user_id: int) -> str | None:
        if self._names is None:
            from trialdesk.services.sites import user_display_names

            session = getattr(self._request.state, "db_session", None)
            self._names = user_display_names(session) if session is not None else {}
        return self._names.get(user_id)


def fmt_number(value: float | int | None, decimals: int | None = None) -> str:
    """A number as a clinician reads it: fixed decimals when given, else up to 4 significant."""
    if value is None:
        return "—"
    if decimals is not None:
        return f"{value:.{decimals}f}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def fmt_count(value: float | int | None) -> str:
    """A count or dose as written on a product label (`trialdesk.units.numbers.format_count`)."""
    return "—" if value is None else format_count(value)


def fmt_measure(value: float | None, unit: str | None) -> str:
    """A value with its unit, to the unit's reporting decimals (e.g. 9.0 mmol/L, 162 mg/dL;
    `trialdesk.units.convert.REPORTING_DECIMALS`)."""
    return "—" if value is None else format_measure(value, unit)


_CJK_COMPATIBILITY = range(0x3300, 0x33FF + 1)
"""Unicode block "CJK Compatibility" (U+3300–U+33FF; Unicode Standard, Blocks.txt)."""

_SQUARED_UNITS = {"㎏": "kg", "㎡": "m²", "㎝": "cm", "㎜": "mm", "㎎": "mg", "㎖": "mL"}


def plain(text: str) -> str:
    """Registry text with the CJK compatibility unit signs spelt out ("㎏/㎡" → "kg/m²"), which
    screen readers and fonts without CJK glyphs can then render; everything else is kept."""
    return "".join(
        _SQUARED_UNITS.get(c)
        or (unicodedata.normalize("NFKC", c) if ord(c) in _CJK_COMPATIBILITY else c)
        for c in text
    )


_PARAMETER_NAME = re.compile(r" \[[a-z][a-z0-9]*(?:_[a-z0-9]+)+\]")
"""A protocol parameter's name after its value in a criterion's reasons ("< 2.50 %/min
[kitt_insulin_resistance_cutoff]", `eligibility.evaluate`): for the command line and files."""


def site_words(text: str) -> str:
    """A criterion's reasons for a site: registry text spelt out (`plain`), and a protocol
    parameter named as such instead of by its identifier."""
    return _PARAMETER_NAME.sub(" (protocol parameter)", plain(text))


def element_label(name: Any) -> str:
    """A data element's label as the forms ask for it ("hba1c" → "Haemoglobin A1c")."""
    from trialdesk.services.study import current_catalogue

    catalogue = current_catalogue()
    return catalogue[str(name)].label if str(name) in catalogue else humanise(name)


def humanise(value: Any) -> str:
    """An enum value or snake_case code as words ("screen_failed" → "screen failed")."""
    if value is None:
        return "—"
    text = str(getattr(value, "value", value))
    return text.replace("_", " ")


FLASH: dict[str, str] = {
    # Fixed texts only: a link cannot make the page say something the server did not mean.
    "saved": "Saved.",
    "changed": "Change saved; the reason is in the audit history.",
    "screened": "Screening saved.",
    "consented": "Informed consent recorded.",
    "enrolled": "Participant enrolled.",
    "query-raised": "Query raised.",
    "query-answered": "Query answered.",
    "query-closed": "Query closed.",
    "logged-out": "You have logged out.",
    "password-changed": "Password changed: sign in with the new one.",
    "voided": "Record voided; it stays in the audit history.",
    "declined": "Logged on the screening log as declined or not consented.",
}


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,  # all templates, whatever their extension
        undefined=StrictUndefined,  # a misspelt variable fails the test, not the user
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date"] = _date_in_site_zone
    env.filters["who"] = _who
    env.filters["record_words"] = _record_words
    env.filters["num"] = fmt_number
    env.filters["human"] = humanise
    env.filters["measure"] = fmt_measure
    env.filters["count"] = fmt_count
    env.filters["plain"] = plain
    env.filters["site_words"] = site_words
    env.filters["element"] = element_label
    return env


templates = Jinja2Templates(env=_environment())


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page or fragment with the per-request globals (user, CSRF token, flash)."""
    from trialdesk.web.flash import read_note
    from trialdesk.web.routing import csrf_token_for, current_web_user

    ctx: dict[str, Any] = {
        "user": current_web_user(request),
        "csrf_token": csrf_token_for(request),
        "flash": FLASH.get(request.query_params.get("done", "")) or read_note(request),
        "path": request.url.path,
        "site_zone": getattr(request.state, "site_zone", "UTC"),
        "user_names": _UserNames(request),
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
