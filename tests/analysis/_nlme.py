"""An independent MMRM fit in R (nlme::gls, emmeans for Satterthwaite df; pbkrtest for
Kenward–Roger) for the tests.

Needs Rscript with the nlme, emmeans, lme4 and pbkrtest packages (Debian: r-base-core,
r-cran-nlme, r-cran-emmeans, r-cran-pbkrtest; installed by .ci/run). Under CI=true a missing R
fails the test loudly; on a developer machine without R the test is skipped with the reason.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

R_SCRIPT = r"""
suppressPackageStartupMessages({library(nlme); library(emmeans)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
visits <- strsplit(args[2], ",")[[1]]
d$VISIT <- factor(d$VISIT, levels = visits)
d$visit_index <- as.integer(d$VISIT)
d$BASEC <- d$BASE - mean(d$BASE)
d <- d[order(d$USUBJID, d$visit_index), ]
un <- gls(CHG ~ 0 + VISIT + BASEC, data = d,
          correlation = corSymm(form = ~visit_index | USUBJID),
          weights = varIdent(form = ~1 | VISIT), method = "REML")
cs <- gls(CHG ~ 0 + VISIT + BASEC, data = d,
          correlation = corCompSymm(form = ~visit_index | USUBJID), method = "REML")
# emmeans has no analytic Satterthwaite for gls and falls back to "appx-satterthwaite", which
# perturbs at random: a fixed seed makes the reference the same on every run.
set.seed(20260101)
em <- summary(emmeans(un, ~VISIT, mode = "satterthwaite"))
out <- data.frame(term = rownames(summary(un)$tTable),
                  un_est = summary(un)$tTable[, "Value"], un_se = summary(un)$tTable[, "Std.Error"],
                  cs_est = summary(cs)$tTable[, "Value"], cs_se = summary(cs)$tTable[, "Std.Error"])
out$df <- c(em$df, NA)
out$un_loglik <- as.numeric(logLik(un)); out$cs_loglik <- as.numeric(logLik(cs))
write.csv(out, stdout(), row.names = FALSE)
"""


#: Kenward–Roger in R. Unstructured: nlme's REML fit, then pbkrtest's own KR algebra
#: (vcovAdj_internal, Lb_ddf) on the entries of Sigma as covariance parameters — the route
#: pbkrtest takes for lmer fits, which cannot fit an identifiable unstructured matrix
#: themselves. Compound symmetry: lme4's random intercept and emmeans' "kenward-roger" mode
#: end to end.
KR_SCRIPT = r"""
suppressPackageStartupMessages({
  library(nlme); library(lme4); library(pbkrtest); library(emmeans); library(Matrix)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
visits <- strsplit(args[2], ",")[[1]]
d$VISIT <- factor(d$VISIT, levels = visits)
d$visit_index <- as.integer(d$VISIT)
d$BASEC <- d$BASE - mean(d$BASE)
d <- d[order(d$USUBJID, d$visit_index), ]
nv <- length(visits)
un <- gls(CHG ~ 0 + VISIT + BASEC, data = d,
          correlation = corSymm(form = ~visit_index | USUBJID),
          weights = varIdent(form = ~1 | VISIT), method = "REML")
ids <- unique(d$USUBJID)
subjects <- split(d$visit_index, d$USUBJID)[ids]
complete <- ids[sapply(subjects, length) == nv][1]
V_i <- getVarCov(un, individual = complete)
Sigma <- matrix(as.numeric(V_i), nv, nv)
X <- model.matrix(~ 0 + VISIT + BASEC, data = d)
block <- function(M) as.matrix(bdiag(lapply(subjects, function(v) M[v, v, drop = FALSE])))
G <- list()
for (j in 1:nv) for (k in j:nv) {
  E <- matrix(0, nv, nv); E[j, k] <- E[k, j] <- 1; G <- c(G, list(block(E)))
}
V <- block(Sigma)
Phi <- solve(t(X) %*% solve(V, X))
PhiA <- pbkrtest:::vcovAdj_internal(Phi, list(Sigma = V, G = G, n.ggamma = length(G)), X)
df_un <- sapply(seq_len(ncol(X)), function(k) {
  L <- matrix(0, 1, ncol(X)); L[k] <- 1; pbkrtest:::Lb_ddf(L, Phi, PhiA)})
out_un <- data.frame(term = colnames(X), est = as.numeric(coef(un)),
                     se_kr = sqrt(diag(as.matrix(PhiA))), se = sqrt(diag(Phi)),
                     df = df_un, model = "un")
cs <- lmer(CHG ~ 0 + VISIT + BASEC + (1 | USUBJID), data = d, REML = TRUE)
em <- summary(emmeans(cs, ~VISIT, mode = "kenward-roger"))
out_cs <- data.frame(term = names(fixef(cs)), est = fixef(cs),
                     se_kr = sqrt(diag(as.matrix(vcovAdj(cs)))),
                     se = sqrt(diag(as.matrix(vcov(cs)))), df = c(em$df, NA), model = "cs")
write.csv(rbind(out_un, out_cs), stdout(), row.names = FALSE)
"""


#: The fallback structures in R. First-order autoregressive: nlme's ``corAR1`` over the visit
#: index (homogeneous, as trialdesk's AR(1) and SAS TYPE=AR(1)). Heterogeneous Toeplitz: an
#: autoregressive process of order T-1 (``corARMA(p = T-1)``) has a free correlation per lag —
#: nlme parameterises it by the partial autocorrelations, so it spans every positive-definite
#: Toeplitz correlation over T visits — and ``varIdent`` gives a variance per visit: together
#: SAS TYPE=TOEPH. Kenward–Roger: pbkrtest's own algebra (vcovAdj_internal, Lb_ddf) with dV/ds
#: written analytically in SAS's parameters (AR(1): s2, rho; TOEPH: sd_1..T, rho_1..T-1) and the
#: second-derivative term R_rs that pbkrtest leaves out (zero for its linear structures) added.
FALLBACK_SCRIPT = r"""
suppressPackageStartupMessages({library(nlme); library(pbkrtest); library(Matrix)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
visits <- strsplit(args[2], ",")[[1]]
d$VISIT <- factor(d$VISIT, levels = visits)
d$visit_index <- as.integer(d$VISIT)
d$BASEC <- d$BASE - mean(d$BASE)
d <- d[order(d$USUBJID, d$visit_index), ]
nv <- length(visits)
ids <- unique(d$USUBJID)
subjects <- split(d$visit_index, d$USUBJID)[ids]
complete <- ids[sapply(subjects, length) == nv][1]
X <- model.matrix(~ 0 + VISIT + BASEC, data = d)
block <- function(M) as.matrix(bdiag(lapply(subjects, function(v) M[v, v, drop = FALSE])))
lag <- abs(outer(1:nv, 1:nv, "-"))
ctl <- glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-10)
ar1 <- gls(CHG ~ 0 + VISIT + BASEC, data = d, method = "REML", control = ctl,
           correlation = corAR1(form = ~visit_index | USUBJID))
toeph <- gls(CHG ~ 0 + VISIT + BASEC, data = d, method = "REML", control = ctl,
             correlation = corARMA(form = ~visit_index | USUBJID, p = nv - 1, q = 0),
             weights = varIdent(form = ~1 | VISIT))
sigma_of <- function(fit) {
  S <- getVarCov(fit, individual = complete); matrix(as.numeric(S), nv, nv)
}
# dSigma/ds and d2Sigma/ds ds in SAS's parameters: AR(1) (s2, rho); TOEPH (sd_1..T, rho_1..T-1)
ar1_derivs <- function(S) {
  s2 <- S[1, 1]; rho <- S[1, 2] / S[1, 1]
  r1 <- ifelse(lag >= 1, lag * rho^pmax(lag - 1, 0), 0)
  r2 <- ifelse(lag >= 2, lag * (lag - 1) * rho^pmax(lag - 2, 0), 0)
  first <- list(rho^lag, s2 * r1)
  second <- list(list(0 * lag, r1), list(r1, s2 * r2))
  list(first = first, second = second)
}
toeph_derivs <- function(S) {
  sd <- sqrt(diag(S)); R <- S / outer(sd, sd)
  unit <- function(m) { e <- rep(0, nv); e[m] <- 1; e }
  dsd <- lapply(1:nv, function(m) R * (outer(unit(m), sd) + outer(sd, unit(m))))
  drho <- lapply(1:(nv - 1), function(l) outer(sd, sd) * (lag == l))
  first <- c(dsd, drho)
  np <- length(first)
  second <- vector("list", np)
  for (a in 1:np) {
    second[[a]] <- vector("list", np)
    for (b in 1:np) {
      if (a <= nv && b <= nv) {
        M <- R * (outer(unit(a), unit(b)) + outer(unit(b), unit(a)))
      } else if (a > nv && b > nv) {
        M <- 0 * lag
      } else {
        m <- min(a, b); l <- max(a, b) - nv
        M <- (lag == l) * (outer(unit(m), sd) + outer(sd, unit(m)))
      }
      second[[a]][[b]] <- M
    }
  }
  list(first = first, second = second)
}
kr <- function(fit, derivs, model) {
  S <- sigma_of(fit)
  der <- derivs(S)
  G <- lapply(der$first, block)
  V <- block(S)
  Vinv <- solve(V)
  Phi <- solve(t(X) %*% Vinv %*% X)
  PhiA <- pbkrtest:::vcovAdj_internal(Phi, list(Sigma = V, G = G, n.ggamma = length(G)), X)
  W <- as.matrix(attr(PhiA, "W"))
  np <- length(G)
  U <- matrix(0, ncol(X), ncol(X))
  for (a in 1:np) for (b in 1:np) {
    U <- U + W[a, b] * (t(X) %*% Vinv %*% block(der$second[[a]][[b]]) %*% Vinv %*% X)
  }
  # pbkrtest leaves out the second-derivative term (zero for the linear structures it fits):
  # Phi_A = Phi + 2 Phi [sum W_rs (Q_rs - P_r Phi P_s - R_rs / 4)] Phi (Kenward & Roger 1997).
  full <- as.matrix(PhiA) - 0.5 * Phi %*% U %*% Phi
  attributes(full) <- c(attributes(full), attributes(PhiA)[c("P", "W")])
  df <- sapply(seq_len(ncol(X)), function(k) {
    L <- matrix(0, 1, ncol(X)); L[k] <- 1; pbkrtest:::Lb_ddf(L, Phi, full)})
  data.frame(model = model, term = colnames(X), est = as.numeric(coef(fit)),
             se = sqrt(diag(Phi)), nlme_se = summary(fit)$tTable[, "Std.Error"],
             se_kr = sqrt(diag(full)), df = df, loglik = as.numeric(logLik(fit)))
}
out <- rbind(kr(ar1, ar1_derivs, "ar1"), kr(toeph, toeph_derivs, "toeph"))
write.csv(out, stdout(), row.names = FALSE)
"""


@dataclass(frozen=True)
class RFit:
    """nlme's estimates per term (``VISITM1``.., ``BASEC``), emmeans' df, REML log-likelihoods."""

    table: pd.DataFrame
    un_loglik: float
    cs_loglik: float

    def row(self, visit: str) -> pd.Series:
        return self.table.loc[f"VISIT{visit}"]


def rscript() -> str:
    found = shutil.which("Rscript")
    if found:
        return found
    message = "Rscript is missing: apt-get install r-base-core r-cran-nlme r-cran-emmeans"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _run_r(script: str, name: str, rows: pd.DataFrame, visits: list[str], folder: Path) -> str:
    """Run `script` on `rows` (USUBJID, VISIT, BASE, CHG, the rows the Python fit used) and the
    visit order; its CSV output as text."""
    data = folder / f"{name}.csv"
    rows[["USUBJID", "VISIT", "BASE", "CHG"]].to_csv(
        data, index=False, quoting=csv.QUOTE_NONNUMERIC
    )
    path = folder / f"{name}.R"
    path.write_text(script, "utf-8")
    done = subprocess.run(
        [rscript(), str(path), str(data), ",".join(visits)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"Rscript failed:\n{done.stderr}"
    return done.stdout


def fit_in_r(rows: pd.DataFrame, visits: list[str], folder: Path) -> RFit:
    """Fit the unstructured and compound-symmetry models to `rows` in R."""
    table = pd.read_csv(io.StringIO(_run_r(R_SCRIPT, "mmrm", rows, visits, folder)))
    table = table.set_index("term")
    return RFit(table, float(table["un_loglik"].iloc[0]), float(table["cs_loglik"].iloc[0]))


def kenward_roger_in_r(rows: pd.DataFrame, visits: list[str], folder: Path) -> pd.DataFrame:
    """Per model ("un", "cs") and term: estimate, KR-adjusted and unadjusted standard error,
    KR degrees of freedom (pbkrtest), indexed by (model, term)."""
    out = _run_r(KR_SCRIPT, "kr", rows, visits, folder)
    return pd.read_csv(io.StringIO(out)).set_index(["model", "term"])


def fallback_in_r(rows: pd.DataFrame, visits: list[str], folder: Path) -> pd.DataFrame:
    """Per model ("ar1", "toeph") and term: nlme's REML estimate and standard error, the
    KR-adjusted standard error and KR df, the REML log-likelihood; indexed by (model, term)."""
    out = _run_r(FALLBACK_SCRIPT, "fallback", rows, visits, folder)
    return pd.read_csv(io.StringIO(out)).set_index(["model", "term"])
