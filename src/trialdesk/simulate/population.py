"""Parameters of the simulated referral population, with where each value comes from.

The population is adults referred to the NCT01142050 site (Beijing) as candidates: mostly
insulin-treated type 2 diabetes, plus a few people whose recorded diagnosis is autoimmune
diabetes (LADA) or prediabetes. Values are approximate literature figures for Chinese adults
with type 2 diabetes; where no source was at hand the field says **assumption**. A few rates
are deliberately *enriched* above population figures (marked so) so that a screening log of a
few hundred candidates exercises every eligibility criterion, which is the point of a dry run;
the population figure is given beside them.

Sources (approximate values, see each field):
- Xu Y et al., *JAMA* 2013;310:948 (China diabetes prevalence, slightly higher in men).
- Ji L et al., *Am J Med* 2013;126:925 (CCMR-3B, Chinese T2DM outpatients: mean age about 60,
  BMI about 25 kg/m², HbA1c about 8 %, diabetes duration about 8 years; metformin and acarbose
  the commonest oral drugs alongside insulin).
- Nathan DM et al., *Diabetes Care* 2008;31:1473 (ADAG, HbA1c vs mean glucose).
- Lee MY et al., *Yonsei Med J* 2008;49:901 (KITT in T2DM 2.03 ± 1.14 %/min); Kozawa J et al.,
  *Diabetes Ther* 2011 (median KITT 1.56 %/min); Park et al., *J Korean Diabetes Assoc*
  1998;22:199 (abnormal glucose tolerance 2.56 ± 0.56 %/min).
- Zhou Z et al., *Diabetes* 2013;62:543 (LADA China: about 6 % of adult-onset diabetes).
- Polaris Observatory, *Lancet Gastroenterol Hepatol* 2018;3:383 (HBsAg prevalence in China
  about 6 %).
- Leighton E et al., *Diabetes Ther* 2017;8:475 (C-peptide in practice: stimulated values about
  2-3 times fasting in type 2 diabetes).
- Bhansali A et al., *Stem Cells Dev* 2009;18:1407 and 2017 (PMC5496640): insulin 0.4-0.7+
  U/kg/day in comparable trial populations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class ConditionRisk:
    """Prevalence of one exclusion condition at age 58 (and diabetes duration 10 years), with
    log-odds slopes per year of age and of diabetes duration."""

    prevalence: float
    per_year_of_age: float = 0.0
    per_year_of_diabetes: float = 0.0


#: Exclusion conditions (catalogue element -> risk). All prevalences are assumptions for a
#: referral population of insulin-treated T2DM unless a source is named.
DEFAULT_CONDITIONS: Mapping[str, ConditionRisk] = MappingProxyType(
    {
        # NYHA III-IV heart failure, recent myocardial infarction or unstable angina.
        "severe_heart_disease": ConditionRisk(0.04, 0.05, 0.02),
        # e.g. COPD GOLD 3-4 or interstitial lung disease.
        "severe_lung_disease": ConditionRisk(0.015, 0.04),
        "haematopoietic_dysfunction": ConditionRisk(0.01, 0.02),
        # ALT/AST > 3 x ULN or cirrhosis (fatty liver is common, severe dysfunction is not).
        "liver_dysfunction": ConditionRisk(0.025),
        # e.g. eGFR < 45 mL/min/1.73 m²; rises with age and diabetes duration (assumption).
        "kidney_dysfunction": ConditionRisk(0.05, 0.04, 0.06),
        # Foot, urinary or respiratory infection under treatment at screening.
        "active_infection_requiring_treatment": ConditionRisk(0.03),
        "unexplained_fever": ConditionRisk(0.01),
        # Enriched: population prevalence in China about 0.09 % (UNAIDS estimates).
        "hiv_infection": ConditionRisk(0.003),
        # HBsAg positive, about 6 % in China (Polaris Observatory 2018).
        "hepatitis_b_infection": ConditionRisk(0.06),
        # Anti-HCV about 0.7 % in Chinese adults (assumption from national survey figures).
        "hepatitis_c_infection": ConditionRisk(0.007),
        "other_immunosuppressive_disease": ConditionRisk(0.01),
    }
)

#: Oral glucose-lowering drugs taken alongside insulin: (drug, probability, daily doses in
#: mg/day with their probabilities). Drug choice follows the Chinese prescribing pattern
#: reported in CCMR-3B (metformin and acarbose commonest); the shares are assumptions.
DEFAULT_ORAL_DRUGS: tuple[tuple[str, float, tuple[tuple[float, float], ...]], ...] = (
    ("metformin", 0.65, ((1000.0, 0.30), (1500.0, 0.35), (2000.0, 0.35))),
    ("acarbose", 0.35, ((150.0, 0.60), (300.0, 0.40))),
    ("glimepiride", 0.07, ((2.0, 0.60), (4.0, 0.40))),
    ("gliclazide", 0.05, ((80.0, 0.50), (160.0, 0.50))),
    ("sitagliptin", 0.10, ((100.0, 1.0),)),
    ("pioglitazone", 0.04, ((15.0, 0.50), (30.0, 0.50))),
    ("repaglinide", 0.04, ((3.0, 0.60), (6.0, 0.40))),
)


@dataclass(frozen=True)
class ScreeningPopulation:
    """Distributions of the candidates referred for screening (see the module docstring).

    Means and SDs are of the underlying (true) values; measured values add the within-subject
    and assay noise documented in `trialdesk.simulate.physiology`.
    """

    # --- who is referred -------------------------------------------------------------------
    #: Recorded diagnosis: share with autoimmune diabetes (LADA; Zhou 2013: about 6 % of
    #: adult-onset diabetes, half of them assumed recognised before referral) and with
    #: prediabetes (assumption: referred in error or for a second opinion).
    share_autoimmune: float = 0.03
    share_prediabetes: float = 0.03
    #: Men slightly outnumber women among Chinese adults with diabetes (Xu 2013).
    share_male: float = 0.55
    #: Age (years): a mixture of the usual older T2DM population (CCMR-3B, mean about 60) and
    #: young-onset T2DM, which is increasingly common in China (share and mean: assumptions).
    age_mean: float = 58.0
    age_sd: float = 9.0
    young_share: float = 0.22
    young_age_mean: float = 40.0
    young_age_sd: float = 8.0
    # --- anthropometry ---------------------------------------------------------------------
    #: Height (cm) of Chinese adults, men 169 ± 6.5 and women 158 ± 6 (approximate national
    #: survey figures), minus 0.1 cm per year above 50 (age-related shrinkage; assumption).
    height_male_mean: float = 169.0
    height_female_mean: float = 158.0
    height_sd_male: float = 6.5
    height_sd_female: float = 6.0
    #: BMI (kg/m²) is log-normal: median 25.3 and SD of log 0.14, so about 11 % are above 30
    #: and 2 % below 19 (CCMR-3B mean BMI about 25).
    bmi_median: float = 25.3
    bmi_sd_log: float = 0.14
    #: Correlation of the latent insulin-resistance score with log BMI (assumption; gives
    #: HOMA-IR-BMI and KITT-BMI correlations of about +0.3 and -0.3, as commonly reported).
    resistance_bmi_correlation: float = 0.5
    # --- diabetes ----------------------------------------------------------------------------
    #: Diabetes duration (years): gamma with mean 10 and SD 6 (insulin-treated T2DM; CCMR-3B
    #: about 8 years overall), at most age - 18.
    duration_mean: float = 10.0
    duration_sd: float = 6.0
    #: HbA1c (%) of insulin-treated referrals: mean 8.6, SD 1.4 (true values; assumption close
    #: to CCMR-3B); mean glucose follows by ADAG.
    hba1c_mean: float = 8.6
    hba1c_sd: float = 1.4
    #: Fasting glucose as a share of mean glucose (median 0.85, between-person SD of log 0.10)
    #: and 2-h post-meal glucose (median 1.25, SD of log 0.10): assumptions that put FBG about
    #: 9-10 and PBG about 13-14 mmol/L at HbA1c 8.6 %.
    fasting_to_mean_ratio: float = 0.85
    postmeal_to_mean_ratio: float = 1.25
    glucose_ratio_sd_log: float = 0.10
    #: Fasting insulin (µIU/mL), median 11 (includes exogenous insulin cross-reacting in the
    #: assay; assumption), x exp(0.45 x resistance score).
    fasting_insulin_median: float = 11.0
    #: Fasting C-peptide (ng/mL), median 1.6 at 10 years' duration, falling 3.5 % a year
    #: (progressive beta-cell loss; assumption); stimulated about 2.2 x fasting (Leighton 2017).
    c_peptide_median: float = 1.6
    stimulated_c_peptide_ratio: float = 2.2
    #: KITT (%/min) of T2DM: median 1.9, between-person SD of log 0.35 plus -0.35 x resistance
    #: score, which gives a mean of about 2.1 ± 1.1 (Lee 2008: 2.03 ± 1.14; Kozawa 2011 median
    #: 1.56). Prediabetes: median 2.6 (Park 1998: 2.56 ± 0.56).
    kitt_median: float = 1.9
    kitt_prediabetes_median: float = 2.6
    kitt_resistance_slope: float = 0.35
    kitt_sd_log: float = 0.35
    # --- treatment ---------------------------------------------------------------------------
    #: Insulin (U/kg/day), log-normal median 0.55 and SD of log 0.3, x exp(0.2 x resistance
    #: score), limited to 0.15-1.6 (comparable trials enrolled 0.4-0.7+ U/kg/day, Bhansali).
    insulin_u_per_kg_median: float = 0.55
    insulin_sd_log: float = 0.30
    oral_drugs: tuple[tuple[str, float, tuple[tuple[float, float], ...]], ...] = DEFAULT_ORAL_DRUGS
    # --- consent, pregnancy and contraception ----------------------------------------------
    #: Share who decline consent after the information session (assumption).
    decline_consent: float = 0.05
    #: Age at natural menopause, about 49.5 ± 3.5 years in Chinese women (approximate cohort
    #: figures); 10 % of women before menopause are sterilised (assumption).
    menopause_age_mean: float = 49.5
    menopause_age_sd: float = 3.5
    sterilised_share: float = 0.10
    #: Among women under 48: pregnant and breast-feeding. Enriched: about 3 % each is the
    #: population figure implied by China's birth rate; half of pregnancies are not yet known
    #: to the woman at screening (early first trimester; assumption).
    pregnant_share: float = 0.10
    nursing_share: float = 0.10
    pregnancy_known_share: float = 0.5
    #: Men judged able to father a child, by age band (<60, 60-69, 70+; assumption).
    male_fertile_by_age: tuple[float, float, float] = (0.9, 0.7, 0.4)
    #: Fertile candidates who do not agree to use effective contraception (assumption).
    no_contraception_share: float = 0.07
    # --- other exclusions and data quality ---------------------------------------------------
    conditions: Mapping[str, ConditionRisk] = field(default_factory=lambda: DEFAULT_CONDITIONS)
    #: Share of screening records with one required value not yet available (pending result,
    #: a form not completed): such candidates come out "incomplete" (assumption).
    incomplete_record_share: float = 0.02
    #: Mean days between consecutive screening visits (about 3.5 screenings a week at one site;
    #: assumption). Screening happens on weekdays.
    mean_days_between_screenings: float = 1.5

    def __post_init__(self) -> None:
        shares = {
            "share_autoimmune": self.share_autoimmune,
            "share_prediabetes": self.share_prediabetes,
            "share_male": self.share_male,
            "young_share": self.young_share,
            "decline_consent": self.decline_consent,
            "sterilised_share": self.sterilised_share,
            "pregnant_share": self.pregnant_share,
            "nursing_share": self.nursing_share,
            "pregnancy_known_share": self.pregnancy_known_share,
            "no_contraception_share": self.no_contraception_share,
            "incomplete_record_share": self.incomplete_record_share,
        }
        for name, value in shares.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"ScreeningPopulation.{name}: {value!r} is not a share in [0, 1]")
        if self.share_autoimmune + self.share_prediabetes > 1.0:
            raise ValueError("ScreeningPopulation: share_autoimmune + share_prediabetes > 1")
        if self.pregnant_share + self.nursing_share > 1.0:
            raise ValueError("ScreeningPopulation: pregnant_share + nursing_share > 1")
        for name, risk in self.conditions.items():
            if not 0.0 < risk.prevalence < 1.0:
                raise ValueError(
                    f"ScreeningPopulation.conditions[{name!r}]: prevalence {risk.prevalence!r} "
                    "is not in (0, 1)"
                )
        if self.mean_days_between_screenings <= 0:
            raise ValueError(
                "ScreeningPopulation.mean_days_between_screenings: "
                f"{self.mean_days_between_screenings!r} is not > 0"
            )
