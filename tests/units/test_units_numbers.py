"""Numbers as typed at the sites: decimal comma, digit groups, cell counts."""

from __future__ import annotations

from typing import Any

import pytest

from trialdesk.units.convert import UnitError, parse_quantity, quantity
from trialdesk.units.numbers import AmbiguousNumber, NumberError, format_count, parse_number


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


def test_an_ambiguous_comma_is_read_the_one_plausible_way() -> None:
    assert parse_number("5,500", plausible=lambda v: 0.5 <= v <= 60) == 5.5
    assert parse_number("1,250", plausible=lambda v: v >= 100) == 1250.0
    assert parse_number("8,1", plausible=lambda v: False) == 8.1  # unambiguous: range not asked


@pytest.mark.parametrize(
    ("text", "plausible"),
    [
        ("1,000", lambda v: 20 <= v <= 350),  # a weight in kg: 1000 and 1.0 both impossible
        ("1,500", lambda v: 0 <= v <= 3000),  # a fasting insulin: 1500 and 1.5 both possible
        ("1,000", None),  # nothing known about the quantity
    ],
)
def test_an_ambiguous_comma_with_no_single_plausible_reading_is_refused_naming_both(
    text: str, plausible: Any
) -> None:
    with pytest.raises(AmbiguousNumber, match=r"can be read as 1\d00 or as 1\.\d00") as refused:
        parse_number(text, plausible=plausible)
    assert len(refused.value.readings) == 2


def test_a_number_with_a_decimal_comma_and_its_unit_is_one_quantity() -> None:
    assert parse_quantity("8,1 %").magnitude == pytest.approx(8.1)
    assert parse_quantity("5,5", default_unit="mmol/L").magnitude == pytest.approx(5.5)
