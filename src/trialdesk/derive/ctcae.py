"""CTCAE v5.0 grades suggested from laboratory values (pure).

Source: U.S. DHHS, NIH, NCI, *Common Terminology Criteria for Adverse Events (CTCAE)* v5.0,
27 November 2017 [@CTCAE5], "Investigations" and "Metabolism and nutrition disorders" SOCs. The
thresholds below were checked against the v5.0 terms as tabulated in the pharmaverse *admiral*
CTCAE v5 lab-grading metadata [@admiral-ctcv5] and in World J Hepatol 2026 [@WJH2026-CTCAE];
creatinine as tabulated in published comparisons of AKI grading systems:

- **Hypoglycemia** (glucose): grade 1 <LLN–55 mg/dL (<LLN–3.0 mmol/L); grade 2 <55–40 mg/dL
  (<3.0–2.2 mmol/L); grade 3 <40–30 mg/dL (<2.2–1.7 mmol/L); grade 4 <30 mg/dL (<1.7 mmol/L).
  Graded here in mmol/L (the catalogue's canonical unit).
- **Alanine / Aspartate aminotransferase increased**: if the baseline was normal, grade 1
  >ULN–3.0 × ULN, grade 2 >3.0–5.0 × ULN, grade 3 >5.0–20.0 × ULN, grade 4 >20.0 × ULN; if the
  baseline was abnormal, grade 1 1.5–3.0 × baseline, grade 2 >3.0–5.0 × baseline, grade 3
  >5.0–20.0 × baseline, grade 4 >20.0 × baseline.
- **Creatinine increased**: grade 1 >ULN–1.5 × ULN; grade 2 >1.5–3.0 × baseline or >1.5–3.0 ×
  ULN; grade 3 >3.0 × baseline or >3.0–6.0 × ULN; grade 4 >6.0 × ULN (the worse reading wins).

CTCAE grades 3–5 also carry clinical words ("hospitalization indicated", "life-threatening
consequences"); a laboratory value alone only *suggests* a grade: the investigator confirms or
overrides it. A value that meets no grade suggests nothing (`None`).
"""

from __future__ import annotations

from dataclasses import dataclass

from trialdesk.derive.errors import DerivationError

#: CTCAE v5.0 general grade definitions [@CTCAE5]: grade 2 moderate, grade 3 severe or
#: medically significant, grade 4 life-threatening, grade 5 death related to the AE.
GRADE_MODERATE = 2
GRADE_SEVERE = 3
GRADE_LIFE_THREATENING = 4
GRADE_DEATH = 5

#: The CTCAE v5.0 term suggested for each catalogue element, and the direction it is graded in.
CTCAE_TERMS: dict[str, str] = {
    "fasting_glucose": "Hypoglycemia",
    "postmeal_glucose": "Hypoglycemia",
    "itt_glucose": "Hypoglycemia",
    "alt": "Alanine aminotransferase increased",
    "ast": "Aspartate aminotransferase increased",
    "creatinine": "Creatinine increased",
}

# Hypoglycemia lower bounds in mmol/L (CTCAE v5.0; see module docstring): a value below the
# bound of a grade (and not below the next one) has that grade.
HYPOGLYCAEMIA_MMOL_L: tuple[tuple[int, float], ...] = ((4, 1.7), (3, 2.2), (2, 3.0))
# Aminotransferases: grade → lower multiple (exclusive), for a normal baseline (× ULN) and an
# abnormal baseline (× baseline; grade 1 starts at 1.5 × baseline inclusive).
AMINOTRANSFERASE_X: tuple[tuple[int, float], ...] = ((4, 20.0), (3, 5.0), (2, 3.0))
AMINOTRANSFERASE_ABNORMAL_G1 = 1.5
CREATININE_X_ULN: tuple[tuple[int, float], ...] = ((4, 6.0), (3, 3.0), (2, 1.5), (1, 1.0))
CREATININE_X_BASELINE: tuple[tuple[int, float], ...] = ((3, 3.0), (2, 1.5))


@dataclass(frozen=True)
class CtcaeSuggestion:
    """A grade a laboratory value meets, the CTCAE term and why, in a site's words."""

    term: str
    grade: int
    reason: str

    def __str__(self) -> str:
        return f"CTCAE grade {self.grade} ({self.term}: {self.reason})"


