"""Units of the safety laboratory: enzyme activity (U/L ↔ µkat/L, never insulin's unit),
creatinine (mg/dL ↔ µmol/L by its molar mass), haemoglobin (g/dL ↔ g/L) and blood counts
(10^3/µL ↔ 10^9/L), parsed as laboratories write them."""

from __future__ import annotations

import pytest

from trialdesk.catalogue import default_catalogue
from trialdesk.units.convert import UnitError, convert, format_unit, parse_unit, quantity


@pytest.mark.parametrize(
    ("value", "unit", "analyte", "target", "expected"),
    [
        (1.0, "µkat/L", "alt", "U/L", 60.0),
        (0.6, "ukat/L", "ast", "U/L", 36.0),
        (45, "IU/L", "alt", "µkat/L", 0.75),
        (1.0, "mg/dL", "creatinine", "µmol/L", 88.40),
        (97.24, "µmol/L", "creatinine", "mg/dL", 1.10),
        (13.2, "g/dL", None, "g/L", 132.0),
        (6.1, "10^3/µL", None, "10^9/L", 6.1),
        (250, "x10^9/L", None, "10^3/uL", 250.0),
    ],
)
def test_conversions(
    value: float, unit: str, analyte: str | None, target: str, expected: float
) -> None:
    converted = convert(quantity(value, unit, analyte=analyte), target, analyte=analyte)
    assert converted.magnitude == pytest.approx(expected, rel=1e-3)


def test_u_per_litre_is_the_enzyme_unit_only_for_enzymes() -> None:
    assert format_unit(parse_unit("U/L", analyte="alt")) == "U/L"
    assert format_unit(parse_unit("U/L")) == "IU/L"  # insulin's unit elsewhere
    with pytest.raises(UnitError):  # an enzyme activity is not an insulin concentration
        convert(quantity(40, "U/L", analyte="alt"), "µIU/mL", analyte="alt")


def test_counts_per_volume_read_back_as_written() -> None:
    for written in ("10^9/L", "10**9/L", "×10^9/L"):
        assert format_unit(parse_unit(written)) == "10^9/L"
    assert format_unit(parse_unit("10^3/µL")) == "10^3/µL"
    with pytest.raises(UnitError):
        parse_unit("10^7/L")  # no laboratory writes it: refused, not guessed


def test_every_safety_unit_of_the_catalogue_converts_to_its_canonical_unit() -> None:
    panel = [e for e in default_catalogue() if e.panel == "safety"]
    assert {e.name for e in panel} == {
        "alt", "ast", "creatinine", "haemoglobin", "white_cell_count", "platelets",
    }  # fmt: skip
    for element in panel:
        assert element.codes.loinc and element.codes.sdtm_testcd
        for unit in element.units:
            canonical = convert(
                quantity(1, unit, analyte=element.analyte),
                element.canonical_unit or "",
                analyte=element.analyte,
            )
            assert format_unit(canonical.units) == element.canonical_unit
