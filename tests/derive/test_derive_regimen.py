"""The dose in effect on a date, from dose records kept when the regimen changes (#17)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from trialdesk.derive import (
    DerivationError,
    DoseRecord,
    compute_dose_in_effect,
    compute_total_dose_in_effect,
)

D0 = date(2026, 1, 5)


def _day(n: int) -> date:
    return D0 + timedelta(days=n)


def test_a_dose_stays_in_effect_between_visits_until_it_changes() -> None:
    regimen = [DoseRecord("metformin", _day(0), 1000.0), DoseRecord("metformin", _day(45), 1500.0)]
    assert compute_dose_in_effect(regimen, "metformin", _day(0)) == 1000.0
    assert compute_dose_in_effect(regimen, "metformin", _day(30)) == 1000.0  # nothing recorded
    assert compute_dose_in_effect(regimen, "metformin", _day(44)) == 1000.0
    assert compute_dose_in_effect(regimen, "metformin", _day(45)) == 1500.0
    assert compute_dose_in_effect(regimen, "metformin", _day(365)) == 1500.0


def test_a_change_between_visits_counts_from_its_own_date() -> None:
    # Changed by telephone on day 50, between the M1 (day 30) and M3 (day 90) visits.
    regimen = [DoseRecord("gliclazide", _day(-10), 160.0), DoseRecord("gliclazide", _day(50), 80.0)]
    at_visits = [compute_dose_in_effect(regimen, "gliclazide", _day(d)) for d in (0, 30, 90)]
    assert at_visits == [160.0, 160.0, 80.0]


def test_nothing_recorded_yet_is_unknown_not_zero() -> None:
    regimen = [DoseRecord("insulin", _day(0), 40.0)]
    assert compute_dose_in_effect(regimen, "insulin", _day(-1)) is None
    assert compute_dose_in_effect(regimen, "metformin", _day(10)) is None


def test_a_zero_dose_record_stops_the_drug_and_a_later_one_restarts_it() -> None:
    regimen = [
        DoseRecord("glimepiride", _day(0), 2.0),
        DoseRecord("glimepiride", _day(90), 0.0),
        DoseRecord("glimepiride", _day(200), 1.0),
    ]
    doses = [compute_dose_in_effect(regimen, "glimepiride", _day(d)) for d in (30, 90, 180, 270)]
    assert doses == [2.0, 0.0, 0.0, 1.0]


def test_a_stop_date_ends_the_dose_after_that_day() -> None:
    regimen = [DoseRecord("acarbose", _day(0), 300.0, stop=_day(60))]
    assert compute_dose_in_effect(regimen, "acarbose", _day(60)) == 300.0  # last day taken
    assert compute_dose_in_effect(regimen, "acarbose", _day(61)) == 0.0
    restarted = [*regimen, DoseRecord("acarbose", _day(100), 150.0)]
    assert compute_dose_in_effect(restarted, "acarbose", _day(90)) == 0.0
    assert compute_dose_in_effect(restarted, "acarbose", _day(120)) == 150.0


def test_a_later_record_supersedes_an_earlier_one_even_before_its_stop() -> None:
    regimen = [
        DoseRecord("metformin", _day(0), 2000.0, stop=_day(300)),
        DoseRecord("metformin", _day(100), 1000.0),
    ]
    assert compute_dose_in_effect(regimen, "metformin", _day(150)) == 1000.0


def test_same_day_records_the_later_entry_wins_whatever_the_list_order() -> None:
    regimen = [
        DoseRecord("insulin", _day(30), 36.0, order=12),
        DoseRecord("insulin", _day(30), 30.0, order=11),
    ]
    assert compute_dose_in_effect(regimen, "insulin", _day(30)) == 36.0
    assert compute_dose_in_effect(list(reversed(regimen)), "insulin", _day(30)) == 36.0


def test_drug_names_match_ignoring_case_and_spaces() -> None:
    regimen = [DoseRecord(" Metformin ", _day(0), 500.0)]
    assert compute_dose_in_effect(regimen, "METFORMIN", _day(1)) == 500.0


def test_several_drugs_at_once_add_up_each_at_its_own_dose() -> None:
    # In WHO DDDs/day: metformin 1000 mg = 0.5, gliclazide 160 mg = 1.0, sitagliptin 100 mg = 1.0.
    regimen = [
        DoseRecord("metformin", _day(-30), 0.5),
        DoseRecord("gliclazide", _day(-30), 1.0),
        DoseRecord("metformin", _day(30), 1.0),  # raised at M1
        DoseRecord("gliclazide", _day(90), 0.0),  # stopped at M3
        DoseRecord("sitagliptin", _day(120), 1.0),  # added between M3 and M6
    ]
    totals = [compute_total_dose_in_effect(regimen, _day(d)) for d in (-31, 0, 30, 90, 180)]
    assert totals == [0.0, 1.5, 2.0, 1.0, 2.0]


def test_no_records_at_all_is_a_total_of_zero() -> None:
    assert compute_total_dose_in_effect([], _day(0)) == 0.0


def test_records_only_on_change_give_the_same_doses_as_records_at_every_visit() -> None:
    visits = [_day(d) for d in (0, 30, 90, 180, 270, 365)]
    every_visit = [1.0, 1.0, 0.75, 0.75, 0.5, 0.5]
    full = [DoseRecord("metformin", v, dose) for v, dose in zip(visits, every_visit, strict=True)]
    on_change = [r for i, r in enumerate(full) if i == 0 or r.daily_dose != full[i - 1].daily_dose]
    assert len(on_change) == 3
    for v in visits:
        assert compute_total_dose_in_effect(on_change, v) == compute_total_dose_in_effect(full, v)


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (DoseRecord("metformin", D0, -500.0), "daily_dose of metformin"),
        (DoseRecord("metformin", D0, float("nan")), "daily_dose of metformin"),
        (DoseRecord("metformin", D0, 500.0, stop=D0 - timedelta(days=1)), "stop of metformin"),
        (DoseRecord("", D0, 500.0), "drug"),
    ],
)
def test_bad_records_are_refused_naming_the_field(record: DoseRecord, field: str) -> None:
    with pytest.raises(DerivationError) as caught:
        compute_total_dose_in_effect([record], D0 + timedelta(days=1))
    assert caught.value.argument == field
