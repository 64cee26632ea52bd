"""Results as JSON shaped like a ClinicalTrials.gov results section (API v2 field names).

Modules and fields follow the ClinicalTrials.gov data structure (API v2, ``resultsSection``):
``participantFlowModule`` (groups, periods -> milestones -> achievements, dropWithdraws ->
reasons), ``baselineCharacteristicsModule`` (groups, denoms, measures -> classes -> categories
-> measurements), ``outcomeMeasuresModule`` (outcomeMeasures with paramType, dispersionType,
classes, denoms and analyses) and ``adverseEventsModule`` (eventGroups, seriousEvents,
otherEvents with stats). As in the registry, counts inside measurements are strings and
numbers at risk in eventGroups are integers. Definitions: ClinicalTrials.gov "Results Data
Element Definitions for Interventional and Observational Studies" (2023).

Known gap: adverse-event terms are reported as entered; they are not coded to MedDRA, so
``organSystem`` says so instead of naming a system organ class.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from trialdesk.analysis._values import as_int
from trialdesk.analysis.adae import SERIOUSNESS_CRITERIA
from trialdesk.analysis.results import P_FLOOR, OutcomeResult, StudyResults
from trialdesk.analysis.stats.descriptive import Summary
from trialdesk.analysis.stats.mmrm import (
    COMPOUND_SYMMETRY,
    LikelihoodRatio,
    MmrmResult,
    structure_used,
)
from trialdesk.analysis.stats.proportions import Proportion

_FLOW, _BASE, _OUT, _EVENT = "FG000", "BG000", "OG000", "EG000"
_NOT_CODED = "Not coded (MedDRA system organ class not assigned)"

Json = dict[str, Any]


def _num(value: float, decimals: int) -> str:
    """A value as the registry stores it: a string, "NA" when not available."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "NA"
    return f"{value:.{decimals}f}"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "NA"
    return "<0.001" if value < P_FLOOR else f"{value:.3f}"


def _group(results: StudyResults, group_id: str) -> Json:
    arm = results.protocol.design.arms[0]
    return {"id": group_id, "title": arm.name, "description": arm.description.strip()}


def participant_flow(results: StudyResults) -> Json:
    """participantFlowModule: screening in preAssignmentDetails, then one overall period."""
    flow = results.consort
    reasons = "; ".join(f"{r.label} (n={r.count})" for r in flow.exclusion_reasons)
    achieved = [
        ("STARTED", flow.enrolled),
        ("Transplanted", flow.transplanted),
        ("COMPLETED", flow.completed),
        ("NOT COMPLETED", flow.enrolled - flow.completed),
    ]
    return {
        "recruitmentDetails": (
            f"{flow.screened} candidates screened at "
            f"{', '.join(s.name for s in results.protocol.sites)}."
        ),
        "preAssignmentDetails": f"{flow.excluded} of {flow.screened} screened candidates were "
        f"not enrolled. Reasons (a candidate may have several): {reasons or 'none'}.",
        "groups": [_group(results, _FLOW)],
        "periods": [
            {
                "title": "Overall Study",
                "milestones": [
                    {"type": kind, "achievements": [{"groupId": _FLOW, "numSubjects": str(n)}]}
                    for kind, n in achieved
                ],
                "dropWithdraws": [
                    {"type": r.label, "reasons": [{"groupId": _FLOW, "numSubjects": str(r.count)}]}
                    for r in flow.discontinuation_reasons
                ]
                + (
                    [
                        {
                            "type": "Still in follow-up at data cut",
                            "reasons": [{"groupId": _FLOW, "numSubjects": str(flow.ongoing)}],
                        }
                    ]
                    if flow.ongoing
                    else []
                ),
            }
        ],
    }


def _measurement(group: str, value: str, **extra: str) -> Json:
    return {"groupId": group, "value": value, **extra}


