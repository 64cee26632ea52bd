"""Run the CDISC CORE rules engine (`cdisc-rules-engine`, PyPI) on an SDTM package.

Runs under `.venv-core` (Python 3.12; `make core` creates it), NOT under trialdesk's Python
3.11: the engine ≥ 0.10 requires Python ≥ 3.12 [@CDISC-CORE]. The script imports no trialdesk
code; it reads the package trialdesk wrote (SAS XPORT v5 files + define.xml).

Rules come from two places:

* `tools/core/rules/*.yaml` — rules the project authored in CORE's rule YAML format (the CDISC
  rule schema `resources/schema/rule`), loaded with the engine's own converter
  (`Rule.from_cdisc_metadata`) and executed by the engine. Shipped, run offline, run in CI.
* `--cache DIR` — the engine's rules cache (`rules.pkl`, `rules_dictionary.pkl`, and when present
  the CDISC Library metadata and CT packages), as published in the cdisc-rules-engine
  repository (`resources/cache`) or made by `core.py update-cache` with a CDISC Library API key.
  It is NOT in the PyPI wheel and trialdesk ships none of it; without it the published
  SDTMIG 3.4 rules are reported as not runnable.

Every rule ends as one row: passed, failed (findings; "explained" when the reviewed list
`tools/core/reviewed.yaml` gives the reason) or not runnable (why). Rows go to a CSV and to a
rich table.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import pickle
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyreadstat  # type: ignore[import-not-found]
import yaml

HERE = Path(__file__).resolve().parent
STANDARD = "sdtmig"
VERSION = "3-4"
REPORTED = "issue reported"  # the engine's ExecutionStatus values
_RAN = ("success", "skipped", REPORTED)


@dataclass(frozen=True)
class Outcome:
    rule: str
    source: str  # "trialdesk" (project YAML) or "CDISC cache"
    status: str  # passed | failed | explained | not runnable
    findings: int
    detail: str


def load_datasets(folder: Path) -> list[dict[str, Any]]:
    """The package's XPT datasets in the engine's in-memory dataset form (name, label,
    variables with type and length, records as columns)."""
    datasets = []
    for path in sorted(folder.glob("*.xpt")):
        frame, meta = pyreadstat.read_xport(str(path))
        name = path.stem.upper()
        variables = [
            {
                "name": column,
                "label": meta.column_names_to_labels.get(column) or "",
                "type": "Num" if frame[column].dtype.kind in "fi" else "Char",
                "length": meta.variable_storage_width.get(column),
            }
            for column in frame.columns
        ]
        records = {
            column: [None if _missing(v) else v for v in frame[column].tolist()]
            for column in frame.columns
        }
        datasets.append(
            {
                "name": name,
                "domain": name[4:] if name.startswith("SUPP") else name,
                "filename": path.name,
                "full_path": str(path),
                "label": meta.table_name or name,
                "records": records,
                "variables": variables,
            }
        )
    return datasets


def _missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def project_rules(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """The project's YAML rules converted by the engine's own loader."""
    from cdisc_rules_engine.models.rule import Rule  # type: ignore[import-not-found]

    rules = []
    for path in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        rule = Rule.from_cdisc_metadata(raw)
        rules.append((rule["core_id"], rule))
    return rules


def cache_rules(cache: Path) -> list[tuple[str, dict[str, Any]]]:
    """The published SDTMIG 3.4 rules from the engine's cache (rules.pkl, rules_dictionary.pkl)."""
    with (cache / "rules.pkl").open("rb") as fh:
        rules = pickle.load(fh)  # the engine's own cache format
    with (cache / "rules_dictionary.pkl").open("rb") as fh:
        index = pickle.load(fh)
    ids = index.get(f"{STANDARD}/{VERSION}", [])
    return [(core_id, rules[core_id]) for core_id in ids if core_id in rules]


def reviewed(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v["reason"]) for k, v in data.items()}


