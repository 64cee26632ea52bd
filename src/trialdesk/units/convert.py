"""Parsing and converting clinical quantities, analyte-aware.

Conversions that are not plain unit-factor changes need the analyte:

* glucose mass ↔ molar concentration through its molar mass, 180.16 g/mol
  (1 mmol/L = 18.016 mg/dL; docs/references.md, units);
* C-peptide mass ↔ molar concentration through its molar mass, 3020.3 g/mol
  (1 ng/mL = 0.331 nmol/L; docs/references.md, units);
* insulin activity ↔ molar concentration through an assay factor, default
  1 µIU/mL = 6.00 pmol/L (0.0347 mg/IU and MW 5807.6 g/mol; Knopp et al., J Diabetes Sci Technol
  2019;13:597 discuss the competing 6.945); configurable per call;
* HbA1c NGSP % ↔ IFCC mmol/mol by the IFCC master equation
  IFCC = 10.93 × NGSP − 23.5 and NGSP = 0.0915 × IFCC + 2.15
  (Hoelzel et al., Clin Chem 2004;50:166);
* creatinine mass ↔ molar concentration through its molar mass, 113.12 g/mol
  (1 mg/dL = 88.4 µmol/L, the factor of Inker et al. 2021);
* ALT and AST activities: "U" and "IU" are the enzyme unit (1 µmol/min), not insulin's
  biological unit, so U/L ↔ µkat/L is a factor (1 µkat = 1 µmol/s, so 1 µkat/L = 60 U/L);
* blood counts: "10^9/L" (SI) = "10^3/µL" (conventional).

Anything else between different dimensions is refused with a `UnitError`, never guessed.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import pint

from trialdesk.units.numbers import NumberError, format_count, parse_number
from trialdesk.units.registry import Quantity, ureg

INSULIN_PMOL_PER_UIU = 6.0
"""Default insulin conversion factor, pmol/L per µIU/mL (see module docstring)."""

MOLAR_MASS_G_PER_MOL: dict[str, float] = {
    "glucose": 180.16,
    "c_peptide": 3020.3,
    "creatinine": 113.12,
}
ENZYME_ANALYTES = frozenset({"alt", "ast"})
"""Analytes measured as catalytic activity: their "U"/"IU" is the enzyme unit, not insulin's."""
_ENZYME_ALIASES = {"U": "enzyme_unit", "IU": "enzyme_unit"}
_POWER_OF_TEN = re.compile(r"(?:[x×]\s*)?10\s*(?:\^|\*\*)\s*(\d+)")

_TOKEN_ALIASES: dict[str, str] = {
    "U": "insulin_unit",
    "IU": "insulin_unit",
    "uIU": "micro_insulin_unit",
    "µIU": "micro_insulin_unit",
    "μIU": "micro_insulin_unit",
    "mIU": "milli_insulin_unit",
    "mU": "milli_insulin_unit",
    "uU": "micro_insulin_unit",
    "µU": "micro_insulin_unit",
    "μU": "micro_insulin_unit",
    "yr": "year",
    "yrs": "year",
    "years": "year",
    "cells": "cell",
}
_HBA1C_UNITS = {"%": "hba1c_ngsp_percent", "mmol/mol": "hba1c_ifcc_mmol_per_mol"}
_TOKEN = re.compile(r"[A-Za-zµμ_]+")
_MASS_CONC = ureg.Quantity(1, "g/L").dimensionality
_MOLAR_CONC = ureg.Quantity(1, "mol/L").dimensionality
_ACTIVITY_CONC = ureg.Quantity(1, "insulin_unit/L").dimensionality