def _positive(value: float, name: str) -> float:
    if not value > 0:
        raise DerivationError(name, value, "a positive number")
    return value


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def grade_hypoglycaemia(glucose_mmol_l: float, lln_mmol_l: float) -> CtcaeSuggestion | None:
    """CTCAE v5.0 "Hypoglycemia" from a glucose in mmol/L and the laboratory's LLN.

    >>> str(grade_hypoglycaemia(2.5, 3.9))
    'CTCAE grade 2 (Hypoglycemia: glucose 2.5 mmol/L, below 3.0 mmol/L)'
    >>> grade_hypoglycaemia(3.9, 3.9) is None
    True
    """
    _positive(lln_mmol_l, "lln_mmol_l")
    if glucose_mmol_l < 0:
        raise DerivationError("glucose_mmol_l", glucose_mmol_l, "a concentration of 0 or more")
    if glucose_mmol_l >= lln_mmol_l:
        return None
    term = CTCAE_TERMS["fasting_glucose"]
    for grade, bound in HYPOGLYCAEMIA_MMOL_L:
        if glucose_mmol_l < bound:
            reason = f"glucose {_fmt(glucose_mmol_l)} mmol/L, below {bound:.1f} mmol/L"
            return CtcaeSuggestion(term, grade, reason)
    reason = f"glucose {_fmt(glucose_mmol_l)} mmol/L, below the normal range ({_fmt(lln_mmol_l)})"
    return CtcaeSuggestion(term, 1, reason)


def grade_aminotransferase(
    element: str, value: float, uln: float, baseline: float | None = None
) -> CtcaeSuggestion | None:
    """CTCAE v5.0 "ALT/AST increased" (U/L), with the v5 baseline rule: × ULN when the
    baseline was normal (or is unknown), × baseline when the baseline was above the ULN.

    >>> str(grade_aminotransferase("alt", 130, 40))
    'CTCAE grade 2 (Alanine aminotransferase increased: ALT 130 U/L = 3.2 × ULN (40 U/L))'
    >>> grade_aminotransferase("alt", 100, 40, baseline=80) is None  # 1.25 × baseline
    True
    """
    if element not in ("alt", "ast"):
        raise DerivationError("element", element, "an aminotransferase (alt or ast)")
    _positive(uln, "uln")
    term, name = CTCAE_TERMS[element], element.upper()
    if baseline is not None and _positive(baseline, "baseline") > uln:
        ratio = value / baseline
        ref = f"{_fmt(ratio)} × baseline ({_fmt(baseline)} U/L)"
        grade = next((g for g, x in AMINOTRANSFERASE_X if ratio > x), None)
        if grade is None and ratio >= AMINOTRANSFERASE_ABNORMAL_G1:
            grade = 1
    else:
        ratio = value / uln
        ref = f"{_fmt(ratio)} × ULN ({_fmt(uln)} U/L)"
        grade = next((g for g, x in AMINOTRANSFERASE_X if ratio > x), None)
        if grade is None and value > uln:
            grade = 1
    if grade is None:
        return None
    return CtcaeSuggestion(term, grade, f"{name} {_fmt(value)} U/L = {ref}")


def grade_creatinine(
    value_umol_l: float, uln_umol_l: float, baseline_umol_l: float | None = None
) -> CtcaeSuggestion | None:
    """CTCAE v5.0 "Creatinine increased" (µmol/L): the worse of × ULN and × baseline.

    >>> str(grade_creatinine(200, 110))
    'CTCAE grade 2 (Creatinine increased: creatinine 200 µmol/L = 1.8 × ULN (110 µmol/L))'
    >>> grade_creatinine(100, 110, baseline_umol_l=30).grade  # 3.3 × baseline
    3
    """
    _positive(uln_umol_l, "uln_umol_l")
    ratio = value_umol_l / uln_umol_l
    by_uln = next((g for g, x in CREATININE_X_ULN if ratio > x), None)
    best = (by_uln, f"{_fmt(ratio)} × ULN ({_fmt(uln_umol_l)} µmol/L)")
    if baseline_umol_l is not None:
        base_ratio = value_umol_l / _positive(baseline_umol_l, "baseline_umol_l")
        by_base = next((g for g, x in CREATININE_X_BASELINE if base_ratio > x), None)
        if by_base is not None and (by_uln is None or by_base > by_uln):
            best = (by_base, f"{_fmt(base_ratio)} × baseline ({_fmt(baseline_umol_l)} µmol/L)")
    grade, ref = best
    if grade is None:
        return None
    reason = f"creatinine {_fmt(value_umol_l)} µmol/L = {ref}"
    return CtcaeSuggestion(CTCAE_TERMS["creatinine"], grade, reason)


def suggest_grade(
    element: str,
    value: float,
    *,
    low: float | None,
    high: float | None,
    baseline: float | None = None,
) -> CtcaeSuggestion | None:
    """The CTCAE v5.0 grade a value of a catalogue element meets (canonical unit: glucose in
    mmol/L, ALT/AST in U/L, creatinine in µmol/L), given the laboratory's normal range; None
    when CTCAE grades no such value or the range lacks the bound it needs."""
    term = CTCAE_TERMS.get(element)
    if term is None:
        return None
    if term == "Hypoglycemia":
        return None if low is None else grade_hypoglycaemia(value, low)
    if high is None:
        return None
    if element in ("alt", "ast"):
        return grade_aminotransferase(element, value, high, baseline)
    return grade_creatinine(value, high, baseline)
