"""Errors raised by the analysis package; each names what is wrong and where."""

from __future__ import annotations

from collections.abc import Iterable


class SourceFrameError(ValueError):
    """A source frame does not meet the contract in docs/architecture.md ("Source frames").

    Attributes:
        frame: the frame's name (``screening``, ``subjects``, ``measurements``, ``itt``,
            ``dosing`` or ``adverse_events``).
        column: the offending column, or ``None`` when the problem is the frame's shape.
        reason: what was expected, in words.
        examples: up to five offending values or row keys, to find the record quickly.

    >>> str(SourceFrameError("dosing", "weight_kg", "a number >= 0", ["-3.0"]))
    "dosing.weight_kg: expected a number >= 0 (e.g. '-3.0')"
    """

    def __init__(
        self, frame: str, column: str | None, reason: str, examples: Iterable[object] = ()
    ) -> None:
        self.frame = frame
        self.column = column
        self.reason = reason
        self.examples = [str(e) for e in list(examples)[:5]]
        where = f"{frame}.{column}" if column else frame
        shown = f" (e.g. {', '.join(repr(e) for e in self.examples)})" if self.examples else ""
        super().__init__(f"{where}: expected {reason}{shown}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.frame, self.column, self.reason, self.examples))


class AnalysisError(ValueError):
    """The analysis cannot go on, e.g. no enrolled participant or an unknown outcome name."""