class UnitError(ValueError):
    """A unit that cannot be parsed or converted; the message names the field and both units."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


def _normalise_unit_text(unit: str, analyte: str | None) -> str:
    text = unit.strip().replace("²", "**2").replace("³", "**3").replace("·", "*")
    if analyte == "hba1c":
        compact = text.replace(" ", "")
        if compact in _HBA1C_UNITS:
            return _HBA1C_UNITS[compact]
    text = _POWER_OF_TEN.sub(lambda m: f"ten_pow_{m.group(1)}", text)
    aliases = _TOKEN_ALIASES
    if analyte in ENZYME_ANALYTES:
        aliases = {**_TOKEN_ALIASES, **_ENZYME_ALIASES}
    return _TOKEN.sub(lambda m: aliases.get(m.group(0), m.group(0)), text)


@functools.lru_cache(maxsize=1024)
def _unit(text: str) -> Any:
    # pint parses a unit string in about a millisecond; a study uses a few dozen unit spellings,
    # and pint units are immutable, so each is parsed once (a quarter of a write's CPU time in
    # the load test, issue 8). Failures are not cached: they raise.
    return ureg.Unit(text)


def parse_unit(unit: str, *, analyte: str | None = None, field: str | None = None) -> Any:
    """Parse a unit as people write it ("mg/dL", "µIU/mL", "%", "kg/m²") into a pint unit."""
    if not isinstance(unit, str) or not unit.strip():
        raise UnitError("a unit is required", field=field)
    try:
        return _unit(_normalise_unit_text(unit, analyte))
    except (pint.errors.PintError, AttributeError, TypeError, ValueError, AssertionError) as exc:
        raise UnitError(f"unknown unit {unit!r}", field=field) from exc


def quantity(
    value: float | int | str, unit: str, *, analyte: str | None = None, field: str | None = None
) -> Any:
    """A quantity from a number and a unit; the number must be finite."""
    try:
        # Typed text may use a decimal comma or a cell-count notation (`units.numbers`).
        magnitude = parse_number(value) if isinstance(value, str) else float(value)
    except NumberError as exc:
        raise UnitError(str(exc), field=field) from exc
    except (TypeError, ValueError) as exc:
        raise UnitError(f"{value!r} is not a number", field=field) from exc
    if not math.isfinite(magnitude):
        raise UnitError(f"{value!r} is not a finite number", field=field)
    return Quantity(magnitude, parse_unit(unit, analyte=analyte, field=field))


# The number may carry a decimal comma or digit groups ("8,1 %"): `parse_number` reads it.
_NUMBER_THEN_UNIT = re.compile(
    r"^\s*([-+]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$"
)


def parse_quantity(
    text: str,
    *,
    analyte: str | None = None,
    field: str | None = None,
    default_unit: str | None = None,
) -> Any:
    """Parse "126 mg/dL" (or "7.2" with `default_unit`) into a quantity."""
    match = _NUMBER_THEN_UNIT.match(str(text))
    if not match:
        raise UnitError(f"{text!r} is not a number followed by a unit", field=field)
    number, unit = match.groups()
    if not unit:
        if default_unit is None:
            raise UnitError(f"{text!r} has no unit", field=field)
        unit = default_unit
    return quantity(number, unit, analyte=analyte, field=field)


def hba1c_ngsp_to_ifcc(percent: float) -> float:
    """IFCC mmol/mol from NGSP %: 10.93 × NGSP − 23.5 (Hoelzel, Clin Chem 2004;50:166)."""
    return 10.93 * percent - 23.5


def hba1c_ifcc_to_ngsp(mmol_per_mol: float) -> float:
    """NGSP % from IFCC mmol/mol: 0.0915 × IFCC + 2.15 (Hoelzel, Clin Chem 2004;50:166)."""
    return 0.0915 * mmol_per_mol + 2.15


def convert(
    value: Any,
    to_unit: str,
    *,
    analyte: str | None = None,
    field: str | None = None,
    insulin_pmol_per_uiu: float = INSULIN_PMOL_PER_UIU,
) -> Any:
    """Convert a quantity to `to_unit`, using the analyte where the dimension changes."""
    target = parse_unit(to_unit, analyte=analyte, field=field)
    source_dim = value.dimensionality
    target_dim = ureg.Quantity(1, target).dimensionality
    if source_dim == target_dim and not _mixes_ratio_kinds(value.units, target):
        return value.to(target)
    converted = _cross_dimension(value, source_dim, target_dim, analyte, insulin_pmol_per_uiu)
    if converted is None:
        raise UnitError(
            f"cannot convert {format_unit(value.units)} to {to_unit}"
            + (f" for {analyte}" if analyte else "")
            + " (incompatible units)",
            field=field,
        )
    return converted.to(target)


def _mixes_ratio_kinds(source: Any, target: Any) -> bool:
    """A substance ratio (mmol/mol) and a plain ratio (%) are both dimensionless to pint, but
    converting one into the other is meaningless (e.g. HbA1c % is not 10 × mmol/mol)."""
    return ("mole" in str(source)) != ("mole" in str(target)) and str(source) != str(target)


def _cross_dimension(
    value: Any, source: Any, target: Any, analyte: str | None, insulin_factor: float
) -> Any | None:
    molar_mass = MOLAR_MASS_G_PER_MOL.get(analyte or "")
    if molar_mass is not None:
        converted = _mass_molar(value, source, target, molar_mass)
        if converted is not None:
            return converted
    if analyte == "insulin":
        return _insulin(value, source, target, insulin_factor)
    if analyte == "hba1c":
        return _hba1c(value, target)
    return None


def _mass_molar(value: Any, source: Any, target: Any, molar_mass: float) -> Any | None:
    """Mass concentration <-> molar concentration through the analyte's molar mass."""
    mm = Quantity(molar_mass, "g/mol")
    if source == _MASS_CONC and target == _MOLAR_CONC:
        return value / mm
    if source == _MOLAR_CONC and target == _MASS_CONC:
        return value * mm
    return None


