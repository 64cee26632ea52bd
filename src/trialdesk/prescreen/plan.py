"""The pre-screening plan: which concepts, units, windows and limits each data element uses.

The plan is plain data resolved once per run (concept sets expanded with the database's
vocabulary, windows turned into dates, unit conversions taken from `trialdesk.units`), so the
Ibis query, the hand-written SQL and the per-person baseline all read exactly the same choices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from trialdesk.catalogue import Catalogue, ElementKind
from trialdesk.prescreen.concepts import ConceptSet, builtin_concept_sets
from trialdesk.prescreen.ehr_part import VisitCheck, ehr_protocol
from trialdesk.prescreen.mapping import (
    OmopMap,
    UnitConversion,
    builtin_map,
    check_map,
    prescreen_protocol,
    unit_conversions,
)
from trialdesk.protocol import AssessedAt, Criterion, Protocol, catalogue_for

DEFAULT_LOOKBACK_DAYS = 365
INDEX_ELEMENT = "screening_date"  # the run's index date stands in for the screening date
DERIVED_IN_QUERY = frozenset({"age", "bmi"})  # derivations `prescreen.features` computes
Descendants = Callable[[Iterable[int]], Mapping[int, Iterable[int]]]


@dataclass(frozen=True)
class Settings:
    """A pre-screening run: the index date (the planned screening date), the look-back and,
    when a site gives its own, the element map and concept sets (else the built-in ones)."""

    index_date: date
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    element_map: OmopMap | None = field(default=None, compare=False)
    concept_sets: Mapping[str, ConceptSet] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.lookback_days < 1:
            raise ValueError(f"lookback_days: {self.lookback_days} must be at least 1 day")

    @property
    def window_start(self) -> date:
        return self.index_date - timedelta(days=self.lookback_days)


@dataclass(frozen=True)
class MeasuredElement:
    name: str
    concept_ids: frozenset[int]
    units: tuple[UnitConversion, ...]
    start: date  # inclusive; the end is the index date
    hard_low: float | None
    hard_high: float | None


@dataclass(frozen=True)
class CodedElement:
    """A yes/no element: present when a concept of the set is recorded in the window."""

    name: str
    domain: str  # condition | drug
    concept_ids: frozenset[int]
    start: date | None  # None = any time on or before the index date


@dataclass(frozen=True)
class CategoryElement:
    """A category read from coded conditions: the first choice (in priority order) with a
    recorded concept, else `otherwise` (None: not assessable)."""

    name: str
    choices: tuple[tuple[str, str], ...]  # (choice, name of its CodedElement in plan.coded)
    otherwise: str | None


@dataclass
class Plan:
    protocol: Protocol
    catalogue: Catalogue
    settings: Settings
    measured: dict[str, MeasuredElement] = field(default_factory=dict)
    coded: dict[str, CodedElement] = field(default_factory=dict)
    person: dict[str, str] = field(default_factory=dict)  # element → person_sex | person_birth
    categories: dict[str, CategoryElement] = field(default_factory=dict)
    vocabulary: bool = False  # were concept sets expanded through concept_ancestor?
    # Criteria (or parts) with no EHR source, for the site to check at the visit (`ehr_part`).
    visit_checks: list[VisitCheck] = field(default_factory=list)

    @property
    def ehr_criteria(self) -> list[Criterion]:
        return [c for c in self.protocol.criteria if c.assessed_at is AssessedAt.EHR]

    def available(self, element: str) -> bool:
        """Can the element be read (or derived in the query) from the OMOP database?"""
        if element in self.measured or element in self.coded or element in self.person:
            return True
        if element in self.categories:
            return True
        if element == INDEX_ELEMENT:
            return True
        spec = self.catalogue[element]
        return element in DERIVED_IN_QUERY and all(self.available(s) for s in spec.derived_from)


def build_plan(
    protocol: Protocol,
    settings: Settings,
    descendants: Descendants | None = None,
    omap: OmopMap | None = None,
    concept_sets: Mapping[str, ConceptSet] | None = None,
) -> Plan:
    """Resolve the map for `protocol`; `descendants` looks ids up in concept_ancestor."""
    omap = omap or settings.element_map or builtin_map()
    sets = dict(concept_sets or settings.concept_sets or builtin_concept_sets())
    protocol = prescreen_protocol(protocol, omap)
    catalogue = catalogue_for(protocol)
    check_map(catalogue, omap, set(sets))
    expanded, vocabulary = _expand(sets, descendants)
    plan = Plan(protocol, catalogue, settings, vocabulary=vocabulary)
    for name, source in omap.elements.items():
        start = (
            None
            if source.history
            else settings.index_date
            - timedelta(days=source.lookback_days or settings.lookback_days)
        )
        ids: frozenset[int] = frozenset().union(*(expanded[s] for s in source.concept_sets))
        if source.source in ("person_sex", "person_birth"):
            plan.person[name] = source.source
        elif source.source == "measurement":
            element = catalogue[name]
            own = {element.codes.omop_concept_id} if element.codes.omop_concept_id else set()
            plan.measured[name] = MeasuredElement(
                name,
                frozenset(ids | own),
                tuple(unit_conversions(element, omap)),
                start or date.min,
                element.limits.hard_low,
                element.limits.hard_high,
            )
        elif source.source == "condition_category":
            parts = _category_parts(plan, name, source.categories, expanded, start)
            plan.categories[name] = CategoryElement(name, parts, source.otherwise)
        else:
            plan.coded[name] = CodedElement(name, source.source, ids, start)
    plan.protocol, plan.visit_checks = ehr_protocol(plan.protocol, plan.available)
    return needed_only(plan)


def with_criteria(protocol: Protocol, ids: Iterable[str]) -> Protocol:
    """`protocol` keeping only the criteria `ids` (e.g. a feasibility count for one criterion);
    an unknown id is refused, naming it."""
    wanted = list(ids)
    known = [c.id for c in protocol.criteria]
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise ValueError(f"criteria: {unknown[0]!r} is not one of {', '.join(known)}")
    data = protocol.model_dump(by_alias=True)
    data["criteria"] = [c for c in data["criteria"] if c["id"] in wanted]
    return Protocol.model_validate(data)


def needed_elements(plan: Plan) -> set[str]:
    """The data elements the EHR criteria reference (walking their expression trees), with the
    sources of derived ones (e.g. BMI → weight, height; age → date of birth)."""
    needed: set[str] = set()
    pending = [name for c in plan.ehr_criteria for name in c.expr.elements()]
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in plan.catalogue:
            pending.extend(plan.catalogue[name].derived_from)
    return needed


def needed_only(plan: Plan) -> Plan:
    """`plan` reading only what its criteria need: measurements, coded conditions and drugs,
    and categories no criterion references are dropped, so the query neither scans nor
    aggregates them (issue #16: a one-criterion protocol costs a fraction of the full one).
    The person's sex and date of birth are always read (the population's own columns)."""
    needed = needed_elements(plan)
    plan.categories = {n: c for n, c in plan.categories.items() if n in needed}
    parts = {part for c in plan.categories.values() for _choice, part in c.choices}
    plan.measured = {n: m for n, m in plan.measured.items() if n in needed}
    plan.coded = {n: c for n, c in plan.coded.items() if n in needed or n in parts}
    return plan


def category_part(name: str, number: int) -> str:
    """The name of the yes/no part behind one choice of a category element."""
    return f"{name}__{number}"


def _category_parts(
    plan: Plan,
    name: str,
    categories: Mapping[str, tuple[str, ...]],
    expanded: Mapping[str, frozenset[int]],
    start: date | None,
) -> tuple[tuple[str, str], ...]:
    """One yes/no condition part per choice, added to `plan.coded`."""
    parts = []
    for number, (choice, sets) in enumerate(categories.items()):
        part = category_part(name, number)
        ids = frozenset().union(*(expanded[s] for s in sets))
        plan.coded[part] = CodedElement(part, "condition", ids, start)
        parts.append((choice, part))
    return tuple(parts)


def _expand(
    sets: Mapping[str, ConceptSet], descendants: Descendants | None
) -> tuple[dict[str, frozenset[int]], bool]:
    wanted = {i.concept_id for s in sets.values() for i in s.items if i.include_descendants}
    found = descendants(sorted(wanted)) if descendants else {}
    vocabulary = any(found.get(i) for i in wanted)
    return {name: s.expand(found) for name, s in sets.items()}, vocabulary


def quantity_elements(plan: Plan) -> list[str]:
    return [
        e.name for e in plan.catalogue if e.kind is ElementKind.QUANTITY and plan.available(e.name)
    ]
