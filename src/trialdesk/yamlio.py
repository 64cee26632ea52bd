"""YAML as trialdesk reads it: PyYAML's safe loader, in libyaml's C implementation when PyYAML
was built with it (the shipped protocol, catalogue, element map and concept sets load in 15 ms
instead of 130 ms: part of every command's start-up, issue #16). Same documents, same
`yaml.YAMLError` with the line and column of a fault."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """As `yaml.safe_load`: plain data only (no Python objects)."""
    return yaml.load(text, Loader=_LOADER)


def compose(text: str) -> Any:
    """The node tree of `text` (`yaml.Node`, with each node's line and column), or None."""
    return yaml.compose(text, Loader=_LOADER)
