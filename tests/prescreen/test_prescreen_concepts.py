"""Concept-set files: every shipped set loads, expansion follows concept_ancestor, errors name
the file; the OMOP element map fits the catalogue."""

from __future__ import annotations

import pytest

from trialdesk.prescreen.concepts import ConceptSetError, builtin_concept_sets, parse_concept_set
from trialdesk.prescreen.mapping import affine, builtin_map, check_map, prescreen_protocol
from trialdesk.protocol import builtin_protocol, catalogue_for


def test_shipped_sets_load_with_the_documented_ids() -> None:
    sets = builtin_concept_sets()
    assert {
        "t2dm",
        "insulins",
        "oral_glucose_lowering",
        "pregnancy",
        "hiv",
        "hepatitis_b",
        "hepatitis_c",
        "severe_heart_disease",
        "severe_lung_disease",
        "haematopoietic_dysfunction",
        "liver_dysfunction",
        "kidney_dysfunction",
        "active_infection",
    } <= set(sets)
    assert 21600713 in sets["insulins"].listed_ids
    assert 201826 in sets["t2dm"].listed_ids and 201254 not in sets["t2dm"].listed_ids


def test_expansion_adds_descendants_and_removes_exclusions() -> None:
    t2dm = builtin_concept_sets()["t2dm"]
    tree = {201826: [201826, 2_000_000_001, 201254], 201254: [201254]}
    assert t2dm.expand(tree) == {201826, 2_000_000_001}
    assert t2dm.expand({}) == {201826}  # no vocabulary: only what is listed


def test_bad_concept_set_names_the_file_and_field() -> None:
    with pytest.raises(ConceptSetError, match=r"x.yaml: items.0.concept_id"):
        parse_concept_set(
            "name: x\ntitle: X\ndomain: drug\nitems: [{concept_id: -1, name: n}]", "x.yaml"
        )
    with pytest.raises(ConceptSetError, match="x.yaml: not valid YAML"):
        parse_concept_set("name: [", "x.yaml")


def test_map_fits_catalogue_and_adds_p1() -> None:
    protocol = prescreen_protocol(builtin_protocol())
    assert protocol.criteria[-1].id == "P1"
    check_map(catalogue_for(protocol), builtin_map(), set(builtin_concept_sets()))
    assert prescreen_protocol(protocol).criteria == protocol.criteria  # idempotent


def test_affine_conversions_from_trialdesk_units() -> None:
    assert affine("mg/dL", "mmol/L", "glucose", "g") == pytest.approx((1 / 18.016, 0.0))
    assert affine("mmol/mol", "%", "hba1c", "h") == (0.0915, 2.15)  # Hoelzel 2004
    assert affine("lb", "kg", None, "w") == (0.45359237, 0.0)
