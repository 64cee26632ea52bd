"""REDCap: the protocol as a longitudinal data dictionary, records in the flat export shape, and
imports that reject bad or foreign files as a whole, row by row."""

from __future__ import annotations

import csv
import io

import pytest
from export_samples import design, records

from trialdesk.export.errors import ImportRejected
from trialdesk.export.redcap.columns import DICTIONARY_HEADER
from trialdesk.export.redcap.dictionary import RedcapProject, redcap_project
from trialdesk.export.redcap.read_dictionary import (
    DictionaryImport,
    RedcapProjectFiles,
    read_redcap_project,
)
from trialdesk.export.redcap.records import read_records, write_records


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _import(project: RedcapProject, **overrides: str) -> DictionaryImport:
    texts = {
        "instruments": project.instruments,
        "events": project.events,
        "mapping": project.mapping,
        "repeating": project.repeating,
    }
    texts.update(overrides)
    d = design()
    files = RedcapProjectFiles(texts.pop("dictionary", project.dictionary), **texts)
    return read_redcap_project(files, study_id=d.study_id, title=d.title)


def test_dictionary_has_redcaps_18_columns_in_order_and_record_id_first() -> None:
    text = redcap_project(design()).dictionary
    header = next(csv.reader(io.StringIO(text)))
    assert header == list(DICTIONARY_HEADER)
    assert len(header) == 18
    first = _rows(text)[0]
    assert (first["Variable / Field Name"], first["Field Type"]) == ("record_id", "text")
    assert first["Form Name"] == "consent"


def test_dictionary_fields_carry_validation_limits_units_and_choices() -> None:
    by_name = {r["Variable / Field Name"]: r for r in _rows(redcap_project(design()).dictionary)}
    glucose = by_name["fasting_glucose"]
    assert glucose["Text Validation Type OR Show Slider Number"] == "number"
    assert (glucose["Text Validation Min"], glucose["Text Validation Max"]) == ("0.5", "60")
    assert glucose["Field Note"] == "Unit: mmol/L; query below 2.8; query above 33.3"
    assert "loinc=1558-6" in glucose["Field Annotation"]
    assert by_name["sex"]["Choices, Calculations, OR Slider Labels"] == "F, Female | M, Male"
    assert by_name["informed_consent"]["Field Type"] == "yesno"
    assert by_name["date_of_birth"]["Identifier?"] == "y"
    assert by_name["consent_date"]["Text Validation Type OR Show Slider Number"] == "date_ymd"
    assert by_name["ae_seriousness"]["Field Type"] == "checkbox"
    assert by_name["ae_seriousness"]["Branching Logic (Show field only if...)"] == (
        "[ae_serious] = '1'"
    )


def test_calculated_fields_use_redcap_syntax_and_cross_event_height() -> None:
    by_name = {r["Variable / Field Name"]: r for r in _rows(redcap_project(design()).dictionary)}
    bmi = by_name["bmi"]
    assert bmi["Field Type"] == "calc"
    assert bmi["Choices, Calculations, OR Slider Labels"] == (
        "round([weight] / (([scr_arm_1][height] / 100) ^ 2), 1)"
    )
    assert by_name["homa_ir"]["Choices, Calculations, OR Slider Labels"] == (
        "round([fasting_glucose] * [fasting_insulin] / 22.5, 2)"
    )
    # KITT is a log-linear regression REDCap cannot compute: read-only, filled by trialdesk.
    assert by_name["kitt"]["Field Type"] == "text"
    assert by_name["kitt"]["Field Annotation"].startswith("@READONLY")


