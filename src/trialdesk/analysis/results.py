"""Every statistic of the report, computed once from the analysis datasets.

`analyse(datasets, protocol)` returns a `StudyResults`; the HTML/PDF report, the figures and
the registry-results JSON render it and compute nothing themselves.

Analysis sets: efficacy on the ITT set (every enrolled participant; a participant enters each
analysis for which it has the values), safety on the safety set (transplanted participants).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from trialdesk.analysis.consort import ConsortFlow, derive_consort
from trialdesk.analysis.datasets import AnalysisDatasets
from trialdesk.analysis.params import PARAMS, PARAMS_BY_CODE, ParamSpec
from trialdesk.analysis.stats import safety
from trialdesk.analysis.stats.descriptive import Summary, compute_summary
from trialdesk.analysis.stats.mmrm import (
    LikelihoodRatio,
    MmrmResult,
    compare_covariances,
    fit_mmrm,
    fit_primary_mmrm,
)
from trialdesk.analysis.stats.paired import PairedResult, compute_paired_tests
from trialdesk.analysis.stats.proportions import Proportion, compute_proportion
from trialdesk.analysis.stats.unstructured import Structure
from trialdesk.analysis.visits import AnalysisVisit, baseline_visit, primary_visit
from trialdesk.derive import RESPONDER_THRESHOLD_PERCENT, compute_dose_reduction
from trialdesk.protocol import Protocol

BASELINE_LABEL = "Baseline"
#: Smaller p-values print as "<0.001", as journals print them (see `format_p`).
P_FLOOR = 0.001


@dataclass(frozen=True)
class VisitSummary:
    """One row of an outcome's by-visit table: the value and (after baseline) its change."""

    visit: str
    label: str
    day: float
    value: Summary
    change: Summary | None
    percent_change: Summary | None
    missing: dict[str, int] = field(default_factory=dict)  # missing-data code -> n


@dataclass(frozen=True)
class OutcomeResult:
    """One parameter: by-visit summaries, the paired tests at the primary visit, the model
    (`mmrm`: unstructured covariance, primary), the random-intercept (compound symmetry) model
    as sensitivity analysis and the likelihood-ratio test between the two covariances."""

    spec: ParamSpec
    outcome_id: str
    outcome_title: str
    by_visit: list[VisitSummary]
    paired: PairedResult
    mmrm: MmrmResult
    sensitivity: MmrmResult | None = None
    covariance_test: LikelihoodRatio | None = None


@dataclass(frozen=True)
class DoseOutcome:
    """Insulin dose reduction at the primary visit (Bhansali 2009 responder definition)."""

    paramcd: str
    threshold_percent: float
    percent_reduction: Summary
    responders: Proportion
    responders_itt: Proportion
    insulin_free: Proportion
    insulin_free_itt: Proportion


@dataclass(frozen=True)
class BaselineRow:
    label: str
    unit: str
    summary: Summary | None = None
    counts: dict[str, int] = field(default_factory=dict)
    denominator: int = 0


@dataclass(frozen=True)
class SafetyResults:
    at_risk: int
    overview: pd.DataFrame
    by_grade: pd.DataFrame
    sae_by_grade: pd.DataFrame
    by_seriousness: pd.DataFrame
    by_relatedness: pd.DataFrame
    serious_terms: pd.DataFrame
    other_terms: pd.DataFrame
    sae_listing: pd.DataFrame
    non_emergent_events: int


@dataclass(frozen=True)
class StudyResults:
    protocol: Protocol
    datasets: AnalysisDatasets
    baseline_visit: AnalysisVisit
    primary_visit: AnalysisVisit
    consort: ConsortFlow
    baseline: list[BaselineRow]
    outcomes: list[OutcomeResult]
    insulin: DoseOutcome | None
    safety: SafetyResults
    level: float = 0.95
    notes: list[str] = field(default_factory=list)

    @property
    def issues(self) -> list[str]:
        """Everything the reader should know about missing or doubtful data, in one list."""
        return [*self.notes, *self.datasets.issues]

    def outcome(self, paramcd: str) -> OutcomeResult | None:
        return next((o for o in self.outcomes if o.spec.paramcd == paramcd), None)


def outcome_params(protocol: Protocol) -> list[tuple[ParamSpec, str, str]]:
    """(parameter, outcome id, outcome title) for each primary outcome element, in order."""
    found = []
    for outcome in sorted(protocol.primary_outcomes, key=lambda o: o.number):
        for element in outcome.elements:
            for spec in PARAMS:
                if spec.element == element:
                    found.append((spec, outcome.id, outcome.title))
    return found


