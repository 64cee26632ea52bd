"""Checks a schema cannot express: every name known to the catalogue, values fit their element."""

from __future__ import annotations

from collections.abc import Iterator

from trialdesk.catalogue import Catalogue, DataElement, ElementKind
from trialdesk.protocol.expr import AllOf, AnyOf, Compare, Implies, Not
from trialdesk.protocol.model import Protocol
from trialdesk.units.convert import UnitError, convert, parse_quantity

Loc = tuple[int | str, ...]
Finding = tuple[Loc, str, str]  # (location, YAML path, message)


def check_semantics(protocol: Protocol, base: Catalogue) -> list[Finding]:
    catalogue = base.extended(protocol.elements)
    findings: list[Finding] = []
    for i, criterion in enumerate(protocol.criteria):
        findings += _check_expr(criterion.expr, ("criteria", i, "expr"), catalogue, protocol)
    findings += _check_schedule(protocol, catalogue)
    findings += _check_outcomes(protocol, catalogue)
    findings += _check_derivations(catalogue)
    return findings


def _check_schedule(protocol: Protocol, catalogue: Catalogue) -> Iterator[Finding]:
    for i, visit in enumerate(protocol.schedule):
        for j, name in enumerate(visit.assessments):
            if name not in catalogue:
                loc: Loc = ("schedule", i, "assessments", j)
                yield (loc, _path(loc), f"unknown data element {name!r}")


def _check_outcomes(protocol: Protocol, catalogue: Catalogue) -> Iterator[Finding]:
    for key in ("primary_outcomes", "secondary_outcomes"):
        for i, outcome in enumerate(getattr(protocol, key)):
            for j, name in enumerate(outcome.elements):
                if name not in catalogue:
                    loc: Loc = (key, i, "elements", j)
                    yield (loc, _path(loc), f"unknown data element {name!r}")


def _check_derivations(catalogue: Catalogue) -> Iterator[Finding]:
    for element in catalogue:
        for source in element.derived_from:
            if source not in catalogue:
                yield ((), f"elements.{element.name}", f"derived from unknown {source!r}")


def _path(loc: Loc) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def resolve_bound(bound: object, protocol: Protocol) -> str:
    """A bound as "number unit" text; "$name" refers to a protocol parameter."""
    if isinstance(bound, str) and bound.startswith("$"):
        parameter = protocol.parameter(bound[1:])
        return f"{parameter.value} {parameter.unit}"
    return str(bound)


def _check_expr(
    node: object, loc: Loc, catalogue: Catalogue, protocol: Protocol
) -> Iterator[Finding]:
    if isinstance(node, AllOf | AnyOf):
        key = "all" if isinstance(node, AllOf) else "any"
        for i, child in enumerate(node.all if isinstance(node, AllOf) else node.any):
            yield from _check_expr(child, (*loc, key, i), catalogue, protocol)
    elif isinstance(node, Not):
        yield from _check_expr(node.not_, (*loc, "not"), catalogue, protocol)
    elif isinstance(node, Implies):
        yield from _check_expr(node.if_, (*loc, "if"), catalogue, protocol)
        yield from _check_expr(node.then, (*loc, "then"), catalogue, protocol)
    elif isinstance(node, Compare):
        if node.element not in catalogue:
            yield (
                (*loc, "element"),
                _path((*loc, "element")),
                f"unknown data element {node.element!r}",
            )
            return
        message = _check_compare(node, catalogue[node.element], protocol)
        if message:
            yield (loc, _path(loc), message)


def _check_compare(node: Compare, element: DataElement, protocol: Protocol) -> str | None:
    kind = element.kind
    if kind is ElementKind.BOOLEAN and node.op not in ("is",):
        return f"{element.name} is a yes/no element: use op 'is'"
    if kind is ElementKind.CATEGORY:
        message = _check_category(node, element)
        if message:
            return message
    if kind in (ElementKind.QUANTITY,):
        message = _check_quantity(node, element, protocol)
        if message:
            return message
    if kind in (ElementKind.DATE, ElementKind.SERIES):
        return f"{element.name} ({kind.value}) cannot be compared directly; use a derived element"
    return None


def _check_category(node: Compare, element: DataElement) -> str | None:
    if node.op not in ("in", "==", "!="):
        return f"{element.name} is a category: use op 'in', '==' or '!='"
    values = node.value if isinstance(node.value, list) else [node.value]
    unknown = [v for v in values if v not in element.choices]
    if unknown:
        choices = ", ".join(element.choices)
        return f"{element.name} has no choice {unknown[0]!r} (choices: {choices})"
    return None


def _check_quantity(node: Compare, element: DataElement, protocol: Protocol) -> str | None:
    if node.op in ("is", "in"):
        return f"{element.name} is a quantity: use a comparison or 'between'"
    bounds = [node.low, node.high] if node.op == "between" else [node.value]
    for bound in bounds:
        message = _check_bound(bound, element, protocol)
        if message:
            return message
    return None


def _check_bound(bound: object, element: DataElement, protocol: Protocol) -> str | None:
    try:
        text = resolve_bound(bound, protocol)
    except KeyError as exc:
        return str(exc.args[0])
    try:
        q = parse_quantity(text, analyte=element.analyte, field=element.name)
        convert(q, element.canonical_unit or "", analyte=element.analyte, field=element.name)
    except UnitError as exc:
        return f"value {bound!r}: {exc}"
    return None
