"""The screening form's site-facing rules, without a browser: questions asked of women only,
and the screen-reader announcement of changed verdicts only."""

from __future__ import annotations

from datetime import date

from trialdesk.catalogue import default_catalogue
from trialdesk.eligibility import Evaluator
from trialdesk.protocol import builtin_protocol
from trialdesk.web.screening_form import (
    all_fields,
    changed_verdicts,
    female_only_elements,
    raw_from_form,
    screening_groups,
    verdict_states,
)


def test_pregnancy_questions_are_the_ones_the_protocol_asks_of_women_only() -> None:
    protocol = builtin_protocol()
    assert female_only_elements(protocol) == {"pregnant", "nursing", "pregnancy_test"}
    groups = screening_groups(protocol, default_catalogue())
    asked = {f.name: f.female_only for f in all_fields(groups)}
    assert asked["pregnancy_test"] and not asked["fertile"] and not asked["sex"]


def test_a_man_s_hidden_pregnancy_answers_are_not_recorded() -> None:
    fields = all_fields(screening_groups(builtin_protocol(), default_catalogue()))
    form = {"sex": "M", "pregnant": "yes", "pregnancy_test": "positive", "fertile": "no"}
    raw = raw_from_form(form, fields)
    assert raw == {"sex": "M", "fertile": "no"}
    assert raw_from_form({**form, "sex": "F"}, fields)["pregnancy_test"] == "positive"


def test_only_changed_verdicts_are_announced() -> None:
    protocol = builtin_protocol()
    evaluator = Evaluator(protocol, default_catalogue())
    fbg = {"fasting_glucose": "9.0", "fasting_glucose_unit": "mmol/L"}
    before = evaluator.evaluate({**fbg, "hba1c": "8.1", "hba1c_unit": "%"}, "c", date(2026, 1, 5))
    after = evaluator.evaluate({**fbg, "hba1c": "6.1", "hba1c_unit": "%"}, "c", date(2026, 1, 5))
    shown = verdict_states(before)
    assert "I5=met" in shown
    assert changed_verdicts(shown, after) == ["Inclusion 5: now not met."]
    assert changed_verdicts(verdict_states(after), after) == []
    assert changed_verdicts("", after) == []  # nothing shown yet: nothing to compare
