"""The OGLD and insulin doses analysed are the doses in effect at each visit, and the demo
study's MMRM (#17).

The simulated study (the demo's 120 candidates, seed 2026, 24 enrolled) is written through the
services: the simulator records each oral drug at screening and then only when its dose changes.
The expected baseline and Month-12 figures are recomputed here from the raw dose rows of the
database by replaying them in date order, without `trialdesk.derive.regimen`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.analysis._nlme import fallback_in_r, fit_in_r
from tools.harness.database import TestDatabase, fresh_database

from trialdesk import services as sv
from trialdesk.analysis import AnalysisDatasets, StudyResults, analyse, derive_datasets
from trialdesk.analysis.from_store import source_frames
from trialdesk.analysis.registry import build_results_json
from trialdesk.analysis.stats.mmrm import AUTOREGRESSIVE, TOEPLITZ, UNSTRUCTURED, fit_mmrm
from trialdesk.analysis.tables import primary_summary_table
from trialdesk.protocol import builtin_protocol
from trialdesk.services.passwords import use_fast_hashing
from trialdesk.simulate.effect import MODERATE
from trialdesk.simulate.followup import FollowupParameters
from trialdesk.simulate.run import SimulationSettings, run_simulation
from trialdesk.store.models import InsulinDose, OgldDose, Participant, Visit

DEMO = SimulationSettings(
    n_candidates=120, seed=2026, effect=MODERATE, followup=FollowupParameters()
)


@pytest.fixture(scope="module")
def study() -> Iterator[TestDatabase]:
    """The demo's database (SQLite, as `make demo` makes it). Reading a study from PostgreSQL
    into the analysis is tested in test_analysis_from_store; simulating the demo's 120
    candidates there again took a minute of every CI run to test the same derivations."""
    use_fast_hashing()
    db = fresh_database()
    with db.session() as session:
        run_simulation(session, DEMO)
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def datasets(study: TestDatabase) -> AnalysisDatasets:
    with study.session() as session:
        return derive_datasets(source_frames(session, builtin_protocol()), builtin_protocol())


@pytest.fixture(scope="module")
def results(datasets: AnalysisDatasets) -> StudyResults:
    return analyse(datasets, builtin_protocol())


def _visit_dates(session: Session, code: str) -> dict[str, date]:
    rows = session.execute(
        select(Participant.study_id, Visit.visit_date)
        .join(Participant, Visit.participant_id == Participant.id)
        .where(Visit.code == code, Visit.voided.is_(False), Visit.visit_date.is_not(None))
    ).all()
    return {study_id: on for study_id, on in rows}


def _replayed_ogld(session: Session, study_id: str, on: date) -> float:
    """Walk the participant's OGLD rows in (start date, entry) order up to `on`: each row sets
    its drug's DDDs; the total is the sum over drugs."""
    rows = session.execute(
        select(OgldDose.drug, OgldDose.ddd)
        .join(Participant, OgldDose.participant_id == Participant.id)
        .where(
            Participant.study_id == study_id,
            OgldDose.voided.is_(False),
            OgldDose.start_date <= on,
        )
        .order_by(OgldDose.start_date, OgldDose.id)
    ).all()
    current: dict[str, float] = {}
    for drug, ddd in rows:
        current[drug] = ddd
    return sum(current.values())


def _replayed_insulin(session: Session, study_id: str, on: date) -> float:
    row = session.execute(
        select(InsulinDose.total_units_per_day)
        .join(Participant, InsulinDose.participant_id == Participant.id)
        .where(
            Participant.study_id == study_id,
            InsulinDose.voided.is_(False),
            InsulinDose.start_date <= on,
        )
        .order_by(InsulinDose.start_date.desc(), InsulinDose.id.desc())
        .limit(1)
    ).scalar_one()
    return float(row)


