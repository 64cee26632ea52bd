"""Every NCT01142050 criterion at and around its boundaries, in more than one unit."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from trialdesk.eligibility import CandidateInputError, Evaluator, Status, Truth
from trialdesk.protocol import builtin_protocol, load_protocol, parse_protocol
from trialdesk.protocol.load import builtin_protocol_text

SCREENING = date(2026, 11, 20)
ITT_RESISTANT = {0: 180, 3: 176, 6: 165, 9: 153, 12: 144, 15: 134}  # KITT 2.271 %/min (mg/dL)
ITT_SENSITIVE = {0: 90, 3: 88, 6: 78, 9: 69, 12: 60, 15: 53}  # KITT 4.255 %/min
NO = "no"


def eligible_man(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "informed_consent": "yes",
        "t2dm_diagnosis": "yes",
        "date_of_birth": "1968-04-02",
        "screening_date": SCREENING.isoformat(),
        "sex": "M",
        "weight": 78,
        "weight_unit": "kg",
        "height": 172,
        "height_unit": "cm",
        "fasting_glucose": 9.4,
        "fasting_glucose_unit": "mmol/L",
        "hba1c": 8.6,
        "hba1c_unit": "%",
        "itt_glucose": ITT_RESISTANT,
        "itt_glucose_unit": "mg/dL",
        "fertile": NO,
        **{
            name: NO
            for name in (
                "severe_heart_disease",
                "severe_lung_disease",
                "haematopoietic_dysfunction",
                "liver_dysfunction",
                "kidney_dysfunction",
                "active_infection_requiring_treatment",
                "unexplained_fever",
                "hiv_infection",
                "hepatitis_b_infection",
                "hepatitis_c_infection",
                "other_immunosuppressive_disease",
            )
        },
    }
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def fertile_woman(**changes: Any) -> dict[str, Any]:
    base = {
        "sex": "F",
        "fertile": "yes",
        "pregnant": NO,
        "nursing": NO,
        "pregnancy_test": "negative",
        "effective_contraception": "yes",
    }
    return eligible_man(**{**base, **changes})


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator(builtin_protocol())


def truth(evaluator: Evaluator, criterion: str, record: dict[str, Any]) -> Truth:
    result = evaluator.evaluate(record, "X")
    return next(c for c in result.criteria if c.criterion.id == criterion).truth


MET, NOT, NA = Truth.MET, Truth.NOT_MET, Truth.NOT_ASSESSABLE


def test_reference_candidate_is_eligible(evaluator: Evaluator) -> None:
    result = evaluator.evaluate(eligible_man(), "X")
    assert result.status is Status.ELIGIBLE, result.to_dict()
    assert result.status is evaluator.evaluate(fertile_woman(), "Y").status


@pytest.mark.parametrize(("value", "expected"), [("yes", MET), ("no", NOT), (None, NA)])
def test_i1_consent(evaluator: Evaluator, value: str | None, expected: Truth) -> None:
    assert truth(evaluator, "I1", eligible_man(informed_consent=value)) is expected


@pytest.mark.parametrize(
    ("fpg", "unit", "ogtt", "ogtt_unit", "expected"),
    [
        (7.0, "mmol/L", None, None, MET),
        (6.9, "mmol/L", None, None, NA),  # no diagnosis yet: the OGTT could still establish it
        (6.9, "mmol/L", 10.0, "mmol/L", NOT),
        (126, "mg/dL", None, None, MET),  # WHO tabulates 7.0 mmol/L as 126 mg/dL
        (125, "mg/dL", 199, "mg/dL", NOT),
        (6.0, "mmol/L", 11.1, "mmol/L", MET),
        (6.0, "mmol/L", 11.0, "mmol/L", NOT),
        (6.0, "mmol/L", 200, "mg/dL", MET),
        (6.0, "mmol/L", 199, "mg/dL", NOT),
        (None, None, None, None, NA),
    ],
)
def test_i2_who_1999_without_recorded_diagnosis(
    evaluator: Evaluator,
    fpg: float | None,
    unit: str | None,
    ogtt: float | None,
    ogtt_unit: str | None,
    *,
    expected: Truth,
) -> None:
    record = eligible_man(
        t2dm_diagnosis="no",
        diabetes_type="unknown",  # glucose establishes diabetes, not its type
        fasting_glucose=fpg,
        fasting_glucose_unit=unit,
        ogtt_2h_glucose=ogtt,
        ogtt_2h_glucose_unit=ogtt_unit,
    )
    assert truth(evaluator, "I2", record) is expected


def test_i2_recorded_diagnosis_suffices(evaluator: Evaluator) -> None:
    record = eligible_man(fasting_glucose=None, fasting_glucose_unit=None)
    assert truth(evaluator, "I2", record) is MET


@pytest.mark.parametrize(
    ("diabetes_type", "expected"),
    [
        ("type_1", NOT),  # issue #16: FPG 9.4 mmol/L no longer makes a type 1 patient pass
        ("other_specified", NOT),
        ("type_2", MET),
        ("unknown", MET),
        (None, NA),  # diabetes by glucose, type not recorded: the site must record it
    ],
)
def test_i2_glucose_establishes_diabetes_the_type_must_not_be_another(
    evaluator: Evaluator, diabetes_type: str | None, expected: Truth
) -> None:
    record = eligible_man(t2dm_diagnosis="no", diabetes_type=diabetes_type)
    assert truth(evaluator, "I2", record) is expected
    if expected is NOT:
        result = evaluator.evaluate(record, "T1", SCREENING)
        assert result.status is Status.INELIGIBLE
        assert "Type of diabetes: " + str(diabetes_type) in " ".join(
            next(c for c in result.criteria if c.criterion.id == "I2").reasons
        )


def test_diabetes_type_may_be_typed_with_spaces(evaluator: Evaluator) -> None:
    result = evaluator.evaluate(eligible_man(t2dm_diagnosis="no", diabetes_type="Type 1"))
    i2 = next(c for c in result.criteria if c.criterion.id == "I2")
    assert i2.truth is NOT and "Type of diabetes: type_1" in " ".join(i2.reasons)


def test_i2_type_2_diagnosis_contradicting_another_type_is_an_input_error(
    evaluator: Evaluator,
) -> None:
    with pytest.raises(CandidateInputError) as caught:
        evaluator.evaluate(eligible_man(diabetes_type="type_1"), "T", SCREENING)
    [error] = caught.value.errors
    assert error.field == "diabetes_type" and "contradicts" in error.reason


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        # a mg/dL glucose typed as mmol/L and an IFCC HbA1c typed as %: refused, never judged
        ({"fasting_glucose": 100}, "fasting_glucose", "100 mmol/L is above the physio"),
        ({"hba1c": 53}, "hba1c", "53 % is above the physiologically possible range 3–25 %"),
        ({"weight": 780}, "weight", "780 kg is above the physiologically possible range"),
        ({"weight": 10}, "weight", "10 kg is below the physiologically possible range"),
        ({"weight": -5}, "weight", "-5 kg is below"),
        ({"weight": 2000, "weight_unit": "lb"}, "weight", "2000 lb (= 907.2 kg) is above"),
        ({"date_of_birth": "2027-01-01"}, "date_of_birth", "is after the screening date"),
    ],
)
def test_impossible_values_are_input_errors_not_verdicts(
    evaluator: Evaluator, changes: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(CandidateInputError) as caught:
        evaluator.evaluate(eligible_man(**changes), "X", SCREENING)
    [error] = caught.value.errors
    assert error.field == field and reason in error.reason, error.reason


def test_impossible_itt_sample_is_refused_naming_its_minute(evaluator: Evaluator) -> None:
    samples = {**ITT_RESISTANT, 9: 1500}  # mg/dL: 83 mmol/L
    with pytest.raises(CandidateInputError) as caught:
        evaluator.evaluate(eligible_man(itt_glucose=samples), "X", SCREENING)
    [error] = caught.value.errors
    assert error.field == "itt_glucose" and error.reason.startswith("sample at 9 min: 1500 mg/dL")


@pytest.mark.parametrize(
    ("birth", "expected"),
    [
        ("2008-11-20", MET),  # 18th birthday on the screening day
        ("2008-11-21", NOT),  # 18 tomorrow
        ("1950-11-21", MET),  # 75 years and 364 days: still "75 years old"
        ("1950-11-20", NOT),  # 76th birthday
        (None, NA),
    ],
)
def test_i3_age_from_date_of_birth(
    evaluator: Evaluator, birth: str | None, expected: Truth
) -> None:
    assert truth(evaluator, "I3", eligible_man(date_of_birth=birth)) is expected


def test_i3_screening_date_can_come_from_the_caller(evaluator: Evaluator) -> None:
    record = eligible_man(screening_date=None, date_of_birth="2008-11-20")
    assert evaluator.evaluate(record, "X").criteria[2].truth is NA
    result = evaluator.evaluate(record, "X", screening_date=date(2026, 11, 20))
    assert result.criteria[2].truth is MET


@pytest.mark.parametrize(
    ("weight", "weight_unit", "height", "height_unit", "expected"),
    [
        (120.0, "kg", 200, "cm", MET),  # BMI 30.00
        (120.16, "kg", 200, "cm", MET),  # 30.04, reported 30.0
        (120.2, "kg", 200, "cm", NOT),  # 30.05, reported 30.1
        (76.0, "kg", 2, "m", MET),  # 19.00
        (75.78, "kg", 2, "m", NOT),  # 18.945, reported 18.9
        (264.555, "lb", 78.74, "in", MET),  # 120.0 kg, 2.0 m: 30.0
        (266.0, "lb", 78.74, "in", NOT),  # 30.2
        (167.0, "lb", 78.74, "in", NOT),  # 18.9
        (None, None, 200, "cm", NA),
    ],
)
def test_i4_bmi_from_weight_and_height(
    evaluator: Evaluator,
    weight: float | None,
    weight_unit: str | None,
    height: float,
    height_unit: str,
    *,
    expected: Truth,
) -> None:
    record = eligible_man(
        weight=weight, weight_unit=weight_unit, height=height, height_unit=height_unit
    )
    assert truth(evaluator, "I4", record) is expected


def test_i4_missing_weight_names_the_raw_element(evaluator: Evaluator) -> None:
    result = evaluator.evaluate(eligible_man(weight=None, weight_unit=None), "X")
    assert result.status is Status.INCOMPLETE
    assert result.missing == ["weight"]
    assert "missing weight" in result.criteria[3].explanation()


@pytest.mark.parametrize(
    ("fpg", "fpg_unit", "a1c", "a1c_unit", "expected"),
    [
        (7.0, "mmol/L", 7.0, "%", MET),
        (6.9, "mmol/L", 7.0, "%", NOT),
        (7.0, "mmol/L", 6.9, "%", NOT),
        (126, "mg/dL", 53, "mmol/mol", MET),  # IFCC 7.0 % = 53 mmol/mol
        (126, "mg/dL", 52, "mmol/mol", NOT),
        (125, "mg/dL", 60, "mmol/mol", NOT),
        (9.0, "mmol/L", None, None, NA),
        (5.0, "mmol/L", None, None, NOT),  # one part fails: decided without HbA1c
    ],
)
def test_i5_fbg_and_hba1c(
    evaluator: Evaluator,
    fpg: float,
    fpg_unit: str,
    a1c: float | None,
    a1c_unit: str | None,
    *,
    expected: Truth,
) -> None:
    record = eligible_man(
        fasting_glucose=fpg, fasting_glucose_unit=fpg_unit, hba1c=a1c, hba1c_unit=a1c_unit
    )
    assert truth(evaluator, "I5", record) is expected


def test_i6_kitt_from_the_itt(evaluator: Evaluator) -> None:
    assert truth(evaluator, "I6", eligible_man()) is MET
    mmol = {t: g / 18.016 for t, g in ITT_RESISTANT.items()}
    assert truth(evaluator, "I6", eligible_man(itt_glucose=mmol, itt_glucose_unit="mmol/L")) is MET
    assert truth(evaluator, "I6", eligible_man(itt_glucose=ITT_SENSITIVE)) is NOT
    assert truth(evaluator, "I6", eligible_man(itt_glucose=None, itt_glucose_unit=None)) is NA


def test_i6_flat_curve_is_not_assessable_with_the_reason(evaluator: Evaluator) -> None:
    flat = {0: 150, 3: 150, 6: 150, 9: 150, 12: 150, 15: 150}
    result = evaluator.evaluate(eligible_man(itt_glucose=flat), "X")
    i6 = result.criteria[5]
    assert i6.truth is NA and "cannot be derived" in i6.explanation()


def test_i6_cutoff_is_a_protocol_parameter(evaluator: Evaluator) -> None:
    # KITT 2.27 %/min: resistant at the 2.5 cut-off, not at a stricter 2.0.
    strict = parse_protocol(builtin_protocol_text().replace("value: 2.5\n", "value: 2.0\n", 1))
    assert truth(Evaluator(strict), "I6", eligible_man()) is NOT
    kitt_reason = evaluator.evaluate(eligible_man(), "X").criteria[5].explanation()
    assert "2.27 %/min" in kitt_reason and "kitt_insulin_resistance_cutoff" in kitt_reason


@pytest.mark.parametrize(
    ("sex", "pregnant", "nursing", "expected"),
    [
        ("M", None, None, MET),
        ("F", NO, NO, MET),
        ("F", "yes", NO, NOT),
        ("F", NO, "yes", NOT),
        ("F", None, NO, NA),
        (None, NO, NO, MET),
        (None, "yes", NO, NA),
    ],
)
def test_i7_not_pregnant_or_nursing(
    evaluator: Evaluator,
    sex: str | None,
    pregnant: str | None,
    nursing: str | None,
    expected: Truth,
) -> None:
    record = fertile_woman(sex=sex, pregnant=pregnant, nursing=nursing)
    assert truth(evaluator, "I7", record) is expected


@pytest.mark.parametrize(
    ("sex", "fertile", "test", "expected"),
    [
        ("F", "yes", "negative", MET),
        ("F", "yes", "positive", NOT),
        ("F", "yes", None, NA),
        ("F", NO, None, MET),
        ("M", "yes", None, MET),
        ("F", "yes", "NEGATIVE", MET),
    ],
)
def test_i8_negative_pregnancy_test(
    evaluator: Evaluator, sex: str, fertile: str, test: str | None, expected: Truth
) -> None:
    record = fertile_woman(sex=sex, fertile=fertile, pregnancy_test=test)
    assert truth(evaluator, "I8", record) is expected


@pytest.mark.parametrize(
    ("fertile", "contraception", "expected"),
    [
        ("yes", "yes", MET),
        ("yes", NO, NOT),
        ("yes", None, NA),
        (NO, None, MET),
        (None, "yes", MET),
        (None, NO, NA),
    ],
)
def test_i9_contraception(
    evaluator: Evaluator, fertile: str | None, contraception: str | None, expected: Truth
) -> None:
    record = eligible_man(fertile=fertile, effective_contraception=contraception)
    assert truth(evaluator, "I9", record) is expected


EXCLUSIONS = {
    "E1": [
        "severe_heart_disease",
        "severe_lung_disease",
        "haematopoietic_dysfunction",
        "liver_dysfunction",
        "kidney_dysfunction",
    ],
    "E2": ["active_infection_requiring_treatment"],
    "E3": ["unexplained_fever"],
    "E4": [
        "hiv_infection",
        "hepatitis_b_infection",
        "hepatitis_c_infection",
        "other_immunosuppressive_disease",
    ],
}


@pytest.mark.parametrize(
    ("criterion", "element"), [(c, e) for c, es in EXCLUSIONS.items() for e in es]
)
def test_each_exclusion_condition_excludes(
    evaluator: Evaluator, criterion: str, element: str
) -> None:
    result = evaluator.evaluate(eligible_man(**{element: "yes"}), "X")
    assert result.status is Status.INELIGIBLE
    assert [c.criterion.id for c in result.failed] == [criterion]
    assert result.failed[0].explanation().startswith("exclusion present")


@pytest.mark.parametrize("criterion", sorted(EXCLUSIONS))
def test_exclusions_three_valued(evaluator: Evaluator, criterion: str) -> None:
    first, *others = EXCLUSIONS[criterion]
    assert truth(evaluator, criterion, eligible_man()) is NOT
    assert truth(evaluator, criterion, eligible_man(**{first: None})) is NA
    present_with_gaps = eligible_man(**{first: "yes", **{o: None for o in others}})
    assert truth(evaluator, criterion, present_with_gaps) is MET


def test_status_and_explanations(evaluator: Evaluator) -> None:
    result = evaluator.evaluate(eligible_man(hba1c=6.5, hiv_infection="yes", weight=None), "X")
    assert result.status is Status.INELIGIBLE
    assert [c.label for c in result.failed] == ["Inclusion 5", "Exclusion 4"]
    i5 = result.failed[0]
    assert "Haemoglobin A1c: 6.5 %" in i5.explanation() and "≥ 7.0 %" in i5.explanation()
    assert i5.criterion.text.startswith("Fast blood glucose (FBG)≥7.0 mmol/L")
    shown = {v.element: v for v in i5.values}
    assert shown["hba1c"].canonical == 6.5 and shown["hba1c"].canonical_unit == "%"
    snapshot = result.to_dict()
    assert snapshot["status"] == "ineligible" and snapshot["failed"] == ["I5", "E4"]
    assert snapshot["missing"] == ["weight"]


def test_values_in_other_units_show_the_canonical_value(evaluator: Evaluator) -> None:
    result = evaluator.evaluate(
        eligible_man(fasting_glucose=162, fasting_glucose_unit="mg/dL"), "X"
    )
    shown = next(v for v in result.criteria[4].values if v.element == "fasting_glucose")
    assert shown.shown == "Fasting plasma glucose (FBG): 162 mg/dL (= 9.0 mmol/L)"
    assert shown.canonical == pytest.approx(8.992, abs=1e-3)


def test_bad_input_names_every_field(evaluator: Evaluator) -> None:
    record = eligible_man(
        fasting_glucose="7 kg",
        fasting_glucose_unit=None,
        date_of_birth="20/11/1968",
        sex="X",
        hiv_infection="maybe",
        colour="blue",
        weight="heavy",
    )
    with pytest.raises(CandidateInputError) as info:
        evaluator.evaluate(record, "X")
    fields = {e.field for e in info.value.errors}
    assert fields == {
        "fasting_glucose",
        "date_of_birth",
        "sex",
        "hiv_infection",
        "colour",
        "weight",
    }
    message = str(info.value)
    assert "date_of_birth: '20/11/1968' is not an ISO 8601 date" in message
    assert "colour: unknown data element" in message
    assert "fasting_glucose: cannot convert kg to mmol/L" in message


def test_number_without_unit_is_refused_when_ambiguous(evaluator: Evaluator) -> None:
    with pytest.raises(CandidateInputError, match="fasting_glucose: 9.4 has no unit"):
        evaluator.evaluate(eligible_man(fasting_glucose=9.4, fasting_glucose_unit=None), "X")


def test_same_evaluator_for_a_second_protocol() -> None:
    mini = load_protocol(Path(__file__).parents[1] / "protocol" / "data" / "mini_protocol.yaml")
    evaluator = Evaluator(mini)
    base = {"date_of_birth": "1970-01-01", "screening_date": "2026-11-20", "pregnant": "no"}
    assert evaluator.evaluate({**base, "systolic_bp": "135 mmHg"}).status is Status.ELIGIBLE
    assert evaluator.evaluate({**base, "systolic_bp": "140 mmHg"}).status is Status.INELIGIBLE
    assert evaluator.evaluate({**base, "systolic_bp": "17.5 kPa"}).status is Status.ELIGIBLE
    assert evaluator.evaluate({**base, "systolic_bp": "17.0 kPa"}).status is Status.INELIGIBLE
    pregnant = evaluator.evaluate({**base, "systolic_bp": "135 mmHg", "pregnant": "yes"})
    assert [c.criterion.id for c in pregnant.failed] == ["NOTPREG"]
