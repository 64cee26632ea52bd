"""Clinical units on pint: every measurement is a quantity until normalised at the boundary."""

from trialdesk.units.convert import (
    INSULIN_PMOL_PER_UIU,
    UnitError,
    convert,
    hba1c_ifcc_to_ngsp,
    hba1c_ngsp_to_ifcc,
    parse_quantity,
    quantity,
)
from trialdesk.units.registry import Quantity, ureg

__all__ = [
    "INSULIN_PMOL_PER_UIU",
    "Quantity",
    "UnitError",
    "convert",
    "hba1c_ifcc_to_ngsp",
    "hba1c_ngsp_to_ifcc",
    "parse_quantity",
    "quantity",
    "ureg",
]