def _expected(session: Session, code: str, replay: object) -> dict[str, float]:
    assert callable(replay)
    return {sid: replay(session, sid, on) for sid, on in _visit_dates(session, code).items()}


def _analysed(datasets: AnalysisDatasets, paramcd: str, visit: str) -> dict[str, float]:
    a = datasets.adeff
    rows = a[(a["PARAMCD"] == paramcd) & (a["VISIT"] == visit) & (a["ANL01FL"] == "Y")]
    return dict(zip(rows["USUBJID"], rows["AVAL"].astype(float), strict=True))


def test_the_simulator_records_oral_drugs_only_when_they_change(study: TestDatabase) -> None:
    with study.session() as session:
        oral = session.execute(
            select(OgldDose.participant_id, OgldDose.drug, OgldDose.daily_dose_mg)
            .where(OgldDose.voided.is_(False))
            .order_by(OgldDose.participant_id, OgldDose.drug, OgldDose.start_date, OgldDose.id)
        ).all()
        recorded_at = set(session.scalars(select(OgldDose.visit_id)))
        baselines = set(session.scalars(select(Visit.id).where(Visit.code == "BL")))
    assert oral, "no OGLD recorded at all"
    # Baseline comes days after screening: the oral drugs recorded at screening still hold,
    # and nothing is recorded again at most baseline visits (the case the analysis missed).
    assert len(baselines - recorded_at) > len(baselines) / 2
    # Each record after a drug's first one changes its dose (a change, a stop or a restart).
    for before, after in zip(oral, oral[1:], strict=False):
        if before[:2] == after[:2]:
            assert after.daily_dose_mg != before.daily_dose_mg


def test_baseline_ogld_is_the_regimen_in_effect_not_zero(
    study: TestDatabase, datasets: AnalysisDatasets
) -> None:
    with study.session() as session:
        expected = _expected(session, "BL", _replayed_ogld)
    enrolled = set(datasets.adsl["USUBJID"])
    expected = {k: v for k, v in expected.items() if k in enrolled}
    analysed = _analysed(datasets, "OGLDDDD", "BL")
    assert analysed == pytest.approx(expected, abs=1e-9)
    assert len(expected) == 24
    # The demo cohort: 22 of 24 take oral drugs at baseline.
    assert sum(v > 0 for v in analysed.values()) == 22
    base = datasets.adeff[
        (datasets.adeff["PARAMCD"] == "OGLDDDD") & (datasets.adeff["ABLFL"] == "Y")
    ]
    assert dict(zip(base["USUBJID"], base["AVAL"], strict=True)) == pytest.approx(expected)


def test_month_12_ogld_and_its_change_match_the_raw_records(
    study: TestDatabase, datasets: AnalysisDatasets, results: StudyResults
) -> None:
    with study.session() as session:
        at_m12 = _expected(session, "M12", _replayed_ogld)
        at_bl = _expected(session, "BL", _replayed_ogld)
    analysed = _analysed(datasets, "OGLDDDD", "M12")
    assert analysed == pytest.approx({k: at_m12[k] for k in analysed}, abs=1e-9)
    expected_change = statistics.mean(at_m12[k] - at_bl[k] for k in analysed)
    outcome = results.outcome("OGLDDDD")
    assert outcome is not None
    m12 = next(v for v in outcome.by_visit if v.visit == "M12")
    assert m12.change is not None
    assert m12.change.mean == pytest.approx(expected_change, abs=1e-9)
    assert expected_change < 0  # the moderate effect reduces the oral drugs
    assert outcome.by_visit[0].value.mean == pytest.approx(
        statistics.mean(at_bl[k] for k in set(datasets.adsl["USUBJID"])), abs=1e-9
    )


def test_insulin_is_the_dose_in_effect_at_every_visit(
    study: TestDatabase, datasets: AnalysisDatasets
) -> None:
    with study.session() as session:
        for code in ("BL", "M6", "M12"):
            expected = _expected(session, code, _replayed_insulin)
            analysed = _analysed(datasets, "INSDOSE", code)
            assert analysed == pytest.approx({k: expected[k] for k in analysed})


