"""Linking an imported item to a catalogue element: only when the item can hold the element's
values unchanged (same kind, the catalogue's codes, the canonical unit), so an import never
silently reinterprets data (a REDCap `sex` coded 1/2 is not the catalogue's F/M)."""

from __future__ import annotations

from trialdesk.catalogue import DataElement, ElementKind
from trialdesk.export.crf.model import Choice, DataType

_ELEMENT_TYPES = {
    ElementKind.QUANTITY: {DataType.FLOAT, DataType.INTEGER},
    ElementKind.SERIES: {DataType.FLOAT},
    ElementKind.BOOLEAN: {DataType.BOOLEAN},
    ElementKind.DATE: {DataType.DATE},
    ElementKind.CATEGORY: {DataType.CHOICE},
}


def canonical_unit(element: DataElement) -> str | None:
    unit = element.canonical_unit
    return None if unit in (None, "dimensionless") else unit


def incompatibility(
    element: DataElement, data_type: DataType, unit: str | None, choices: tuple[Choice, ...]
) -> str | None:
    """Why an item of this type/unit/choices cannot record `element`, or None when it can."""
    if data_type not in _ELEMENT_TYPES.get(element.kind, set()):
        return f"a {element.kind.value} element cannot be a {data_type.value} item"
    if element.kind is ElementKind.CATEGORY:
        extra = [c.code for c in choices if c.code not in element.choices]
        if extra:
            return f"codes {', '.join(extra)} are not among {', '.join(element.choices)}"
    if element.kind in (ElementKind.QUANTITY, ElementKind.SERIES):
        canonical = canonical_unit(element)
        if unit != canonical:
            return (
                f"its unit is {unit or 'not stated'}, trialdesk records {element.name} in "
                f"{canonical or 'no unit'}"
            )
    return None
