"""`trialdesk export FORMAT` and `trialdesk import FORMAT`: REDCap, CDISC ODM, SDTM, FHIR R4B.

Exports always include what the protocol defines (data dictionary, study metadata, trial design,
ResearchStudy); subject data are added from Parquet source frames (`--frames DIR`) or the study
database (`--database URL`). Imports check the whole file first and print every rejected row,
field and reason; nothing is written unless the file is clean.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from trialdesk.console.protocol_cmd import resolve_protocol
from trialdesk.console.study_protocol import StudyProtocolError, study_protocol
from trialdesk.export.crf import design_from_protocol
from trialdesk.export.errors import ExportError, ImportRejected, Rejection
from trialdesk.export.records import ClinicalData
from trialdesk.protocol import Protocol, ProtocolError

if TYPE_CHECKING:
    from trialdesk.export.sdtm.sources import SdtmSources

export_app = typer.Typer(help="Export the study: redcap, odm, sdtm, fhir.", no_args_is_help=True)
import_app = typer.Typer(help="Import a study from redcap or odm files.", no_args_is_help=True)
T = TypeVar("T")
console = Console()

PROTOCOL = typer.Option(
    None,
    "--protocol",
    help="Protocol YAML (default: the one stored in --database, else the built-in NCT01142050)",
)
FRAMES = typer.Option(None, "--frames", help="Subject data: Parquet source frames in this folder")
DATABASE = typer.Option(None, "--database", help="Subject data: study database URL")
USER = typer.Option(None, "--user", help="Importing user (investigator) for --database")


def _protocol(path: Path | None, database: str | None = None) -> Protocol:
    """With --database, the protocol stored in it (a --protocol file must be registered there);
    otherwise the file, else the built-in."""
    try:
        if database is not None:
            return study_protocol(database, path).protocol
        return resolve_protocol(path)
    except (ProtocolError, StudyProtocolError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(2) from None
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0]
        raise _fail(f"--database: cannot read the study database ({first})", 2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]{escape(message)}[/red]", highlight=False)
    return typer.Exit(code)


def _report_rejection(exc: ImportRejected) -> typer.Exit:
    console.print(
        f"[red]✗ {escape(exc.source)}: rejected, {len(exc.problems)} problem(s); "
        "nothing was imported[/red]",
        highlight=False,
    )
    for problem in exc.problems:
        console.print(f"  {escape(str(problem))}", highlight=False)
    return typer.Exit(1)


def _warn(warnings: list[Rejection]) -> None:
    for warning in warnings:
        console.print(f"  [yellow]warning[/yellow] {escape(str(warning))}", highlight=False)


def _notes(notes: tuple[str, ...]) -> None:
    for note in notes:
        console.print(f"  [yellow]not exported[/yellow] {escape(note)}", highlight=False)


def _sources(protocol: Protocol, frames: Path | None, database: str | None) -> SdtmSources | None:
    """SDTM/FHIR sources from Parquet frames or the database, or None for protocol-only."""
    from trialdesk.export.sdtm.sources import SdtmSources

    if frames is not None:
        from trialdesk.analysis.frames_io import read_frames, read_simulated

        try:
            return SdtmSources(read_frames(frames), simulated=read_simulated(frames))
        except ValueError as exc:
            raise _fail(f"--frames {frames}: {exc}", 2) from None
    if database is not None:
        from trialdesk.export.from_store import sdtm_sources_from_database

        return _from_database(sdtm_sources_from_database, protocol, database)
    return None


def _from_database(reader: Callable[[Protocol, str], T], protocol: Protocol, database: str) -> T:
    """Read the study database; unreadable or inconsistent data is a clear error."""
    from sqlalchemy.exc import SQLAlchemyError

    from trialdesk.store import DatabaseConfigError

    try:
        return reader(protocol, database)
    except (SQLAlchemyError, DatabaseConfigError) as exc:
        first = str(exc).splitlines()[0]
        raise _fail(f"--database: cannot read the study database ({first})", 2) from None
    except ValueError as exc:
        raise _fail(f"--database: {exc}", 1) from None


@export_app.command("redcap")
def export_redcap(
    out: Path = typer.Option(Path("redcap"), "--out", help="Folder for the CSV files"),
    protocol_file: Path | None = PROTOCOL,
    database: str | None = DATABASE,
) -> None:
    """REDCap project: data dictionary (18 columns), instruments, events (`<visit>_arm_1`),
    instrument designations, repeating instruments; records (flat CSV) from the database."""
    from trialdesk.export.redcap.dictionary import redcap_project
    from trialdesk.export.redcap.records import write_records

    protocol = _protocol(protocol_file, database)
    design = design_from_protocol(protocol)
    paths = redcap_project(design).write(out, protocol.id)
    if database is not None:
        from trialdesk.export.from_store import clinical_data_from_database

        data = _from_database(clinical_data_from_database, protocol, database)
        _notes(data.notes)
        path = out / f"{protocol.id}_Records.csv"
        path.write_text(
            write_records(design, data.records, data.form_statuses, data.instance_statuses),
            encoding="utf-8",
        )
        paths.append(path)
    for path in paths:
        console.print(f"✓ {path}")


@export_app.command("odm")
def export_odm(
    out: Path = typer.Option(Path("odm.xml"), "--out", help="ODM XML file to write"),
    protocol_file: Path | None = PROTOCOL,
    database: str | None = DATABASE,
) -> None:
    """CDISC ODM 1.3.2: study metadata; with --database also clinical data and audit records.
    The file is validated against the ODM 1.3.2 schema before it is written."""
    from trialdesk.export.odm.validate import schema_errors
    from trialdesk.export.odm.write import odm_document, to_bytes

    protocol = _protocol(protocol_file, database)
    design = design_from_protocol(protocol)
    data = None
    if database is not None:
        from trialdesk.export.from_store import clinical_data_from_database

        data = _from_database(clinical_data_from_database, protocol, database)
        _notes(data.notes)
    try:
        root = odm_document(design, data)
    except ExportError as exc:
        raise _fail(str(exc)) from None
    errors = schema_errors(root)
    if errors:
        raise _fail("the ODM document does not validate: " + "; ".join(map(str, errors[:5])))
    out.write_bytes(to_bytes(root))
    console.print(f"✓ {out} (ODM 1.3.2, valid against ODM1-3-2.xsd)")


@export_app.command("sdtm")
def export_sdtm(
    out: Path = typer.Option(Path("sdtm"), "--out", help="Folder for .xpt, .json, define.xml"),
    protocol_file: Path | None = PROTOCOL,
    frames: Path | None = FRAMES,
    database: str | None = DATABASE,
) -> None:
    """SDTMIG 3.4 datasets as SAS XPORT v5 and Dataset-JSON 1.1 with define.xml 2.1: trial
    design from the protocol, subject domains from --frames or --database."""
    from trialdesk.export.sdtm.build import sdtm_datasets
    from trialdesk.export.sdtm.package import write_package
    from trialdesk.export.sdtm.trial_design import trial_design

    protocol = _protocol(protocol_file, database)
    sources = _sources(protocol, frames, database)
    datasets = trial_design(protocol) if sources is None else sdtm_datasets(protocol, sources)
    try:
        package = write_package(
            datasets, out, study_id=protocol.id, title=protocol.title,
            dictionaries=None if sources is None else sources.dictionaries,
        )  # fmt: skip
    except ExportError as exc:
        raise _fail(str(exc)) from None
    console.print(f"✓ {len(datasets)} datasets in {out}: {', '.join(datasets)} (+ define.xml)")
    if package.findings:
        console.print(f"[yellow]{len(package.findings)} conformance finding(s):[/yellow]")
        for finding in package.findings:
            console.print(f"  {escape(str(finding))}", highlight=False)
        raise typer.Exit(1)
    console.print("✓ no findings from the implemented CDISC CORE rules")


@export_app.command("fhir")
def export_fhir(
    out: Path = typer.Option(Path("fhir.json"), "--out", help="JSON file to write"),
    protocol_file: Path | None = PROTOCOL,
    frames: Path | None = FRAMES,
    database: str | None = DATABASE,
) -> None:
    """HL7 FHIR R4B (4.3.0): the ResearchStudy, or with subject data a collection Bundle."""
    from trialdesk.export.fhir.bundle import study_bundle
    from trialdesk.export.fhir.study import research_study

    protocol = _protocol(protocol_file, database)
    sources = _sources(protocol, frames, database)
    if sources is None:
        text, kind = (
            research_study(protocol).model_dump_json(exclude_none=True, indent=2),
            ("ResearchStudy"),
        )
    else:
        bundle = study_bundle(protocol, sources)
        text = bundle.model_dump_json(exclude_none=True, indent=2)
        kind = f"Bundle of {len(bundle.entry or [])} resources"
    out.write_text(text, encoding="utf-8")
    console.print(f"✓ {out} (FHIR R4B 4.3.0 {kind}, validated)")


def _read(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"{what} {path}: cannot read ({exc})", 2) from None


@import_app.command("redcap")
def import_redcap(  # noqa: PLR0913  Typer command: one parameter per CLI option (Typer has no option groups)
    dictionary: Path = typer.Argument(..., help="REDCap data dictionary CSV"),
    *,
    instruments: Path | None = typer.Option(None, help="Instruments CSV (form labels)"),
    events: Path | None = typer.Option(None, help="Events CSV (longitudinal projects)"),
    mapping: Path | None = typer.Option(None, help="Instrument designations CSV"),
    repeating: Path | None = typer.Option(None, help="Repeating instruments CSV"),
    records: Path | None = typer.Option(None, help="Records, REDCap flat CSV export"),
    study_id: str = typer.Option("REDCAP", "--study-id", help="Study id for the import"),
    database: str | None = DATABASE,
    user: str | None = USER,
) -> None:
    """Check a REDCap project (and its records) and, with --database, store the records."""
    from trialdesk.export.redcap.read_dictionary import RedcapProjectFiles, read_redcap_project
    from trialdesk.export.redcap.records import read_records

    text = _read(dictionary, "data dictionary") or ""
    try:
        files = RedcapProjectFiles(
            text,
            instruments=_read(instruments, "instruments"),
            events=_read(events, "events"),
            mapping=_read(mapping, "instrument designations"),
            repeating=_read(repeating, "repeating instruments"),
        )
        result = read_redcap_project(
            files,
            study_id=study_id,
            source=str(dictionary),
        )
        rows = (
            read_records(
                result.design,
                _read(records, "records") or "",
                record_id=result.record_id_field,
                source=str(records),
            )
            if records
            else []
        )
    except ImportRejected as exc:
        raise _report_rejection(exc) from None
    _warn(result.warnings)
    design = result.design
    console.print(
        f"✓ {dictionary}: {len(design.forms)} forms, "
        f"{sum(len(f.items) for f in design.forms)} fields, {len(design.events)} "
        f"events" + (f"; {len(rows)} form records" if records else "")
    )
    if database is not None and rows:
        _store(ClinicalData(design, tuple(rows)), database, user, str(records))


@import_app.command("odm")
def import_odm(
    file: Path = typer.Argument(..., help="CDISC ODM 1.3.2 XML file"),
    database: str | None = DATABASE,
    user: str | None = USER,
) -> None:
    """Check an ODM file (schema, metadata, every value) and, with --database, create its
    subjects and data in one transaction."""
    from trialdesk.export.odm.read import read_odm

    try:
        content = file.read_bytes()
    except OSError as exc:
        raise _fail(f"{file}: cannot read ({exc.strerror})", 2) from None
    try:
        result = read_odm(content, source=str(file))
    except ImportRejected as exc:
        raise _report_rejection(exc) from None
    _warn(result.warnings)
    data = result.data
    subjects = len({r.subject for r in data.records}) if data else 0
    console.print(
        f"✓ {file}: study {result.design.study_id}, {len(result.design.events)} "
        f"events, {len(result.design.forms)} forms; {subjects} subjects, "
        f"{len(data.audit) if data else 0} audit records"
    )
    if database is not None and data is not None:
        _store(data, database, user, str(file))


def _store(data: ClinicalData, database: str, user: str | None, source: str) -> None:
    from trialdesk.export.to_store import import_clinical_data

    if not user:
        raise _fail("--user USERNAME is required to write into the database", 2)
    try:
        summary = import_clinical_data(data, database, username=user, source=source)
    except ImportRejected as exc:
        raise _report_rejection(exc) from None
    console.print(f"✓ stored in one transaction: {summary}")
