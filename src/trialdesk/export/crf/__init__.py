"""Case report form design (events, forms, items) shared by the REDCap and ODM adapters."""

from trialdesk.export.crf.build import DesignError, design_from_protocol, uncovered_assessments
from trialdesk.export.crf.model import Choice, Condition, DataType, Event, Form, Item, StudyDesign

__all__ = [
    "Condition",
    "Choice",
    "DataType",
    "DesignError",
    "Event",
    "Form",
    "Item",
    "StudyDesign",
    "design_from_protocol",
    "uncovered_assessments",
]