def _library(cache: Path | None) -> Any:
    """The library metadata the engine reads, from the cache when it holds it (standard and
    model details, variable metadata, codelist maps, CT packages); empty otherwise."""
    from cdisc_rules_engine.models.library_metadata_container import (  # type: ignore[import-not-found]
        LibraryMetadataContainer,
    )

    def entry(name: str, key: str) -> Any:
        if cache is None or not (cache / name).exists():
            return None
        with (cache / name).open("rb") as fh:
            data = pickle.load(fh)
        return data.get(key) if isinstance(data, dict) else None

    key = f"{STANDARD}/{VERSION}"
    return LibraryMetadataContainer(
        standard_metadata=entry("standards_details.pkl", key) or {},
        model_metadata={},
        variables_metadata=entry("variables_metadata.pkl", key),
        variable_codelist_map=entry("variable_codelist_maps.pkl", key),
        ct_package_metadata={},
        published_ct_packages=None,
    )


def run_rule(
    rule: dict[str, Any], datasets: list[dict[str, Any]], define_xml: str | None, library: Any
) -> list[dict[str, Any]]:
    """One rule through the engine, on every dataset; the flat list of per-dataset results."""
    from cdisc_rules_engine.config.config import ConfigService  # type: ignore[import-not-found]
    from cdisc_rules_engine.dummy_models.dummy_dataset import (  # type: ignore[import-not-found]
        DummyDataset,
    )
    from cdisc_rules_engine.rules_engine import RulesEngine  # type: ignore[import-not-found]
    from cdisc_rules_engine.services.cache.in_memory_cache_service import (  # type: ignore[import-not-found]
        InMemoryCacheService,
    )
    from cdisc_rules_engine.services.data_services.dummy_data_service import (  # type: ignore[import-not-found]
        DummyDataService,
    )
    from cdisc_rules_engine.utilities.data_processor import (  # type: ignore[import-not-found]
        DataProcessor,
    )
    from cdisc_rules_engine.utilities.rule_processor import (  # type: ignore[import-not-found]
        RuleProcessor,
    )

    cache = InMemoryCacheService()
    data_service = DummyDataService.get_instance(
        cache,
        ConfigService(),
        standard=STANDARD,
        standard_version=VERSION,
        data=[DummyDataset(d) for d in datasets],
        define_xml=define_xml,
        library_metadata=library,
    )
    engine = RulesEngine(
        cache,
        data_service,
        standard=STANDARD,
        standard_version=VERSION,
        library_metadata=library,
    )
    engine.rule_processor = RuleProcessor(data_service, cache, library)
    engine.data_processor = DataProcessor(data_service, cache)
    results = engine.validate_single_rule(dict(rule))
    flat: list[dict[str, Any]] = []
    for per_dataset in results.values():
        flat.extend(per_dataset if isinstance(per_dataset, list) else [per_dataset])
    return flat


def judge(
    core_id: str,
    source: str,
    results: list[dict[str, Any]],
    accepted: dict[str, str],
    rule: dict[str, Any],
) -> Outcome:
    """passed / failed / explained / not runnable from the engine's per-dataset results."""
    statuses = {str(r.get("executionStatus")) for r in results}
    errors = [
        e for r in results if r.get("executionStatus") == REPORTED for e in r.get("errors") or []
    ]
    problems = [_message(r) for r in results if r.get("executionStatus") not in _RAN]
    if errors:
        reported = [r for r in results if r.get("executionStatus") == REPORTED]
        where = sorted({str(r.get("dataset") or r.get("domain") or "") for r in reported})
        detail = f"{len(errors)} finding(s) in {', '.join(w for w in where if w) or 'the package'}"
        if core_id in accepted:
            return Outcome(
                core_id, source, "explained", len(errors), f"{detail}: {accepted[core_id]}"
            )
        return Outcome(core_id, source, "failed", len(errors), f"{detail}: {_message(reported[0])}")
    if problems:
        return Outcome(core_id, source, "not runnable", 0, problems[0] + _needs(rule))
    if "success" in statuses:
        return Outcome(core_id, source, "passed", 0, "")
    skipped = [_message(r) for r in results if r.get("executionStatus") == "skipped"]
    reason = (
        skipped[0] if skipped and skipped[0] else "no dataset in the package is in the rule's scope"
    )
    return Outcome(core_id, source, "not applicable", 0, reason)


