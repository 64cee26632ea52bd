"""The screening form, generated from the protocol's criteria and the data-element catalogue.

Fields are grouped under the criterion that first needs them, in protocol order, so a screener
sees each criterion's inputs next to its live verdict. Derived elements are never typed in: the
form asks for what they are computed from (age ← date of birth + screening date, BMI ← weight +
height, KITT ← the ITT glucose samples), exactly as the eligibility evaluator computes them.

Form names: ``<element>`` for the value, ``<element>_unit`` for the unit chosen from the
element's accepted units, ``<element>_<minute>`` for each ITT glucose sample.

Inclusion 1 (written informed consent) is not a yes/no box: it is the consent record itself
(form version and date signed), because consent must precede every trial procedure, screening
included (ICH E6(R2) 4.8.8), and the services judge it from that record. The live verdict counts
it as given when both are filled in and the consent date is not after the screening date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from trialdesk.catalogue import Catalogue, DataElement, ElementKind
from trialdesk.catalogue.missing import UnknownMissingCode, code_of, describe
from trialdesk.eligibility import CandidateInputError, EligibilityResult, Evaluator
from trialdesk.eligibility.result import CriterionResult
from trialdesk.protocol import Protocol
from trialdesk.protocol.expr import AllOf, AnyOf, Compare, Implies, Not
from trialdesk.protocol.model import CriterionKind

ITT_SAMPLE_MINUTES: tuple[int, ...] = (0, 3, 6, 9, 12, 15)
"""Sampling times of the short ITT after the 0.1 U/kg bolus (Akinmokun et al., Diabet Med
1992;9:432; see `trialdesk.derive.itt`)."""

YES, NO = "yes", "no"
CONSENT_ELEMENT = "informed_consent"
#: Fields recorded with the participant (registration, consent), never coded as missing.
NOT_CODABLE = frozenset({CONSENT_ELEMENT, "date_of_birth", "sex", "screening_date"})
CONSENT_FIELDS = ("consent_form_version", "consent_date")


@dataclass(frozen=True)
class FormField:
    """One data element as a form input."""

    element: DataElement
    # Asked of women only: every criterion reading it does so under "if sex == F" (pregnancy,
    # nursing, pregnancy test), so a male candidate is not offered it.
    female_only: bool = False

    @property
    def name(self) -> str:
        return self.element.name

    @property
    def label(self) -> str:
        return self.element.label

    @property
    def kind(self) -> str:
        return "consent" if self.name == CONSENT_ELEMENT else self.element.kind.value

    @property
    def units(self) -> list[str]:
        return list(self.element.units)

    @property
    def default_unit(self) -> str | None:
        units = self.element.units
        return self.element.canonical_unit or (units[0] if units else None)

    @property
    def choices(self) -> list[str]:
        return list(self.element.choices)

    @property
    def sample_minutes(self) -> tuple[int, ...]:
        return ITT_SAMPLE_MINUTES if self.element.kind is ElementKind.SERIES else ()

    @property
    def codable(self) -> bool:
        """May the screener record this field as missing with a code instead of a value?"""
        return self.name not in NOT_CODABLE

    @property
    def input_names(self) -> list[str]:
        """Every form name this field reads (to keep what was typed on a re-render)."""
        kind = self.element.kind
        if self.name == CONSENT_ELEMENT:
            return list(CONSENT_FIELDS)
        if kind is ElementKind.SERIES:
            return [f"{self.name}_{m}" for m in ITT_SAMPLE_MINUTES] + [f"{self.name}_unit"]
        if kind is ElementKind.QUANTITY:
            return [self.name, f"{self.name}_unit"]
        return [self.name]


@dataclass(frozen=True)
class FieldGroup:
    """The inputs a criterion needs first (a fieldset of the form)."""

    criterion_id: str
    heading: str
    text: str
    fields: tuple[FormField, ...]

    @property
    def female_only(self) -> bool:
        return bool(self.fields) and all(f.female_only for f in self.fields)


SEX_ELEMENT = "sex"


def _is_female(node: Any) -> bool:
    """Does condition `node` hold only for women (``sex == F``, alone or in an ``all``)?"""
    if isinstance(node, Compare):
        return node.element == SEX_ELEMENT and node.op == "==" and node.value == "F"
    if isinstance(node, AllOf):
        return any(_is_female(child) for child in node.all)
    return False


def _walk(node: Any, female: bool, women: set[str], everyone: set[str]) -> None:
    if isinstance(node, Implies):
        _walk(node.if_, female, women, everyone)
        _walk(node.then, female or _is_female(node.if_), women, everyone)
    elif isinstance(node, AllOf | AnyOf):
        for child in node.all if isinstance(node, AllOf) else node.any:
            _walk(child, female, women, everyone)
    elif isinstance(node, Not):
        _walk(node.not_, female, women, everyone)
    elif isinstance(node, Compare):
        (women if female else everyone).add(node.element)


def female_only_elements(protocol: Protocol) -> frozenset[str]:
    """Elements the criteria read only when the candidate is a woman (NCT01142050 I7, I8)."""
    women: set[str] = set()
    everyone: set[str] = set()
    for criterion in protocol.criteria:
        _walk(criterion.expr, False, women, everyone)
    return frozenset(women - everyone)


def raw_elements(element: str, catalogue: Catalogue) -> list[str]:
    """The elements to ask for: `element` itself, or what it is derived from (recursively)."""
    data_element = catalogue[element]
    if not data_element.is_derived:
        return [element]
    names: list[str] = []
    for source in data_element.derived_from:
        names += [n for n in raw_elements(source, catalogue) if n not in names]
    return names


def screening_groups(protocol: Protocol, catalogue: Catalogue) -> list[FieldGroup]:
    """One group per criterion that needs a not-yet-asked input, in protocol order."""
    seen: set[str] = set()
    groups = []
    women = female_only_elements(protocol)
    for criterion in protocol.criteria:
        names: list[str] = []
        for element in criterion.expr.elements():
            names += [n for n in raw_elements(element, catalogue) if n not in seen | set(names)]
        seen |= set(names)
        kind = "Inclusion" if criterion.kind is CriterionKind.INCLUSION else "Exclusion"
        groups.append(
            FieldGroup(
                criterion.id,
                f"{kind} {criterion.number}",
                criterion.text.rstrip(";. "),
                tuple(FormField(catalogue[n], n in women) for n in names),
            )
        )
    return groups


#: Asked at screening though no criterion reads them: race and ethnicity as the participant
#: reports them (optional; CDISC CT RACE C74457, ETHNIC C66790 → SDTM DM.RACE / DM.ETHNIC).
DEMOGRAPHY = ("race", "ethnicity")


def demography_groups(protocol: Protocol, catalogue: Catalogue) -> list[FieldGroup]:
    """The optional demography the screening visit collects (when the protocol's screening
    visit lists it), as one group after the criteria's."""
    screening = protocol.schedule[0].assessments if protocol.schedule else []
    names = [n for n in DEMOGRAPHY if n in catalogue and n in screening]
    if not names:
        return []
    text = "As the participant reports them; optional (Not reported when declined)"
    return [
        FieldGroup("demography", "Demography", text, tuple(FormField(catalogue[n]) for n in names))
    ]


