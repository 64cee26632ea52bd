"""The one pint registry of trialdesk, with the clinical units pint lacks.

pint has no "international unit" of insulin and treats HbA1c % and mmol/mol as the same
dimensionless quantity; both are therefore defined as their own dimensions here so that pint
can never convert them silently. Conversions between them live in `convert.py`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pint

CACHE_ENV = "TRIALDESK_UNITS_CACHE"


def _cache_folder() -> Path | None:
    """Where pint keeps its parsed definition files: $TRIALDESK_UNITS_CACHE ("off": nowhere),
    else the user's cache folder (e.g. ~/.cache/trialdesk/pint)."""
    chosen = os.environ.get(CACHE_ENV, "")
    if chosen.strip().lower() == "off":
        return None
    if chosen:
        return Path(chosen)
    import platformdirs  # pint's own dependency, for the platform's cache folder

    return platformdirs.user_cache_path("trialdesk", appauthor=False) / "pint"


def _registry() -> Any:
    """pint's registry, its definition files parsed once and then read from pint's disk cache
    (~0.1 s less at every start of a command, e.g. the 5 s budget of a 1M-person pre-screen,
    issue #16). The cache is keyed by the files' content; a cache that cannot be read or
    written (a read-only home, a file another process is still writing) costs only the time:
    the files are parsed as without one."""
    folder = _cache_folder()
    if folder is not None:
        # pint's cache is an optimisation, never a failure
        with contextlib.suppress(Exception):
            return pint.UnitRegistry(autoconvert_offset_to_baseunit=True, cache_folder=folder)
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


ureg: Any = _registry()

# Insulin activity: an arbitrary (biological) unit, not a mass. Conversion to moles depends on an
# assay-specific factor, so it is a dimension of its own (see convert.INSULIN_PMOL_PER_UIU).
ureg.define("insulin_unit = [insulin_activity] = IU = U_insulin")
ureg.define("micro_insulin_unit = 1e-6 * insulin_unit = uIU = µIU = μIU")
ureg.define("milli_insulin_unit = 1e-3 * insulin_unit = mIU")

# HbA1c scales: NGSP/DCCT percent and IFCC mmol/mol are related by an affine master equation,
# not by a factor, so each is its own dimension.
ureg.define("hba1c_ngsp_percent = [hba1c_ngsp] = ngsp_percent")
ureg.define("hba1c_ifcc_mmol_per_mol = [hba1c_ifcc] = ifcc_mmol_per_mol")

# Cell doses (cells/kg) are counts.
ureg.define("cell = [cell_count] = cells")

# Blood counts are reported per litre in powers of ten ("10^9/L", SI) or per microlitre
# ("10^3/µL", conventional); pint refuses a scaling factor inside a unit, so each power of ten a
# laboratory writes is a dimensionless unit of its own (`convert` rewrites "10^9" to it).
for _power in (3, 6, 9, 12):
    ureg.define(f"ten_pow_{_power} = 1e{_power}")

Quantity = ureg.Quantity


def is_quantity(value: Any) -> bool:
    """True when `value` is a pint quantity of this registry."""
    return isinstance(value, ureg.Quantity)