def _insulin(value: Any, source: Any, target: Any, insulin_factor: float) -> Any | None:
    """Insulin activity (µIU/mL) <-> molar concentration (pmol/L) by the given factor."""
    factor = Quantity(insulin_factor, "pmol/L") / Quantity(1, "micro_insulin_unit/mL")
    if source == _ACTIVITY_CONC and target == _MOLAR_CONC:
        return value * factor
    if source == _MOLAR_CONC and target == _ACTIVITY_CONC:
        return value / factor
    return None


def _hba1c(value: Any, target: Any) -> Any | None:
    """HbA1c NGSP % <-> IFCC mmol/mol by the master equation (see hba1c_ngsp_to_ifcc)."""
    magnitude = value.magnitude
    if str(value.units) == "hba1c_ngsp_percent" and target == _dim("hba1c_ifcc_mmol_per_mol"):
        return Quantity(hba1c_ngsp_to_ifcc(magnitude), "hba1c_ifcc_mmol_per_mol")
    if str(value.units) == "hba1c_ifcc_mmol_per_mol" and target == _dim("hba1c_ngsp_percent"):
        return Quantity(hba1c_ifcc_to_ngsp(magnitude), "hba1c_ngsp_percent")
    return None


def _dim(unit: str) -> Any:
    return ureg.Quantity(1, unit).dimensionality


def format_unit(unit: Any) -> str:
    """The unit as a clinician writes it (the inverse of the aliases above)."""
    text = f"{unit:~P}" if not isinstance(unit, str) else unit
    for symbol, clinical in (("ifcc_mmol_per_mol", "mmol/mol"), ("ngsp_percent", "%")):
        text = text.replace(symbol, clinical)
    text = re.sub(r"ten_pow_(\d+)", lambda m: f"10^{m.group(1)}", text)
    text = re.sub(r"(?<![A-Za-z])([munpdµ]?)l(?![A-Za-z])", lambda m: m.group(1) + "L", text)
    text = re.sub(r"(?<![A-Za-z])a(?![A-Za-z])", "year", text)
    return text.replace("·", "*").replace("IU/d/kg", "IU/kg/day").replace("IU/d", "IU/day")


REPORTING_DECIMALS: dict[str, int] = {
    "mg/dL": 0,
    "mmol/L": 1,
    "%": 1,
    "mmol/mol": 0,
    "µIU/mL": 1,
    "uIU/mL": 1,
    "mIU/L": 1,
    "pmol/L": 0,
    "ng/mL": 2,
    "nmol/L": 3,
    "kg": 1,
    "lb": 0,
    "cm": 1,
    "m": 2,
    "in": 1,
    "kg/m²": 1,
    "year": 0,
    "%/min": 2,
    "U/day": 1,
    "IU/day": 1,
    "U/L": 0,
    "µkat/L": 2,
    "µmol/L": 0,
    "g/L": 0,
    "g/dL": 1,
    "10^9/L": 1,
    "10^3/µL": 1,
}
"""Decimals a laboratory reports per unit (WHO tabulates 7.0 mmol/L as 126 mg/dL, IFCC 7 % as
53 mmol/mol). Threshold comparisons round both sides to these decimals in the entered unit."""


def reporting_decimals(unit: Any) -> int | None:
    return REPORTING_DECIMALS.get(format_unit(unit))


def format_measure(value: float | int, unit: Any = None) -> str:
    """A value with its unit as a report prints it: the unit's reporting decimals
    (`REPORTING_DECIMALS`: 9.0 mmol/L, 162 mg/dL), else as a product label writes a count
    (`format_count`: 1.0 × 10⁶ cells, never 1e+06). The one formatter for pages and the audit
    trail, so that both say the same."""
    decimals = reporting_decimals(unit) if unit else None
    text = f"{value:.{decimals}f}" if decimals is not None else format_count(value)
    return f"{text} {unit}" if unit else text