def _analysed(adeff: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    rows = adeff[
        (adeff["PARAMCD"] == paramcd) & (adeff["ANL01FL"] == "Y") & (adeff["ITTFL"] == "Y")
    ]
    return rows


def summarise_by_visit(rows: pd.DataFrame, level: float) -> list[VisitSummary]:
    """Baseline (ABLFL rows) then every post-baseline scheduled visit with data."""
    table = [
        VisitSummary(
            "BASE",
            BASELINE_LABEL,
            0.0,
            compute_summary(rows.loc[rows["ABLFL"] == "Y", "AVAL"], level),
            None,
            None,
        )
    ]
    post = rows[(rows["VISITNDY"] > 0) & rows["AVISIT"].notna()]
    for visit, at_visit in post.groupby("VISIT", sort=False):
        table.append(
            VisitSummary(
                visit=str(visit),
                label=str(at_visit["AVISIT"].iloc[0]),
                day=float(at_visit["AVISITN"].iloc[0]),
                value=compute_summary(at_visit["AVAL"], level),
                change=compute_summary(at_visit["CHG"], level),
                percent_change=compute_summary(at_visit["PCHG"], level),
            )
        )
    return [table[0], *sorted(table[1:], key=lambda v: v.day)]


def missing_counts(missing: pd.DataFrame, paramcd: str, visit: str) -> dict[str, int]:
    """Values of `paramcd` recorded as missing at `visit` (ITT set), by missing-data code."""
    rows = missing[
        (missing["PARAMCD"] == paramcd) & (missing["VISIT"] == visit) & (missing["ITTFL"] == "Y")
    ]
    return {str(code): int(n) for code, n in rows["MISSCD"].value_counts().sort_index().items()}


def with_missing(
    table: list[VisitSummary], missing: pd.DataFrame, paramcd: str, baseline: str
) -> list[VisitSummary]:
    """The by-visit rows with the count of coded-missing values at each (baseline: at the
    baseline visit)."""
    return [
        replace(
            v, missing=missing_counts(missing, paramcd, baseline if v.visit == "BASE" else v.visit)
        )
        for v in table
    ]


def analyse_param(
    adeff: pd.DataFrame,
    spec: ParamSpec,
    visit: AnalysisVisit,
    level: float,
    *,
    missing: pd.DataFrame | None = None,
    baseline: str = "",
) -> tuple[list[VisitSummary], PairedResult, MmrmResult]:
    """By-visit summary (with the coded-missing counts), paired tests at `visit` and the mixed
    model for one parameter. Unscheduled visits (no AVISIT) enter none of these."""
    rows = _analysed(adeff, spec.paramcd)
    at_primary = rows[(rows["VISIT"] == visit.code) & rows["BASE"].notna()]
    paired = compute_paired_tests(at_primary["BASE"], at_primary["AVAL"], level)
    post = rows[(rows["VISITNDY"] > 0) & rows["AVISIT"].notna()]
    table = summarise_by_visit(rows, level)
    if missing is not None:
        table = with_missing(table, missing, spec.paramcd, baseline)
    return table, paired, fit_primary_mmrm(post, level)


def sensitivity_model(
    adeff: pd.DataFrame, spec: ParamSpec, primary: MmrmResult, level: float
) -> tuple[MmrmResult, LikelihoodRatio | None]:
    """The random-intercept (compound symmetry) model on the same rows as the primary MMRM,
    and the REML likelihood-ratio test of unstructured against compound symmetry."""
    rows = _analysed(adeff, spec.paramcd)
    post = rows[(rows["VISITNDY"] > 0) & rows["AVISIT"].notna()]
    compound = fit_mmrm(post, level, Structure.COMPOUND_SYMMETRY)
    return compound, compare_covariances(primary, compound)


def unscheduled_values(adeff: pd.DataFrame) -> pd.DataFrame:
    """Values at unscheduled visits (no AVISIT): listed in the report, not summarised by visit
    (ADaMIG v1.3 section 3.3.4: unscheduled records keep AVISIT empty unless windowed)."""
    rows = adeff[adeff["AVISIT"].isna()]
    columns = ["USUBJID", "PARAMCD", "VISIT", "ADT", "ADY", "AVAL", "AVALU"]
    return rows[columns].sort_values(["USUBJID", "ADT", "PARAMCD"]).reset_index(drop=True)


def _dose_outcome(
    adeff: pd.DataFrame, adsl: pd.DataFrame, visit: AnalysisVisit, threshold: float, level: float
) -> DoseOutcome | None:
    per_kg = _analysed(adeff, "INSDOSKG")
    if per_kg.empty:
        return None
    base_rows = per_kg[(per_kg["ABLFL"] == "Y") & (per_kg["AVAL"] > 0)]
    on_insulin = set(base_rows["USUBJID"])
    final = per_kg[(per_kg["VISIT"] == visit.code) & per_kg["USUBJID"].isin(on_insulin)]
    reductions = [
        compute_dose_reduction(b, f, responder_threshold_percent=threshold)
        for b, f in zip(final["BASE"], final["AVAL"], strict=True)
    ]
    daily = _analysed(adeff, "INSDOSE")
    daily_final = daily[(daily["VISIT"] == visit.code) & daily["USUBJID"].isin(on_insulin)]
    free = int((daily_final["AVAL"] == 0).sum())
    responders = sum(r.responder for r in reductions)
    itt_n = len(on_insulin & set(adsl.loc[adsl["ITTFL"] == "Y", "USUBJID"]))
    return DoseOutcome(
        paramcd="INSDOSKG",
        threshold_percent=threshold,
        percent_reduction=compute_summary([r.percent_reduction for r in reductions], level),
        responders=compute_proportion(responders, len(reductions), level),
        responders_itt=compute_proportion(responders, itt_n, level),
        insulin_free=compute_proportion(free, len(daily_final), level),
        insulin_free_itt=compute_proportion(free, itt_n, level),
    )


def _baseline_rows(datasets: AnalysisDatasets, level: float) -> list[BaselineRow]:
    itt = datasets.adsl[datasets.adsl["ITTFL"] == "Y"]
    n = len(itt)
    rows = [
        BaselineRow("Age", "years", compute_summary(itt["AGE"], level)),
        BaselineRow(
            "Sex",
            "participants",
            counts={
                "Female": int((itt["SEX"] == "F").sum()),
                "Male": int((itt["SEX"] == "M").sum()),
            },
            denominator=n,
        ),
        BaselineRow("Height", "cm", compute_summary(itt["HEIGHTBL"], level)),
        BaselineRow("Body weight", "kg", compute_summary(itt["WEIGHTBL"], level)),
        BaselineRow("Body mass index", "kg/m²", compute_summary(itt["BMIBL"], level)),
        BaselineRow("Duration of diabetes", "years", compute_summary(itt["DIABDURBL"], level)),
    ]
    for spec in PARAMS:
        column = f"{spec.paramcd}BL"
        if spec.paramcd != "WEIGHT" and column in itt and itt[column].notna().any():
            label = spec.param.rsplit(" (", 1)[0]
            rows.append(BaselineRow(label, spec.unit, compute_summary(itt[column], level)))
    return rows


def _safety(datasets: AnalysisDatasets, level: float) -> SafetyResults:
    adae, adsl = datasets.adae, datasets.adsl
    return SafetyResults(
        at_risk=safety.at_risk(adsl),
        overview=safety.compute_ae_overview(adae, adsl, level),
        by_grade=safety.compute_ae_by_grade(adae, adsl, level=level),
        sae_by_grade=safety.compute_ae_by_grade(adae, adsl, serious_only=True, level=level),
        by_seriousness=safety.compute_ae_by_seriousness(adae, adsl, level),
        by_relatedness=safety.compute_ae_by_relatedness(adae, adsl, level),
        serious_terms=safety.compute_ae_by_term(adae, adsl, serious=True),
        other_terms=safety.compute_ae_by_term(adae, adsl, serious=False),
        sae_listing=safety.list_saes(adae),
        non_emergent_events=int((adae["TRTEMFL"] != "Y").sum()),
    )


def _threshold(protocol: Protocol) -> float:
    parameter = protocol.parameters.get("insulin_responder_reduction")
    return float(parameter.value) if parameter else RESPONDER_THRESHOLD_PERCENT


def analyse(
    datasets: AnalysisDatasets,
    protocol: Protocol,
    level: float = 0.95,
    on_step: Callable[[str], None] | None = None,
) -> StudyResults:
    """All statistics of the report. `on_step(name)` is called as each part finishes."""
    if not 0 < level < 1:
        raise ValueError(f"level={level!r}: expected a confidence level between 0 and 1")
    step = on_step or (lambda _name: None)
    visit = primary_visit(protocol)
    outcomes = []
    notes = []
    for spec, outcome_id, title in outcome_params(protocol):
        if _analysed(datasets.adeff, spec.paramcd).empty:
            notes.append(f"{spec.param} ({title}): no value recorded, not analysed")
            continue
        by_visit, paired, model = analyse_param(
            datasets.adeff,
            spec,
            visit,
            level,
            missing=datasets.missing,
            baseline=baseline_visit(protocol).code,
        )
        compound, lrt = sensitivity_model(datasets.adeff, spec, model, level)
        outcomes.append(
            OutcomeResult(spec, outcome_id, title, by_visit, paired, model, compound, lrt)
        )
        step(spec.paramcd)
    primary_param = outcomes[0].spec.paramcd if outcomes else "HBA1C"
    hba1c = "HBA1C" if any(o.spec.paramcd == "HBA1C" for o in outcomes) else primary_param
    consort = derive_consort(
        datasets.screening,
        datasets.adsl,
        datasets.adeff,
        protocol,
        analysed_paramcd=hba1c,
        primary_visit=visit.code,
    )
    results = StudyResults(
        protocol=protocol,
        datasets=datasets,
        baseline_visit=baseline_visit(protocol),
        primary_visit=visit,
        consort=consort,
        baseline=_baseline_rows(datasets, level),
        outcomes=outcomes,
        insulin=_dose_outcome(datasets.adeff, datasets.adsl, visit, _threshold(protocol), level),
        safety=_safety(datasets, level),
        level=level,
        notes=notes,
    )
    step("safety")
    return results


def format_number(value: float, decimals: int) -> str:
    """A number for a table: fixed decimals, an en dash for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{decimals}f}"


def format_p(p: float) -> str:
    """p-values as journals print them: <0.001, else 3 decimals."""
    if p is None or np.isnan(p):
        return "–"
    return "<0.001" if p < P_FLOOR else f"{p:.3f}"


def param_spec(paramcd: str) -> ParamSpec:
    return PARAMS_BY_CODE[paramcd]
