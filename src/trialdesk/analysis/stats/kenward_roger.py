"""Kenward–Roger small-sample inference for the fixed effects of a REML fit.

Kenward & Roger (Biometrics 1997;53:983–997, [@KenwardRoger1997]), in the notation of their
paper and of R's pbkrtest (Halekoh & Højsgaard, J Stat Softw 2014;59(9), [@Halekoh2014]).
With V = block-diag(Sigma[v_i, v_i]) depending on covariance parameters s_1..s_r,
G_r = dV/ds_r, Phi = (X'V^-1X)^-1::

    P_r  = -X' V^-1 G_r V^-1 X
    Q_rs =  X' V^-1 G_r V^-1 G_s V^-1 X
    R_rs =  X' V^-1 (d2V / ds_r ds_s) V^-1 X
    I_rs = 1/2 tr(Pv G_r Pv G_s),  Pv = V^-1 - V^-1 X Phi X' V^-1   (expected REML information)
    W    = I^-1   (Moore–Penrose inverse when I is singular, as pbkrtest)
    Phi_A = Phi + 2 Phi [ sum_rs W_rs (Q_rs - P_r Phi P_s - R_rs / 4) ] Phi

For a contrast matrix L (q rows), Theta = L'(L Phi L')^-1 L and::

    A1 = sum_rs W_rs tr(Theta Phi P_r Phi) tr(Theta Phi P_s Phi)
    A2 = sum_rs W_rs tr(Theta Phi P_r Phi Theta Phi P_s Phi)
    B = (A1 + 6 A2) / 2q,  g = ((q+1) A1 - (q+4) A2) / ((q+2) A2)
    c1 = g / (3q + 2(1-g)),  c2 = (q-g) / (3q + 2(1-g)),  c3 = (q+2-g) / (3q + 2(1-g))
    E* = 1 / (1 - A2/q),  V* = (2/q) (1 + c1 B) / ((1 - c2 B)^2 (1 - c3 B))
    rho = V* / (2 E*^2),  m = 4 + (q+2) / (q rho - 1)     (denominator degrees of freedom)

The adjustment depends on the parameterisation of Sigma, so it uses the one SAS PROC MIXED
(DDFM=KR) and pbkrtest use: for the unstructured covariance the entries sigma_jk of Sigma and
for compound symmetry the two variance components (a I + b J), in which V is linear, so
R_rs = 0; for heterogeneous Toeplitz (sd_1..sd_T, rho_1..rho_{T-1}) and AR(1) (s2, rho),
which are not linear, the derivatives are taken numerically in those parameters and the
second-derivative term R_rs is kept (Kenward & Roger 1997, eq. 4; SAS DDFM=KR without
FIRSTORDER).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trialdesk.analysis.stats.unstructured import Structure, Subject

Array = NDArray[np.float64]

#: Below this smallest |eigenvalue| the information is inverted by Moore–Penrose (pbkrtest's rule).
_SINGULAR = 1e-10
#: Relative step for the numerical derivatives of Sigma in nonlinear structures.
_STEP = 1e-4


@dataclass(frozen=True)
class KenwardRoger:
    """Unadjusted (Phi) and adjusted (Phi_A) covariance of the fixed effects, and the pieces
    for the degrees of freedom of any contrast."""

    phi: Array
    phi_adjusted: Array
    p: list[Array]
    w: Array

    def df(self, contrast: Array) -> float:
        """Kenward–Roger denominator degrees of freedom for the contrast rows `contrast`."""
        lmat = np.atleast_2d(contrast)
        q = int(np.linalg.matrix_rank(lmat))
        theta = lmat.T @ np.linalg.solve(lmat @ self.phi @ lmat.T, lmat)
        u = [theta @ self.phi @ p @ self.phi for p in self.p]
        traces = np.array([float(np.trace(x)) for x in u])
        a1 = float(traces @ self.w @ traces)
        a2 = sum(
            float(self.w[r, s]) * float(np.sum(u[r] * u[s].T))
            for r in range(len(u))
            for s in range(len(u))
        )
        return _denominator_df(q, a1, a2)


def _denominator_df(q: int, a1: float, a2: float) -> float:
    if a2 <= 0:
        return math.inf
    b = (a1 + 6.0 * a2) / (2.0 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    denominator = 3.0 * q + 2.0 * (1.0 - g)
    c1, c2, c3 = g / denominator, (q - g) / denominator, (q + 2 - g) / denominator
    e_star = 1.0 / (1.0 - a2 / q)
    v_star = (2.0 / q) * (1.0 + c1 * b) / ((1.0 - c2 * b) ** 2 * (1.0 - c3 * b))
    rho = v_star / (2.0 * e_star**2)
    if q * rho - 1.0 <= 0:
        return math.inf
    return 4.0 + (q + 2.0) / (q * rho - 1.0)


def unstructured_derivatives(t: int) -> list[Array]:
    """dSigma/dsigma_jk for the T(T+1)/2 entries j <= k of an unstructured Sigma."""
    out = []
    for j, k in zip(*np.triu_indices(t), strict=True):
        unit = np.zeros((t, t))
        unit[j, k] = unit[k, j] = 1.0
        out.append(unit)
    return out


def derivatives_for(
    structure: Structure, sigma: Array
) -> tuple[list[Array], list[list[Array]] | None]:
    """dSigma/ds (and d2Sigma/ds ds when not linear) at `sigma`, in the parameters s that SAS
    PROC MIXED uses for each structure (see the module text)."""
    t = sigma.shape[0]
    if structure is Structure.UNSTRUCTURED:
        return unstructured_derivatives(t), None
    if structure is Structure.COMPOUND_SYMMETRY:
        return [np.eye(t), np.ones((t, t))], None
    lag = np.abs(np.arange(t)[:, None] - np.arange(t)[None, :])
    if structure is Structure.AR1:

        def ar1(s: Array) -> Array:
            return np.asarray(s[0] * s[1] ** lag, dtype=np.float64)

        natural = np.array([sigma[0, 0], sigma[0, 1] / sigma[0, 0] if t > 1 else 0.0])
        return numeric_derivatives(ar1, natural)
    sd = np.sqrt(np.diag(sigma))
    correlation = sigma / np.outer(sd, sd)

    def toeplitz(s: Array) -> Array:
        rho = np.concatenate([[1.0], s[t:]])
        return np.asarray(rho[lag] * np.outer(s[:t], s[:t]), dtype=np.float64)

    natural = np.concatenate([sd, [correlation[0, k] for k in range(1, t)]])
    return numeric_derivatives(toeplitz, natural)


def numeric_derivatives(
    sigma_of: Callable[[Array], Array], theta: Array
) -> tuple[list[Array], list[list[Array]]]:
    """First and second derivatives of Sigma(theta) by central differences."""
    size = len(theta)
    steps = [_STEP * max(1.0, abs(float(theta[k]))) * np.eye(size)[k] for k in range(size)]
    first = [(sigma_of(theta + h) - sigma_of(theta - h)) / (2 * np.max(h)) for h in steps]
    centre = sigma_of(theta)
    second: list[list[Array]] = []
    for r in range(size):
        row = []
        for s in range(size):
            hr, hs = steps[r], steps[s]
            if r == s:
                value = (sigma_of(theta + hr) - 2 * centre + sigma_of(theta - hr)) / np.max(hr) ** 2
            else:
                value = (
                    sigma_of(theta + hr + hs) - sigma_of(theta + hr - hs)
                    - sigma_of(theta - hr + hs) + sigma_of(theta - hr - hs)
                ) / (4 * np.max(hr) * np.max(hs))  # fmt: skip
            row.append(value)
        second.append(row)
    return first, second


def kenward_roger(
    subjects: Sequence[Subject],
    sigma: Array,
    derivatives: list[Array],
    second: list[list[Array]] | None = None,
) -> KenwardRoger:
    """Phi, Phi_A and the df pieces at the REML estimate `sigma` (Kenward & Roger 1997)."""
    size = len(derivatives)
    p_dim = subjects[0].x.shape[1]
    inverses = [np.linalg.inv(sigma[np.ix_(s.visits, s.visits)]) for s in subjects]
    information = sum(
        (s.x.T @ vi @ s.x for s, vi in zip(subjects, inverses, strict=True)),
        np.zeros((p_dim, p_dim)),
    )
    phi = np.asarray(np.linalg.inv(information), dtype=np.float64)
    # Per subject: V^-1 X and G_r restricted to the visits attended.
    vx = [vi @ s.x for s, vi in zip(subjects, inverses, strict=True)]
    blocks = [[g[np.ix_(s.visits, s.visits)] for g in derivatives] for s in subjects]
    p = [
        -np.sum([vx[i].T @ blocks[i][r] @ vx[i] for i in range(len(subjects))], axis=0)
        for r in range(size)
    ]
    q = np.zeros((size, size, p_dim, p_dim))
    trace = np.zeros((size, size))
    for i in range(len(subjects)):
        h = [blocks[i][r] @ inverses[i] for r in range(size)]  # G_r V^-1
        o = [h[r].T @ vx[i] for r in range(size)]  # V^-1 G_r V^-1 X
        for r in range(size):
            for s in range(r, size):
                q[r, s] += vx[i].T @ blocks[i][r] @ o[s]
                trace[r, s] += float(np.sum(h[r].T * h[s]))
    expected = np.zeros((size, size))
    for r in range(size):
        for s in range(r, size):
            q[s, r] = q[r, s].T
            trace[s, r] = trace[r, s]
            value = (
                trace[r, s]
                - 2.0 * float(np.sum(phi * q[r, s]))
                + float(np.sum((phi @ p[r]) * (p[s] @ phi)))
            )
            expected[r, s] = expected[s, r] = 0.5 * value
    w = _inverse(expected)
    u = np.zeros((p_dim, p_dim))
    for r in range(size):
        for s in range(size):
            term = q[r, s] - p[r] @ phi @ p[s]
            if second is not None:
                term = term - 0.25 * _r_term(subjects, vx, second[r][s])
            u += w[r, s] * term
    adjusted = phi + 2.0 * phi @ u @ phi
    return KenwardRoger(phi, 0.5 * (adjusted + adjusted.T), [0.5 * (x + x.T) for x in p], w)


def _r_term(subjects: Sequence[Subject], vx: list[Array], d2sigma: Array) -> Array:
    return np.asarray(
        sum(vx[i].T @ d2sigma[np.ix_(s.visits, s.visits)] @ vx[i] for i, s in enumerate(subjects)),
        dtype=np.float64,
    )


def _inverse(matrix: Array) -> Array:
    if float(np.min(np.abs(np.linalg.eigvalsh(matrix)))) > _SINGULAR:
        return np.asarray(np.linalg.inv(matrix), dtype=np.float64)
    return np.asarray(np.linalg.pinv(matrix), dtype=np.float64)
