"""REML fit of a linear model with an unstructured covariance across visits (the MMRM core).

Model (Mallinckrodt et al., Drug Inf J 2008;42:303; [@Mallinckrodt2008])::

    y_i = X_i beta + e_i,   e_i ~ N(0, Sigma[v_i, v_i])

for participant i observed at the visits v_i (a subset of the T scheduled visits): Sigma is any
positive-definite T x T matrix (T(T+1)/2 parameters), shared by all participants, and a
participant who misses visits contributes the rows and columns of the visits attended.

Estimation: restricted maximum likelihood (Patterson & Thompson 1971, [@Patterson1971])::

    l_R(theta) = -1/2 [ sum_i log|S_i| + log|X' S^-1 X| + r' S^-1 r + (N - p) log(2 pi) ]

with r = y - X beta_hat(theta) and beta_hat the generalised least-squares estimate, maximised
over the log-Cholesky parameters theta of Sigma = L L' (the diagonal of L on the log scale, so
every theta gives a positive-definite Sigma; Pinheiro & Bates 1996, [@Pinheiro1996]) by
scipy's BFGS with the analytic gradient. The covariance of beta_hat is the GLS formula
(X' Sigma^-1 X)^-1 at the REML estimate (the model-based variance SAS PROC MIXED and R's
nlme/mmrm report), not the inverse of a joint Hessian. Degrees of freedom for a contrast c'beta
are Satterthwaite's (Satterthwaite 1946, [@Satterthwaite1946]; as in SAS DDFM=SATTERTHWAITE
and R's mmrm): df = 2 (c'Phi c)^2 / (g' A g), with g the gradient of c'Phi(theta)c and A the
inverse of the negative Hessian of l_R, both at theta_hat by central differences.

The simpler structures of the pre-specified fallback (`mmrm.FALLBACK_SEQUENCE`) share the
same likelihood: heterogeneous Toeplitz (SAS TYPE=TOEPH: a standard deviation per visit, one
correlation per lag, parameterised by partial autocorrelations so every theta is positive
definite, [@Monahan1984]) and first-order autoregressive (SAS TYPE=AR(1) over the visit
order); their score is the chain rule through dSigma/dtheta.

The same fitter with `Structure.COMPOUND_SYMMETRY` (Sigma = s2 * [(1 - rho) I + rho J]) gives
the random-intercept model, so the two fits share one likelihood and their REML
log-likelihoods can be compared by a likelihood-ratio test (same fixed effects).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

Array = NDArray[np.float64]

#: Relative step of the central differences for the Hessian and the gradient of c'Phi c.
_STEP = 1e-4
#: Step of the central differences of Sigma in its parameters (for the score).
_SIGMA_STEP = 1e-6
#: BFGS stops when the largest gradient component is below this (REML log-likelihood units).
_GTOL = 1e-7
_MAX_ITERATIONS = 2000
#: A fit whose largest score component is below this counts as converged even when BFGS
#: reports a precision warning (REML log-likelihood units).
_CONVERGED_GRADIENT = 1e-4


class Structure(enum.Enum):
    """Covariance structure across visits."""

    UNSTRUCTURED = "unstructured"
    HETEROGENEOUS_TOEPLITZ = "heterogeneous Toeplitz"
    AR1 = "first-order autoregressive"
    COMPOUND_SYMMETRY = "compound symmetry"


def _toeplitz_correlations(partial: Array) -> Array:
    """Autocorrelations rho_0..rho_{T-1} from partial autocorrelations in (-1, 1) by the
    Durbin–Levinson recursion: every such vector gives a positive-definite Toeplitz matrix
    (Barndorff-Nielsen & Schou 1973; Monahan 1984, [@Monahan1984])."""
    rho = [1.0]
    phi: list[float] = []
    for k, a in enumerate(partial, start=1):
        ahead = sum(phi[j - 1] * rho[k - j] for j in range(1, k))
        behind = sum(phi[j - 1] * rho[j] for j in range(1, k))
        rho.append(ahead + float(a) * (1.0 - behind))
        phi = [phi[j - 1] - float(a) * phi[k - j - 1] for j in range(1, k)] + [float(a)]
    return np.array(rho)


def _lag(t: int) -> NDArray[np.int64]:
    k = np.arange(t, dtype=np.int64)
    lags: NDArray[np.int64] = np.abs(k[:, None] - k[None, :])
    return lags


def _sigma_toeplitz(theta: Array, t: int) -> Array:
    """Heterogeneous Toeplitz (SAS TYPE=TOEPH): a standard deviation per visit and one
    correlation per lag; theta = (log sd_1..T, atanh of the T-1 partial autocorrelations)."""
    sd = np.exp(theta[:t])
    rho = _toeplitz_correlations(np.tanh(theta[t:]))
    return np.asarray(rho[_lag(t)] * np.outer(sd, sd), dtype=np.float64)


def _sigma_ar1(theta: Array, t: int) -> Array:
    """First-order autoregressive (SAS TYPE=AR(1)): s2 * rho^|j-k| over the visit order;
    theta = (log s2, atanh rho)."""
    rho = math.tanh(float(theta[1]))
    return np.asarray(math.exp(theta[0]) * rho ** _lag(t), dtype=np.float64)


#: Number of covariance parameters of each structure over T visits.
def parameter_count(structure: Structure, t: int) -> int:
    return {
        Structure.UNSTRUCTURED: t * (t + 1) // 2,
        Structure.HETEROGENEOUS_TOEPLITZ: 2 * t - 1,
        Structure.AR1: 2,
        Structure.COMPOUND_SYMMETRY: 2,
    }[structure]


@dataclass(frozen=True)
class Subject:
    """One participant's rows: outcome, design rows and the visit index (0..T-1) of each."""

    y: Array
    x: Array
    visits: NDArray[np.int64]