def test_forms_are_contiguous_and_every_form_is_designated_to_its_visits() -> None:
    project = redcap_project(design())
    forms = [r["Form Name"] for r in _rows(project.dictionary)]
    runs = [f for i, f in enumerate(forms) if i == 0 or forms[i - 1] != f]
    assert len(runs) == len(set(runs))
    events = {r["unique_event_name"]: r for r in _rows(project.events)}
    assert list(events) == [
        "scr_arm_1",
        "bl_arm_1",
        "tx_arm_1",
        "m1_arm_1",
        "m3_arm_1",
        "m6_arm_1",
        "m9_arm_1",
        "m12_arm_1",
        "unscheduled_arm_1",
    ]
    assert events["m12_arm_1"]["day_offset"] == "372"
    assert events["m12_arm_1"]["custom_event_label"] == "Month 12"
    mapping = {(r["unique_event_name"], r["form"]) for r in _rows(project.mapping)}
    assert ("tx_arm_1", "transplantation") in mapping
    assert ("bl_arm_1", "consent") not in mapping
    repeating = {(r["event_name"], r["form_name"]) for r in _rows(project.repeating)}
    assert ("m6_arm_1", "adverse_events") in repeating
    assert ("unscheduled_arm_1", "") in repeating  # the whole unscheduled event repeats


def test_dictionary_round_trip_rebuilds_the_same_design() -> None:
    original = design()
    result = _import(redcap_project(original))
    assert result.warnings == []
    assert result.design == original


def test_records_round_trip_without_loss() -> None:
    d = design()
    text = write_records(d, records())
    back = read_records(d, text)
    assert sorted(back, key=lambda r: r.key) == sorted(records(), key=lambda r: r.key)
    assert write_records(d, back) == text


def test_records_export_shape_matches_redcap_flat_csv() -> None:
    rows = _rows(write_records(design(), records()))
    header = list(rows[0])
    assert header[:4] == [
        "record_id",
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
    ]
    assert "ae_seriousness___hospitalisation" in header
    assert header.index("consent_complete") == header.index("consent_version") + 1
    sae = next(r for r in rows if r["redcap_repeat_instance"] == "2")
    assert sae["redcap_repeat_instrument"] == "adverse_events"
    assert sae["redcap_event_name"] == "tx_arm_1"
    assert (sae["ae_seriousness___life_threatening"], sae["ae_seriousness___death"]) == ("1", "0")
    scr = next(
        r for r in rows if r["record_id"] == "APGH-001" and r["redcap_event_name"] == "scr_arm_1"
    )
    assert (scr["informed_consent"], scr["date_of_birth"], scr["sex"]) == ("1", "1961-05-17", "F")


def test_bad_records_are_rejected_row_by_row_and_nothing_is_returned() -> None:
    d = design()
    text = write_records(d, records())
    lines = text.splitlines()
    header = lines[0].split(",")
    bad = []
    for line in lines[1:]:
        cells = next(csv.reader([line]))
        row = dict(zip(header, cells, strict=True))
        if row["record_id"] == "APGH-002" and row["redcap_event_name"] == "bl_arm_1":
            row["hba1c"] = "85"  # above the hard limit 25 %
            row["weight"] = "eighty"
        if row["record_id"] == "APGH-001" and row["redcap_event_name"] == "scr_arm_1":
            row["sex"] = "X"
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow([row[h] for h in header])
        bad.append(buffer.getvalue())
    with pytest.raises(ImportRejected) as caught:
        read_records(d, "\n".join([lines[0], *bad]))
    problems = {(p.field, p.reason) for p in caught.value.problems}
    assert ("hba1c", "85 % is above the highest possible value 25 %") in problems
    assert ("weight", "'eighty' is not a number") in problems
    assert ("sex", "'X' is not one of the codes F, M") in problems
    assert all(isinstance(p.row, int) and p.row >= 2 for p in caught.value.problems)
    assert "nothing was imported" in str(caught.value)


