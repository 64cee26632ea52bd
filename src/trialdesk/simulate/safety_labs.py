"""Simulated safety laboratory (ALT, AST, creatinine, haemoglobin, white cells, platelets) at
the visits whose protocol assessments list them (issue 13/14), in canonical units (U/L,
µmol/L, g/L, 10^9/L) as the site laboratory reports them.

Assumptions (plausible adult values for insulin-treated T2DM, not data from the trial): each
participant has a baseline drawn once (ALT median 26 U/L and AST 23 U/L, log-normal with a
spread of 0.35, higher ALT with the fatty liver common in T2DM; creatinine 82 µmol/L for men and
64 for women, ±12 %; haemoglobin 145/131 g/L ±8 g/L; white cells 6.8 × 10^9/L; platelets
245 × 10^9/L), and each visit varies around it (within-person CV 15 % for the
aminotransferases, 6 % for creatinine, 3 % haemoglobin, 12 % cells). A few visits carry an
abnormal value so that CTCAE v5.0 grade suggestions (`trialdesk.derive.ctcae`) and the report's
safety listing have something to show: with probability 4 % a transient aminotransferase rise
(ALT × 3–8, AST half of it) and with 2 % a creatinine rise (× 1.6–2.2). The draws come from their
own random stream (`Stream.SAFETY_LABS`), so adding them changes no other simulated value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Catalogue elements of the safety panel (catalogue/elements.yaml, `panel: safety`).
SAFETY_ELEMENTS: tuple[str, ...] = (
    "alt",
    "ast",
    "creatinine",
    "haemoglobin",
    "white_cell_count",
    "platelets",
)
#: Canonical unit of each, as reported by the site laboratory.
SAFETY_UNITS: dict[str, str] = {
    "alt": "U/L",
    "ast": "U/L",
    "creatinine": "µmol/L",
    "haemoglobin": "g/L",
    "white_cell_count": "10^9/L",
    "platelets": "10^9/L",
}
#: Decimals the site laboratory prints (integers for U/L, µmol/L, g/L; one for cell counts).
DECIMALS: dict[str, int] = {
    "alt": 0,
    "ast": 0,
    "creatinine": 0,
    "haemoglobin": 0,
    "white_cell_count": 1,
    "platelets": 0,
}
LIVER_RISE_SHARE = 0.04
KIDNEY_RISE_SHARE = 0.02


@dataclass(frozen=True)
class SafetyBaseline:
    """One participant's usual values (canonical units)."""

    values: dict[str, float]


def draw_baseline(rng: np.random.Generator, sex: str) -> SafetyBaseline:
    male = sex == "M"
    return SafetyBaseline(
        {
            "alt": 26.0 * float(np.exp(rng.normal(0.0, 0.35))),
            "ast": 23.0 * float(np.exp(rng.normal(0.0, 0.30))),
            "creatinine": (82.0 if male else 64.0) * float(np.exp(rng.normal(0.0, 0.12))),
            "haemoglobin": (145.0 if male else 131.0) + float(rng.normal(0.0, 8.0)),
            "white_cell_count": 6.8 * float(np.exp(rng.normal(0.0, 0.2))),
            "platelets": 245.0 * float(np.exp(rng.normal(0.0, 0.2))),
        }
    )


_CV = {
    "alt": 0.15,
    "ast": 0.15,
    "creatinine": 0.06,
    "haemoglobin": 0.03,
    "white_cell_count": 0.12,
    "platelets": 0.12,
}


def draw_visit(
    rng: np.random.Generator, baseline: SafetyBaseline, elements: list[str]
) -> dict[str, float]:
    """The safety values of one visit, rounded as reported, for the elements asked for."""
    liver = float(rng.uniform(3.0, 8.0)) if rng.random() < LIVER_RISE_SHARE else 1.0
    kidney = float(rng.uniform(1.6, 2.2)) if rng.random() < KIDNEY_RISE_SHARE else 1.0
    rise = {"alt": liver, "ast": 1.0 + (liver - 1.0) / 2, "creatinine": kidney}
    out: dict[str, float] = {}
    for element in SAFETY_ELEMENTS:
        noise = float(np.exp(rng.normal(0.0, _CV[element])))  # drawn for every element
        if element in elements:
            value = baseline.values[element] * noise * rise.get(element, 1.0)
            out[element] = round(value, DECIMALS[element])
    return out