def test_a_site_recording_insulin_only_on_change_still_has_a_dose_at_each_visit(
    study: TestDatabase,
) -> None:
    """Void the insulin records of one participant's M6 visit: M6 keeps the M3 dose."""
    with study.session() as session:
        target = session.execute(
            select(InsulinDose, Participant.study_id)
            .join(Participant, InsulinDose.participant_id == Participant.id)
            .join(Visit, InsulinDose.visit_id == Visit.id)
            .where(Visit.code == "M6", InsulinDose.voided.is_(False))
            .order_by(Participant.study_id)
        ).first()
        assert target is not None
        dose, study_id = target
        actor = sv.actor_for(session, dose.created_by or 0)
        sv.void_clinical_record(
            session, actor, "insulin_doses", dose.id, expected_version=dose.version,
            reason="entered twice: the dose did not change",
        )  # fmt: skip
        frames = source_frames(session, builtin_protocol())
        m6 = _visit_dates(session, "M6")[study_id]
        expected = _replayed_insulin(session, study_id, m6)
    d = frames.dosing
    row = d[(d["usubjid"] == study_id) & (d["visit"] == "M6")]
    assert len(row) == 1
    assert float(row["insulin_u_per_day"].iloc[0]) == expected


def test_demo_hba1c_mmrm_unstructured_beats_compound_symmetry_and_matches_r(
    datasets: AnalysisDatasets, results: StudyResults, tmp_path: Path
) -> None:
    """On the demo study the HbA1c changes are far from compound symmetric (LRT p ~ 5e-8);
    the primary MMRM agrees with nlme::gls in R on the same rows."""
    hba1c = results.outcome("HBA1C")
    assert hba1c is not None and hba1c.sensitivity is not None
    lrt = hba1c.covariance_test
    assert lrt is not None and lrt.df == 13
    assert 1e-8 < lrt.p < 1e-7
    a = datasets.adeff
    rows = a[
        (a["PARAMCD"] == "HBA1C") & (a["ANL01FL"] == "Y") & (a["ITTFL"] == "Y")
        & (a["VISITNDY"] > 0) & a["AVISIT"].notna()
    ].dropna(subset=["CHG", "BASE"])  # fmt: skip
    visits = [v.visit for v in hba1c.mmrm.visits]
    r = fit_in_r(rows, visits, tmp_path)
    for estimate in hba1c.mmrm.visits:
        assert estimate.estimate == pytest.approx(r.row(estimate.visit)["un_est"], abs=1e-4)
        assert estimate.se_model == pytest.approx(r.row(estimate.visit)["un_se"], abs=1e-4)
    assert lrt.statistic == pytest.approx(2 * (r.un_loglik - r.cs_loglik), abs=1e-3)


def test_demo_ogld_unstructured_covariance_is_singular_and_falls_back(
    results: StudyResults,
) -> None:
    """OGLD doses change in tablet steps, the same way at Months 3, 6 and 9: the changes at
    those visits are almost perfectly correlated and the unstructured covariance has no REML
    estimate (R's nlme::gls stops without convergence on the same rows). The primary MMRM
    then uses the next structure of the pre-specified sequence and says which and why, in
    the model and in results.json, instead of numbers from a singular matrix."""
    ogld = results.outcome("OGLDDDD")
    assert ogld is not None and ogld.sensitivity is not None
    assert not fit_mmrm(_ogld_rows(results)).estimable  # the unstructured fit alone
    primary = ogld.mmrm
    assert primary.estimable and primary.converged
    assert primary.covariance != UNSTRUCTURED and primary.tried[0] == UNSTRUCTURED
    assert primary.fallback.startswith("unstructured not fitted (REML did not converge")
    assert "singular" in primary.fallback
    m12 = primary.at("M12")
    assert m12 is not None and m12.estimate < 0 and m12.df > 0
    document = build_results_json(results)
    [model] = [m for m in document["provenance"]["mixedModels"] if m["paramcd"] == "OGLDDDD"]
    assert model["covarianceStructure"] == primary.covariance
    assert model["fallback"] == primary.fallback and model["dfMethod"] == "Kenward–Roger"
    footnote = primary_summary_table(results).note or ""
    assert "(unstructured not fitted)" in footnote or "unstructured, " in footnote


