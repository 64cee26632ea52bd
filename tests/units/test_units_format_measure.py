"""One formatter for a value with its unit, on pages and in the audit trail."""

from __future__ import annotations

import pytest

from trialdesk.units.convert import format_measure


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (8.880994671403197, "mmol/L", "8.9 mmol/L"),
        (162.4, "mg/dL", "162 mg/dL"),
        (52.6, "mmol/mol", "53 mmol/mol"),
        (1_000_000, "cells", "1.0 × 10⁶ cells"),
        (2.5e6, None, "2.5 × 10⁶"),
        (12.345678, None, "12.35"),
    ],
)
def test_a_value_is_written_at_its_reporting_precision_or_as_a_label_writes_a_count(
    value: float, unit: str | None, expected: str
) -> None:
    assert format_measure(value, unit) == expected


def test_pages_and_the_audit_trail_write_the_same() -> None:
    from trialdesk.services.audit_text import _number
    from trialdesk.web.templating import fmt_measure

    for value, unit in [(8.880994671403197, "mmol/L"), (3.0e6, "cells/kg"), (71.25, "kg")]:
        assert fmt_measure(value, unit) == _number(value, unit)
