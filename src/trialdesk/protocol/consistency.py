"""Consistency warnings: places where the registry record contradicts itself.

Registry records are free text written by several hands; NCT01142050 names bone-marrow MSC in its
brief summary and umbilical-cord MSC in its detailed description. Such conflicts do not stop a
protocol from loading, but `trialdesk protocol validate` reports them, quoting both sentences.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from trialdesk.protocol.model import Protocol

CELL_SOURCES: dict[str, re.Pattern[str]] = {
    "bone_marrow": re.compile(r"\bbone[\s-]*marrow\b", re.I),
    "umbilical_cord": re.compile(r"\bumbilical[\s-]*cord\b|\bwharton", re.I),
    "adipose": re.compile(r"\badipose\b", re.I),
    "placenta": re.compile(r"\bplacenta", re.I),
    "peripheral_blood": re.compile(r"\bperipheral[\s-]*blood\b", re.I),
}


@dataclass(frozen=True)
class Statement:
    path: str
    sentence: str
    value: str


@dataclass(frozen=True)
class ConsistencyWarning:
    topic: str
    first: Statement
    second: Statement

    def __str__(self) -> str:
        return (
            f"{self.topic}: {self.first.path} says {self.first.value.replace('_', ' ')} "
            f'("{self.first.sentence}") but {self.second.path} says '
            f'{self.second.value.replace("_", " ")} ("{self.second.sentence}")'
        )


def _sentences(text: str) -> Iterator[str]:
    for sentence in re.split(r"(?<=[.;])\s+", " ".join(text.split())):
        if sentence.strip():
            yield sentence.strip()


def _texts(protocol: Protocol) -> Iterator[tuple[str, str]]:
    yield "brief_summary", protocol.brief_summary
    for i, text in enumerate(protocol.detailed_description):
        yield f"detailed_description[{i}]", text
    yield "intervention.description", protocol.intervention.description


def cell_source_statements(protocol: Protocol) -> list[Statement]:
    """Every sentence of the record that names a cell source, with the source it names."""
    found = []
    for path, text in _texts(protocol):
        for sentence in _sentences(text):
            for source, pattern in CELL_SOURCES.items():
                if pattern.search(sentence):
                    found.append(Statement(path, sentence, source))
    return found


def check_consistency(protocol: Protocol) -> list[ConsistencyWarning]:
    """Cell-source contradictions between sentences and against intervention.cell_source."""
    statements = cell_source_statements(protocol)
    warnings: list[ConsistencyWarning] = []
    seen: set[tuple[str, str]] = set()
    for i, first in enumerate(statements):
        for second in statements[i + 1 :]:
            pair = (first.value, second.value)
            if first.value != second.value and pair not in seen:
                seen.add(pair)
                warnings.append(ConsistencyWarning("cell source", first, second))
    declared = protocol.intervention.cell_source
    if declared:
        field = Statement("intervention.cell_source", declared, declared)
        for statement in statements:
            if statement.value != declared and (declared, statement.value) not in seen:
                seen.add((declared, statement.value))
                warnings.append(ConsistencyWarning("cell source", field, statement))
    return warnings
