"""Issue #15: the LOINC code of a result matches the property of the unit it is reported in
(LOINC axis 2: substance concentration [Moles/volume] for mmol/L, pmol/L, nmol/L; mass
concentration [Mass/volume] for mg/dL, ng/mL; HbA1c NGSP % vs IFCC mmol/mol), in SDTM LB
(LBLOINC against LBORRESU) and in FHIR Observation.code against valueQuantity.unit."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from export_samples import sdtm_sources

from trialdesk.catalogue import default_catalogue
from trialdesk.export.fhir.bundle import study_bundle
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.sources import SdtmSources
from trialdesk.protocol import builtin_protocol

MASS = {"1558-6", "1518-0", "1521-4", "1986-9"}


@pytest.mark.parametrize(
    ("element", "unit", "code"),
    [
        ("fasting_glucose", "mmol/L", "14771-0"),  # Fasting glucose [Moles/volume] S/P
        ("fasting_glucose", "mg/dL", "1558-6"),  # Fasting glucose [Mass/volume] S/P
        ("ogtt_2h_glucose", "mmol/L", "14995-5"),
        ("ogtt_2h_glucose", "mg/dL", "1518-0"),
        ("postmeal_glucose", "mg/dL", "1521-4"),
        ("postmeal_glucose", "mmol/L", None),  # no verified molar code: none guessed
        ("hba1c", "%", "4548-4"),
        ("hba1c", "mmol/mol", "59261-8"),
        ("c_peptide", "ng/mL", "1986-9"),
        ("c_peptide", "nmol/L", "42180-0"),  # C peptide [Moles/volume] S/P --fasting
        ("c_peptide", "pmol/L", "42180-0"),
        ("stimulated_c_peptide", "pmol/L", None),
        ("fasting_insulin", "pmol/L", "14796-7"),
    ],
)
def test_each_unit_has_the_code_of_its_property(element: str, unit: str, code: str | None) -> None:
    assert default_catalogue()[element].loinc_for(unit) == code


def _with(rows: list[list[object]]) -> SdtmSources:
    src = sdtm_sources()
    frames = src.frames
    extra = pd.DataFrame(rows, columns=list(frames.measurements.columns))
    measurements = pd.concat([frames.measurements, extra], ignore_index=True)
    return dataclasses.replace(src, frames=dataclasses.replace(frames, measurements=measurements))


def _sources() -> SdtmSources:
    d = pd.Timestamp("2011-03-25")
    return _with(
        [
            ["APGH-001", "BL", 0, d, "c_peptide", 1.2, "ng/mL", "397", "pmol/L"],
            ["APGH-002", "BL", 0, d, "c_peptide", 1.1, "ng/mL", "1.1", "ng/mL"],
            ["APGH-002", "BL", 0, d, "fasting_glucose", 7.2, "mmol/L", "7.2", "mmol/L"],
        ]
    )


def test_lb_loinc_follows_the_unit_as_reported() -> None:
    lb = sdtm_datasets(builtin_protocol(), _sources())["LB"]
    pairs = set(zip(lb["LBORRESU"], lb["LBLOINC"], strict=True))
    assert ("pmol/L", "42180-0") in pairs
    assert ("ug/L", "1986-9") in pairs  # ng/mL as reported: CT submission value ug/L
    assert ("mmol/L", "14771-0") in pairs
    assert ("mg/dL", "1558-6") in pairs
    for unit, code in pairs:
        if unit in ("mmol/L", "pmol/L", "nmol/L", "mmol/mol"):
            assert code not in MASS, (unit, code)
    post = lb[(lb["LBTPT"] == "2H POST MEAL") & (lb["LBORRESU"] == "mmol/L")]
    assert len(post) == 1
    assert all(pd.isna(c) or c == "" for c in post["LBLOINC"])  # no code rather than a mass one


def test_fhir_observation_code_matches_its_quantity_unit() -> None:
    catalogue = default_catalogue()
    bundle = study_bundle(builtin_protocol(), _sources()).model_dump(mode="json")
    checked = 0
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != "Observation" or "valueQuantity" not in resource:
            continue
        code = resource["code"]["coding"][0]["code"]
        unit = resource["valueQuantity"]["unit"]
        owners = [e for e in catalogue if code in e.codes.loinc_by_unit.values()]
        for element in owners:
            assert element.codes.loinc_by_unit.get(unit) == code, (element.name, unit, code)
            checked += 1
    assert checked >= 3