def all_fields(groups: Iterable[FieldGroup]) -> list[FormField]:
    return [f for g in groups for f in g.fields]


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def raw_from_form(form: Mapping[str, Any], fields: Iterable[FormField]) -> dict[str, Any]:
    """The evaluator's raw record from submitted form values (blank = not recorded)."""
    raw: dict[str, Any] = {}
    male = _text(form, SEX_ELEMENT) == "M"
    for f in fields:
        kind = f.element.kind
        if male and f.female_only:
            continue  # not asked of a man: whatever a hidden input still held is not recorded
        if f.name == CONSENT_ELEMENT:
            consent = consent_given(form)
            if consent is not None:
                raw[f.name] = YES if consent else NO
            continue
        if kind is ElementKind.SERIES:
            samples = {
                str(m): _text(form, f"{f.name}_{m}")
                for m in ITT_SAMPLE_MINUTES
                if _text(form, f"{f.name}_{m}")
            }
            if samples:
                raw[f.name] = samples
                raw[f"{f.name}_unit"] = _text(form, f"{f.name}_unit") or f.default_unit
            continue
        value = _text(form, f.name)
        if not value:
            continue
        raw[f.name] = value
        if kind is ElementKind.QUANTITY:
            raw[f"{f.name}_unit"] = _text(form, f"{f.name}_unit") or f.default_unit
    return raw


def coded_from_form(
    form: Mapping[str, Any], fields: Iterable[FormField]
) -> dict[str, tuple[str, str]]:
    """(code, reason) of each field recorded as missing (``<element>_missing`` and
    ``<element>_missing_reason``), as typed; `coded_errors` says what is wrong with them."""
    male = _text(form, SEX_ELEMENT) == "M"
    coded: dict[str, tuple[str, str]] = {}
    for f in fields:
        code = _text(form, f"{f.name}_missing")
        if code and f.codable and not (male and f.female_only):
            coded[f.name] = (code.upper(), _text(form, f"{f.name}_missing_reason"))
    return coded


