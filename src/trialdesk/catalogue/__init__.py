"""The catalogue of data elements (names, kinds, units, codes, limits)."""

from trialdesk.catalogue.limits import hard_limit_reason
from trialdesk.catalogue.load import Catalogue, default_catalogue
from trialdesk.catalogue.model import Codes, DataElement, ElementKind, Limits

__all__ = [
    "Catalogue",
    "Codes",
    "DataElement",
    "ElementKind",
    "Limits",
    "default_catalogue",
    "hard_limit_reason",
]