@dataclass(frozen=True)
class RemlFit:
    """The REML estimate: fixed effects, their GLS covariance, Sigma, log-likelihood."""

    beta: Array
    covariance_beta: Array
    sigma: Array
    theta: Array
    log_likelihood: float
    n_parameters: int
    converged: bool
    message: str
    df_of: Callable[[Array], float]
    structure: Structure = Structure.UNSTRUCTURED


def sigma_of(theta: Array, t: int, structure: Structure) -> Array:
    """Sigma (T x T) from the optimiser's parameters theta of `structure`."""
    if structure is Structure.HETEROGENEOUS_TOEPLITZ:
        return _sigma_toeplitz(theta, t)
    if structure is Structure.AR1:
        return _sigma_ar1(theta, t)
    if structure is Structure.COMPOUND_SYMMETRY:
        # theta = (log variance, atanh-like transform of rho onto its positive-definite range).
        variance = math.exp(theta[0])
        low = -1.0 / (t - 1) if t > 1 else -1.0
        rho = low + (1.0 - low) / (1.0 + math.exp(-theta[1]))
        return variance * ((1.0 - rho) * np.eye(t) + rho * np.ones((t, t)))
    lower = np.zeros((t, t))
    lower[np.tril_indices(t)] = theta
    lower[np.diag_indices(t)] = np.exp(np.diag(lower))
    return lower @ lower.T


