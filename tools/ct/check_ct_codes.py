"""Check the NCI C-codes of `src/trialdesk/export/sdtm/ct_codes.yaml` against CDISC SDTM
Controlled Terminology files as NCI EVS publishes them ("SDTM Terminology.txt", tab-separated:
Code, Codelist Code, Codelist Extensible (Yes/No), Codelist Name, CDISC Submission Value, …;
https://evs.nci.nih.gov/ftp1/CDISC/SDTM/ [@NCI-EVS-CT]).

Usage: ``python tools/ct/check_ct_codes.py "SDTM Terminology.txt" [older release …]``. Every
codelist code and every term code the YAML marks verified as ``evs`` must be in every file given,
with the same code (a term present with one code in releases before and after the declared
`ct_version` is that release's code: NCI codes of CDISC terms are not reassigned). Prints one
line per problem and exits 1 if there is any; the files are not shipped (not needed at run time).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import yaml

CT_CODES = Path(__file__).resolve().parents[2] / "src/trialdesk/export/sdtm/ct_codes.yaml"
EVS = "evs"


def read_release(path: Path) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """(codelist code → short name, (codelist code, submission value) → term code)."""
    codelists: dict[str, str] = {}
    terms: dict[tuple[str, str], str] = {}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["Codelist Code"]:
                terms[(row["Codelist Code"], row["CDISC Submission Value"])] = row["Code"]
            else:
                codelists[row["Code"]] = row["CDISC Submission Value"]
    return codelists, terms


def problems(data: dict[str, Any], release: Path) -> list[str]:
    codelists, terms = read_release(release)
    found = []
    sections = {**data["codelists"], **{f"TS {k}": v for k, v in data["ts_values"].items()}}
    for name, entry in sections.items():
        code = entry.get("code")
        if entry.get("verified") == EVS and code not in codelists:
            found.append(f"{release}: codelist {name} {code} not found")
        for value, term in (entry.get("terms") or {}).items():
            if term.get("verified") != EVS:
                continue
            actual = terms.get((code, str(value)))
            if actual != term["code"]:
                found.append(f"{release}: {name} {value!r} is {actual}, not {term['code']}")
    return found


def main(argv: list[str]) -> int:
    data = yaml.safe_load(CT_CODES.read_text(encoding="utf-8"))
    found = [p for path in argv for p in problems(data, Path(path))]
    for line in found:
        print(line)
    print(f"{len(found)} problem(s) in {len(argv)} release file(s)")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
