"""ITT samples not taken, as the visit form sends them: ``itt_glucose_<minute>_missing`` (a
missing-data code) and ``itt_glucose_<minute>_missing_reason`` beside each sample (issue #13).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_CODED = re.compile(r"^itt_glucose_(?P<minute>\d+(?:\.\d+)?)_missing$")


def coded_samples(values: Mapping[str, str]) -> dict[float, tuple[str, str]]:
    """minute → (code, reason) of every sample the form records as not taken."""
    coded: dict[float, tuple[str, str]] = {}
    for name, code in values.items():
        match = _CODED.match(name)
        if match and code.strip():
            reason = values.get(f"{name}_reason", "")
            coded[float(match["minute"])] = (code.strip(), reason.strip())
    return coded