def _start(subjects: Sequence[Subject], t: int, structure: Structure) -> Array:
    """Start from the OLS residual variance per visit (independence)."""
    x = np.vstack([s.x for s in subjects])
    y = np.concatenate([s.y for s in subjects])
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    residual = y - x @ beta
    visits = np.concatenate([s.visits for s in subjects])
    variances = np.array(
        [max(float(np.mean(residual[visits == j] ** 2)), 1e-6) if np.any(visits == j) else 1.0
         for j in range(t)]
    )  # fmt: skip
    if structure in (Structure.COMPOUND_SYMMETRY, Structure.AR1):
        return np.array([math.log(float(np.mean(variances))), 0.0])
    if structure is Structure.HETEROGENEOUS_TOEPLITZ:
        return np.concatenate([0.5 * np.log(variances), np.zeros(t - 1)])
    theta = np.zeros(t * (t + 1) // 2)
    diagonal = np.zeros((t, t))
    diagonal[np.diag_indices(t)] = 0.5 * np.log(variances)
    theta[:] = diagonal[np.tril_indices(t)]
    return theta


@dataclass(frozen=True)
class _Parts:
    log_likelihood: float
    beta: Array
    information: Array  # X' S^-1 X
    sigma: Array
    gradient_sigma: Array  # d l_R / d Sigma (symmetric, T x T)


def _parts(subjects: Sequence[Subject], sigma: Array, with_gradient: bool) -> _Parts:
    p = subjects[0].x.shape[1]
    information = np.zeros((p, p))
    score = np.zeros(p)
    log_det = 0.0
    inverses = []
    for s in subjects:
        block = sigma[np.ix_(s.visits, s.visits)]
        chol = np.linalg.cholesky(block)
        log_det += 2.0 * float(np.sum(np.log(np.diag(chol))))
        inverse = np.linalg.inv(block)
        inverses.append(inverse)
        information += s.x.T @ inverse @ s.x
        score += s.x.T @ inverse @ s.y
    beta = np.asarray(np.linalg.solve(information, score), dtype=np.float64)
    quadratic = 0.0
    gradient = np.zeros_like(sigma)
    covariance = np.linalg.inv(information) if with_gradient else information
    for s, inverse in zip(subjects, inverses, strict=True):
        residual = inverse @ (s.y - s.x @ beta)
        quadratic += float((s.y - s.x @ beta) @ residual)
        if with_gradient:
            projected = inverse @ s.x
            local = -inverse + projected @ covariance @ projected.T + np.outer(residual, residual)
            gradient[np.ix_(s.visits, s.visits)] += 0.5 * local
    n = sum(len(s.y) for s in subjects)
    sign, log_det_information = np.linalg.slogdet(information)
    value = -0.5 * (log_det + log_det_information + quadratic + (n - p) * math.log(2 * math.pi))
    if sign <= 0:
        value = -math.inf
    return _Parts(value, beta, information, sigma, gradient)


def _objective(
    subjects: Sequence[Subject], t: int, structure: Structure
) -> Callable[[Array], tuple[float, Array]]:
    """Negative REML log-likelihood and its gradient in theta."""

    def negative(theta: Array) -> tuple[float, Array]:
        try:
            parts = _parts(subjects, sigma_of(theta, t, structure), with_gradient=True)
        except np.linalg.LinAlgError:
            return math.inf, np.zeros_like(theta)
        if structure is not Structure.UNSTRUCTURED:
            # Chain rule: dl/dtheta_k = sum_jk (dl/dSigma)_jk (dSigma/dtheta_k)_jk, the inner
            # derivative by central differences of Sigma (smooth and cheap, unlike the
            # likelihood itself).
            d_sigma = _sigma_derivatives(theta, t, structure)
            gradient = np.array([float(np.sum(parts.gradient_sigma * d)) for d in d_sigma])
            return -parts.log_likelihood, -gradient
        lower = np.zeros((t, t))
        lower[np.tril_indices(t)] = theta
        lower[np.diag_indices(t)] = np.exp(np.diag(lower))
        d_lower = 2.0 * parts.gradient_sigma @ lower  # d l / d L for Sigma = L L'
        d_lower[np.diag_indices(t)] *= np.diag(lower)  # chain rule through exp
        return -parts.log_likelihood, -d_lower[np.tril_indices(t)]

    return negative


def _sigma_derivatives(theta: Array, t: int, structure: Structure) -> list[Array]:
    out = []
    for k in range(len(theta)):
        step = np.zeros_like(theta)
        step[k] = _SIGMA_STEP
        up, down = sigma_of(theta + step, t, structure), sigma_of(theta - step, t, structure)
        out.append((up - down) / (2 * _SIGMA_STEP))
    return out


def _log_likelihood(
    subjects: Sequence[Subject], theta: Array, t: int, structure: Structure
) -> float:
    return _parts(subjects, sigma_of(theta, t, structure), with_gradient=False).log_likelihood


def _hessian(function: Callable[[Array], Array], theta: Array) -> Array:
    """Hessian by central differences of a gradient function, symmetrised."""
    size = len(theta)
    out = np.zeros((size, size))
    for k in range(size):
        step = np.zeros(size)
        step[k] = _STEP
        out[:, k] = (function(theta + step) - function(theta - step)) / (2 * _STEP)
    return 0.5 * (out + out.T)


def fit_reml(subjects: Sequence[Subject], t: int, structure: Structure) -> RemlFit:
    """Maximise the REML log-likelihood; raises `np.linalg.LinAlgError` for a singular design."""
    negative = _objective(subjects, t, structure)
    result = optimize.minimize(
        negative,
        _start(subjects, t, structure),
        jac=True,
        method="BFGS",
        options={"gtol": _GTOL, "maxiter": _MAX_ITERATIONS},
    )
    theta = np.asarray(result.x, dtype=float)
    parts = _parts(subjects, sigma_of(theta, t, structure), with_gradient=False)
    covariance = np.asarray(np.linalg.inv(parts.information), dtype=np.float64)

    def gradient(at: Array) -> Array:
        return -negative(at)[1]

    curvature = -_hessian(gradient, theta)
    theta_covariance = np.linalg.pinv(curvature)

    def contrast_variance(at: Array, c: Array) -> float:
        information = _parts(subjects, sigma_of(at, t, structure), with_gradient=False).information
        return float(c @ np.linalg.solve(information, c))

    def df_of(c: Array) -> float:
        g = np.zeros_like(theta)
        for k in range(len(theta)):
            step = np.zeros_like(theta)
            step[k] = _STEP
            g[k] = (contrast_variance(theta + step, c) - contrast_variance(theta - step, c)) / (
                2 * _STEP
            )
        spread = float(g @ theta_covariance @ g)
        variance = float(c @ covariance @ c)
        return 2.0 * variance**2 / spread if spread > 0 else math.inf

    converged = bool(result.success) or float(np.max(np.abs(result.jac))) < _CONVERGED_GRADIENT
    return RemlFit(
        beta=parts.beta,
        covariance_beta=covariance,
        sigma=parts.sigma,
        theta=theta,
        log_likelihood=parts.log_likelihood,
        n_parameters=len(theta),
        converged=converged,
        message=str(result.message),
        df_of=df_of,
        structure=structure,
    )
