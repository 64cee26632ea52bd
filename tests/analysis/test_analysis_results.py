"""`analyse` end to end on the test study, checked against independent calculations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from trialdesk.analysis import SourceFrames, StudyResults, analyse, derive_datasets
from trialdesk.analysis.registry import build_results_json
from trialdesk.protocol import Protocol


@pytest.fixture(scope="module")
def results(frames: SourceFrames, protocol: Protocol) -> StudyResults:
    return analyse(derive_datasets(frames, protocol), protocol)


def test_outcomes_follow_the_protocol_order(results: StudyResults) -> None:
    codes = [o.spec.paramcd for o in results.outcomes]
    assert codes == ["KITT", "INSDOSE", "INSDOSKG", "OGLDDDD", "HBA1C", "FBG", "PBG", "CPEPF",
                     "CPEPS", "INSF", "HOMAIR"]  # fmt: skip
    assert results.primary_visit.code == "M12"


def test_hba1c_paired_test_from_the_raw_measurements(
    frames: SourceFrames, results: StudyResults
) -> None:
    # Independent path: straight from the measurements frame, no ADaM dataset involved.
    m = frames.measurements[frames.measurements["element"] == "hba1c"]
    wide = m.pivot_table(index="usubjid", columns="visit", values="value").dropna(
        subset=["BL", "M12"]
    )
    t = stats.ttest_rel(wide["M12"], wide["BL"])
    w = stats.wilcoxon(wide["M12"] - wide["BL"])
    paired = results.outcome("HBA1C").paired  # type: ignore[union-attr]
    assert paired.n == len(wide) == 10
    assert paired.mean_change == pytest.approx((wide["M12"] - wide["BL"]).mean())
    assert paired.t == pytest.approx(t.statistic) and paired.p_ttest == pytest.approx(t.pvalue)
    assert paired.p_wilcoxon == pytest.approx(w.pvalue)


def test_by_visit_table(frames: SourceFrames, results: StudyResults) -> None:
    hba1c = results.outcome("HBA1C")
    assert hba1c is not None
    labels = [v.label for v in hba1c.by_visit]
    assert labels == ["Baseline", "Month 1", "Month 3", "Month 6", "Month 9", "Month 12"]
    m6 = next(v for v in hba1c.by_visit if v.visit == "M6")
    raw = frames.measurements
    values = raw[(raw["element"] == "hba1c") & (raw["visit"] == "M6")]["value"]
    assert m6.value.n == len(values) == 9  # S02 not transplanted, S03 withdrew, S05 missed M6
    assert m6.value.mean == pytest.approx(values.mean())
    assert hba1c.by_visit[0].value.n == 12  # baseline: every enrolled participant


def test_mixed_model_uses_every_participant_with_follow_up(results: StudyResults) -> None:
    model = results.outcome("HBA1C").mmrm  # type: ignore[union-attr]
    assert model.estimable and model.n_subjects == 11  # S03 (withdrew after M3) included
    m12 = model.at("M12")
    assert m12 is not None and m12.estimate < 0 and m12.ci_low < m12.estimate < m12.ci_high


def test_insulin_responders_and_independence(results: StudyResults) -> None:
    ins = results.insulin
    assert ins is not None and ins.threshold_percent == 50
    # The generator reduces insulin by 60 % in completers and stops it in S06: all respond.
    assert (ins.responders.x, ins.responders.n) == (10, 10)
    assert (ins.responders_itt.x, ins.responders_itt.n) == (10, 12)
    assert (ins.insulin_free.x, ins.insulin_free.n) == (1, 10)
    low, high = proportion_confint(10, 12, method="beta")
    assert (ins.responders_itt.ci_low, ins.responders_itt.ci_high) == pytest.approx((low, high))
    assert ins.percent_reduction.max == pytest.approx(100.0)


def test_participant_flow(results: StudyResults) -> None:
    flow = results.consort
    assert (flow.screened, flow.excluded, flow.enrolled) == (18, 6, 12)
    assert (flow.transplanted, flow.not_transplanted, flow.discontinued) == (11, 1, 1)
    assert (flow.completed, flow.ongoing) == (10, 0)
    assert (flow.analysed, flow.analysed_complete_pairs) == (11, 10)
    reasons = {r.label.split(":")[0]: r.count for r in flow.exclusion_reasons}
    assert reasons["I4 not met"] == 1 and reasons["E2 present"] == 1
    assert reasons["Screening incomplete (eligibility not assessable)"] == 1
    assert any("kg/m2" in r.label for r in flow.exclusion_reasons)  # NFKC of "㎏/㎡"


def test_safety_counts(results: StudyResults) -> None:
    s = results.safety
    assert s.at_risk == 11 and s.non_emergent_events == 1
    overview = s.overview.set_index("category")
    assert overview.loc["Any adverse event", ["n_subjects", "n_events"]].tolist() == [3, 5]
    assert overview.loc["Any serious adverse event (SAE)", "n_subjects"] == 2
    assert list(s.sae_listing["AE id"]) == ["AE2", "AE4"]
    assert s.sae_listing.loc[1, "Seriousness criteria"] == (
        "Requires or prolongs inpatient hospitalisation, Other important medical event"
    )


def test_baseline_characteristics(results: StudyResults, frames: SourceFrames) -> None:
    rows = {r.label: r for r in results.baseline}
    assert rows["Sex"].counts == {"Female": 4, "Male": 8} and rows["Sex"].denominator == 12
    heights = frames.subjects["height_cm"]
    assert rows["Height"].summary.mean == pytest.approx(heights.mean())  # type: ignore[union-attr]


def test_registry_json_shape_and_numbers(results: StudyResults) -> None:
    doc = json.loads(json.dumps(build_results_json(results)))
    section = doc["resultsSection"]
    assert set(section) == {
        "participantFlowModule", "baselineCharacteristicsModule", "outcomeMeasuresModule",
        "adverseEventsModule",
    }  # fmt: skip
    flow = section["participantFlowModule"]
    milestones = {m["type"]: m["achievements"][0]["numSubjects"]
                  for m in flow["periods"][0]["milestones"]}  # fmt: skip
    assert milestones["STARTED"] == "12" and milestones["COMPLETED"] == "10"
    assert flow["groups"][0]["id"] == "FG000"
    baseline = section["baselineCharacteristicsModule"]
    assert baseline["denoms"][0]["counts"][0]["value"] == "12"
    assert any(m["title"] == "Age, Continuous" for m in baseline["measures"])
    measures = section["outcomeMeasuresModule"]["outcomeMeasures"]
    hba1c = next(m for m in measures if m["title"] == "Change from baseline in Haemoglobin A1c (%)")
    assert hba1c["unitOfMeasure"] == "percentage points"
    assert hba1c["classes"][-1]["title"] == "Month 12"
    paired = results.outcome("HBA1C").paired  # type: ignore[union-attr]
    t_test = next(a for a in hba1c["analyses"] if a["statisticalMethod"] == "t-test, 2 sided")
    assert float(t_test["paramValue"]) == pytest.approx(paired.mean_change, abs=0.005)
    assert t_test["ciNumSides"] == "TWO_SIDED" and t_test["ciPctValue"] == "95"
    assert {a["statisticalMethod"] for a in hba1c["analyses"]} == {
        "t-test, 2 sided", "Wilcoxon (Signed-Rank)", "Mixed Models Analysis"
    }  # fmt: skip
    events = section["adverseEventsModule"]
    group = events["eventGroups"][0]
    assert (group["seriousNumAffected"], group["seriousNumAtRisk"]) == (2, 11)
    assert group["otherNumAffected"] == 3
    assert sorted(e["term"] for e in events["seriousEvents"]) == ["Hypoglycaemia", "Pneumonia"]
    assert all(isinstance(e["stats"][0]["numAtRisk"], int) for e in events["otherEvents"])


def test_level_changes_every_interval(frames: SourceFrames, protocol: Protocol) -> None:
    datasets = derive_datasets(frames, protocol)
    wide = analyse(datasets, protocol, level=0.99).outcome("HBA1C")
    narrow = analyse(datasets, protocol, level=0.90).outcome("HBA1C")
    assert wide is not None and narrow is not None
    assert wide.paired.ci_high - wide.paired.ci_low > narrow.paired.ci_high - narrow.paired.ci_low
    with pytest.raises(ValueError, match="level"):
        analyse(datasets, protocol, level=1.5)


def test_no_effect_data_show_no_change(frames_factory, protocol: Protocol) -> None:  # type: ignore[no-untyped-def]
    flat = frames_factory(effect=0.0, seed=11)
    result = analyse(derive_datasets(flat, protocol), protocol).outcome("HBA1C")
    assert result is not None and abs(result.paired.mean_change) < 0.3
    assert np.isfinite(result.paired.p_ttest)


def test_an_outcome_without_data_is_named_not_dropped_silently(
    frames: SourceFrames, protocol: Protocol
) -> None:
    m = frames.measurements
    without = SourceFrames(
        **{**frames.as_dict(), "measurements": m[m["element"] != "stimulated_c_peptide"]}
    )
    results = analyse(derive_datasets(without, protocol), protocol)
    assert results.outcome("CPEPS") is None
    assert any(n.startswith("Stimulated C-peptide") and "not analysed" in n for n in results.issues)
