"""Evaluating a protocol's criteria for one candidate: three-valued (Kleene) and explained.

Numeric thresholds are compared in the unit the value was entered in. The threshold is converted
to that unit and both sides are rounded to the unit's reporting decimals
(`trialdesk.units.convert.REPORTING_DECIMALS`), so 126 mg/dL meets "FPG ≥ 7.0 mmol/L" exactly as
WHO 1999 tabulates it (7.0 mmol/L = 126 mg/dL), and a BMI of 30.04 kg/m² (reported 30.0) meets
"BMI ≤ 30". Boundaries are inclusive as written.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from trialdesk.catalogue import Catalogue, ElementKind
from trialdesk.derive import DerivationError
from trialdesk.eligibility.derived import DERIVATIONS
from trialdesk.eligibility.result import CriterionResult, EligibilityResult, Truth, ValueUsed
from trialdesk.eligibility.values import (
    check_record,
    coerce_record,
    with_implied_diabetes_type,
)
from trialdesk.protocol import Protocol, catalogue_for
from trialdesk.protocol.expr import AllOf, AnyOf, Compare, Implies, Not
from trialdesk.protocol.semantics import resolve_bound
from trialdesk.units.convert import (
    UnitError,
    convert,
    format_unit,
    parse_quantity,
    reporting_decimals,
)

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_SYMBOL = {">=": "≥", "<=": "≤", "!=": "≠", "==": "="}


@dataclass
class _Trace:
    reasons: list[str] = field(default_factory=list)
    values: dict[str, ValueUsed] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def need(self, names: list[str]) -> None:
        self.missing += [n for n in names if n not in self.missing]


class _Resolver:
    """Values by element name, computing derived elements on demand (and remembering why not)."""

    def __init__(
        self,
        catalogue: Catalogue,
        values: Mapping[str, Any],
        coded: Mapping[str, str] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.values = {k: v for k, v in values.items() if not coded or k not in coded}
        self.errors: dict[str, str] = {}
        self.coded = dict(coded or {})

    def get(self, name: str) -> tuple[Any, list[str]]:
        """(value, missing raw elements); value is None when missing or not derivable."""
        if name in self.values:
            return self.values[name], []
        element = self.catalogue[name]
        if not element.is_derived:
            return None, [name]
        missing: list[str] = []
        for source in element.derived_from:
            value, lacking = self.get(source)
            missing += [m for m in lacking if m not in missing]
        if missing or name in self.errors:
            return None, missing
        try:
            self.values[name] = DERIVATIONS[element.derivation or ""](self.values)
        except (DerivationError, UnitError) as exc:
            self.errors[name] = str(exc)
            return None, []
        return self.values[name], []

    def show(self, name: str, value: Any) -> ValueUsed:
        element = self.catalogue[name]
        canonical: Any = value
        canonical_unit = None
        text = str(value)
        if element.kind is ElementKind.QUANTITY:
            canonical_q = convert(value, element.canonical_unit or "", analyte=element.analyte)
            canonical, canonical_unit = (
                round(float(canonical_q.magnitude), 4),
                element.canonical_unit,
            )
            text = _fmt(value)
            if format_unit(value.units) != element.canonical_unit:
                text += f" (= {_fmt(canonical_q)})"
            if element.is_derived:
                sources = ", ".join(
                    self.show(s, self.values[s]).shown for s in element.derived_from
                )
                text += f" from {sources}"
        elif element.kind is ElementKind.DATE:
            text = value.isoformat()
            canonical = text
        elif element.kind is ElementKind.SERIES:
            canonical = None
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        return ValueUsed(name, element.label, f"{element.label}: {text}", canonical, canonical_unit)


def _all_of(truths: list[Truth]) -> Truth:
    """Three-valued AND (Kleene): one NOT_MET decides; otherwise a gap leaves it open."""
    if Truth.NOT_MET in truths:
        return Truth.NOT_MET
    return Truth.NOT_ASSESSABLE if Truth.NOT_ASSESSABLE in truths else Truth.MET


def _any_of(truths: list[Truth]) -> Truth:
    """Three-valued OR (Kleene): one MET decides; otherwise a gap leaves it open."""
    if Truth.MET in truths:
        return Truth.MET
    return Truth.NOT_ASSESSABLE if Truth.NOT_ASSESSABLE in truths else Truth.NOT_MET


def _fmt(q: Any) -> str:
    decimals = reporting_decimals(q.units)
    magnitude = float(q.magnitude)
    number = f"{magnitude:.{decimals}f}" if decimals is not None else f"{magnitude:.4g}"
    return f"{number} {format_unit(q.units)}"


def _round(x: float, decimals: int | None) -> Decimal | float:
    if decimals is None:
        return x
    return Decimal(repr(x)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


class Evaluator:
    """Evaluates one protocol's criteria; reuse it for many candidates."""

    def __init__(self, protocol: Protocol, catalogue: Catalogue | None = None) -> None:
        self.protocol = protocol
        self.catalogue = catalogue or catalogue_for(protocol)

    def evaluate(
        self,
        raw: Mapping[str, Any],
        candidate_id: str = "candidate",
        screening_date: date | None = None,
        coded: Mapping[str, str] | None = None,
    ) -> EligibilityResult:
        """Evaluate raw input (strings or typed values); bad input raises CandidateInputError.

        `coded` names the elements recorded as missing with a code, and why (e.g.
        ``{"hba1c": "not done (ND): haemolysed"}``): they hold no value, so a criterion that
        needs one is not assessable, and its reason quotes the code instead of "not recorded".
        """
        values = coerce_record(self.catalogue, raw)
        if screening_date is not None:
            values.setdefault("screening_date", screening_date)
        check_record(values, date.today())
        return self.evaluate_values(with_implied_diabetes_type(values), candidate_id, coded)

    def evaluate_values(
        self,
        values: Mapping[str, Any],
        candidate_id: str,
        coded: Mapping[str, str] | None = None,
    ) -> EligibilityResult:
        resolver = _Resolver(self.catalogue, values, coded)
        results = []
        for criterion in self.protocol.criteria:
            trace = _Trace()
            truth = self._node(criterion.expr, resolver, trace)
            # Gaps matter only where they leave the criterion undecided.
            missing = trace.missing if truth is Truth.NOT_ASSESSABLE else []
            results.append(
                CriterionResult(
                    criterion, truth, trace.reasons, list(trace.values.values()), missing
                )
            )
        return EligibilityResult(self.protocol.id, candidate_id, results, dict(resolver.coded))

    def _node(self, node: Any, resolver: _Resolver, trace: _Trace) -> Truth:
        if isinstance(node, AllOf):
            return _all_of([self._node(child, resolver, trace) for child in node.all])
        if isinstance(node, AnyOf):
            return _any_of([self._node(child, resolver, trace) for child in node.any])
        if isinstance(node, Not):
            return ~self._node(node.not_, resolver, trace)
        if isinstance(node, Implies):
            return self._implies(node, resolver, trace)
        return self._compare(node, resolver, trace)

    def _implies(self, node: Implies, resolver: _Resolver, trace: _Trace) -> Truth:
        condition_trace = _Trace()
        condition = self._node(node.if_, resolver, condition_trace)
        trace.values.update(condition_trace.values)
        if condition is Truth.NOT_MET:
            trace.reasons.append("does not apply (" + "; ".join(condition_trace.reasons) + ")")
            return Truth.MET
        trace.reasons += condition_trace.reasons
        then = self._node(node.then, resolver, trace)
        if condition is Truth.MET or then is Truth.MET:
            return then
        trace.need(condition_trace.missing)
        return Truth.NOT_ASSESSABLE

    def _not_recorded(self, name: str, missing: list[str], coded: Mapping[str, str]) -> str:
        """Says what is missing by its label, as the form asks for it (never the element's
        internal name): "not recorded", or for a derived value what it needs; a value
        recorded as missing says its code and reason instead ("not done (ND): haemolysed")."""
        if missing == [name]:
            return coded.get(name, "not recorded")
        needed = [
            (self.catalogue[m].label if m in self.catalogue else m)
            + (f" — {coded[m]}" if m in coded else "")
            for m in missing
        ]
        return f"not recorded (needs {', '.join(needed)})"

    def _compare(self, node: Compare, resolver: _Resolver, trace: _Trace) -> Truth:
        element = self.catalogue[node.element]
        value, missing = resolver.get(node.element)
        if value is None:
            if missing:
                trace.need(missing)
                trace.reasons.append(
                    f"{element.label}: {self._not_recorded(node.element, missing, resolver.coded)}"
                )
            else:
                reason = resolver.errors.get(node.element, "not computable")
                trace.reasons.append(f"{element.label}: cannot be derived: {reason}")
            return Truth.NOT_ASSESSABLE
        trace.values[node.element] = resolver.show(node.element, value)
        if element.kind is ElementKind.QUANTITY:
            holds, wanted = self._quantity_holds(node, element.analyte, value)
        elif node.op == "in":
            choices = node.value if isinstance(node.value, list) else [node.value]
            holds, wanted = value in choices, "in {" + ", ".join(map(str, choices)) + "}"
        elif node.op == "is":
            holds, wanted = value is node.value, "= yes" if node.value else "= no"
        else:
            holds = _OPS[node.op](value, node.value)
            wanted = f"{_SYMBOL.get(node.op, node.op)} {node.value}"
        shown = trace.values[node.element].shown
        trace.reasons.append(
            f"{shown}, condition {wanted} → {'holds' if holds else 'does not hold'}"
        )
        return Truth.MET if holds else Truth.NOT_MET

    def _quantity_holds(self, node: Compare, analyte: str | None, value: Any) -> tuple[bool, str]:
        decimals = reporting_decimals(value.units)

        def bound(raw: Any) -> tuple[Decimal | float, str]:
            text = resolve_bound(raw, self.protocol)
            q = parse_quantity(text, analyte=analyte, field=node.element)
            in_unit = convert(q, str(value.units), analyte=analyte, field=node.element)
            shown = _fmt(q)
            if format_unit(q.units) != format_unit(value.units):
                shown += f" (= {_fmt(in_unit)})"
            if isinstance(raw, str) and raw.startswith("$"):
                shown += f" [{raw[1:]}]"
            return _round(float(in_unit.magnitude), decimals), shown

        x = _round(float(value.magnitude), decimals)
        if node.op == "between":
            (low, low_shown), (high, high_shown) = bound(node.low), bound(node.high)
            return low <= x <= high, f"between {low_shown} and {high_shown} inclusive"
        limit, shown = bound(node.value)
        return _OPS[node.op](x, limit), f"{_SYMBOL.get(node.op, node.op)} {shown}"


def evaluate(
    protocol: Protocol,
    raw: Mapping[str, Any],
    candidate_id: str = "candidate",
    screening_date: date | None = None,
) -> EligibilityResult:
    """Evaluate one candidate against `protocol` (see `Evaluator`)."""
    return Evaluator(protocol).evaluate(raw, candidate_id, screening_date)
