"""Hypothesis on the readers of foreign files: mutated and random protocol YAML, ODM XML and
REDCap CSV. A reader either accepts the input or refuses it with its documented error
(`ProtocolError`, `ImportRejected`) naming the problem; never any other exception.

Mutations start from valid documents (the built-in protocol and the files trialdesk writes for
it), so most inputs are almost right, which is where readers break. The number of examples per
test scales with ``TRIALDESK_FUZZ_EXAMPLES`` (``make fuzz``).
"""

from __future__ import annotations

import copy
import csv
import io
import os
from functools import cache
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from trialdesk.catalogue import default_catalogue
from trialdesk.export.crf import StudyDesign, design_from_protocol
from trialdesk.export.errors import ImportRejected
from trialdesk.export.odm.read import read_odm
from trialdesk.export.odm.write import odm_document, to_bytes
from trialdesk.export.redcap.dictionary import redcap_project
from trialdesk.export.redcap.read_dictionary import RedcapProjectFiles, read_redcap_project
from trialdesk.export.redcap.records import read_records, record_columns
from trialdesk.protocol import builtin_protocol
from trialdesk.protocol.load import ProtocolError, builtin_protocol_text, parse_protocol

EXAMPLES = max(15, int(os.environ.get("TRIALDESK_FUZZ_EXAMPLES", "200")) // 20)
# `make test` replays the same small set of cases on every run (a red build means a regression,
# not bad luck); `make fuzz` (TRIALDESK_FUZZ_EXAMPLES set) explores new ones each time.
EXPLORE = "TRIALDESK_FUZZ_EXAMPLES" in os.environ
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not EXPLORE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "$", "$nope", "7.0 mmol/L", "7 furlongs", ">=", "between", "all"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@cache
def _design() -> StudyDesign:
    return design_from_protocol(builtin_protocol())


@cache
def _protocol_tree() -> Any:
    return yaml.safe_load(builtin_protocol_text())


def _mutate_tree(data: st.DataObject, tree: Any) -> Any:
    """Walk down a random path of `tree` and replace, delete or duplicate what is there."""
    tree = copy.deepcopy(tree)
    parent: Any = None
    key: Any = None
    node = tree
    while isinstance(node, dict | list) and node and data.draw(st.integers(0, 3)) > 0:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        parent, key = node, data.draw(st.sampled_from(keys))
        node = node[key]
    action = data.draw(st.sampled_from(["replace", "delete", "duplicate", "rename"]))
    if parent is None:
        return data.draw(values) if action == "replace" else tree
    if action == "replace":
        parent[key] = data.draw(values)
    elif action == "delete":
        del parent[key]
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif action == "rename" and isinstance(parent, dict):
        parent[data.draw(st.text(max_size=12))] = parent.pop(key)
    return tree


def _mutate_text(data: st.DataObject, text: str) -> str:
    """Cut, insert or repeat a random stretch of `text`."""
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 200)))
    action = data.draw(st.sampled_from(["cut", "insert", "repeat", "truncate"]))
    if action == "cut":
        return text[:start] + text[end:]
    if action == "insert":
        return text[:start] + data.draw(st.text(max_size=40)) + text[start:]
    if action == "repeat":
        return text[:end] + text[start:end] + text[end:]
    return text[:start]


def _parse_protocol(text: str) -> None:
    try:
        parse_protocol(text, "fuzzed.yaml", catalogue=default_catalogue())
    except ProtocolError as exc:
        assert exc.problems, "a ProtocolError must list its problems"


@FUZZ
@given(data=st.data())
def test_fuzz_protocol_with_mutated_structure(data: st.DataObject) -> None:
    tree = _protocol_tree()
    for _ in range(data.draw(st.integers(1, 3))):
        tree = _mutate_tree(data, tree)
    _parse_protocol(yaml.safe_dump(tree, allow_unicode=True))


@FUZZ
@given(data=st.data())
def test_fuzz_protocol_with_mutated_text(data: st.DataObject) -> None:
    _parse_protocol(_mutate_text(data, builtin_protocol_text()))


