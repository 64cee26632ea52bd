"""Numbers as typed at the sites: decimal comma, digit groups, cell counts."""

from __future__ import annotations

import pytest

from trialdesk.units.convert import UnitError, quantity
from trialdesk.units.numbers import NumberError, format_count, parse_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("8.1", 8.1),
        ("8,1", 8.1),
        (" 0,125 ", 0.125),
        ("-2,5", -2.5),
        ("1e6", 1e6),
        ("1.0x10^6", 1e6),
        ("1.0×10^6", 1e6),
        ("2.5 x 10^6", 2.5e6),
        ("1.0 × 10⁶", 1e6),
        ("10^6", 1e6),
        ("1 000 000", 1e6),
        ("1\u202f000\u202f000", 1e6),
        ("1,000,000", 1e6),
        ("162", 162.0),
        (70, 70.0),
    ],
)
def test_numbers_as_typed(text: str, value: float) -> None:
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1,000", "can be read as 1000 or as 1.000"),
        ("1.000,5", "both a point and a comma"),
        ("8,1,2", "is not a number"),
        ("abc", "is not a number"),
        ("1e999", "not a finite number"),
        ("nan", "is not a number"),
        ("", "is not a number"),
    ],
)
def test_unreadable_or_ambiguous_numbers_are_refused_with_the_reason(
    text: str, reason: str
) -> None:
    with pytest.raises(NumberError, match=reason):
        parse_number(text)


def test_a_quantity_takes_a_decimal_comma_and_refuses_an_ambiguous_one() -> None:
    assert quantity("8,1", "mmol/L").magnitude == pytest.approx(8.1)
    with pytest.raises(UnitError, match="can be read as"):
        quantity("1,500", "mg/dL")


@pytest.mark.parametrize(
    ("value", "text"),
    [(1e6, "1.0 × 10⁶"), (2.5e6, "2.5 × 10⁶"), (8.880994671403197, "8.881"), (12, "12")],
)
def test_counts_read_as_on_a_product_label(value: float, text: str) -> None:
    assert format_count(value) == text