def _continuous(title: str, unit: str, s: Summary, group: str, decimals: int = 1) -> Json:
    return {
        "title": title,
        "paramType": "MEAN",
        "dispersionType": "STANDARD_DEVIATION",
        "unitOfMeasure": unit,
        "denoms": [{"units": "Participants", "counts": [{"groupId": group, "value": str(s.n)}]}],
        "classes": [
            {
                "categories": [
                    {
                        "measurements": [
                            _measurement(group, _num(s.mean, decimals), spread=_num(s.sd, decimals))
                        ]
                    }
                ]
            }
        ],
    }


def baseline_characteristics(results: StudyResults) -> Json:
    """baselineCharacteristicsModule for the ITT set (every enrolled participant)."""
    n = results.consort.enrolled
    measures: list[Json] = []
    for row in results.baseline:
        if row.counts:
            measures.append(
                {
                    "title": f"{row.label}: {', '.join(row.counts)}",
                    "paramType": "COUNT_OF_PARTICIPANTS",
                    "unitOfMeasure": "Participants",
                    "classes": [
                        {
                            "categories": [
                                {"title": label, "measurements": [_measurement(_BASE, str(count))]}
                                for label, count in row.counts.items()
                            ]
                        }
                    ],
                }
            )
        elif row.summary is not None and row.summary.n:
            title = "Age, Continuous" if row.label == "Age" else row.label
            measures.append(_continuous(title, row.unit, row.summary, _BASE, 2))
    countries: dict[str, int] = {}
    by_site = {s.code: s.country for s in results.protocol.sites}
    for site in results.datasets.adsl["SITEID"]:
        country = by_site.get(str(site), "Unknown")
        countries[country] = countries.get(country, 0) + 1
    measures.append(
        {
            "title": "Region of Enrollment",
            "paramType": "COUNT_OF_PARTICIPANTS",
            "unitOfMeasure": "participants",
            "classes": [
                {
                    "title": country,
                    "categories": [{"measurements": [_measurement(_BASE, str(count))]}],
                }
                for country, count in sorted(countries.items())
            ],
        }
    )
    return {
        "populationDescription": "All enrolled participants (intention-to-treat set).",
        "groups": [_group(results, _BASE)],
        "denoms": [{"units": "Participants", "counts": [{"groupId": _BASE, "value": str(n)}]}],
        "measures": measures,
    }


def _analyses(outcome: OutcomeResult, results: StudyResults) -> list[Json]:
    d = outcome.spec.decimals
    pct = str(round(results.level * 100))
    paired = outcome.paired
    common = {"groupIds": [_OUT], "nonInferiorityType": "SUPERIORITY_OR_OTHER"}
    analyses = [
        {
            **common,
            "statisticalMethod": "t-test, 2 sided",
            "statisticalComment": f"Paired t-test, {results.primary_visit.name} vs baseline, "
            f"complete pairs (n={paired.n}).",
            "pValue": _p(paired.p_ttest),
            "paramType": "Mean Difference (Final Values)",
            "paramValue": _num(paired.mean_change, d),
            "ciPctValue": pct,
            "ciNumSides": "TWO_SIDED",
            "ciLowerLimit": _num(paired.ci_low, d),
            "ciUpperLimit": _num(paired.ci_high, d),
        },
        {
            **common,
            "statisticalMethod": "Wilcoxon (Signed-Rank)",
            "statisticalComment": "Hodges-Lehmann estimate of the change; zero changes dropped.",
            "pValue": _p(paired.p_wilcoxon),
            "paramType": "Median Difference (Final Values)",
            "paramValue": _num(paired.hodges_lehmann, d),
        },
    ]
    analyses += [
        a
        for a in (
            _model_analysis(outcome, outcome.mmrm, results, common, primary=True),
            _model_analysis(outcome, outcome.sensitivity, results, common, primary=False),
        )
        if a is not None
    ]
    return analyses


def _p_text(p: float) -> str:
    """``= 0.418`` or ``< 0.001`` after a "p"."""
    shown = _p(p)
    return f"< {shown[1:]}" if shown.startswith("<") else f"= {shown}"