def _needs(rule: dict[str, Any]) -> str:
    """The engine operations a rule runs first (e.g. a CT or CDISC Library lookup), to say
    what an engine error came from."""
    operations = sorted(
        {str(o.get("operator")) for o in rule.get("operations") or [] if o.get("operator")}
    )
    return f"; its operations: {', '.join(operations)}" if operations else ""


def _message(result: dict[str, Any]) -> str:
    message = result.get("message") or ""
    errors = result.get("errors") or []
    if errors and isinstance(errors[0], dict) and errors[0].get("error"):
        message = f"{message} ({errors[0]['error']})" if message else str(errors[0]["error"])
    return " ".join(str(message).split())[:300]


def run(
    package: Path, rules_dir: Path, cache: Path | None, accepted: dict[str, str]
) -> list[Outcome]:
    datasets = load_datasets(package)
    define = package / "define.xml"
    define_xml = define.read_text(encoding="utf-8") if define.exists() else None
    outcomes: list[Outcome] = []
    library = _library(cache)
    todo: list[tuple[str, str, dict[str, Any]]] = [
        ("trialdesk", core_id, rule) for core_id, rule in project_rules(rules_dir)
    ]
    if cache is not None and (cache / "rules.pkl").exists():
        todo += [("CDISC cache", core_id, rule) for core_id, rule in cache_rules(cache)]
    else:
        outcomes.append(
            Outcome(
                "SDTMIG 3.4 published rules",
                "CDISC cache",
                "not runnable",
                0,
                "the engine's rules cache (resources/cache/rules.pkl) is not in the PyPI wheel; it "
                "comes from the cdisc-rules-engine repository or CDISC Library (API key, network); "
                "pass --cache DIR to run them",
            )
        )
    for source, core_id, rule in _progress(todo):
        try:
            results = run_rule(rule, datasets, define_xml, library)
        except Exception as exc:  # the engine's failure is the rule's outcome
            last = traceback.extract_tb(exc.__traceback__)[-1]
            outcomes.append(
                Outcome(
                    core_id,
                    source,
                    "not runnable",
                    0,
                    f"{type(exc).__name__}: {exc} ({last.name})"[:300],
                )
            )
            continue
        outcomes.append(judge(core_id, source, results, accepted, rule))
    return outcomes


def _progress(items: list[Any]) -> Iterable[Any]:
    from rich.progress import track

    return track(items, description="CORE rules", transient=True)


def write_csv(outcomes: list[Outcome], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rule", "source", "status", "findings", "detail"])
        for o in outcomes:
            writer.writerow([o.rule, o.source, o.status, o.findings, o.detail])


def show(outcomes: list[Outcome]) -> None:
    from rich.console import Console
    from rich.table import Table

    colours = {"passed": "green", "failed": "red", "explained": "yellow", "not runnable": "magenta"}
    table = Table(title="CDISC CORE rules on the SDTM package")
    for column in ("rule", "source", "status", "findings", "detail"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        colour = colours.get(o.status, "white")
        table.add_row(
            o.rule, o.source, f"[{colour}]{o.status}[/{colour}]", str(o.findings), o.detail
        )
    console = Console(width=int(os.environ.get("COLUMNS", "160")))
    console.print(table)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    console.print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))


def _quiet_engine() -> None:
    """The engine logs every rule it cannot execute, with a stack trace, on the root logger;
    the outcome table says the same in one line."""
    logging.disable(logging.CRITICAL)
    from cdisc_rules_engine.services import logger  # type: ignore[import-not-found]

    logger.disabled = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="folder with the .xpt files and define.xml")
    parser.add_argument("--rules", type=Path, default=HERE / "rules")
    parser.add_argument("--cache", type=Path, default=None, help="the engine's resources/cache")
    parser.add_argument("--reviewed", type=Path, default=HERE / "reviewed.yaml")
    parser.add_argument("--out", type=Path, default=Path("build/core/core_report.csv"))
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if not any(args.package.glob("*.xpt")):
        print(f"package: no .xpt datasets in {args.package}", file=sys.stderr)
        return 2
    _quiet_engine()
    outcomes = run(args.package, args.rules, args.cache, reviewed(args.reviewed))
    write_csv(outcomes, args.out)
    if not args.quiet:
        show(outcomes)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