def coded_errors(coded: Mapping[str, tuple[str, str]], raw: Mapping[str, Any]) -> dict[str, str]:
    """The refusals the services would give, said before saving: a value and a code for one
    field, an unknown code, a code without its reason."""
    errors: dict[str, str] = {}
    for name, (code, reason) in coded.items():
        if name in raw:
            errors[f"{name}_missing"] = "give either a value or a missing-data code, not both"
            continue
        try:
            code_of(code)
        except UnknownMissingCode as exc:
            errors[f"{name}_missing"] = str(exc)
            continue
        if not reason:
            errors[f"{name}_missing_reason"] = "is required: say why there is no value"
    return errors


def coded_reasons(
    coded: Mapping[str, tuple[str, str]], errors: Mapping[str, str]
) -> dict[str, str]:
    """The evaluator's `coded` argument: element → "not done (ND): reason", valid codes only."""
    return {
        name: describe(code, reason)
        for name, (code, reason) in coded.items()
        if f"{name}_missing" not in errors and f"{name}_missing_reason" not in errors
    }


def _iso(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def consent_given(form: Mapping[str, Any]) -> bool | None:
    """True when the consent record is complete and dated on or before the screening date;
    None while it is incomplete (the criterion is then "missing")."""
    version, signed = _text(form, "consent_form_version"), _iso(_text(form, "consent_date"))
    if not version or signed is None:
        return None
    screened = _iso(_text(form, "screening_date"))
    return screened is None or signed <= screened


def consent_errors(form: Mapping[str, Any]) -> dict[str, str]:
    """Reasons to refuse what was typed in the consent fields (a half-filled record is fine
    while typing; an unreadable or late date is not)."""
    errors: dict[str, str] = {}
    text = _text(form, "consent_date")
    signed = _iso(text)
    if text and signed is None:
        errors["consent_date"] = f"{text!r} is not a date (YYYY-MM-DD)"
    screened = _iso(_text(form, "screening_date"))
    if signed and screened and signed > screened:
        errors["consent_date"] = (
            f"consent signed on {signed.isoformat()}, after the screening date "
            f"{screened.isoformat()}: consent must come before any screening procedure "
            "(ICH E6(R2) 4.8.8)"
        )
    return errors


@dataclass
class LiveEvaluation:
    """The verdict on what has been entered so far, and the reason for each rejected field.

    A rejected value counts as not recorded, so every other criterion is still judged while
    the screener corrects it.
    """

    result: EligibilityResult
    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)  # soft limits: saved with a query

    @property
    def status(self) -> str:
        return "invalid" if self.errors else self.result.status.value


def evaluate_form(
    evaluator: Evaluator,
    raw: Mapping[str, Any],
    candidate_id: str = "candidate",
    screening_date: date | None = None,
    coded: Mapping[str, str] | None = None,
) -> LiveEvaluation:
    try:
        return LiveEvaluation(evaluator.evaluate(raw, candidate_id, screening_date, coded))
    except CandidateInputError as exc:
        errors = {e.field: e.reason for e in exc.errors}
    kept = {k: v for k, v in raw.items() if k.removesuffix("_unit") not in errors}
    try:
        result = evaluator.evaluate(kept, candidate_id, screening_date, coded)
    except CandidateInputError as exc:  # defensive: a field refused only in combination
        errors.update({e.field: e.reason for e in exc.errors})
        result = evaluator.evaluate({}, candidate_id, screening_date, coded)
    return LiveEvaluation(result, errors)


def _verdict(c: CriterionResult) -> str:
    """A criterion's verdict in the words of the live panel (inclusion met / not met,
    exclusion absent / present, or missing)."""
    if c.satisfied is None:
        return "missing"
    if c.criterion.kind is CriterionKind.EXCLUSION:
        return "absent" if c.satisfied else "present"
    return "met" if c.satisfied else "not met"


def verdict_states(result: EligibilityResult) -> str:
    """The verdicts as sent back by the form ("I1=met;I2=missing;…")."""
    return ";".join(f"{c.criterion.id}={_verdict(c)}" for c in result.criteria)


def changed_verdicts(shown: str, result: EligibilityResult) -> list[str]:
    """What a screen reader should hear after an evaluation: only the criteria whose verdict
    differs from the one last shown (WCAG 2.2 SC 4.1.3 status messages, without repeating the
    whole panel on every keystroke)."""
    before = dict(part.split("=", 1) for part in shown.split(";") if "=" in part)
    return [
        f"{c.label}: now {_verdict(c)}."
        for c in result.criteria
        if c.criterion.id in before and before[c.criterion.id] != _verdict(c)
    ]
