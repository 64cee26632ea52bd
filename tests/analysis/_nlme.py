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


def fit_in_r(rows: pd.DataFrame, visits: list[str], folder: Path) -> RFit:
    """Fit the unstructured and compound-symmetry models to `rows` (USUBJID, VISIT, BASE, CHG,
    the rows the Python fit used) in R."""
    data = folder / "mmrm.csv"
    rows[["USUBJID", "VISIT", "BASE", "CHG"]].to_csv(
        data, index=False, quoting=csv.QUOTE_NONNUMERIC
    )
    script = folder / "mmrm.R"
    script.write_text(R_SCRIPT, "utf-8")
    done = subprocess.run(
        [rscript(), str(script), str(data), ",".join(visits)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"Rscript failed:\n{done.stderr}"
    table = pd.read_csv(io.StringIO(done.stdout)).set_index("term")
    return RFit(table, float(table["un_loglik"].iloc[0]), float(table["cs_loglik"].iloc[0]))


def kenward_roger_in_r(rows: pd.DataFrame, visits: list[str], folder: Path) -> pd.DataFrame:
    """Per model ("un", "cs") and term: estimate, KR-adjusted and unadjusted standard error,
    KR degrees of freedom (pbkrtest), indexed by (model, term)."""
    data = folder / "kr.csv"
    rows[["USUBJID", "VISIT", "BASE", "CHG"]].to_csv(
        data, index=False, quoting=csv.QUOTE_NONNUMERIC
    )
    script = folder / "kr.R"
    script.write_text(KR_SCRIPT, "utf-8")
    done = subprocess.run(
        [rscript(), str(script), str(data), ",".join(visits)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"Rscript failed:\n{done.stderr}"
    return pd.read_csv(io.StringIO(done.stdout)).set_index(["model", "term"])
