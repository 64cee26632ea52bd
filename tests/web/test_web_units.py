"""Pure parts of the web layer: the screening form built from the protocol, chart geometry and
escaping, the KITT fit line, form parsing and the record forms."""

from __future__ import annotations

import math
import re
from datetime import date

import pytest
from markupsafe import Markup

from trialdesk.derive import compute_kitt
from trialdesk.eligibility import Evaluator
from trialdesk.protocol import builtin_protocol, catalogue_for
from trialdesk.web.charts import Chart, Point, Reference, Series, nice_ticks, render_chart
from trialdesk.web.figures import IttCurve, enrollment_chart, itt_chart, kitt_fit
from trialdesk.web.forms import FormInput
from trialdesk.web.records import ADVERSE_EVENT, OGLD_DOSE, changed_values, parse
from trialdesk.web.screening_form import (
    all_fields,
    consent_errors,
    consent_given,
    evaluate_form,
    raw_elements,
    raw_from_form,
    screening_groups,
)
from trialdesk.web.templating import fmt_measure, plain

PROTOCOL = builtin_protocol()
CATALOGUE = catalogue_for(PROTOCOL)


# --- the screening form -----------------------------------------------------------------------


def test_every_criterion_gets_a_group_and_derived_elements_ask_for_their_sources() -> None:
    groups = screening_groups(PROTOCOL, CATALOGUE)
    assert [g.criterion_id for g in groups] == [c.id for c in PROTOCOL.criteria]
    names = {g.criterion_id: [f.name for f in g.fields] for g in groups}
    assert names["I3"] == ["date_of_birth", "screening_date"]  # age ← dates
    assert names["I4"] == ["weight", "height"]  # BMI ← weight, height
    assert names["I6"] == ["itt_glucose"]  # KITT ← samples
    assert names["I5"] == ["hba1c"]  # FBG was already asked under I2
    every = [f.name for f in all_fields(groups)]
    assert len(every) == len(set(every))
    assert raw_elements("homa_ir", CATALOGUE) == ["fasting_glucose", "fasting_insulin"]


def test_units_offered_per_field_come_from_the_catalogue() -> None:
    fields = {f.name: f for f in all_fields(screening_groups(PROTOCOL, CATALOGUE))}
    assert fields["fasting_glucose"].units == ["mmol/L", "mg/dL"]
    assert fields["fasting_glucose"].default_unit == "mmol/L"
    assert fields["hba1c"].units == ["%", "mmol/mol"]
    assert fields["height"].units == ["cm", "m", "in"]
    assert fields["informed_consent"].kind == "consent"
    assert fields["itt_glucose"].input_names[-1] == "itt_glucose_unit"


def test_form_values_become_the_evaluators_record() -> None:
    fields = all_fields(screening_groups(PROTOCOL, CATALOGUE))
    form = {
        "fasting_glucose": " 126 ",
        "fasting_glucose_unit": "mg/dL",
        "hiv_infection": "no",
        "weight": "",
        "itt_glucose_3": "9.8",
        "itt_glucose_15": "8.5",
        "itt_glucose_unit": "mmol/L",
        "consent_form_version": "2.1",
        "consent_date": "2026-01-10",
        "screening_date": "2026-01-12",
    }
    raw = raw_from_form(form, fields)
    assert raw["fasting_glucose"] == "126" and raw["fasting_glucose_unit"] == "mg/dL"
    assert raw["hiv_infection"] == "no"
    assert "weight" not in raw  # blank = not recorded
    assert raw["itt_glucose"] == {"3": "9.8", "15": "8.5"}
    assert raw["informed_consent"] == "yes"


def test_consent_dated_after_screening_is_not_consent() -> None:
    form = {
        "consent_form_version": "1",
        "consent_date": "2026-02-01",
        "screening_date": "2026-01-31",
    }
    assert consent_given(form) is False
    assert "ICH E6(R2) 4.8.8" in consent_errors(form)["consent_date"]
    assert consent_given({"consent_form_version": "1"}) is None
    assert consent_errors({"consent_date": "31/01/2026"})["consent_date"].endswith("(YYYY-MM-DD)")


def test_live_evaluation_keeps_judging_around_a_bad_value() -> None:
    live = evaluate_form(
        Evaluator(PROTOCOL, CATALOGUE),
        {"hba1c": "abc", "hba1c_unit": "%", "weight": "70", "weight_unit": "kg",
         "height": "1.75", "height_unit": "m"},
    )  # fmt: skip
    assert live.errors == {"hba1c": "'abc' is not a number"}
    assert live.status == "invalid"
    bmi = next(c for c in live.result.criteria if c.criterion.id == "I4")
    assert bmi.satisfied is True


# --- charts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 24, [0, 10, 20, 30]),
        (2.3, 9.1, [2, 4, 6, 8, 10]),
        (-28, 372, [-100, 0, 100, 200, 300, 400]),
        (5, 5, [4.4, 4.6, 4.8, 5.0, 5.2, 5.4, 5.6]),
    ],
)
def test_nice_ticks_cover_the_range_with_round_steps(
    low: float, high: float, expected: list[float]
) -> None:
    ticks = nice_ticks(low, high)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= min(low, high) and ticks[-1] >= max(low, high)


def test_nice_ticks_refuse_infinite_ranges() -> None:
    with pytest.raises(ValueError, match="finite"):
        nice_ticks(0, math.inf)


