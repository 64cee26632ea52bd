"""Reading submitted forms: typed values, and a reason next to each field that cannot be read.

Nothing typed is ever dropped: pages re-render the form from `FormInput.values` (the raw
strings) whatever the errors, so a correction never means typing everything again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from fastapi import Request

from trialdesk.services.errors import ServiceError
from trialdesk.units.numbers import NumberError, parse_number
from trialdesk.web.csrf import CSRF_FIELD

T = TypeVar("T")


async def read_form(request: Request) -> FormInput:
    form = await request.form()
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if key == CSRF_FIELD or not isinstance(value, str):
            continue
        values.setdefault(key, value)
        lists.setdefault(key, []).append(value)
    read = FormInput(values, lists)
    read.errors.update(csrf_errors(request))
    return read


def csrf_errors(request: Request) -> dict[str, str]:
    """The CSRF refusal as a form error (see `trialdesk.web.routing`): the page re-renders the
    form with everything typed and a fresh token instead of saving."""
    from trialdesk.web.routing import CSRF_REFUSED_MESSAGE, csrf_refusal

    return {CSRF_FIELD: CSRF_REFUSED_MESSAGE} if csrf_refusal(request) else {}


@dataclass(frozen=True)
class ShownForm:
    """What a page's form shows: typed values and refusals brought back from a refused save
    (None = the stored values, no refusals), ticked boxes, and the page's HTTP status (422 when
    a save was refused; RFC 9110 §15.5.21)."""

    values: dict[str, str] | None = None
    errors: dict[str, str] | None = None
    checks: dict[str, list[str]] | None = None
    status_code: int = 200


FRESH_FORM = ShownForm()
"""A page shown afresh: the stored values, nothing refused, status 200."""


@dataclass
class FormInput:
    values: dict[str, str]
    lists: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def text(self, name: str, *, required: bool = False, max_length: int = 2000) -> str | None:
        value = self.values.get(name, "").strip()
        if not value:
            if required:
                self.errors[name] = "is required"
            return None
        if len(value) > max_length:
            self.errors[name] = f"has {len(value)} characters; at most {max_length} are allowed"
            return None
        return value

    def date(self, name: str, *, required: bool = False) -> date | None:
        text = self.text(name, required=required)
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.errors[name] = f"{text!r} is not a date (YYYY-MM-DD)"
            return None

    def number(self, name: str, *, required: bool = False) -> float | None:
        text = self.text(name, required=required)
        if text is None:
            return None
        try:
            # A decimal comma, digit groups and "1.0x10^6" are read as staff type them.
            return parse_number(text)
        except NumberError as exc:
            self.errors[name] = str(exc)
            return None

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.number(name, required=required)
        if value is None:
            return None
        if value != int(value):
            self.errors[name] = f"{value:g} is not a whole number"
            return None
        return int(value)

    def choice(self, name: str, choices: Mapping[str, Any], *, required: bool = False) -> Any:
        text = self.text(name, required=required)
        if text is None:
            return None
        if text not in choices:
            self.errors[name] = f"{text!r} is not one of {', '.join(choices)}"
            return None
        return choices[text]

    def yes_no(self, name: str) -> bool | None:
        text = (self.text(name) or "").lower()
        return {"yes": True, "no": False}.get(text)

    def many(self, name: str) -> list[str]:
        return [v for v in self.lists.get(name, []) if v]

    def refused(self, exc: ServiceError, field_map: Mapping[str, str], default: str) -> None:
        """Put a service refusal next to the form field it concerns."""
        self.errors[field_for(exc, field_map, default)] = reason_of(exc)


def field_for(exc: ServiceError, field_map: Mapping[str, str], default: str) -> str:
    raw = (exc.field or "").split(".")[-1].split("[")[0]
    return field_map.get(raw, raw) or default


def reason_of(exc: ServiceError) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else exc.message


def given(value: T | None) -> T:
    """A value the form checks already required (used only once `errors` is empty)."""
    if value is None:
        raise ValueError("a required form value is missing")
    return value
