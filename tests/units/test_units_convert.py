"""Unit conversions: reference values [@HbA1c-examples], round trips, refusals."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialdesk.units import UnitError, convert, parse_quantity, quantity
from trialdesk.units.convert import format_unit, hba1c_ifcc_to_ngsp, hba1c_ngsp_to_ifcc


def mag(value: float, unit: str, to: str, analyte: str | None = None, **kw: float) -> float:
    return float(
        convert(quantity(value, unit, analyte=analyte), to, analyte=analyte, **kw).magnitude
    )


@pytest.mark.parametrize(
    ("value", "unit", "to", "analyte", "expected", "tol"),
    [
        (7.0, "mmol/L", "mg/dL", "glucose", 126.11, 0.01),  # WHO 1999: 7.0 mmol/L = 126 mg/dL
        (200, "mg/dL", "mmol/L", "glucose", 11.10, 0.01),  # 2-h OGTT threshold
        (1, "mmol/L", "mg/dL", "glucose", 18.016, 0.001),  # MW 180.16 g/mol
        (7.0, "%", "mmol/mol", "hba1c", 53.0, 0.05),  # IFCC master equation
        (6.5, "%", "mmol/mol", "hba1c", 47.5, 0.05),
        (8.0, "%", "mmol/mol", "hba1c", 63.9, 0.05),
        (53, "mmol/mol", "%", "hba1c", 7.0, 0.01),
        (10, "µIU/mL", "pmol/L", "insulin", 60.0, 1e-9),  # default factor 6.0
        (10, "uIU/mL", "mIU/L", "insulin", 10.0, 1e-9),
        (1, "ng/mL", "nmol/L", "c_peptide", 0.331, 0.001),
        (1, "nmol/L", "ng/mL", "c_peptide", 3.02, 0.01),
        (1, "ng/mL", "pmol/L", "c_peptide", 331.1, 0.1),
        (150, "lb", "kg", None, 68.039, 0.001),
        (70, "in", "cm", None, 177.8, 1e-9),
        (1.75, "m", "cm", None, 175.0, 1e-9),
    ],
)
def test_reference_conversions(
    value: float, unit: str, to: str, analyte: str | None, expected: float, *, tol: float
) -> None:
    assert mag(value, unit, to, analyte) == pytest.approx(expected, abs=tol)


def test_insulin_factor_is_configurable() -> None:
    # Many laboratories still print 6.945 pmol/L per µIU/mL (Knopp et al. 2019).
    assert mag(10, "µIU/mL", "pmol/L", "insulin", insulin_pmol_per_uiu=6.945) == pytest.approx(
        69.45
    )


@pytest.mark.parametrize(
    ("value", "unit", "to", "analyte"),
    [
        (7, "%", "mmol/L", "hba1c"),
        (7, "kg", "mmol/L", "glucose"),
        (7, "mg/dL", "mmol/L", None),  # no analyte: molar mass unknown, never guessed
        (7, "mg/dL", "mmol/L", "hba1c"),
        (10, "µIU/mL", "pmol/L", "glucose"),
        (7, "%", "mmol/mol", None),  # HbA1c scales only for the hba1c analyte
        (70, "kg", "cm", None),
    ],
)
def test_incompatible_units_are_refused(
    value: float, unit: str, to: str, analyte: str | None
) -> None:
    with pytest.raises(UnitError, match="fasting_glucose: cannot convert"):
        q = quantity(value, unit, analyte=analyte)
        convert(q, to, analyte=analyte, field="fasting_glucose")


def test_percent_hba1c_never_converts_as_plain_percent() -> None:
    # pint alone would turn 7 % into 70 mmol/mol (both dimensionless): the registry forbids it.
    assert mag(7, "%", "mmol/mol", "hba1c") == pytest.approx(53.01)


@pytest.mark.parametrize("bad", ["", "furlong-ish", "mg/dLx", "kg/"])
def test_unknown_units_name_the_field(bad: str) -> None:
    with pytest.raises(UnitError, match="^weight: "):
        quantity(70, bad, field="weight")


@pytest.mark.parametrize("bad", ["abc", float("nan"), float("inf"), None])
def test_non_numbers_are_refused(bad: object) -> None:
    with pytest.raises(UnitError, match="hba1c"):
        quantity(bad, "%", analyte="hba1c", field="hba1c")  # type: ignore[arg-type]


def test_parse_quantity() -> None:
    q = parse_quantity("126 mg/dL", analyte="glucose")
    assert q.magnitude == 126 and format_unit(q.units) == "mg/dL"
    assert parse_quantity("7.2", default_unit="mmol/L").magnitude == 7.2
    with pytest.raises(UnitError, match="has no unit"):
        parse_quantity("7.2", field="fasting_glucose")
    with pytest.raises(UnitError, match="not a number"):
        parse_quantity("high", field="fasting_glucose")


@pytest.mark.parametrize(
    ("unit", "analyte", "shown"),
    [
        ("mmol/L", None, "mmol/L"),
        ("mg/dL", None, "mg/dL"),
        ("%", "hba1c", "%"),
        ("mmol/mol", "hba1c", "mmol/mol"),
        ("kg/m²", None, "kg/m²"),
        ("U/day", None, "IU/day"),
    ],
)
def test_units_display_as_clinicians_write_them(unit: str, analyte: str | None, shown: str) -> None:
    assert format_unit(quantity(1, unit, analyte=analyte).units) == shown


finite = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)


@given(finite)
def test_glucose_round_trip(x: float) -> None:
    there = mag(x, "mmol/L", "mg/dL", "glucose")
    assert mag(there, "mg/dL", "mmol/L", "glucose") == pytest.approx(x, rel=1e-12)


@given(st.floats(min_value=3, max_value=25))
def test_hba1c_round_trip_within_master_equation_precision(percent: float) -> None:
    # The two published coefficients are rounded inverses: round trip agrees to < 0.01 %.
    back = hba1c_ifcc_to_ngsp(hba1c_ngsp_to_ifcc(percent))
    assert back == pytest.approx(percent, abs=0.01)


@given(finite, st.floats(min_value=5, max_value=7.5))
def test_insulin_round_trip_any_factor(x: float, factor: float) -> None:
    there = mag(x, "µIU/mL", "pmol/L", "insulin", insulin_pmol_per_uiu=factor)
    back = mag(there, "pmol/L", "µIU/mL", "insulin", insulin_pmol_per_uiu=factor)
    assert back == pytest.approx(x, rel=1e-12)


@given(finite)
def test_c_peptide_and_anthropometry_round_trips(x: float) -> None:
    assert mag(
        mag(x, "ng/mL", "nmol/L", "c_peptide"), "nmol/L", "ng/mL", "c_peptide"
    ) == pytest.approx(x)
    assert mag(mag(x, "kg", "lb"), "lb", "kg") == pytest.approx(x)
    assert mag(mag(x, "cm", "in"), "in", "cm") == pytest.approx(x)
    assert math.isclose(mag(x, "cm", "m") * 100, x)
