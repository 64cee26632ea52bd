"""Loading protocols from YAML with errors that name the YAML path, the line and the reason."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from trialdesk import yamlio
from trialdesk.catalogue import Catalogue, default_catalogue
from trialdesk.protocol.model import Protocol
from trialdesk.protocol.semantics import check_semantics

BUILTIN_ID = "NCT01142050"


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. criteria[3].expr.all[0].op
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path} (line {self.line})" if self.line else self.path
        return f"{where}: {self.message}"


class ProtocolError(ValueError):
    """A protocol that cannot be used; `problems` lists each error with its YAML path."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


_EXPR_FIELDS = {"expr", "then", "if", "not"}
_TAGS = {"compare", "all", "any", "not", "if"}


def strip_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop pydantic's union tags (they follow an expression field) so loc matches the YAML."""
    out: list[int | str] = []
    expect_tag = False
    for part in loc:
        if expect_tag and part in _TAGS:
            expect_tag = False
            continue
        out.append(part)
        previous = out[-2] if len(out) > 1 else None
        expect_tag = part in _EXPR_FIELDS or (isinstance(part, int) and previous in ("all", "any"))
    return tuple(out)


def format_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's location tuple as a YAML path: ('criteria', 3, 'expr') → criteria[3].expr."""
    out = ""
    for part in strip_tags(loc):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Follow `loc` through the composed YAML tree; the deepest node found gives the line."""
    line = None
    for part in strip_tags(loc):
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if 0 <= part < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def parse_protocol(
    text: str, source: str = "<protocol>", catalogue: Catalogue | None = None
) -> Protocol:
    """Parse and validate protocol YAML; raise ProtocolError listing every problem."""
    try:
        raw: Any = yamlio.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ProtocolError(
            source, [Problem("<document>", f"not valid YAML: {exc}", line)]
        ) from exc
    if not isinstance(raw, dict):
        raise ProtocolError(source, [Problem("<document>", "a protocol is a YAML mapping", 1)])
    try:
        protocol = Protocol.model_validate(raw)
    except ValidationError as exc:
        tree = yamlio.compose(text)  # only to give each problem its line
        problems = [
            Problem(
                format_path(err["loc"]) or "<document>",
                _message(err),
                _line_of(tree, err["loc"]),
            )
            for err in exc.errors()
        ]
        raise ProtocolError(source, problems) from None
    found = check_semantics(protocol, catalogue or default_catalogue())
    if found:
        tree = yamlio.compose(text)
        raise ProtocolError(
            source, [Problem(path, message, _line_of(tree, loc)) for loc, path, message in found]
        )
    return protocol


def _message(err: Any) -> str:
    message = str(err["msg"])
    if err["type"] in {"missing", "extra_forbidden"}:
        return "required field is missing" if err["type"] == "missing" else "unknown field"
    return message.removeprefix("Value error, ")


def load_protocol(path: str | Path) -> Protocol:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ProtocolError(
            str(path), [Problem("<file>", f"cannot read: {exc.strerror}")]
        ) from None
    return parse_protocol(text, str(path))


def builtin_protocol_text(protocol_id: str = BUILTIN_ID) -> str:
    files = resources.files("trialdesk.protocol").joinpath("builtin")
    entry = files.joinpath(f"{protocol_id}.yaml")
    if not entry.is_file():
        raise KeyError(f"no built-in protocol {protocol_id!r}")
    return entry.read_text("utf-8")


@cache
def builtin_protocol(protocol_id: str = BUILTIN_ID) -> Protocol:
    """A protocol shipped with trialdesk (default: NCT01142050)."""
    return parse_protocol(builtin_protocol_text(protocol_id), f"builtin:{protocol_id}")


def catalogue_for(protocol: Protocol) -> Catalogue:
    """The default catalogue extended by the protocol's own data elements."""
    return default_catalogue().extended(protocol.elements)
