"""The case report form design: events (visits), forms, items — the neutral shape that the REDCap
data dictionary and the CDISC ODM study metadata both render, and that their importers rebuild.

Built from the protocol (schedule of visits and their forms) and the catalogue (kinds, units,
limits, codes); see `trialdesk.export.crf.build.design_from_protocol`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class DataType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    FLOAT = "float"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    CHOICE = "choice"  # exactly one of `choices`
    MULTICHOICE = "multichoice"  # any number of `choices` (REDCap checkbox)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Frozen):
    code: str = Field(pattern=r"^-?[A-Za-z0-9_.]+$")
    label: str


class Condition(_Frozen):
    """Show (collect) an item only when another item has this raw value ("1" = yes, a choice
    code otherwise). REDCap renders it as branching logic, ODM as a CollectionException."""

    item: str = Field(pattern=NAME_PATTERN)
    value: str


class Item(_Frozen):
    """One question on a form."""

    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    label: str = Field(min_length=1)
    data_type: DataType
    unit: str | None = None  # canonical unit; values are recorded in it
    choices: tuple[Choice, ...] = ()
    hard_low: float | None = None
    hard_high: float | None = None
    soft_low: float | None = None
    soft_high: float | None = None
    element: str | None = None  # catalogue element this item records
    sample_minute: float | None = None  # for a sample of a timed series (ITT glucose)
    derivation: str | None = None  # derived by trialdesk, read-only on the form
    loinc: str | None = None
    decimals: int | None = None  # reporting precision (catalogue); exports round to it
    required: bool = False
    identifier: bool = False  # direct identifier (PHI) in the HIPAA sense
    show_if: Condition | None = None
    note: str = ""

    @model_validator(mode="after")
    def _choices_match_type(self) -> Item:
        wants = self.data_type in (DataType.CHOICE, DataType.MULTICHOICE)
        if wants and not self.choices:
            raise ValueError(f"item {self.name}: a {self.data_type.value} item needs choices")
        if self.choices and not wants:
            raise ValueError(f"item {self.name}: only choice items have choices")
        return self

    @property
    def is_numeric(self) -> bool:
        return self.data_type in (DataType.INTEGER, DataType.FLOAT)


class Form(_Frozen):
    name: str = Field(pattern=NAME_PATTERN)
    label: str
    repeating: bool = False
    items: tuple[Item, ...] = Field(min_length=1)


class Event(_Frozen):
    """A scheduled visit; `day` is relative to baseline (day 0), windows inclusive. A
    `repeating` event is the unscheduled visit: one instance per visit, no window."""

    code: str = Field(pattern=r"^[A-Z0-9_]{1,20}$")
    name: str
    day: int
    window_before: int = Field(ge=0)
    window_after: int = Field(ge=0)
    forms: tuple[str, ...]
    repeating: bool = False


class StudyDesign(_Frozen):
    study_id: str
    title: str
    forms: tuple[Form, ...] = Field(min_length=1)
    events: tuple[Event, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> StudyDesign:
        names = [i.name for f in self.forms for i in f.items]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"item names must be unique across forms: {', '.join(duplicates)}")
        for form in self.forms:
            for item in form.items:
                if item.show_if and item.show_if.item not in names:
                    raise ValueError(f"item {item.name} is shown if unknown {item.show_if.item}")
        forms = {f.name for f in self.forms}
        for event in self.events:
            unknown = [f for f in event.forms if f not in forms]
            if unknown:
                raise ValueError(f"event {event.code} names unknown form(s) {', '.join(unknown)}")
        return self

    def form(self, name: str) -> Form:
        for form in self.forms:
            if form.name == name:
                return form
        raise KeyError(f"no form {name!r} in the design of {self.study_id}")

    def item(self, name: str) -> Item:
        for form in self.forms:
            for item in form.items:
                if item.name == name:
                    return item
        raise KeyError(f"no item {name!r} in the design of {self.study_id}")

    def form_of(self, item_name: str) -> Form:
        for form in self.forms:
            if any(i.name == item_name for i in form.items):
                return form
        raise KeyError(f"no item {item_name!r} in the design of {self.study_id}")

    def event(self, code: str) -> Event:
        for event in self.events:
            if event.code == code:
                return event
        raise KeyError(f"no event {code!r} in the design of {self.study_id}")
