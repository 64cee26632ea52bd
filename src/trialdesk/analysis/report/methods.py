"""The statistical methods section of the report, with its references.

The text states what `trialdesk.analysis` actually computes; change both together.
"""

from __future__ import annotations

from trialdesk.analysis.results import StudyResults
from trialdesk.analysis.stats.mmrm import COVARIANCE, FALLBACK_TEXT

REFERENCES: list[str] = [
    "Akinmokun A, et al. The short insulin tolerance test for determination of insulin "
    "sensitivity: a comparison with the euglycaemic clamp. Diabet Med 1992;9:432-437.",
    "Hirst S, et al. Reproducibility of the short insulin tolerance test. Diabet Med "
    "1993;10:839-842.",
    "Matthews DR, et al. Homeostasis model assessment: insulin resistance and beta-cell function "
    "from fasting plasma glucose and insulin concentrations in man. Diabetologia 1985;28:412-419.",
    "Bhansali A, et al. Efficacy of autologous bone marrow-derived stem cell transplantation in "
    "patients with type 2 diabetes mellitus. Stem Cells Dev 2009;18:1407-1416.",
    "WHO Collaborating Centre for Drug Statistics Methodology. ATC/DDD Index (defined daily "
    "doses). https://atcddd.fhi.no/atc_ddd_index/",
    "CDISC. Analysis Data Model Implementation Guide (ADaMIG) v1.3, 2021.",
    "Mallinckrodt CH, et al. Recommendations for the primary analysis of continuous endpoints in "
    "longitudinal clinical trials. Drug Inf J 2008;42:303-319.",
    "Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case of "
    "the binomial. Biometrika 1934;26:404-413.",
    "Wilcoxon F. Individual comparisons by ranking methods. Biometrics Bull 1945;1:80-83.",
    "National Cancer Institute. Common Terminology Criteria for Adverse Events (CTCAE) v5.0, 2017.",
    "ICH E2A. Clinical safety data management: definitions and standards for expedited "
    "reporting (CPMP/ICH/377/95), 1995.",
    "Schulz KF, Altman DG, Moher D. CONSORT 2010 statement. BMJ 2010;340:c332.",
    "Virtanen P, et al. SciPy 1.0. Nat Methods 2020;17:261-272; Seabold S, Perktold J. "
    "statsmodels. Proc 9th Python in Science Conf 2010.",
    "European Medicines Agency. Guideline on missing data in confirmatory clinical trials "
    "(EMA/CPMP/EWP/1776/99 Rev. 1), 2010.",
    "Kenward MG, Roger JH. Small sample inference for fixed effects from restricted maximum "
    "likelihood. Biometrics 1997;53:983-997.",
]


def methods_paragraphs(results: StudyResults) -> list[str]:
    """The methods section as paragraphs of plain text."""
    v = results.primary_visit
    pct = round(results.level * 100)
    threshold = results.insulin.threshold_percent if results.insulin else 50.0
    return [
        "Analysis sets. Efficacy was analysed in the intention-to-treat (ITT) set of every "
        "enrolled participant; each analysis includes the participants with the values it "
        "needs. Safety was analysed in the safety set of transplanted participants. "
        "Analysis datasets follow CDISC ADaM conventions (ADSL, a BDS efficacy dataset ADEFF, "
        "ADAE) [6].",
        "Baseline and derivations. Baseline is the last non-missing value at a visit scheduled "
        "on or before day 0 (screening or baseline visit). KITT (%/min) is minus 100 times the "
        "ordinary-least-squares slope of natural-log glucose on time between 3 and 15 min of the "
        "0.1 U/kg insulin tolerance test [1, 2]; HOMA1-IR = fasting glucose (mmol/L) x fasting "
        "insulin (µIU/mL) / 22.5 [3]; insulin dose per kg = total daily units / body weight of "
        "the same visit (or the latest weight of the 90 days before, listed under data issues); "
        "oral glucose-lowering drugs are expressed as WHO defined daily doses "
        "[5]; doses are those in effect on the visit date (each drug's latest dose record "
        "started on or before it). Percent change = (value - baseline) / baseline x 100.",
        f"Primary outcomes. For each parameter, values and changes from baseline are summarised "
        f"at every visit (n, mean, SD, median, quartiles, {pct}% t-based CI of the mean change). "
        f"At {v.name} the change is tested with the paired t-test and the Wilcoxon signed-rank "
        f"test (zero differences dropped; exact or complete-permutation p-value for small "
        f"samples, normal approximation otherwise) [9], "
        f"with the Hodges-Lehmann estimate. A mixed model for repeated measures [7] was fitted "
        f"to the change from baseline at all post-baseline visits with visit as a fixed effect, "
        f"baseline as covariate and an {COVARIANCE}, by REML; participants with missing visits "
        f"contribute their observed visits (missing at random). {FALLBACK_TEXT} [14]. "
        f"Standard errors are the GLS (X'V^-1X)^-1 with the Kenward-Roger adjustment, and CIs "
        f"and p-values use Kenward-Roger degrees of freedom [15]; Satterthwaite degrees of "
        f"freedom are reported as an alternative. Sensitivity "
        f"analysis: the same model with a random intercept (compound symmetry); the REML "
        f"likelihood-ratio test of the primary covariance against compound symmetry is "
        f"reported.",
        f"Insulin. The percent reduction of the U/kg/day dose from baseline to {v.name}, the "
        f"proportion with a reduction of at least {threshold:g}% (responders) [4] and the "
        f"proportion insulin independent (0 U/day) are reported for participants on insulin at "
        f"baseline, among those observed and in the ITT set counting missing as failure, with "
        f"exact Clopper-Pearson CIs [8].",
        "Safety. Treatment-emergent adverse events (onset on or after transplantation) are "
        "summarised as events and as participants affected (each participant once per "
        "category; by worst grade in grade tables), by CTCAE v5.0 grade [10], by ICH E2A "
        "seriousness criterion [11] and by relatedness, with exact CIs [8]. Participant flow "
        "follows CONSORT [12].",
        "Software. Python with pandas, SciPy and statsmodels [13]; figures with matplotlib. "
        "Every number in this report, its figures and the registry-format JSON is computed from "
        "the same analysis datasets.",
    ]