def _model_comment(model: MmrmResult, lrt: LikelihoodRatio | None, primary: bool) -> str:
    if primary:
        name = model.covariance.removeprefix("MMRM, ")
        test = (
            f" Likelihood-ratio test of {name} vs compound symmetry: chi-square "
            f"{lrt.statistic:.2f} on {lrt.df} df, p {_p_text(lrt.p)}."
            if lrt
            else ""
        )
        return f"MMRM (primary): {structure_used(model)} across visits.{test}"
    return f"Sensitivity analysis: {COMPOUND_SYMMETRY}, one random intercept per participant."


def _model_analysis(
    outcome: OutcomeResult,
    model: MmrmResult | None,
    results: StudyResults,
    common: Json,
    *,
    primary: bool,
) -> Json | None:
    """One "Mixed Models Analysis" entry: the MMRM (unstructured) or the sensitivity model."""
    estimate = model.at(results.primary_visit.code) if model is not None else None
    if model is None or not model.estimable or estimate is None:
        return None
    d = outcome.spec.decimals
    return {
        **common,
        "statisticalMethod": "Mixed Models Analysis",
        "statisticalComment": f"{_model_comment(model, outcome.covariance_test, primary)} "
        "Change from baseline at every post-baseline visit; fixed visit effects and baseline "
        f"covariate, REML; Kenward–Roger standard error and df ({estimate.df:.1f}); "
        f"Satterthwaite alternative: df {estimate.df_satterthwaite:.1f}, p "
        f"{_p_text(estimate.p_satterthwaite)}; {model.n_subjects} participants, "
        f"{model.n_observations} observations.",
        "covarianceStructure": model.covariance,
        "covarianceFallback": model.fallback,
        "dfMethod": model.df_method,
        "pValue": _p(estimate.p),
        "paramType": "Mean Difference (Net)",
        "paramValue": _num(estimate.estimate, d),
        "ciPctValue": str(round(results.level * 100)),
        "ciNumSides": "TWO_SIDED",
        "ciLowerLimit": _num(estimate.ci_low, d),
        "ciUpperLimit": _num(estimate.ci_high, d),
        "estimateComment": f"Adjusted mean change from baseline at {results.primary_visit.name}.",
    }


def _outcome_measure(outcome: OutcomeResult, results: StudyResults) -> Json:
    d = outcome.spec.decimals
    pct = round(results.level * 100)
    post = [v for v in outcome.by_visit if v.change is not None and v.change.n]
    return {
        "type": "PRIMARY",
        "title": f"Change from baseline in {outcome.spec.param}",
        "description": f"{outcome.outcome_title}: value at each visit minus baseline (last value "
        "on or before day 0). Mean and SD of the observed changes; CI, tests and mixed model in "
        "the analyses.",
        "populationDescription": "Intention-to-treat set; participants with baseline and the "
        "visit's value (observed cases).",
        "reportingStatus": "POSTED",
        "paramType": "MEAN",
        "dispersionType": "STANDARD_DEVIATION",
        "unitOfMeasure": outcome.spec.change_unit,
        "timeFrame": f"Baseline and {', '.join(v.label for v in post)} (primary: "
        f"{results.primary_visit.name}; {pct}% CIs)",
        "groups": [{**_group(results, _OUT)}],
        "denoms": [
            {"units": "Participants", "counts": [{"groupId": _OUT, "value": str(outcome.paired.n)}]}
        ],
        "classes": [
            {
                "title": v.label,
                "denoms": [
                    {
                        "units": "Participants",
                        "counts": [{"groupId": _OUT, "value": str(v.change.n)}],
                    }
                ],
                "categories": [
                    {
                        "measurements": [
                            _measurement(_OUT, _num(v.change.mean, d), spread=_num(v.change.sd, d))
                        ]
                    }
                ],
            }
            for v in post
            if v.change is not None
        ],
        "analyses": _analyses(outcome, results),
    }


