"""`trialdesk.yamlio`: libyaml's safe loader where PyYAML has it, the same data as PyYAML's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trialdesk import yamlio

SHIPPED = sorted((Path(__file__).parents[1] / "src" / "trialdesk").rglob("*.yaml"))


def test_the_c_loader_is_used_where_pyyaml_has_it() -> None:
    assert yaml.__with_libyaml__, "PyYAML was installed without libyaml"
    assert yamlio._LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_file_reads_as_pyyaml_reads_it(path: Path) -> None:
    text = path.read_text("utf-8")
    assert yamlio.safe_load(text) == yaml.safe_load(text)


def test_python_objects_are_refused_and_a_fault_names_its_line() -> None:
    with pytest.raises(yaml.YAMLError):
        yamlio.safe_load("!!python/object/apply:os.system ['true']")
    with pytest.raises(yaml.YAMLError, match="line 3"):
        yamlio.safe_load("a: 1\nb: [2\nc: 3\n")


def test_the_composed_tree_gives_lines_as_pyyaml_does() -> None:
    text = "a: 1\nb:\n  - x\n  - y\n"
    ours, theirs = yamlio.compose(text), yaml.compose(text)
    assert [(k.value, v.start_mark.line) for k, v in ours.value] == [
        (k.value, v.start_mark.line) for k, v in theirs.value
    ]
