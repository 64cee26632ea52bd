"""Report tables as formatted text, shared by the HTML and the PDF report.

Each `ReportTable` holds already formatted cells, so the two renderings show the same digits.
Conventions: mean (SD); median (Q1–Q3); estimates with their CI in brackets; p-values as
journals print them (<0.001, else 3 decimals); an en dash for not available.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from trialdesk.analysis._values import as_float, as_int, as_timestamp, is_missing
from trialdesk.analysis.results import (
    OutcomeResult,
    StudyResults,
    format_number,
    format_p,
    unscheduled_values,
)
from trialdesk.analysis.stats.descriptive import Summary
from trialdesk.analysis.stats.mmrm import (
    FALLBACK_TEXT,
    LikelihoodRatio,
    MmrmResult,
    structure_brief,
    structures_footnote,
)
from trialdesk.analysis.stats.proportions import Proportion
from trialdesk.catalogue.missing import describe

DASH = "–"


@dataclass(frozen=True)
class ReportTable:
    key: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    numeric: list[bool] = field(default_factory=list)


def mean_sd(s: Summary | None, d: int) -> str:
    if s is None or s.n == 0:
        return DASH
    return f"{format_number(s.mean, d)} ({format_number(s.sd, d)})"


def median_iqr(s: Summary | None, d: int) -> str:
    if s is None or s.n == 0:
        return DASH
    return f"{format_number(s.median, d)} ({format_number(s.q1, d)}–{format_number(s.q3, d)})"


def estimate_ci(value: float, low: float, high: float, d: int) -> str:
    if pd.isna(value):
        return DASH
    return f"{format_number(value, d)} [{format_number(low, d)}, {format_number(high, d)}]"


def mean_ci(s: Summary | None, d: int) -> str:
    if s is None or s.n == 0:
        return DASH
    return estimate_ci(s.mean, s.ci_low, s.ci_high, d)


def proportion_text(p: Proportion) -> str:
    if p.n == 0:
        return DASH
    return f"{p.x}/{p.n} ({p.percent:.1f}%) [{p.ci_low * 100:.1f}, {p.ci_high * 100:.1f}]"


def flow_table(results: StudyResults) -> ReportTable:
    f = results.consort
    rows = [
        ["Screened (assessed for eligibility)", str(f.screened)],
        ["Excluded before enrolment", str(f.excluded)],
        ["Enrolled (ITT set)", str(f.enrolled)],
        ["Transplanted (safety set)", str(f.transplanted)],
        ["Enrolled but not transplanted", str(f.not_transplanted)],
        ["Discontinued", str(f.discontinued)],
        ["Still in follow-up", str(f.ongoing)],
        [f"Completed follow-up to {results.primary_visit.name}", str(f.completed)],
        [
            f"Analysed, {f.analysis_label} mixed model (baseline + >= 1 later visit)",
            str(f.analysed),
        ],
        [
            f"Analysed, {f.analysis_label} paired tests (baseline + {results.primary_visit.name})",
            str(f.analysed_complete_pairs),
        ],
    ]
    rows += [[f"  Excluded: {r.label}", str(r.count)] for r in f.exclusion_reasons]
    rows += [[f"  Discontinued: {r.label}", str(r.count)] for r in f.discontinuation_reasons]
    return ReportTable(
        "flow",
        "Participant flow",
        ["Stage", "n"],
        rows,
        "A candidate may fail several criteria; reasons can add up to more than the excluded.",
        [False, True],
    )


def baseline_table(results: StudyResults) -> ReportTable:
    rows = []
    for row in results.baseline:
        if row.counts:
            for label, count in row.counts.items():
                share = count / row.denominator * 100 if row.denominator else float("nan")
                rows.append(
                    [f"{row.label}: {label}", f"{count} ({share:.1f}%)", DASH, str(row.denominator)]
                )
        elif row.summary is not None and row.summary.n:
            rows.append(
                [
                    f"{row.label} ({row.unit})",
                    mean_sd(row.summary, 2),
                    median_iqr(row.summary, 2),
                    str(row.summary.n),
                ]
            )
    return ReportTable(
        "baseline",
        "Baseline characteristics (ITT set)",
        ["Characteristic", "Mean (SD) or n (%)", "Median (Q1–Q3)", "n"],
        rows,
        numeric=[False, True, True, True],
    )


def primary_summary_table(results: StudyResults) -> ReportTable:
    v = results.primary_visit
    pct = round(results.level * 100)
    rows = []
    for o in results.outcomes:
        d = o.spec.decimals
        p = o.paired
        est = o.mmrm.at(v.code) if o.mmrm.estimable else None
        rows.append(
            [
                o.spec.param,
                str(p.n),
                f"{format_number(p.mean_baseline, d)}",
                f"{format_number(p.mean_followup, d)}",
                estimate_ci(p.mean_change, p.ci_low, p.ci_high, d),
                format_p(p.p_ttest),
                format_p(p.p_wilcoxon),
                estimate_ci(est.estimate, est.ci_low, est.ci_high, d) if est else DASH,
                format_p(est.p) if est else DASH,
            ]
        )
    return ReportTable(
        "primary",
        f"Primary outcomes: change from baseline to {v.name}",
        [
            "Parameter",
            "n pairs",
            "Baseline mean",
            f"{v.name} mean",
            f"Mean change [{pct}% CI]",
            "p (paired t)",
            "p (Wilcoxon)",
            f"MMRM: change [{pct}% CI]",
            "p (MMRM)",
        ],
        rows,
        "Paired tests on participants with both values; the MMRM (baseline covariate, REML, "
        "Kenward–Roger standard errors and degrees of freedom) uses every post-baseline value "
        "of every participant with a baseline (missing at random). "
        + structures_footnote([(o.spec.param, o.mmrm) for o in results.outcomes]),
        [False] + [True] * 8,
    )


def outcome_visit_table(outcome: OutcomeResult, level: float) -> ReportTable:
    d = outcome.spec.decimals
    pct = round(level * 100)
    rows = []
    for v in outcome.by_visit:
        est = outcome.mmrm.at(v.visit) if outcome.mmrm.estimable else None
        rows.append(
            [
                v.label,
                str(v.value.n),
                mean_sd(v.value, d),
                median_iqr(v.value, d),
                mean_ci(v.change, d),
                mean_sd(v.percent_change, 1),
                estimate_ci(est.estimate, est.ci_low, est.ci_high, d) if est else DASH,
                missing_text(v.missing),
            ]
        )
    return ReportTable(
        f"visits_{outcome.spec.paramcd}",
        f"{outcome.spec.param} by visit",
        [
            "Visit",
            "n",
            "Mean (SD)",
            "Median (Q1–Q3)",
            f"Change [{pct}% CI]",
            "% change, mean (SD)",
            f"MMRM: change [{pct}% CI]",
            "Missing (code: n)",
        ],
        rows,
        f"MMRM covariance: {structure_brief(outcome.mmrm)}; Kenward–Roger standard errors and "
        "degrees of freedom. Missing: values recorded as missing, by missing-data code (ND not "
        "done, NA not applicable, UNK unknown, ASKU asked but unknown, NASK not asked, NAV "
        "temporarily unavailable, MSK masked); they enter no statistic. Unscheduled visits are "
        "listed separately, not summarised by visit.",
        numeric=[False] + [True] * 6 + [False],
    )


def missing_text(counts: dict[str, int]) -> str:
    """``ND: 2, UNK: 1``, or an en dash when nothing was recorded as missing."""
    return ", ".join(f"{code}: {n}" for code, n in counts.items()) if counts else DASH


def unscheduled_table(results: StudyResults) -> ReportTable | None:
    """Every analysis value taken at an unscheduled visit (listed, not summarised)."""
    rows = unscheduled_values(results.datasets.adeff)
    if rows.empty:
        return None
    decimals = {o.spec.paramcd: o.spec.decimals for o in results.outcomes}
    body = [
        [
            str(r.USUBJID),
            str(r.VISIT),
            as_timestamp(r.ADT).date().isoformat(),
            DASH if is_missing(r.ADY) else str(as_int(r.ADY)),
            str(r.PARAMCD),
            format_number(as_float(r.AVAL), decimals.get(str(r.PARAMCD), 2)),
            str(r.AVALU),
        ]
        for r in rows.itertuples(index=False)
    ]
    return ReportTable(
        "unscheduled",
        "Values at unscheduled visits",
        ["Participant", "Visit", "Date", "Study day", "Parameter", "Value", "Unit"],
        body,
        "Unscheduled visits (CDISC VISIT 'UNSCHEDULED x.0n') are not summarised by visit; "
        "their adverse events are in the safety tables.",
        numeric=[False, False, False, True, False, True, False],
    )


def insulin_table(results: StudyResults) -> ReportTable | None:
    ins = results.insulin
    if ins is None:
        return None
    pct = round(results.level * 100)
    rows = [
        ["Percent reduction, U/kg/day: mean (SD)", mean_sd(ins.percent_reduction, 1)],
        [f"Percent reduction: mean [{pct}% CI]", mean_ci(ins.percent_reduction, 1)],
        ["Percent reduction: median (Q1–Q3)", median_iqr(ins.percent_reduction, 1)],
        [f">= {ins.threshold_percent:g}% reduction (observed)", proportion_text(ins.responders)],
        [
            f">= {ins.threshold_percent:g}% reduction (ITT, missing = no)",
            proportion_text(ins.responders_itt),
        ],
        ["Insulin independent, 0 U/day (observed)", proportion_text(ins.insulin_free)],
        ["Insulin independent (ITT, missing = no)", proportion_text(ins.insulin_free_itt)],
    ]
    return ReportTable(
        "insulin",
        f"Exogenous insulin at {results.primary_visit.name}",
        ["Measure", f"Estimate [exact {pct}% CI]"],
        rows,
        "Participants on insulin at baseline. Responder: reduction of U/kg/day by at least "
        f"{ins.threshold_percent:g}% (Bhansali et al., Stem Cells Dev 2009;18:1407). Exact "
        "Clopper–Pearson CIs.",
        [False, True],
    )


def ae_table(
    key: str, title: str, table: pd.DataFrame, level: float, note: str = ""
) -> ReportTable:
    pct = round(level * 100)
    rows = [
        [
            str(r.category),
            f"{as_int(r.n_subjects)}/{as_int(r.n_at_risk)}",
            format_number(as_float(r.percent), 1),
            f"[{format_number(as_float(r.ci_low), 1)}, {format_number(as_float(r.ci_high), 1)}]",
            str(as_int(r.n_events)),
        ]
        for r in table.itertuples()
    ]
    return ReportTable(
        key,
        title,
        ["Category", "Participants", "%", f"Exact {pct}% CI (%)", "Events"],
        rows,
        note,
        [False, True, True, True, True],
    )


def safety_tables(results: StudyResults) -> list[ReportTable]:
    s, level = results.safety, results.level
    at_risk = f"Safety set n = {s.at_risk}; treatment-emergent events only."
    listing = s.sae_listing
    return [
        ae_table("ae_overview", "Adverse events: overview", s.overview, level, at_risk),
        ae_table(
            "ae_grade",
            "Adverse events by worst CTCAE v5.0 grade",
            s.by_grade,
            level,
            "Participants counted once at their worst grade; events counted at each grade.",
        ),
        ae_table(
            "sae_grade", "Serious adverse events by worst CTCAE v5.0 grade", s.sae_by_grade, level
        ),
        ae_table(
            "sae_criteria",
            "Serious adverse events by ICH E2A criterion",
            s.by_seriousness,
            level,
            "An event may meet several criteria.",
        ),
        ae_table(
            "ae_related",
            "Adverse events by relatedness (investigator)",
            s.by_relatedness,
            level,
            "Related = definite, probable or possible (ICH E2A).",
        ),
        ReportTable(
            "sae_listing",
            "Listing of serious adverse events",
            list(listing.columns),
            [
                [DASH if pd.isna(x) else str(x) for x in row]
                for row in listing.itertuples(index=False)
            ],
            f"{s.non_emergent_events} adverse event(s) began before transplantation "
            "(not treatment-emergent, not tabulated above).",
        ),
    ]


def _model_row(param: str, m: MmrmResult, lrt: LikelihoodRatio | None) -> list[str]:
    fitted = ("yes" if m.converged else "no") if m.estimable else "not fitted"
    return [
        param,
        m.covariance,
        str(m.n_subjects),
        str(m.n_observations),
        format_number(m.baseline_slope, 3),
        format_number(m.log_likelihood, 2),
        str(m.covariance_parameters) if m.estimable else DASH,
        f"{lrt.statistic:.2f} ({lrt.df} df), p {format_p(lrt.p)}" if lrt else DASH,
        fitted,
        "; ".join(x for x in (m.fallback, m.note) if x) or DASH,
    ]


#: Decimals of the safety laboratory listing, by test (as laboratories report them).
LAB_DECIMALS = {"WBC": 1}


def _lab_value(r: object) -> str:
    """The value as listed, or what was recorded instead (code, label and reason)."""
    code = getattr(r, "MISSCD", None)
    if not is_missing(code):
        reason = getattr(r, "MISSREAS", None)
        return describe(str(code), None if is_missing(reason) else str(reason))
    paramcd = str(getattr(r, "PARAMCD", ""))
    return format_number(as_float(getattr(r, "AVAL", None)), LAB_DECIMALS.get(paramcd, 0))


def safety_lab_table(results: StudyResults) -> ReportTable | None:
    """Listing of every safety laboratory value (scheduled and unscheduled visits) with eGFR,
    and the tests recorded as not done; None when the study has none."""
    adlb = results.datasets.adlb
    if adlb.empty:
        return None
    rows = [
        [
            str(r.USUBJID),
            str(r.VISIT),
            as_timestamp(r.ADT).date().isoformat(),
            str(r.PARAM),
            _lab_value(r),
            DASH if is_missing(r.AVALU) else str(r.AVALU),
            DASH if is_missing(r.ALERTFL) else str(r.ALERTFL),
        ]
        for r in adlb.itertuples(index=False)
    ]
    return ReportTable(
        "lab_safety",
        "Listing of safety laboratory values",
        ["Participant", "Visit", "Date", "Test", "Value", "Unit", "Alert"],
        rows,
        "Alert: outside the soft edit-check limits (about CTCAE v5.0 grade 2), not a laboratory "
        "reference range. eGFR by CKD-EPI 2021 (Inker et al. 2021) from each creatinine.",
        numeric=[False, False, False, False, True, False, False],
    )


def model_table(results: StudyResults) -> ReportTable:
    """Fit details of the primary MMRM (unstructured) and of the sensitivity model (random
    intercept, compound symmetry), with the likelihood-ratio test between them."""
    rows = []
    for o in results.outcomes:
        rows.append(_model_row(o.spec.param, o.mmrm, o.covariance_test))
        if o.sensitivity is not None:
            rows.append(_model_row(o.spec.param, o.sensitivity, None))
    return ReportTable(
        "models",
        "Mixed models: fit details (primary: MMRM; sensitivity: random intercept)",
        [
            "Parameter",
            "Covariance",
            "Participants",
            "Observations",
            "Baseline slope",
            "REML log-likelihood",
            "Covariance parameters",
            "LR test vs compound symmetry",
            "Converged",
            "Notes",
        ],
        rows,
        "Both models: change from baseline ~ visit + baseline, REML; standard errors from "
        "the Kenward–Roger adjusted (X'V^-1X)^-1; confidence intervals and p-values with "
        "Kenward–Roger degrees of freedom (Satterthwaite's in results.json as an alternative). "
        f"Primary covariance unstructured. {FALLBACK_TEXT}. The likelihood-ratio test compares "
        "the REML log-likelihoods of the primary and the compound-symmetry model (same fixed "
        "effects).",
        numeric=[False, False, True, True, True, True, True, False, False, False],
    )


def all_tables(results: StudyResults) -> list[ReportTable]:
    tables = [flow_table(results), baseline_table(results), primary_summary_table(results)]
    ins = insulin_table(results)
    if ins:
        tables.append(ins)
    tables += [outcome_visit_table(o, results.level) for o in results.outcomes]
    unscheduled = unscheduled_table(results)
    if unscheduled:
        tables.append(unscheduled)
    tables += safety_tables(results)
    labs = safety_lab_table(results)
    if labs:
        tables.append(labs)
    tables.append(model_table(results))
    return tables
