"""A missing-data code per ITT sample (issue #13): the sample is kept with its code and reason,
KITT uses the samples taken when at least three remain between 3 and 15 min (else it is not
computed, says why, and the analysis counts a missing KITT), a correction keeps the codes, and
ODM/REDCap carry the code on that sample's item; on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tools.harness.database import (
    TestDatabase,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)

from trialdesk import services as sv
from trialdesk.analysis.from_store import source_frames
from trialdesk.derive import compute_kitt
from trialdesk.export.fhir.bundle import study_bundle
from trialdesk.export.from_store import clinical_data, sdtm_sources
from trialdesk.export.odm.read import read_odm
from trialdesk.export.odm.write import odm_document, to_bytes
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.conformance import check
from trialdesk.export.to_store import import_into
from trialdesk.protocol import builtin_protocol
from trialdesk.store.models import IttSample, Measurement
from trialdesk.units.convert import convert, quantity

ITT = {0: 180, 3: 176, 6: 165, 12: 144, 15: 134}  # mg/dL; the 9-min sample was not taken


def _mmol(mg_dl: float) -> float:
    return float(
        convert(quantity(mg_dl, "mg/dL", analyte="glucose"), "mmol/L", analyte="glucose").magnitude
    )


def _baseline_itt(
    clinic: Any, session: Session, samples: dict[int, int], coded: dict[float, tuple[str, str]]
) -> tuple[int, sv.views.IttTestView]:
    pid = clinic.enrolled()
    clinic.baseline(pid)
    view = sv.record_itt_test(
        session, clinic.coordinator, pid, sv.IttTestEntry(visit_code="BL", samples=samples,
        glucose_unit="mg/dL", missing_samples=coded),
    )  # fmt: skip
    return pid, view


def test_kitt_is_computed_from_the_samples_taken(clinic: Any, session: Session) -> None:
    pid, view = _baseline_itt(clinic, session, ITT, {9: ("ND", "line blocked")})
    minutes = [3, 6, 12, 15]
    expected = compute_kitt(minutes, [_mmol(ITT[m]) for m in minutes])
    assert view.kitt_percent_per_min == pytest.approx(expected)
    assert [s.minute for s in view.samples] == [0, 3, 6, 12, 15]
    (coded,) = view.coded_samples
    assert (coded.minute, coded.missing_code, coded.missing_label, coded.missing_reason) == (
        9, "ND", "Not done", "line blocked",
    )  # fmt: skip
    # Correcting a glucose keeps the code of the sample not taken.
    corrected = sv.update_itt_test(
        session, clinic.coordinator, view.id, sv.IttTestChanges(expected_version=view.version,
        reason="transcription", samples={**ITT, 15: 133}),
    )  # fmt: skip
    assert [c.minute for c in corrected.coded_samples] == [9]
    # A glucose found later replaces the code.
    found = sv.update_itt_test(
        session, clinic.coordinator, view.id, sv.IttTestChanges(expected_version=corrected.version,
        reason="9-min result found in the lab system", samples={**ITT, 9: 153}),
    )  # fmt: skip
    assert found.coded_samples == [] and len(found.samples) == 6


def test_too_few_samples_leave_kitt_missing_and_counted(clinic: Any, session: Session) -> None:
    taken = {0: 180, 3: 176, 15: 134}
    coded = {6.0: ("ND", "haemolysed"), 9.0: ("ND", "line blocked"), 12.0: ("NAV", "late")}
    pid, view = _baseline_itt(clinic, session, taken, coded)
    assert view.kitt_percent_per_min is None
    assert view.kitt_problem is not None and "at least 3 samples" in view.kitt_problem
    assert "9 min (not done (ND): line blocked)" in view.kitt_problem
    frames = source_frames(session, builtin_protocol())
    missing = frames.missing[frames.missing["element"] == "kitt"]
    assert missing[["visit", "code"]].values.tolist() == [["BL", "ND"]]
    assert "samples not taken: 6 min" in missing["reason"].item()
    assert sorted(frames.itt[frames.itt["visit"] == "BL"]["minute"]) == [0, 3, 15]


@pytest.mark.parametrize(
    ("coded", "words"),
    [
        ({3: ("ND", "x")}, "not both"),  # 3 min has a glucose too
        ({9: ("ZZ", "x")}, "is not a missing-data code"),
        ({9: ("ND", " ")}, "is required"),
        ({200: ("ND", "x")}, "not a sample time"),
    ],
)
def test_a_bad_code_is_refused_and_nothing_is_kept(
    clinic: Any, session: Session, coded: dict[float, tuple[str, str]], words: str
) -> None:
    pid = clinic.enrolled()
    clinic.baseline(pid)
    with pytest.raises(sv.ValidationProblem) as refused:
        sv.record_itt_test(
            session, clinic.coordinator, pid, sv.IttTestEntry(visit_code="BL", samples=ITT,
            glucose_unit="mg/dL", missing_samples=coded),
        )  # fmt: skip
    assert refused.value.field == "missing_samples" and words in refused.value.reason


def test_odm_and_redcap_carry_the_code_on_that_sample(clinic: Any, session: Session) -> None:
    _baseline_itt(clinic, session, ITT, {9: ("ND", "line blocked")})
    protocol = builtin_protocol()
    data = clinical_data(session, protocol)
    coded = {(r.event, n): c for r in data.records for n, c in r.missing.items()}
    assert coded == {("BL", "itt_glucose_t9"): ("ND", "line blocked")}
    baseline = next(r for r in data.records if r.event == "BL" and r.form == "itt")
    assert "itt_glucose_t9" not in baseline.values and "itt_glucose_t12" in baseline.values
    back = read_odm(to_bytes(odm_document(data.design, data))).data
    assert back is not None
    assert {(r.event, n): c for r in back.records for n, c in r.missing.items()} == coded


def test_sdtm_and_fhir_carry_the_sample_not_taken_at_its_time_point(
    clinic: Any, session: Session
) -> None:
    _baseline_itt(clinic, session, ITT, {9: ("ND", "line blocked")})
    protocol = builtin_protocol()
    sources = sdtm_sources(session, protocol)
    datasets = sdtm_datasets(protocol, sources)
    assert check(datasets) == []
    lb = datasets["LB"]
    itt = lb[(lb["LBCAT"] == "INSULIN TOLERANCE TEST") & (lb["VISITNUM"] == 2)]
    assert sorted(itt["LBTPTNUM"]) == [0, 3, 6, 9, 12, 15]
    (nine,) = itt[itt["LBTPTNUM"] == 9].to_dict("records")
    assert (nine["LBSTAT"], nine["LBREASND"], nine["LBTPT"]) == (
        "NOT DONE", "NOT DONE: line blocked", "9 MIN POST INSULIN",
    )  # fmt: skip
    assert pd.isna(nine["LBORRES"])
    bundle = study_bundle(protocol, sources)
    absent = [
        e.resource.model_dump(mode="json", exclude_none=True)  # type: ignore[union-attr]
        for e in bundle.entry or []
        if e.resource.get_resource_type() == "Observation"  # type: ignore[union-attr]
        and getattr(e.resource, "dataAbsentReason", None) is not None
    ]
    (sample,) = absent
    assert sample["code"]["coding"][0]["code"] == "14749-6" and sample["status"] == "cancelled"
    assert sample["note"][0]["text"] == (
        "Insulin tolerance test: 9 min after the insulin bolus; line blocked"
    )


def test_an_imported_odm_keeps_the_sample_not_taken(
    clinic: Any, session: Session, db: TestDatabase, tmp_path: Path
) -> None:
    """Read back into another study database, the ITT keeps its samples and its one code; it
    is not turned into "ITT not done"."""
    _baseline_itt(clinic, session, ITT, {9: ("ND", "line blocked")})
    protocol = builtin_protocol()
    data = clinical_data(session, protocol)
    back = read_odm(to_bytes(odm_document(data.design, data))).data
    assert back is not None
    target = fresh_database(backend_url(db.backend), directory=tmp_path)
    try:
        with target.session() as other:
            seed_demo_site_and_users(other)
            import_into(other, back, username="coordinator", source="ODM", protocol=protocol)
            coded = other.scalars(select(Measurement).where(Measurement.missing_code.isnot(None)))
            assert list(coded) == []
            (sample,) = other.scalars(select(IttSample).where(IttSample.missing_code.isnot(None)))
            assert (sample.minute, sample.missing_code, sample.missing_reason) == (
                9, "ND", "line blocked",
            )  # fmt: skip
    finally:
        target.dispose()
