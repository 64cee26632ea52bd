"""Criterion expressions: small trees over named data elements, written once in the protocol.

The same tree is walked by the per-candidate evaluator (`trialdesk.eligibility`) and compiled to a
query over EHR populations (`trialdesk.prescreen`). In YAML:

    {element: fasting_glucose, op: ">=", value: "7.0 mmol/L"}
    {element: age, op: between, low: "18 year", high: "75 year"}
    {element: informed_consent, op: is, value: true}
    {element: pregnancy_test, op: in, value: [negative]}
    {all: [...]}, {any: [...]}, {not: {...}}
    {if: {...}, then: {...}}      # applies only when the condition holds (else: met)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

Scalar = bool | float | int | str
NUMERIC_OPS = (">=", ">", "<=", "<", "==", "!=")


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    def elements(self) -> Iterator[str]:
        """Names of the data elements this node refers to (depth-first, with repeats)."""
        raise NotImplementedError


class Compare(_Node):
    """Compare an element with a value: numeric ops take "number unit" strings for quantities."""

    element: str
    op: Literal[">=", ">", "<=", "<", "==", "!=", "is", "in", "between"]
    value: Scalar | list[Scalar] | None = None
    low: Scalar | None = None
    high: Scalar | None = None

    @model_validator(mode="after")
    def _operands(self) -> Compare:
        if self.op == "between":
            if self.low is None or self.high is None or self.value is not None:
                raise ValueError("op 'between' takes low and high (inclusive), not value")
        elif self.value is None or self.low is not None or self.high is not None:
            raise ValueError(f"op {self.op!r} takes value, not low/high")
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError("op 'in' takes a list of choices as value")
        if self.op == "is" and not isinstance(self.value, bool):
            raise ValueError("op 'is' takes true or false")
        return self

    def elements(self) -> Iterator[str]:
        yield self.element


class AllOf(_Node):
    all: list[Expr] = Field(min_length=1)

    def elements(self) -> Iterator[str]:
        for child in self.all:
            yield from child.elements()


class AnyOf(_Node):
    any: list[Expr] = Field(min_length=1)

    def elements(self) -> Iterator[str]:
        for child in self.any:
            yield from child.elements()


class Not(_Node):
    not_: Expr = Field(alias="not")

    def elements(self) -> Iterator[str]:
        yield from self.not_.elements()


class Implies(_Node):
    """`then` must hold when `if` holds; when `if` is false the criterion does not apply (met)."""

    if_: Expr = Field(alias="if")
    then: Expr

    def elements(self) -> Iterator[str]:
        yield from self.if_.elements()
        yield from self.then.elements()


def _node_kind(raw: Any) -> str | None:
    if isinstance(raw, _Node):
        return {Compare: "compare", AllOf: "all", AnyOf: "any", Not: "not", Implies: "if"}[
            type(raw)
        ]
    if not isinstance(raw, dict):
        return None
    for key in ("all", "any", "not", "if"):
        if key in raw:
            return key
    return "compare" if "element" in raw else None


Expr = Annotated[
    Annotated[Compare, Tag("compare")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Not, Tag("not")]
    | Annotated[Implies, Tag("if")],
    Discriminator(
        _node_kind,
        custom_error_type="invalid_expression",
        custom_error_message=(
            "an expression is {element, op, value}, {all: [...]}, {any: [...]}, {not: ...}"
            " or {if: ..., then: ...}"
        ),
    ),
]

for _model in (AllOf, AnyOf, Not, Implies):
    _model.model_rebuild()
