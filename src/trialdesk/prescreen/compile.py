"""Compiling the protocol's criterion expression trees to Ibis: one definition for DuckDB,
PostgreSQL and Spark.

A criterion becomes a nullable boolean column: true = met, false = not met, NULL = not
assessable. SQL's AND/OR/NOT on NULL are Kleene's strong three-valued connectives, exactly those
of `trialdesk.eligibility` (all/any/not); ``if A then B`` is ``NOT A OR B`` (when A is false the
criterion does not apply and is met; when A is unknown it is met only if B is).

Quantities are compared as `trialdesk.eligibility` compares them: in the unit the value was
recorded in, the threshold converted to that unit, both rounded half-up to the unit's reporting
decimals (`trialdesk.units.convert.REPORTING_DECIMALS`; WHO 1999 tabulates 7.0 mmol/L as
126 mg/dL), bounds inclusive as written. Rounding is done on scaled integers,
``floor(x·10^d + 0.5 + 1e-9)``, so a value stored as 6.95 (binary 6.9500000000000002) rounds like
the decimal 6.95 that Python's ``Decimal(repr(x))`` sees; the 1e-9 guard is far above double
rounding noise for clinical magnitudes and far below any recorded precision.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import ibis
import ibis.expr.types as ir

from trialdesk.catalogue import ElementKind
from trialdesk.prescreen.mapping import UnitConversion
from trialdesk.prescreen.plan import Plan
from trialdesk.protocol.expr import AllOf, AnyOf, Compare, Implies, Not
from trialdesk.protocol.semantics import resolve_bound
from trialdesk.units.convert import convert, parse_quantity, parse_unit, reporting_decimals

ROUNDING_GUARD = 1e-9
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


class CompileError(ValueError):
    """A criterion the compiler cannot translate: names the criterion element and the reason."""


def _null() -> ir.BooleanValue:
    return ibis.null("boolean")


class CriteriaCompiler:
    """Walks criterion trees over the wide person table built by `prescreen.features`."""

    def __init__(self, plan: Plan, wide: ir.Table) -> None:
        self.plan = plan
        self.wide = wide

    def truth(self, node: Any) -> ir.BooleanValue:
        if isinstance(node, AllOf):
            return _fold(operator.and_, [self.truth(child) for child in node.all])
        if isinstance(node, AnyOf):
            return _fold(operator.or_, [self.truth(child) for child in node.any])
        if isinstance(node, Not):
            return ~self.truth(node.not_)
        if isinstance(node, Implies):
            return ~self.truth(node.if_) | self.truth(node.then)
        if isinstance(node, Compare):
            return self._compare(node)
        raise CompileError(f"unknown expression node {type(node).__name__}")

    def _compare(self, node: Compare) -> ir.BooleanValue:
        element = self.plan.catalogue[node.element]
        if not self.plan.available(node.element):
            return _null()  # not recorded in OMOP: not assessable from EHR
        if element.kind is ElementKind.BOOLEAN:
            return self.wide[node.element] == ibis.literal(bool(node.value))
        if element.kind is ElementKind.CATEGORY:
            column = self.wide[node.element]
            if node.op == "in":
                return column.isin([str(v) for v in node.value or []])  # type: ignore[union-attr]
            return _OPS[node.op](column, ibis.literal(str(node.value)))
        if element.kind is ElementKind.QUANTITY:
            if node.element in self.plan.measured:
                return self._recorded_quantity(node, self.plan.measured[node.element].units)
            return self._fixed_quantity(node, self.wide[node.element], element.canonical_unit)
        raise CompileError(f"{node.element}: a {element.kind.value} cannot be compared")

    def _recorded_quantity(
        self, node: Compare, units: tuple[UnitConversion, ...]
    ) -> ir.BooleanValue:
        value = self.wide[f"{node.element}_value"]
        unit_id = self.wide[f"{node.element}_unit_id"]
        branches = [
            (unit_id == unit.unit_concept_id, self._holds(node, value, unit.unit)) for unit in units
        ]
        return ibis.cases(*branches, else_=_null())

    def _fixed_quantity(self, node: Compare, value: ir.Value, unit: str | None) -> ir.BooleanValue:
        return self._holds(node, value.cast("float64"), unit or "")

    def _holds(self, node: Compare, value: ir.NumericValue, unit: str) -> ir.BooleanValue:
        """The comparison in `unit`, both sides rounded to the unit's reporting decimals."""
        element = self.plan.catalogue[node.element]
        decimals = reporting_decimals(parse_unit(unit, analyte=element.analyte))
        x = _scaled(value, decimals)

        def limit(raw: Any) -> Any:
            return _threshold(resolve_bound(raw, self.plan.protocol), unit, element, decimals)

        if node.op == "between":
            return (x >= limit(node.low)) & (x <= limit(node.high))
        if node.op not in _OPS:
            raise CompileError(f"{node.element}: op {node.op!r} does not apply to a quantity")
        return _OPS[node.op](x, limit(node.value))


def _fold(op: Callable[[Any, Any], Any], parts: list[ir.BooleanValue]) -> ir.BooleanValue:
    result = parts[0]
    for part in parts[1:]:
        result = op(result, part)
    return result


def _scaled(value: ir.NumericValue, decimals: int | None) -> ir.NumericValue:
    if decimals is None:
        return value
    return (value * (10**decimals) + 0.5 + ROUNDING_GUARD).floor()


def _threshold(text: str, unit: str, element: Any, decimals: int | None) -> Any:
    """The bound in `unit`, rounded half-up like the evaluator, as a scaled integer literal."""
    q = parse_quantity(text, analyte=element.analyte, field=element.name)
    magnitude = float(convert(q, unit, analyte=element.analyte, field=element.name).magnitude)
    if decimals is None:
        return ibis.literal(magnitude)
    rounded = Decimal(repr(magnitude)).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    return ibis.literal(int(rounded.scaleb(decimals)))


def threshold_in_unit(text: str, unit: str, element: Any) -> Decimal | float:
    """The rounded bound as the evaluator sees it (for explanations and the hand-written SQL)."""
    decimals = reporting_decimals(parse_unit(unit, analyte=element.analyte))
    q = parse_quantity(text, analyte=element.analyte, field=element.name)
    magnitude = float(convert(q, unit, analyte=element.analyte, field=element.name).magnitude)
    if decimals is None:
        return magnitude
    return Decimal(repr(magnitude)).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
