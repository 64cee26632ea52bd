"""Where each data element comes from in an OMOP CDM database (`omop_map.yaml`), and the
pre-screening protocol: the study protocol plus the EHR-only additions (insulin use, P1)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trialdesk import yamlio
from trialdesk.catalogue import Catalogue, DataElement, ElementKind
from trialdesk.protocol import Criterion, Protocol
from trialdesk.units.convert import UnitError, convert, parse_unit, quantity

Source = Literal[
    "person_sex", "person_birth", "measurement", "condition", "drug", "condition_category"
]
GENDER_CONCEPTS: dict[int, str] = {8507: "M", 8532: "F"}  # OMOP CDM v5.4 Gender domain


class MappingError(ValueError):
    """The OMOP element map does not fit the catalogue: names the element and the reason."""


class ElementSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Source
    concept_sets: tuple[str, ...] = ()
    lookback_days: int | None = Field(default=None, gt=0)
    history: bool = False
    # condition_category: choice → concept sets, in priority order (the first choice recorded
    # wins); `otherwise` is the choice when none is recorded (closed world, as for conditions).
    categories: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    otherwise: str | None = None

    @model_validator(mode="after")
    def _window(self) -> ElementSource:
        if self.history and self.lookback_days is not None:
            raise ValueError("history (any time) and lookback_days exclude each other")
        if self.source in ("condition", "drug") and not self.concept_sets:
            raise ValueError(f"a {self.source} element needs concept_sets")
        if (self.source == "condition_category") != bool(self.categories):
            raise ValueError("categories go with source condition_category (and only with it)")
        return self

    @property
    def all_concept_sets(self) -> tuple[str, ...]:
        return self.concept_sets + tuple(s for sets in self.categories.values() for s in sets)


class OmopMap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    elements: dict[str, ElementSource]
    units: dict[int, str]
    extra_elements: tuple[DataElement, ...] = ()
    extra_criteria: tuple[Criterion, ...] = ()


@cache
def builtin_map() -> OmopMap:
    text = resources.files("trialdesk.prescreen").joinpath("omop_map.yaml").read_text("utf-8")
    raw: Any = yamlio.safe_load(text)
    return OmopMap.model_validate(raw)


def load_element_map(path: str | Path) -> OmopMap:
    """A site's element map (the layout of `omop_map.yaml`); problems name the file and field.

    `units` may be left out: the built-in unit_concept_id table is then used.
    """
    file = Path(path)
    if not file.is_file():
        raise MappingError(f"--element-map: {file} is not a file")
    try:
        raw: Any = yamlio.safe_load(file.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{file}: cannot be read as UTF-8 text ({exc})") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"{file}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise MappingError(f"{file}: expected a mapping with 'elements' (and 'units')")
    raw.setdefault("units", builtin_map().units)
    try:
        return OmopMap.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise MappingError(f"{file}: {where}: {first['msg']}") from None


def prescreen_protocol(protocol: Protocol, omap: OmopMap | None = None) -> Protocol:
    """`protocol` with the map's extra elements and criteria (e.g. P1 insulin-treated) added.

    The result is an ordinary `Protocol`, so the in-memory evaluator and the query compiler see
    the same criteria.
    """
    omap = omap or builtin_map()
    known = {c.id for c in protocol.criteria}
    extra = [c for c in omap.extra_criteria if c.id not in known]
    elements = [e for e in omap.extra_elements if e.name not in {x.name for x in protocol.elements}]
    data = protocol.model_dump(by_alias=True)
    data["criteria"] += [c.model_dump(by_alias=True) for c in extra]
    data["elements"] += [e.model_dump() for e in elements]
    return Protocol.model_validate(data)


class UnitConversion(BaseModel):
    """One recorded unit of an element: canonical = value × factor + offset (exact for the
    linear and affine conversions of `trialdesk.units`, e.g. HbA1c mmol/mol → %)."""

    model_config = ConfigDict(frozen=True)

    unit_concept_id: int
    unit: str
    factor: float
    offset: float


def affine(unit: str, target: str, analyte: str | None, element: str) -> tuple[float, float]:
    """(factor, offset) with target = value × factor + offset, taken from `trialdesk.units`."""
    try:
        zero = float(convert(quantity(0, unit, analyte=analyte), target, analyte=analyte).magnitude)
        one = float(convert(quantity(1, unit, analyte=analyte), target, analyte=analyte).magnitude)
    except UnitError as exc:
        raise MappingError(f"{element}: unit {unit!r}: {exc}") from None
    # 12 significant digits drop the float noise of one - zero (0.09149999999999991 → 0.0915).
    return float(f"{one - zero:.12g}"), float(f"{zero:.12g}")


def unit_conversions(element: DataElement, omap: OmopMap) -> list[UnitConversion]:
    """The OMOP units accepted for a quantity element (those of the catalogue's `units`)."""
    accepted = {_unit_key(u, element.analyte) for u in element.units}
    out = []
    for concept_id, unit in sorted(omap.units.items()):
        if _unit_key(unit, element.analyte) not in accepted:
            continue
        factor, offset = affine(unit, element.canonical_unit or "", element.analyte, element.name)
        out.append(
            UnitConversion(unit_concept_id=concept_id, unit=unit, factor=factor, offset=offset)
        )
    if not out:
        raise MappingError(f"{element.name}: none of {element.units} has a unit_concept_id")
    return out


def _unit_key(unit: str, analyte: str | None) -> str:
    return str(parse_unit(unit, analyte=analyte))


def check_map(catalogue: Catalogue, omap: OmopMap, concept_sets: set[str]) -> None:
    """Refuse a map naming unknown elements or concept sets, or sources unfit for the kind."""
    fits = {
        "person_sex": ElementKind.CATEGORY,
        "person_birth": ElementKind.DATE,
        "measurement": ElementKind.QUANTITY,
        "condition": ElementKind.BOOLEAN,
        "drug": ElementKind.BOOLEAN,
        "condition_category": ElementKind.CATEGORY,
    }
    for name, source in omap.elements.items():
        if name not in catalogue:
            raise MappingError(f"{name}: not a data element of the catalogue or protocol")
        element = catalogue[name]
        if element.kind is not fits[source.source] or element.is_derived:
            raise MappingError(f"{name}: a {element.kind.value} cannot come from {source.source}")
        unknown = [s for s in source.all_concept_sets if s not in concept_sets]
        if unknown:
            raise MappingError(f"{name}: unknown concept set {unknown[0]!r}")
        choices = [*source.categories, *([source.otherwise] if source.otherwise else [])]
        wrong = [c for c in choices if c not in element.choices]
        if wrong:
            raise MappingError(
                f"{name}: {wrong[0]!r} is not one of its choices ({', '.join(element.choices)})"
            )
        if source.source == "measurement" and not (
            element.codes.omop_concept_id or source.concept_sets
        ):
            raise MappingError(f"{name}: a measurement needs an OMOP concept id or a concept set")