def test_records_with_unknown_columns_events_or_misplaced_forms_are_rejected() -> None:
    d = design()
    text = (
        "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,"
        "blood_type,hba1c,consent_date\n"
        "P1,bl_arm_1,,,A,8.1,\n"
    )
    with pytest.raises(ImportRejected) as caught:
        read_records(d, text)
    assert [(p.row, p.field) for p in caught.value.problems] == [(1, "blood_type")]
    text = (
        "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,"
        "hba1c,consent_date\n"
        "P1,week_2_arm_1,,,8.1,\n"
        "P1,bl_arm_1,,,,2011-01-01\n"
        "P1,bl_arm_1,adverse_events,0,,\n"
    )
    with pytest.raises(ImportRejected) as caught:
        read_records(d, text)
    reasons = [str(p) for p in caught.value.problems]
    assert reasons == [
        "row 2, redcap_event_name: unknown event 'week_2_arm_1'",
        "row 3, consent_date: form consent is not collected at event bl_arm_1",
        "row 4, redcap_repeat_instance: '0' is not a repeat instance (1, 2, …)",
    ]


def _edit_dictionary(text: str, edits: dict[tuple[str, str], str]) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    for row in rows[1:]:
        for (field, column), value in edits.items():
            if row[0] == field:
                row[header.index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def test_bad_dictionary_is_rejected_with_every_problem_named() -> None:
    project = redcap_project(design())
    text = _edit_dictionary(
        project.dictionary,
        {
            ("hba1c", "Field Type"): "likert",
            ("sex", "Choices, Calculations, OR Slider Labels"): "",
            ("weight", "Text Validation Min"): "light",
            ("lb_date", "Form Name"): "consent",  # consent resumes after other forms
            ("ae_term", "Variable / Field Name"): "Adverse Term",
        },
    )
    with pytest.raises(ImportRejected) as caught:
        _import(project, dictionary=text)
    found = {(p.field, p.reason.split(" (")[0]) for p in caught.value.problems}
    assert ("Field Type", "'likert' is not a REDCap field type") in found
    assert ("Choices, Calculations, OR Slider Labels", "a radio field needs choices") in found
    assert ("Text Validation Min", "'light' is not a number") in found
    assert (
        "Form Name",
        "form 'consent' resumes after other forms; REDCap forms are contiguous",
    ) in found
    assert ("Variable / Field Name", "'Adverse Term' is not a REDCap field name") in found


def test_foreign_dictionary_imports_with_warnings_and_unlinked_incompatible_fields() -> None:
    header = ",".join(f'"{h}"' for h in DICTIONARY_HEADER)
    text = "\n".join(
        [
            header,
            "study_id,enrolment,,text,Study ID,,,,,,,,,,,,,",
            "intro,enrolment,,descriptive,Please fill in,,,,,,,,,,,,,",
            'sex,enrolment,Demography,radio,Sex,"1, Male | 2, Female",,,,,,,,,,,,',
            "hba1c,enrolment,,text,HbA1c,,,number,3,25,,,,,,,,",
            "glucose,enrolment,,text,Glucose,,Unit: mg/dL,number,,,,\"[sex] = '2' or [sex] = '1'\""
            ",,,,,,",
        ]
    )
    result = read_redcap_project(RedcapProjectFiles(text))
    design_ = result.design
    assert result.record_id_field == "study_id"
    assert [i.name for i in design_.forms[0].items] == ["sex", "hba1c", "glucose"]
    assert design_.item("sex").element is None  # codes 1/2 are not the catalogue's F/M
    assert design_.item("hba1c").element is None  # no unit stated
    assert design_.events[0].code == "ALL"
    warned = " ".join(str(w) for w in result.warnings)
    assert "descriptive field 'intro' holds no data" in warned
    assert "codes 1, 2 are not among F, M" in warned
    assert "is more than one equality test" in warned


def test_wrong_header_is_rejected() -> None:
    with pytest.raises(ImportRejected) as caught:
        read_redcap_project(RedcapProjectFiles("name,form,type\nx,f,text\n"))
    assert caught.value.problems[0].row == 1
    assert "the header is not REDCap's 18 columns" in caught.value.problems[0].reason


def test_api_metadata_keys_are_accepted_as_header() -> None:
    from trialdesk.export.redcap.columns import API_KEYS

    project = redcap_project(design())
    text = ",".join(API_KEYS) + "\n" + project.dictionary.split("\n", 1)[1]
    assert _import(project, dictionary=text).design == design()