def _proportion_measure(title: str, description: str, p: Proportion, results: StudyResults) -> Json:
    pct = round(results.level * 100)
    return {
        "type": "PRIMARY",
        "title": title,
        "description": description,
        "populationDescription": "Participants on insulin at baseline with the primary-visit "
        "dose (observed cases).",
        "reportingStatus": "POSTED",
        "paramType": "NUMBER",
        "dispersionType": f"CONFIDENCE_INTERVAL_{pct}",
        "unitOfMeasure": "percentage of participants",
        "timeFrame": f"Baseline and {results.primary_visit.name}",
        "groups": [_group(results, _OUT)],
        "denoms": [{"units": "Participants", "counts": [{"groupId": _OUT, "value": str(p.n)}]}],
        "classes": [
            {
                "categories": [
                    {
                        "measurements": [
                            _measurement(
                                _OUT,
                                _num(p.percent, 1),
                                lowerLimit=_num(p.ci_low * 100, 1),
                                upperLimit=_num(p.ci_high * 100, 1),
                                comment=f"{p.x} of {p.n}; exact (Clopper-Pearson) CI",
                            )
                        ]
                    }
                ]
            }
        ],
    }


def _insulin_measures(results: StudyResults) -> list[Json]:
    insulin = results.insulin
    if insulin is None:
        return []
    threshold = f"{insulin.threshold_percent:g}"
    reduction = _continuous(
        "Percent reduction in insulin dose (U/kg/day)",
        "percent reduction",
        insulin.percent_reduction,
        _OUT,
        1,
    )
    reduction.update(
        {
            "type": "PRIMARY",
            "description": "(baseline - follow-up) / baseline x 100 of the U/kg/day dose.",
            "reportingStatus": "POSTED",
            "timeFrame": f"Baseline and {results.primary_visit.name}",
            "groups": [_group(results, _OUT)],
        }
    )
    return [
        reduction,
        _proportion_measure(
            f"Participants with >= {threshold}% reduction in insulin dose (U/kg/day)",
            f"Responder: reduction of at least {threshold}% (Bhansali et al. 2009).",
            insulin.responders,
            results,
        ),
        _proportion_measure(
            "Participants insulin independent",
            "No exogenous insulin (0 U/day) at the primary visit.",
            insulin.insulin_free,
            results,
        ),
    ]


def _sae_measure(results: StudyResults) -> Json:
    table = results.safety.sae_by_grade
    return {
        "type": "SECONDARY",
        "title": "Participants with serious adverse events, by worst CTCAE v5.0 grade",
        "description": "Treatment-emergent SAEs (ICH E2A); each participant counted once at the "
        "worst grade.",
        "populationDescription": "Safety set (transplanted participants).",
        "reportingStatus": "POSTED",
        "paramType": "COUNT_OF_PARTICIPANTS",
        "unitOfMeasure": "Participants",
        "timeFrame": "From transplantation to the end of follow-up (one year)",
        "groups": [_group(results, _OUT)],
        "denoms": [
            {
                "units": "Participants",
                "counts": [{"groupId": _OUT, "value": str(results.safety.at_risk)}],
            }
        ],
        "classes": [
            {
                "categories": [
                    {
                        "title": str(row.category),
                        "measurements": [_measurement(_OUT, str(as_int(row.n_subjects)))],
                    }
                    for row in table.itertuples()
                ]
            }
        ],
    }


def outcome_measures(results: StudyResults) -> Json:
    measures = [_outcome_measure(o, results) for o in results.outcomes]
    return {"outcomeMeasures": [*measures, *_insulin_measures(results), _sae_measure(results)]}


def _events(table: Any) -> list[Json]:
    return [
        {
            "term": str(row.term),
            "organSystem": _NOT_CODED,
            "assessmentType": "SYSTEMATIC_ASSESSMENT",
            "stats": [
                {
                    "groupId": _EVENT,
                    "numEvents": as_int(row.n_events),
                    "numAffected": as_int(row.n_subjects),
                    "numAtRisk": as_int(row.n_at_risk),
                }
            ],
        }
        for row in table.itertuples()
    ]