def test_demo_ogld_fallback_model_matches_nlme_and_pbkrtest(
    results: StudyResults, tmp_path: Path
) -> None:
    """The model the report prints for OGLD after the fallback is R's: nlme::gls with the same
    structure (heterogeneous Toeplitz: corARMA(p = T-1) + varIdent; AR(1): corAR1) on the same
    rows, estimates and standard errors to 1e-4, Kenward–Roger df (pbkrtest's algebra) to
    1e-3 relative."""
    primary = results.outcome("OGLDDDD")
    assert primary is not None
    model = primary.mmrm
    tag = {TOEPLITZ: "toeph", AUTOREGRESSIVE: "ar1"}.get(model.covariance)
    assert tag is not None, model.covariance
    rows = _ogld_rows(results).dropna(subset=["CHG", "BASE"])
    r = fallback_in_r(rows, [v.visit for v in model.visits], tmp_path)
    for estimate in model.visits:
        expected = r.loc[(tag, f"VISIT{estimate.visit}")]
        assert estimate.estimate == pytest.approx(expected["est"], abs=1e-4)
        assert estimate.se_model == pytest.approx(expected["nlme_se"], abs=1e-4)
        assert estimate.se == pytest.approx(expected["se_kr"], abs=1e-4)
        assert estimate.df == pytest.approx(expected["df"], rel=1e-3)
    assert model.log_likelihood == pytest.approx(r.loc[(tag, "BASEC"), "loglik"], abs=1e-4)


def _ogld_rows(results: StudyResults) -> pd.DataFrame:
    a = results.datasets.adeff
    return a[
        (a["PARAMCD"] == "OGLDDDD") & (a["ANL01FL"] == "Y") & (a["ITTFL"] == "Y")
        & (a["VISITNDY"] > 0) & a["AVISIT"].notna()
    ]  # fmt: skip


def test_a_dose_recorded_as_not_collected_is_not_filled_from_the_regimen(
    study: TestDatabase,
) -> None:
    """The site said the drug chart was not brought to M9 (UNK): M9 has no dose row, the
    code is counted as missing instead of a dose carried from the regimen."""
    with study.session() as session:
        target = session.execute(
            select(Participant.id, Participant.study_id, Visit.id)
            .join(Visit, Visit.participant_id == Participant.id)
            .where(Visit.code == "M9", Visit.visit_date.is_not(None), Visit.voided.is_(False))
            .order_by(Participant.study_id)
        ).first()
        assert target is not None
        pid, study_id, _visit_id = target
        user = session.scalars(select(InsulinDose.created_by)).first()
        actor = sv.actor_for(session, user or 0)
        before = source_frames(session, builtin_protocol()).dosing
        sv.record_measurement(
            session,
            actor,
            pid,
            sv.VisitMeasurement(
                visit_code="M9",
                element="ogld_ddd",
                value=None,
                missing_code="UNK",
                missing_reason="drug chart not brought",
            ),
        )
        frames = source_frames(session, builtin_protocol())
    at_m9 = (before["usubjid"] == study_id) & (before["visit"] == "M9")
    assert at_m9.sum() == 1
    after = frames.dosing
    assert ((after["usubjid"] == study_id) & (after["visit"] == "M9")).sum() == 0
    missing = frames.missing
    assert ((missing["usubjid"] == study_id) & (missing["element"] == "ogld_ddd")).sum() == 1
