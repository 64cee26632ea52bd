"""Collected data in the shape of the CRF design: one `FormRecord` per subject, event, form and
repeat instance, with typed values (see `trialdesk.export.values`). REDCap records and ODM
ClinicalData are written from, and read into, this shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from trialdesk.export.crf.model import Form, StudyDesign
from trialdesk.export.signatures import CasebookSignature, DataCut
from trialdesk.export.values import Value, check_limits
from trialdesk.protocol.versions import ProtocolVersionInfo


@dataclass(frozen=True)
class FormRecord:
    subject: str
    event: str  # event (visit) code
    form: str
    values: dict[str, Value]
    instance: int = 1  # repeat instance of a repeating form, else 1
    # Items recorded as missing: item -> (missing-data code, reason); see
    # `trialdesk.catalogue.missing` (REDCap writes the code, ODM an IsNull ItemData with a Flag).
    missing: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.subject, self.event, self.form, self.instance)


@dataclass(frozen=True)
class AuditEntry:
    """One change of one item value, as the audit trail recorded it (ODM AuditRecord)."""

    subject: str
    event: str
    form: str
    instance: int
    item: str
    value: Value | None  # None: the value was removed
    user: str
    when: datetime  # UTC
    reason: str = ""
    action: str = "Insert"  # Insert | Update | Remove (ODM TransactionType)
    location: str = ""  # site code
    # The value as the site entered it, with its unit ("1.5 m", "126 mg/dL"), when it differs
    # from the standard value in the item's unit; else "" (ODM: an Annotation, `odm.write`).
    as_entered: str = ""
    # Where the change comes from in its source system (ODM AuditRecord/SourceID): trialdesk
    # writes "<table>/<record id>@<audit sequence>"; an import keeps the foreign one.
    source_id: str = ""


@dataclass(frozen=True)
class ClinicalData:
    """Everything collected in a study: current values plus the history that produced them."""

    design: StudyDesign
    records: tuple[FormRecord, ...]
    audit: tuple[AuditEntry, ...] = ()
    sites: dict[str, str] = field(default_factory=dict)  # subject -> site code
    site_names: dict[str, str] = field(default_factory=dict)  # site code -> name
    notes: tuple[str, ...] = ()  # values of the source that found no place in the design
    # Snapshot exports: the last audit entry behind each current value, keyed by
    # (subject, event, form, instance, item); written as the ItemData's ODM AuditRecord.
    provenance: dict[tuple[str, str, str, int, str], AuditEntry] = field(default_factory=dict)
    # The protocol versions registered in the study database (one MetaDataVersion each).
    protocol_versions: tuple[ProtocolVersionInfo, ...] = ()
    # How the data were simulated (`trialdesk.store.provenance`); None for real data. The ODM
    # file's Description says so when set.
    simulated: str | None = None
    # Form statuses recorded at the site (REDCap's Incomplete / Unverified / Complete), keyed by
    # (subject, event, form): "incomplete" | "unverified" | "complete".
    form_statuses: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # The same for the forms of a repeating (unscheduled) event, one per instance, keyed by
    # (subject, event, form, instance): an unscheduled visit's forms have statuses too (#13).
    instance_statuses: dict[tuple[str, str, str, int], str] = field(default_factory=dict)
    # The file the data were read from (ODM FileOID and SourceSystem; "" when not from a
    # file): an import records it so that the same file is never imported twice (issue 15).
    # End of participation of a subject: subject -> (study-end reason code, date ended).
    dispositions: dict[str, tuple[str, date]] = field(default_factory=dict)
    file_oid: str = ""
    source_system: str = ""
    # The latest casebook signature of each subject (`trialdesk.export.signatures`).
    signatures: tuple[CasebookSignature, ...] = ()
    # The study database lock the data were exported under (None: not read from a database).
    data_cut: DataCut | None = None


def check_records(design: StudyDesign, records: tuple[FormRecord, ...]) -> list[str]:
    """Problems that make records unfit for `design` (unknown names, misplaced forms, hard
    limits); empty when every record fits. Used before writing any export."""
    problems = []
    seen: set[tuple[str, str, str, int]] = set()
    for record in records:
        where = f"subject {record.subject}, event {record.event}, form {record.form}"
        if record.key in seen:
            problems.append(f"{where}: instance {record.instance} appears twice")
        seen.add(record.key)
        try:
            event = design.event(record.event)
            form = design.form(record.form)
        except KeyError as exc:
            problems.append(f"{where}: {exc.args[0]}")
            continue
        if form.name not in event.forms:
            problems.append(f"{where}: form is not collected at this event")
        problems += [f"{where}{problem}" for problem in _item_problems(form, record)]
    return problems


def _item_problems(form: Form, record: FormRecord) -> list[str]:
    """What is wrong with the record's values and missing-data codes for `form`, each line
    to follow the record's place (``: …`` or ``, item: …``)."""
    problems = []
    names = {i.name: i for i in form.items}
    for name in record.missing:
        if name not in names:
            problems.append(f": {name!r} (recorded as missing) is not an item of the form")
        elif name in record.values:
            problems.append(f": {name!r} has both a value and a missing-data code")
    for name, value in record.values.items():
        if name not in names:
            problems.append(f": {name!r} is not an item of the form")
        elif (why := check_limits(names[name], value)) is not None:
            problems.append(f", {name}: {why}")
    return problems