def adverse_events(results: StudyResults) -> Json:
    safety = results.safety
    adsl = results.datasets.adsl
    safety_set = adsl[adsl["SAFFL"] == "Y"]
    n = safety.at_risk
    criteria = ", ".join(label.lower() for _, _, label in SERIOUSNESS_CRITERIA)
    return {
        "frequencyThreshold": "0",
        "timeFrame": "From transplantation to the end of follow-up (one year)",
        "description": "Treatment-emergent adverse events (onset on or after transplantation), "
        f"graded by CTCAE v5.0; serious per ICH E2A ({criteria}). All non-serious events are "
        "listed (threshold 0%).",
        "eventGroups": [
            {
                **_group(results, _EVENT),
                "deathsNumAffected": int((safety_set["DTHFL"] == "Y").sum()),
                "deathsNumAtRisk": n,
                "seriousNumAffected": _affected(results, serious=True),
                "seriousNumAtRisk": n,
                "otherNumAffected": _affected(results, serious=False),
                "otherNumAtRisk": n,
            }
        ],
        "seriousEvents": _events(safety.serious_terms),
        "otherEvents": _events(safety.other_terms),
    }


def _affected(results: StudyResults, serious: bool) -> int:
    adae = results.datasets.adae
    te = adae[(adae["TRTEMFL"] == "Y") & (adae["SAFFL"] == "Y")]
    return int(te.loc[(te["AESER"] == "Y") == serious, "USUBJID"].nunique())


def build_results_json(
    results: StudyResults, generated_by: str = "trialdesk", simulated: str | None = None
) -> Json:
    """The whole document: identification, the four results modules and provenance.

    `simulated` (how the data were simulated, `trialdesk.store.provenance`) makes the document
    say so: ``"simulated": true``, ``"hasResults": false`` (in the ClinicalTrials.gov data
    model hasResults means results of the trial were posted; simulated figures are not any)
    and a provenance note. Real data: ``"simulated": false`` and ``"hasResults": true``.
    """
    protocol = results.protocol
    note = "Computed by trialdesk from the study database; not a registry submission."
    if simulated is not None:
        note = f"SIMULATED DATA ({simulated}): not results of the trial. " + note
    return {
        "protocolSection": {
            "identificationModule": {
                "nctId": protocol.registry.id,
                "briefTitle": protocol.brief_title or protocol.title,
            },
            # The registered (anticipated) enrollment: ClinicalTrials.gov's enrollmentInfo
            # type ESTIMATED; the actual number enrolled is in the participant flow.
            "designModule": {
                "enrollmentInfo": {"count": protocol.target_enrollment, "type": "ESTIMATED"}
            },
        },
        "simulated": simulated is not None,
        "hasResults": simulated is None,
        "resultsSection": {
            "participantFlowModule": participant_flow(results),
            "baselineCharacteristicsModule": baseline_characteristics(results),
            "outcomeMeasuresModule": outcome_measures(results),
            "adverseEventsModule": adverse_events(results),
        },
        "provenance": {
            "generatedBy": generated_by,
            "generatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
            "note": note,
            "dataIssues": list(results.issues),
            "missingData": missing_data(results),
            "mixedModels": mixed_models(results),
        },
    }


def missing_data(results: StudyResults) -> list[Json]:
    """Values recorded as missing, per outcome parameter, visit and missing-data code (ITT
    set): the counts behind the report's "Missing" column. A trialdesk extension of the
    provenance block (the registry's results format has no place for them)."""
    counts = []
    for outcome in results.outcomes:
        for v in outcome.by_visit:
            for code, n in v.missing.items():
                counts.append(
                    {
                        "paramcd": outcome.spec.paramcd,
                        "visit": v.label,
                        "code": code,
                        "count": n,
                    }
                )
    return counts


def mixed_models(results: StudyResults) -> list[Json]:
    """Per outcome parameter: the covariance structure of the primary MMRM, why any structure
    before it in the pre-specified sequence was left, or why no model could be fitted; the
    degrees-of-freedom method. A trialdesk extension of the provenance block."""
    return [
        {
            "paramcd": o.spec.paramcd,
            "fitted": o.mmrm.estimable,
            "covarianceStructure": o.mmrm.covariance if o.mmrm.estimable else None,
            "fallback": o.mmrm.fallback,
            "note": o.mmrm.note,
            "dfMethod": o.mmrm.df_method,
        }
        for o in results.outcomes
    ]
