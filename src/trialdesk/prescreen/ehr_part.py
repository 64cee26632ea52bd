"""The part of each criterion an EHR can answer, and what the site must still check.

A criterion often mixes data the OMOP record holds with data it never holds: E4 "known
immunosuppressive disease, e.g. HIV, hepatitis B or C" names three coded infections and "other
immunosuppressive disease", which has no code list. Judged whole, E4 is unknown for every
person and nobody can ever be a candidate. As ATLAS/Circe cohort definitions do, the pre-screen
judges the part it can (the leaves whose data element is mapped) and lists the rest as checks
for the screening visit: "candidate" means every EHR-assessable part is met, never that the
person is eligible.

Pruning keeps Kleene logic sound for the part that remains: a leaf with no EHR source is
removed from its ``all``/``any``; a ``not`` or ``if`` whose operand has no EHR source goes whole
to the visit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trialdesk.protocol import AssessedAt, Criterion, Protocol
from trialdesk.protocol.expr import AllOf, AnyOf, Compare, Implies, Not

Available = Callable[[str], bool]


@dataclass(frozen=True)
class VisitCheck:
    """What the site checks at the screening visit for one criterion."""

    criterion_id: str
    elements: tuple[str, ...]  # elements of the criterion with no EHR source
    whole: bool  # the whole criterion (assessed at visit, or nothing of it is in the EHR)

    def describe(self, label: Callable[[str], str]) -> str:
        if self.whole:
            return f"{self.criterion_id} (whole criterion)"
        return f"{self.criterion_id}: {', '.join(label(e) for e in self.elements)}"


def prune(node: Any, available: Available) -> Any | None:
    """`node` without the leaves whose element has no EHR source (None: nothing is left)."""
    if isinstance(node, Compare):
        return node if available(node.element) else None
    if isinstance(node, AllOf | AnyOf):
        children = node.all if isinstance(node, AllOf) else node.any
        kept = [k for k in (prune(child, available) for child in children) if k is not None]
        if not kept:
            return None
        if len(kept) == 1:
            return kept[0]
        return AllOf(all=kept) if isinstance(node, AllOf) else AnyOf(any=kept)
    if isinstance(node, Not | Implies):  # an unknown operand would flip the meaning
        return node if all(available(e) for e in node.elements()) else None
    return None


def ehr_protocol(protocol: Protocol, available: Available) -> tuple[Protocol, list[VisitCheck]]:
    """`protocol` with each criterion cut to its EHR part, and the checks left for the visit.

    A criterion with no EHR part becomes `assessed_at: visit`.
    """
    criteria: list[Criterion] = []
    checks: list[VisitCheck] = []
    for criterion in protocol.criteria:
        if criterion.assessed_at is AssessedAt.VISIT:
            checks.append(VisitCheck(criterion.id, (), whole=True))
            criteria.append(criterion)
            continue
        names = list(dict.fromkeys(criterion.expr.elements()))
        lacking = tuple(n for n in names if not available(n))
        part = prune(criterion.expr, available)
        if part is None:
            checks.append(VisitCheck(criterion.id, lacking, whole=True))
            criteria.append(criterion.model_copy(update={"assessed_at": AssessedAt.VISIT}))
            continue
        if lacking:
            checks.append(VisitCheck(criterion.id, lacking, whole=False))
        criteria.append(criterion.model_copy(update={"expr": part}))
    return protocol.model_copy(update={"criteria": criteria}), checks
