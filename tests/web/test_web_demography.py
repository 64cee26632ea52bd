"""Issue #15: the screening page asks for race and ethnicity (optional) in a Demography group
after the criteria's, offers the choices in words, and saves the answers as findings."""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader

from trialdesk.catalogue import default_catalogue
from trialdesk.protocol import builtin_protocol
from trialdesk.web.screening_form import (
    demography_groups,
    raw_from_form,
    screening_groups,
)
from trialdesk.web.screening_save import _findings


def test_race_and_ethnicity_form_one_optional_group_after_the_criteria() -> None:
    protocol, catalogue = builtin_protocol(), default_catalogue()
    (group,) = demography_groups(protocol, catalogue)
    assert group.heading == "Demography"
    assert [f.name for f in group.fields] == ["race", "ethnicity"]
    criteria = {f.name for g in screening_groups(protocol, catalogue) for f in g.fields}
    assert not criteria & {"race", "ethnicity"}  # no criterion reads them


def test_a_protocol_whose_screening_does_not_list_them_gets_no_group() -> None:
    protocol = builtin_protocol()
    first = protocol.schedule[0].model_copy(update={"assessments": ["sex"]})
    other = protocol.model_copy(update={"schedule": [first, *protocol.schedule[1:]]})
    assert demography_groups(other, default_catalogue()) == []


def test_answers_become_findings_and_blank_stays_unrecorded() -> None:
    (group,) = demography_groups(builtin_protocol(), default_catalogue())
    raw = raw_from_form({"race": "asian", "ethnicity": ""}, group.fields)
    assert raw == {"race": "asian"}
    assert _findings(raw) == {"race": "asian"}


def test_choices_are_shown_in_words() -> None:
    from trialdesk import web

    templates = f"{web.__path__[0]}/templates"
    env = Environment(loader=FileSystemLoader(templates), autoescape=True)
    macros = env.get_template("_macros.html").module
    (group,) = demography_groups(builtin_protocol(), default_catalogue())
    html = str(macros.element_field(group.fields[1], {}, {}))
    assert "Not hispanic or latino" in html
    assert ">not_hispanic_or_latino<" not in html
