"""The one exception type raised by the clinical derivations in `trialdesk.derive`."""

from __future__ import annotations

import numbers
from datetime import date
from typing import Any


def _show(value: object) -> str:
    """Render `value` for an error message: numbers as plain Python numbers, dates as ISO."""
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


class DerivationError(ValueError):
    """An input to a derivation is missing, impossible or outside what the formula accepts.

    Attributes:
        argument: the name of the offending argument, with an index or key when it is one
            element of a sequence or mapping, e.g. ``"glucose[2]"`` or ``"doses['metformin']"``.
        value: the offending value itself (as passed, not a copy converted to text).
        expected: what the derivation expected instead, in words.

    The message reads ``"<argument>=<value>: expected <expected>"``, e.g.
    ``"glucose[2]=-3.0: expected a positive concentration"``.

    >>> err = DerivationError("glucose[2]", -3.0, "a positive concentration")
    >>> str(err)
    'glucose[2]=-3.0: expected a positive concentration'
    >>> isinstance(err, ValueError)
    True
    """

    argument: str
    value: object
    expected: str

    def __init__(self, argument: str, value: object, expected: str) -> None:
        self.argument = argument
        self.value = value
        self.expected = expected
        super().__init__(f"{argument}={_show(value)}: expected {expected}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the exception picklable (e.g. across pytest-xdist or multiprocessing workers).
        return (type(self), (self.argument, self.value, self.expected))
