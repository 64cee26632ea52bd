"""Number fields of the API read by the web forms' parser.

A JSON number is taken as it is. A JSON *string* in a number field (what a spreadsheet export
or a form posted as JSON sends) is read by `trialdesk.units.numbers.parse_number`, the rule the
web forms use: a decimal comma ("7,2" → 7.2), digit groups ("1 000") and cell counts
("1.0x10^6"); text that is not a number, or that can be read two ways ("1,000"), is refused
with the same message as on the web page (BIPM SI Brochure 9th ed., 5.4.4: the decimal
marker is a point or a comma). Booleans are refused (JSON true is not 1).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

from trialdesk.units.numbers import NumberError, parse_number


def _read(value: object) -> object:
    """A string read as staff type numbers; anything else left to pydantic's float check."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, str):
        try:
            return parse_number(value)
        except NumberError as exc:
            raise ValueError(str(exc)) from exc
    return value


#: A float field that also takes a number typed as text (decimal comma, digit groups).
Number = Annotated[float, BeforeValidator(_read)]
