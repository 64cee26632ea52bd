"""eGFR by CKD-EPI 2021 (Inker et al. 2021): the values the NKF eGFR calculator prints."""

from __future__ import annotations

import pytest

from trialdesk.derive.errors import DerivationError
from trialdesk.derive.renal import CREATININE_UMOL_PER_MG_DL, compute_egfr_ckd_epi_2021

ONE_MG_DL = CREATININE_UMOL_PER_MG_DL  # 1.0 mg/dL in µmol/L


@pytest.mark.parametrize(
    ("creatinine_mg_dl", "age", "sex", "expected"),
    [
        (1.0, 60, "F", 64),  # above κ (0.7): the −1.200 branch, the female factor
        (1.0, 50, "M", 92),
        (0.7, 40, "F", 112),  # at κ: both min and max terms are 1
        (0.5, 30, "M", 141),  # below κ (0.9): the α branch (142 × 1.194 × 0.830, by hand)
    ],
)
def test_egfr_matches_the_published_equation(
    creatinine_mg_dl: float, age: int, sex: str, expected: int
) -> None:
    egfr = compute_egfr_ckd_epi_2021(creatinine_mg_dl * ONE_MG_DL, age, sex)
    assert round(egfr) == expected


def test_egfr_falls_as_creatinine_rises() -> None:
    values = [compute_egfr_ckd_epi_2021(c, 55, "M") for c in (50, 80, 120, 300)]
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize(
    ("creatinine", "age", "sex", "argument"),
    [(0, 50, "F", "creatinine_umol_l"), (80, 15, "F", "age_years"), (80, 50, "X", "sex")],
)
def test_impossible_inputs_name_the_argument(
    creatinine: float, age: float, sex: str, argument: str
) -> None:
    with pytest.raises(DerivationError) as raised:
        compute_egfr_ckd_epi_2021(creatinine, age, sex)
    assert raised.value.argument == argument
