"""Results of evaluating criteria: three-valued, and each one explains itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from trialdesk.protocol import Criterion, CriterionKind


class Truth(StrEnum):
    """Kleene three-valued truth of a criterion statement."""

    MET = "met"
    NOT_MET = "not met"
    NOT_ASSESSABLE = "not assessable"

    def __invert__(self) -> Truth:
        return {Truth.MET: Truth.NOT_MET, Truth.NOT_MET: Truth.MET}.get(self, self)


class Status(StrEnum):
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class ValueUsed:
    element: str
    label: str
    shown: str  # as entered, with its unit (and canonical conversion where it differs)
    canonical: float | str | bool | None = None
    canonical_unit: str | None = None


@dataclass
class CriterionResult:
    criterion: Criterion
    truth: Truth
    reasons: list[str] = field(default_factory=list)
    values: list[ValueUsed] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        kind = "Inclusion" if self.criterion.kind is CriterionKind.INCLUSION else "Exclusion"
        return f"{kind} {self.criterion.number}"

    @property
    def satisfied(self) -> bool | None:
        """Does the candidate pass this criterion? (an exclusion passes when it is not met)."""
        if self.truth is Truth.NOT_ASSESSABLE:
            return None
        met = self.truth is Truth.MET
        return met if self.criterion.kind is CriterionKind.INCLUSION else not met

    def explanation(self, *, element_names: bool = True) -> str:
        """Verdict first, then the evidence: e.g. "exclusion present: HIV infection: yes, …".

        `element_names`: name the missing elements by their catalogue names after the verdict
        (for files and the command line); the web pages leave them out, the evidence already
        names each missing value by its label."""
        if self.truth is Truth.NOT_ASSESSABLE:
            head = (
                "not assessable, missing " + ", ".join(self.missing)
                if self.missing and element_names
                else "not assessable"
            )
        elif self.criterion.kind is CriterionKind.EXCLUSION:
            head = "exclusion present" if self.truth is Truth.MET else "exclusion absent"
        else:
            head = self.truth.value
        return f"{head}: " + "; ".join(self.reasons)


@dataclass
class EligibilityResult:
    protocol_id: str
    candidate_id: str
    criteria: list[CriterionResult]
    # Elements recorded as missing with a code, and why (e.g. "not done (ND): haemolysed").
    coded: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        verdicts = [c.satisfied for c in self.criteria]
        if any(v is False for v in verdicts):
            return Status.INELIGIBLE
        if any(v is None for v in verdicts):
            return Status.INCOMPLETE
        return Status.ELIGIBLE

    @property
    def failed(self) -> list[CriterionResult]:
        return [c for c in self.criteria if c.satisfied is False]

    @property
    def unassessed(self) -> list[CriterionResult]:
        return [c for c in self.criteria if c.satisfied is None]

    @property
    def missing(self) -> list[str]:
        names: list[str] = []
        for result in self.criteria:
            names += [m for m in result.missing if m not in names]
        return names

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready snapshot (stored with the screening record)."""
        return {
            "protocol": self.protocol_id,
            "candidate": self.candidate_id,
            "status": self.status.value,
            "failed": [c.criterion.id for c in self.failed],
            "missing": self.missing,
            "coded": dict(self.coded),
            "criteria": [
                {
                    "id": c.criterion.id,
                    "label": c.label,
                    "text": c.criterion.text,
                    "truth": c.truth.value,
                    "satisfied": c.satisfied,
                    "reasons": c.reasons,
                    "missing": c.missing,
                    "values": [
                        {
                            "element": v.element,
                            "shown": v.shown,
                            "canonical": v.canonical,
                            "canonical_unit": v.canonical_unit,
                        }
                        for v in c.values
                    ],
                }
                for c in self.criteria
            ],
        }