def test_chart_text_is_escaped_and_described_for_screen_readers() -> None:
    chart = Chart(
        chart_id="c1",
        title='<script>alert("t")</script>',
        description="two points & a reference",
        x_label="day",
        y_label="mmol/L",
        series=(Series("FBG <fasting>", (Point(0, 7.0, "BL <x>"), Point(90, 6.1))),),
        references=(Reference(7.0, "7.0 mmol/L"),),
    )
    svg = render_chart(chart)
    assert isinstance(svg, Markup)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'role="img"' in svg and 'aria-labelledby="c1-t c1-d"' in svg
    assert '<desc id="c1-d">two points &amp; a reference</desc>' in svg
    assert "BL &lt;x&gt;" in svg
    assert " style=" not in svg  # colours come from the stylesheet (CSP: no inline style)


def test_points_land_where_their_values_say() -> None:
    chart = Chart("c2", "t", "d", "x", "y", (Series("s", (Point(0, 0), Point(10, 10))),),
                  x_ticks=((0, "0"), (10, "10")), width=200, height=120,
                  margins=(10, 10, 10, 10))  # fmt: skip
    svg = render_chart(chart)
    circles = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
    assert circles == [("10.0", "110.0"), ("190.0", "10.0")]


def test_an_empty_chart_says_so() -> None:
    assert "No data yet" in render_chart(Chart("e", "t", "d", "x", "y", (Series("s", ()),)))


def test_enrollment_chart_counts_up_to_the_enrolled_number() -> None:
    svg = enrollment_chart([date(2026, 1, 5), date(2026, 1, 20), date(2026, 3, 2)], 24,
                           date(2026, 4, 1))  # fmt: skip
    assert "Enrollment: 3 of 24" in svg and "Target 24" in svg
    assert "2026-03-02: 3 enrolled" in svg


def test_kitt_fit_passes_through_the_mean_of_the_fitted_samples() -> None:
    minutes = [0, 3, 6, 9, 12, 15]
    glucose = [10.0, 9.77, 9.16, 8.49, 7.99, 7.44]
    kitt = compute_kitt(minutes, glucose)
    fit = kitt_fit(minutes, glucose, kitt)
    assert fit[0].x == 3 and fit[-1].x == 15
    slope = (math.log(fit[-1].y) - math.log(fit[0].y)) / (fit[-1].x - fit[0].x)
    assert -slope * 100 == pytest.approx(kitt)
    window = [(t, g) for t, g in zip(minutes, glucose, strict=True) if 3 <= t <= 15]
    mean_t = sum(t for t, _ in window) / len(window)
    mean_log = sum(math.log(g) for _, g in window) / len(window)
    at_mean = math.log(fit[0].y) + slope * (mean_t - fit[0].x)
    assert at_mean == pytest.approx(mean_log)


def test_itt_chart_without_kitt_says_not_computable() -> None:
    svg = itt_chart(IttCurve((0.0, 3.0, 6.0), (9.0, 9.1, 9.2), None), "itt-9")
    assert "KITT not computable" in svg and "Fit" not in svg


# --- forms and display ---------------------------------------------------------------------------


def test_form_input_names_the_reason_for_each_bad_field() -> None:
    form = FormInput({"a": "1,500", "b": "2026-13-01", "c": "", "d": "1.5", "e": "x" * 300})
    assert form.number("a") is None
    assert form.date("b") is None
    assert form.text("c", required=True) is None
    assert form.integer("d") is None
    assert form.text("e", max_length=200) is None
    assert form.errors == {
        "a": "'1,500' can be read as 1500 or as 1.500: write it without the comma, or with a "
        "point for decimals",
        "b": "'2026-13-01' is not a date (YYYY-MM-DD)",
        "c": "is required",
        "d": "1.5 is not a whole number",
        "e": "has 300 characters; at most 200 are allowed",
    }


def test_form_numbers_take_a_decimal_comma_and_cell_count_notation() -> None:
    form = FormInput({"w": "72,5", "dose": "1.0x10^6", "sci": "1e6", "groups": "1 000 000"})
    assert form.number("w") == 72.5
    assert form.number("dose") == form.number("sci") == form.number("groups") == 1e6
    assert form.errors == {}


def test_adverse_event_form_parses_grade_and_seriousness() -> None:
    form = FormInput(
        {"term": "Pneumonia", "onset_date": "2026-03-01", "grade": "3", "relatedness": "unlikely",
         "action_taken": "not applicable", "outcome": "fatal"},
        {"seriousness": ["hospitalisation", "nonsense", "life_threatening"]},
    )  # fmt: skip
    values = parse(ADVERSE_EVENT, form, editing=False)
    assert values["grade"] == 3
    assert values["seriousness"] == ["hospitalisation", "life_threatening"]
    assert "expedited_reported_on" not in values  # only when correcting
    assert not form.errors


def test_a_correction_sends_only_what_changed() -> None:
    class Stored:
        start_date = date(2026, 1, 1)
        drug = "metformin"
        daily_dose_mg = 1000.0

    form = FormInput({"start_date": "2026-01-01", "daily_dose_mg": "1500"})
    values = parse(OGLD_DOSE, form, editing=True)
    assert "drug" not in values  # the drug is not changed by a correction
    assert changed_values(OGLD_DOSE, values, Stored()) == {"daily_dose_mg": 1500.0}


def test_measures_are_shown_at_the_units_reporting_decimals() -> None:
    assert fmt_measure(8.992007, "mmol/L") == "9.0 mmol/L"
    assert fmt_measure(161.96, "mg/dL") == "162 mg/dL"
    assert fmt_measure(1.3594, "ng/mL") == "1.36 ng/mL"
    assert fmt_measure(None, "%") == "—"


def test_registry_unit_signs_are_spelt_out_for_display() -> None:
    assert plain("19≤BMI≤30㎏/㎡") == "19≤BMI≤30kg/m²"
    assert plain("7.0 mmol/L, kg/m²") == "7.0 mmol/L, kg/m²"