@FUZZ
@given(text=st.one_of(st.text(max_size=300), values.map(lambda v: yaml.safe_dump(v))))
def test_fuzz_protocol_from_arbitrary_text(text: str) -> None:
    _parse_protocol(text)


def _read_odm(content: bytes) -> None:
    try:
        read_odm(content, source="fuzzed.xml")
    except ImportRejected as exc:
        assert exc.problems, "a rejection must list its problems"


@cache
def _odm_bytes() -> bytes:
    return to_bytes(odm_document(_design()))


@FUZZ
@given(data=st.data())
def test_fuzz_odm_with_mutated_elements(data: st.DataObject) -> None:
    root = etree.fromstring(_odm_bytes())
    elements = list(root.iter())
    for _ in range(data.draw(st.integers(1, 3))):
        element = data.draw(st.sampled_from(elements))
        action = data.draw(st.sampled_from(["attribute", "text", "remove", "duplicate"]))
        if action == "attribute" and element.attrib:
            name = data.draw(st.sampled_from(sorted(element.attrib)))
            element.set(
                name,
                data.draw(
                    st.text(
                        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                        max_size=20,
                    )
                ),
            )
        elif action == "text":
            element.text = data.draw(
                st.text(
                    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                    max_size=20,
                )
            )
        elif action == "remove" and element.getparent() is not None:
            element.getparent().remove(element)
        elif action == "duplicate" and element.getparent() is not None:
            element.addnext(copy.deepcopy(element))
    _read_odm(etree.tostring(root))


@FUZZ
@given(data=st.data())
def test_fuzz_odm_with_mutated_bytes(data: st.DataObject) -> None:
    text = _odm_bytes().decode("utf-8")
    _read_odm(_mutate_text(data, text).encode("utf-8", "surrogatepass"))


@FUZZ
@given(content=st.binary(max_size=400))
def test_fuzz_odm_from_arbitrary_bytes(content: bytes) -> None:
    _read_odm(b"<?xml version='1.0'?>" + content)


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@FUZZ
@given(data=st.data())
def test_fuzz_redcap_project_with_mutated_cells(data: st.DataObject) -> None:
    project = redcap_project(_design())
    files = {
        "dictionary": project.dictionary,
        "instruments": project.instruments,
        "events": project.events,
        "mapping": project.mapping,
        "repeating": project.repeating,
    }
    for _ in range(data.draw(st.integers(1, 4))):
        name = data.draw(st.sampled_from(sorted(files)))
        rows = list(csv.reader(io.StringIO(files[name], newline="")))
        if not rows:
            continue
        row = data.draw(st.integers(0, len(rows) - 1))
        action = data.draw(st.sampled_from(["cell", "drop_row", "drop_column", "text"]))
        if action == "cell" and rows[row]:
            column = data.draw(st.integers(0, len(rows[row]) - 1))
            rows[row][column] = data.draw(
                st.one_of(st.text(max_size=30), st.sampled_from(["", "yesno", "1, a | 2", "[x]"]))
            )
        elif action == "drop_row":
            del rows[row]
        elif action == "drop_column" and rows[row]:
            del rows[row][data.draw(st.integers(0, len(rows[row]) - 1))]
        files[name] = _csv(rows) if action != "text" else _mutate_text(data, files[name])
    try:
        read_redcap_project(RedcapProjectFiles(**files))
    except ImportRejected as exc:
        assert exc.problems


@FUZZ
@given(
    rows=st.lists(
        st.lists(
            st.one_of(
                st.text(max_size=12),
                st.sampled_from(["", "1", "0", "2011-03-01", "scr_arm_1", "APGH-001", "7.5"]),
            ),
            min_size=3,
            max_size=12,
        ),
        max_size=4,
    ),
    width=st.integers(0, 87),
)
def test_fuzz_redcap_records(rows: list[list[str]], width: int) -> None:
    design = _design()
    header = record_columns(design)
    cells = [row + [""] * (len(header) - len(row)) if width else row for row in rows]
    try:
        read_records(design, _csv([header[: width or len(header)], *cells]))
    except ImportRejected as exc:
        assert exc.problems
