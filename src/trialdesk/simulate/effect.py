"""The treatment effect the follow-up simulator applies after transplantation, and its time course.

No effect is the default (a safety dry run: the analysis must then find nothing). When asked,
the effect is given at full strength for each outcome, with a time course:

    fraction of the full effect, by days d since the transplantation
    d <= 0                      0
    0 < d <= onset_days         d / onset_days                         (linear onset)
    onset_days < d <= waning    1
    d > waning_from_days        1 - waning_fraction x (d - waning_from) / (365 - waning_from)

Participants differ in how much they respond: each gets a multiplier with mean 1, log-normal
with SD ``heterogeneity`` on the log scale, applied to every outcome (a good responder responds
on all of them). The insulin-dose reduction, a fraction in [0, 1], is drawn from a beta
distribution with mean ``insulin_dose_reduction`` at the same quantile as the multiplier.

Presets, from the stem-cell T2DM trials (Bhansali et al. 2009, Zang et al. 2022):

* ``moderate``: HbA1c -0.7 %-points (Zang et al., Stem Cell Res Ther 2022: -1.31 vs -0.63 with
  placebo, a difference of about -0.7), insulin dose -25 % (Zang 2022: 27.8 % reduction),
  KITT +0.5 %/min (assumption, of the order of the +0.64 seen with a thiazolidinedione in Lee
  et al., Yonsei Med J 2008), C-peptide +15 % and OGLD DDD -10 % (assumptions); full by M3,
  30 % lost between M6 and M12 (assumption).
* ``strong``: HbA1c -1.3 %-points (the uncontrolled change in Zang 2022's active arm; Bhansali
  2014: -1.1 in responders), insulin dose -50 % (Bhansali 2009/2014: 60-70 % responders with
  about 75 % reduction), KITT +1.0 %/min, C-peptide +30 %, OGLD -25 % (assumptions); full by
  day 60, 20 % lost between M9 and M12 (assumption).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import stats

#: Days from the transplantation to the month-12 visit (protocol day 372 - transplant day 7).
FOLLOW_UP_DAYS = 365
#: Largest accepted SD of the log individual response (see `Effect.heterogeneity`).
MAX_HETEROGENEITY = 2.0


@dataclass(frozen=True)
class Effect:
    """A treatment effect at full strength, and its time course (see the module docstring)."""

    hba1c_change: float = 0.0  # %-points (negative = lower HbA1c)
    insulin_dose_reduction: float = 0.0  # fraction of the baseline U/day (0.25 = 25 % less)
    kitt_change: float = 0.0  # %/min (positive = more insulin sensitive)
    c_peptide_change: float = 0.0  # fraction (0.15 = +15 %)
    ogld_dose_reduction: float = 0.0  # fraction of the baseline WHO DDDs
    onset_days: int = 90
    waning_from_days: int = 180
    waning_fraction: float = 0.0
    heterogeneity: float = 0.5
    name: str = "custom"

    def __post_init__(self) -> None:
        for label in ("insulin_dose_reduction", "ogld_dose_reduction", "waning_fraction"):
            value = getattr(self, label)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Effect.{label}: {value!r} is not a fraction in [0, 1]")
        if self.c_peptide_change <= -1.0:
            raise ValueError(f"Effect.c_peptide_change: {self.c_peptide_change!r} is not > -1")
        if not 0 < self.onset_days <= self.waning_from_days < FOLLOW_UP_DAYS:
            raise ValueError(
                f"Effect: need 0 < onset_days ({self.onset_days}) <= waning_from_days "
                f"({self.waning_from_days}) < {FOLLOW_UP_DAYS}"
            )
        if not 0.0 <= self.heterogeneity <= MAX_HETEROGENEITY:
            raise ValueError(f"Effect.heterogeneity: {self.heterogeneity!r} is not in [0, 2]")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"Effect.{f.name}: {value!r} is not finite")

    @property
    def is_null(self) -> bool:
        """True when no outcome changes (the default safety dry run)."""
        return not any(
            (
                self.hba1c_change,
                self.insulin_dose_reduction,
                self.kitt_change,
                self.c_peptide_change,
                self.ogld_dose_reduction,
            )
        )

    def fraction_at(self, days_since_transplant: float) -> float:
        """Share of the full effect present `days_since_transplant` days after transplantation.

        >>> e = Effect(hba1c_change=-1.0, waning_fraction=0.3)
        >>> [round(e.fraction_at(d), 3) for d in (-5, 45, 90, 180, 365)]
        [0.0, 0.5, 1.0, 1.0, 0.7]
        """
        d = float(days_since_transplant)
        if d <= 0:
            return 0.0
        if d <= self.onset_days:
            return d / self.onset_days
        if d <= self.waning_from_days:
            return 1.0
        span = FOLLOW_UP_DAYS - self.waning_from_days
        return 1.0 - self.waning_fraction * min(1.0, (d - self.waning_from_days) / span)

    def individual(self, rng: np.random.Generator) -> IndividualEffect:
        """One participant's full effect (see the module docstring)."""
        z = float(rng.normal())
        s = self.heterogeneity
        multiplier = math.exp(-0.5 * s * s + s * z)
        reduction = self.insulin_dose_reduction
        if 0.0 < reduction < 1.0 and s > 0:
            kappa = 1.0 / (s * s)  # beta "sample size": more heterogeneity, wider spread
            reduction = float(
                stats.beta.ppf(stats.norm.cdf(z), reduction * kappa, (1.0 - reduction) * kappa)
            )
        ogld = min(1.0, self.ogld_dose_reduction * multiplier)
        return IndividualEffect(
            hba1c_change=self.hba1c_change * multiplier,
            insulin_dose_reduction=reduction,
            kitt_change=self.kitt_change * multiplier,
            c_peptide_change=self.c_peptide_change * multiplier,
            ogld_dose_reduction=ogld,
        )


@dataclass(frozen=True)
class IndividualEffect:
    """One participant's effect at full strength (same fields as `Effect`)."""

    hba1c_change: float
    insulin_dose_reduction: float
    kitt_change: float
    c_peptide_change: float
    ogld_dose_reduction: float


NO_EFFECT = Effect(name="none")
MODERATE = Effect(
    hba1c_change=-0.7,
    insulin_dose_reduction=0.25,
    kitt_change=0.5,
    c_peptide_change=0.15,
    ogld_dose_reduction=0.10,
    onset_days=90,
    waning_from_days=180,
    waning_fraction=0.3,
    name="moderate",
)
STRONG = Effect(
    hba1c_change=-1.3,
    insulin_dose_reduction=0.50,
    kitt_change=1.0,
    c_peptide_change=0.30,
    ogld_dose_reduction=0.25,
    onset_days=60,
    waning_from_days=270,
    waning_fraction=0.2,
    name="strong",
)
PRESETS: dict[str, Effect] = {e.name: e for e in (NO_EFFECT, MODERATE, STRONG)}


def effect_preset(name: str, **overrides: float | int | None) -> Effect:
    """A preset by name (``none``, ``moderate``, ``strong``), with fields overridden where given.

    Overrides whose value is None are ignored, so command-line options can be passed through.

    >>> effect_preset("moderate", hba1c_change=-1.0).hba1c_change
    -1.0
    """
    key = name.strip().lower()
    if key not in PRESETS:
        raise ValueError(f"effect: {name!r} is not one of {', '.join(PRESETS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    known = {f.name for f in fields(Effect)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"effect: unknown option(s) {', '.join(unknown)}")
    effect = PRESETS[key]
    if not given:
        return effect
    return replace(effect, **given, name=f"{effect.name} (modified)")  # type: ignore[arg-type]
