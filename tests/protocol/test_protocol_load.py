"""Loading protocols: the built-in record in full, a second protocol, and errors with YAML paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from trialdesk.protocol import (
    AssessedAt,
    CriterionKind,
    ProtocolError,
    builtin_protocol,
    catalogue_for,
    load_protocol,
    parse_protocol,
)
from trialdesk.protocol.consistency import check_consistency
from trialdesk.protocol.load import builtin_protocol_text

DATA = Path(__file__).parent / "data"
# The ClinicalTrials.gov record as kept in the repository (docs/registry/README.md says whence).
RECORD = Path(__file__).parents[2] / "docs" / "registry" / "NCT01142050.txt"


def test_builtin_carries_every_field_of_the_registry_record() -> None:
    p = builtin_protocol()
    assert (p.id, p.registry.id) == ("NCT01142050", "NCT01142050")
    assert p.title == "Stem Cell Therapy for Type 2 Diabetes Mellitus"
    assert p.phase == "PHASE1"
    assert p.sponsor == "Cellonis Biotechnology Co. Ltd."
    assert p.status == "UNKNOWN"
    assert p.sex == "ALL"
    assert p.target_enrollment == 24
    assert p.study_type == "INTERVENTIONAL"
    assert p.design.intervention_model == "SINGLE_GROUP" and len(p.design.arms) == 1
    assert p.conditions == ["Type 2 Diabetes Mellitus"]
    assert (p.sites[0].name, p.sites[0].city) == ("Armed Police General Hospital", "Beijing")
    assert "Bone Marrow Mesenchymal Stem Cells" in p.brief_summary
    assert all("umbilical cord" in d for d in p.detailed_description)
    assert p.intervention.cell_source == "umbilical_cord"
    assert len(p.inclusion) == 9 and len(p.exclusion) == 4
    assert [c.number for c in p.inclusion] == list(range(1, 10))
    assert len(p.primary_outcomes) == 6 and len(p.secondary_outcomes) == 1
    assert {o.time_frame for o in p.primary_outcomes + p.secondary_outcomes} == {"one year"}
    assert p.secondary_outcomes[0].source == "adverse_events"


def test_criterion_texts_are_verbatim_from_the_record() -> None:
    record = " ".join(RECORD.read_text("utf-8").split())
    for criterion in builtin_protocol().criteria:
        assert " ".join(criterion.text.split()) in record, criterion.id


def test_schedule_runs_from_baseline_to_twelve_months() -> None:
    p = builtin_protocol()
    codes = [v.code for v in p.schedule]
    assert codes[:3] == ["SCR", "BL", "TX"] and codes[-1] == "M12"
    assert p.visit("BL").day == 0
    m12 = p.visit("M12")
    assert m12.earliest_day <= 365 <= m12.latest_day
    assert "itt_glucose" in p.visit("BL").assessments and "hba1c" in m12.assessments
    assert "transplantation" in p.visit("TX").forms


def test_visit_only_criteria_are_marked() -> None:
    at_visit = {c.id for c in builtin_protocol().criteria if c.assessed_at is AssessedAt.VISIT}
    assert {"I1", "I6", "I9"} <= at_visit and "I2" not in at_visit


def test_second_protocol_in_the_same_format(tmp_path: Path) -> None:
    p = load_protocol(DATA / "mini_protocol.yaml")
    assert p.id == "TEST-HTN-01" and len(p.design.arms) == 2
    assert "systolic_bp" in catalogue_for(p)
    assert [c.kind for c in p.criteria] == [CriterionKind.INCLUSION] * 2 + [CriterionKind.EXCLUSION]
    assert check_consistency(p) == []  # one source mentioned, no conflict


def _broken(old: str, new: str) -> ProtocolError:
    text = builtin_protocol_text()
    assert old in text
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text.replace(old, new, 1), "broken.yaml")
    return info.value


@pytest.mark.parametrize(
    ("old", "new", "path", "reason"),
    [
        ("target_enrollment: 24", "target_enrollment: 0", "target_enrollment", "greater than 0"),
        ("target_enrollment: 24", "target_enrollment: lots", "target_enrollment", "integer"),
        (
            "op: between, low: 18 year",
            "op: betwixt, low: 18 year",
            "criteria[2].expr.op",
            "between",
        ),
        ("value: 7 %}", "value: 7 mmol/L}", "criteria[4].expr.all[1]", "cannot convert"),
        (
            "element: unexplained_fever",
            "element: unexplaned_fever",
            "criteria[11].expr.element",
            "unknown data element 'unexplaned_fever'",
        ),
        ("$kitt_insulin_resistance_cutoff", "$kitt_cutoff", "criteria[5].expr", "no parameter"),
        ("sex: ALL", "sex: BOTH", "sex", "pattern"),
        (
            "  - code: BL\n    name: Baseline\n    day: 0",
            "  - code: BL\n    name: Baseline\n    day: 900",
            "<document>",
            "in order of their day",
        ),
        (
            "kind: exclusion\n    number: 2",
            "kind: exclusionary\n    number: 2",
            "criteria[10].kind",
            "inclusion",
        ),
        (
            "      then: {element: pregnancy_test, op: in, value: [negative]}",
            "      then: {element: pregnancy_test, op: in, value: [neg]}",
            "criteria[7].expr.then",
            "no choice 'neg'",
        ),
        (
            "    expr: {element: informed_consent, op: is, value: true}",
            "    expr: {element: informed_consent, op: '>=', value: true}",
            "criteria[0].expr",
            "yes/no element",
        ),
        (
            "    expr: {element: informed_consent, op: is, value: true}",
            "    expr: {elements: informed_consent}",
            "criteria[0].expr",
            "an expression is",
        ),
    ],
)
def test_errors_name_the_yaml_path_and_reason(old: str, new: str, path: str, reason: str) -> None:
    error = _broken(old, new)
    matching = [p for p in error.problems if p.path == path]
    assert matching, [str(p) for p in error.problems]
    assert reason in matching[0].message
    assert str(error).startswith("broken.yaml:")


def test_errors_carry_the_yaml_line() -> None:
    error = _broken("target_enrollment: 24", "target_enrollment: -1")
    text = builtin_protocol_text()
    line = text.splitlines().index("target_enrollment: 24") + 1
    assert error.problems[0].line == line
    assert f"(line {line})" in str(error)


def test_unparseable_yaml_and_non_mapping() -> None:
    with pytest.raises(ProtocolError, match="not valid YAML"):
        parse_protocol("id: [unclosed", "x.yaml")
    with pytest.raises(ProtocolError, match="a protocol is a YAML mapping"):
        parse_protocol("- just a list", "x.yaml")


def test_missing_file() -> None:
    with pytest.raises(ProtocolError, match="cannot read"):
        load_protocol("/nonexistent/protocol.yaml")


def test_single_group_design_must_have_one_arm() -> None:
    error = _broken(
        "  arms:\n    - code: MSC",
        "  arms:\n    - code: CTRL\n      name: Control\n    - code: MSC",
    )
    assert any("exactly one arm" in p.message for p in error.problems)


def test_cell_source_contradiction_is_reported_with_both_sentences() -> None:
    warnings = check_consistency(builtin_protocol())
    text = " ".join(str(w) for w in warnings)
    assert "brief_summary says bone marrow" in text
    assert "detailed_description[0] says umbilical cord" in text
    assert "with Bone Marrow Mesenchymal Stem Cells." in text
    assert "using umbilical cord mesenchymal stem cells" in text


def test_version_and_consent_form_fields_are_optional_and_checked() -> None:
    text = builtin_protocol_text()
    plain = parse_protocol(text)
    assert plain.version is None and plain.consent_form_version is None
    labelled = parse_protocol(text + 'version: "2.1"\nconsent_form_version: ICF 3.0\n')
    assert (labelled.version, labelled.consent_form_version) == ("2.1", "ICF 3.0")
    with pytest.raises(ProtocolError) as bad:
        parse_protocol(text + 'version: "two point one"\n')
    assert bad.value.problems[0].path == "version"
