"""A simulated trial as analysis source frames: contract, consistency, determinism."""

from __future__ import annotations

import pandas as pd
import pytest

from trialdesk.analysis.sources import FRAME_COLUMNS, SourceFrames
from trialdesk.catalogue import default_catalogue
from trialdesk.derive import compute_kitt
from trialdesk.simulate.effect import MODERATE
from trialdesk.simulate.frames import source_frames, trial_frames
from trialdesk.simulate.labs import to_canonical
from trialdesk.simulate.trial import TrialOptions, VirtualTrial, simulate_trial, usubjid_for


@pytest.fixture(scope="module")
def trial() -> VirtualTrial:
    return simulate_trial(140, seed=7, effect=MODERATE)


@pytest.fixture(scope="module")
def frames(trial: VirtualTrial) -> SourceFrames:
    return source_frames(trial)


def test_frames_meet_the_contract(frames: SourceFrames) -> None:
    for name, frame in frames.as_dict().items():
        assert list(frame.columns) == [c.name for c in FRAME_COLUMNS[name]]
    assert len(frames.subjects) == 24


def test_same_seed_same_frames_and_different_seed_differs() -> None:
    first = trial_frames(
        simulate_trial(50, seed=7, effect=MODERATE, options=TrialOptions(target=6))
    )
    again = trial_frames(
        simulate_trial(50, seed=7, effect=MODERATE, options=TrialOptions(target=6))
    )
    for name, frame in first.items():
        pd.testing.assert_frame_equal(frame, again[name])
    other = trial_frames(
        simulate_trial(50, seed=8, effect=MODERATE, options=TrialOptions(target=6))
    )
    assert not other["measurements"].equals(first["measurements"])


def test_screening_frame_is_the_screening_log(trial: VirtualTrial, frames: SourceFrames) -> None:
    s = frames.screening
    assert len(s) == 140
    counts = trial.counts()
    assert (s["status"] == "eligible").sum() == counts.eligible
    assert s["enrolled"].sum() == counts.enrolled == 24
    enrolled = s[s["enrolled"]]
    assert (enrolled["status"] == "eligible").all()
    assert list(enrolled["usubjid"]) == [
        usubjid_for(trial.protocol, "APGH", i) for i in range(1, 25)
    ]
    # Enrolment stops at the target: every later eligible candidate is screened, not enrolled.
    last_enrolled = enrolled.index.max()
    later = s.loc[last_enrolled + 1 :]
    assert not later["enrolled"].any()
    ineligible = s[s["status"] == "ineligible"]
    assert ineligible["failed"].map(len).gt(0).all()


def test_measurements_are_canonical_and_keep_the_entered_unit(frames: SourceFrames) -> None:
    m = frames.measurements
    catalogue = default_catalogue()
    assert (m.apply(lambda r: r["unit"] == catalogue[r["element"]].canonical_unit, axis=1)).all()
    converted = m[m["unit_as_entered"] != m["unit"]]
    assert converted["unit_as_entered"].isin(["mg/dL", "mmol/mol", "pmol/L", "nmol/L"]).any()
    for row in converted.itertuples():
        expected = to_canonical(row.element, float(row.value_as_entered), row.unit_as_entered)
        assert row.value == pytest.approx(expected)
    same = m[m["unit_as_entered"] == m["unit"]]
    assert (same["value_as_entered"].astype(float) - same["value"]).abs().max() < 1e-9
    assert not m["element"].isin(["insulin_daily_dose", "ogld_ddd", "kitt", "bmi"]).any()


def test_visit_days_and_dates_agree(trial: VirtualTrial, frames: SourceFrames) -> None:
    baseline = {p.usubjid: pd.Timestamp(p.baseline_date) for p in trial.participants}
    m = frames.measurements
    days = (m["date"] - m["usubjid"].map(baseline)).dt.days
    assert (days == m["visit_day"]).all()
    assert (m.loc[m["visit"] == "SCR", "visit_day"] < 0).all()
    assert (m.loc[m["visit"] == "BL", "visit_day"] == 0).all()


def test_itt_frame_gives_back_the_kitt(trial: VirtualTrial, frames: SourceFrames) -> None:
    p = trial.participants[0]
    bl = p.visit("BL")
    assert bl is not None and bl.itt is not None
    rows = frames.itt[(frames.itt["usubjid"] == p.usubjid) & (frames.itt["visit"] == "BL")]
    from_frame = compute_kitt(list(rows["minute"]), list(rows["glucose_mmol_l"]))
    samples = bl.itt.samples
    assert from_frame == pytest.approx(compute_kitt(list(samples), list(samples.values())))


def test_dosing_carries_the_same_visit_weight(frames: SourceFrames) -> None:
    d, m = frames.dosing, frames.measurements
    weights = m[m["element"] == "weight"].set_index(["usubjid", "visit"])["value"]
    for row in d.itertuples():
        key = (row.usubjid, row.visit)
        if key in weights.index:
            assert row.weight_kg == pytest.approx(weights[key])
        else:
            assert pd.isna(row.weight_kg)


def test_subjects_and_adverse_events_match_the_trial(
    trial: VirtualTrial, frames: SourceFrames
) -> None:
    counts = trial.counts()
    s = frames.subjects
    assert (s["status"] == "completed").sum() == counts.completed
    assert s["transplanted_on"].notna().sum() == counts.transplanted
    assert (s["age"] >= 18).all() and (s["age"] <= 75).all()
    ae = frames.adverse_events
    assert len(ae) == counts.adverse_events and ae["serious"].sum() == counts.serious_adverse_events
    assert ae["grade"].between(1, 5).all()


def test_analysis_datasets_build_from_simulated_frames(frames: SourceFrames) -> None:
    datasets = pytest.importorskip("trialdesk.analysis.datasets")
    from trialdesk.protocol import builtin_protocol

    built = datasets.derive_datasets(frames, builtin_protocol())
    adeff = built.adeff
    m12 = adeff[(adeff["PARAMCD"] == "HBA1C") & (adeff["AVISIT"] == "Month 12")]
    assert len(m12) > 15 and m12["CHG"].mean() < 0  # the moderate effect lowers HbA1c


def test_screening_can_stop_when_the_study_is_full(trial: VirtualTrial) -> None:
    full = simulate_trial(140, seed=7, effect=MODERATE, options=TrialOptions(stop_when_full=True))
    assert full.counts().enrolled == 24
    assert full.screening[-1].enrolled  # the 24th enrolment was the last screening
    assert len(full.screening) < len(trial.screening)
    assert [s.usubjid for s in full.screening] == [
        s.usubjid for s in trial.screening[: len(full.screening)]
    ]
