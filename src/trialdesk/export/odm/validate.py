"""Validation against the official CDISC XML schemas shipped in `trialdesk/export/schemas/`."""

from __future__ import annotations

from functools import cache
from importlib import resources

from lxml import etree

from trialdesk.export.errors import Rejection

_SCHEMAS = {
    "odm": "odm1-3-2/ODM1-3-2.xsd",
    "define": "define2-1/cdisc-definexml-2.1.0/define2-1-0.xsd",
}


@cache
def schema(name: str) -> etree.XMLSchema:
    """The compiled XML schema: "odm" (ODM 1.3.2) or "define" (Define-XML 2.1)."""
    path = resources.files("trialdesk.export").joinpath("schemas", _SCHEMAS[name])
    return etree.XMLSchema(etree.parse(str(path)))


def schema_errors(root: etree._Element | etree._ElementTree, name: str = "odm") -> list[Rejection]:
    """Every schema violation, as line / element / message."""
    compiled = schema(name)
    if compiled.validate(root):
        return []
    return [
        Rejection(f"line {e.line}", e.path or "document", e.message) for e in compiled.error_log
    ]
