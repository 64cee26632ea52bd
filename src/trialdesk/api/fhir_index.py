"""The study's FHIR R4B resources, served read-only: built by the export's Bundle builder
(`trialdesk.export.fhir.bundle.study_bundle`, the same content as `trialdesk export fhir`), indexed
by type and id, and searched as the FHIR RESTful API defines it ([@FHIR-R4B] "RESTful API",
"Search": token parameters `[system]|[code]`, reference parameters `[type]/[id]` or `[id]`).

The Bundle refers between its entries by ``urn:uuid:`` full URLs; a server's resources refer to
each other as ``[type]/[id]`` (FHIR R4B "Resource References": a relative reference), so the
references are rewritten once, when the index is built. Building reads the whole study, so the
index is kept per database and rebuilt only when the audit trail has grown (every change to the
data appends an entry in the same transaction: its last sequence number and hash are the data's
version — the hash too, so that a database restored from a backup and written again up to the
same number is not mistaken for the one indexed).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from trialdesk.export.fhir.bundle import study_bundle
from trialdesk.export.from_store import sdtm_sources
from trialdesk.services.actor import Actor
from trialdesk.services.study import current_protocol
from trialdesk.store.models import Site
from trialdesk.store.models.audit import AuditHead

#: The search parameters each type supports (FHIR R4B search parameter registry): name → the
#: resource paths it matches. `subject`/`patient` are reference parameters, `code` a token.
SEARCH_PARAMETERS: dict[str, dict[str, tuple[str, ...]]] = {
    "Patient": {},
    "ResearchStudy": {},
    "ResearchSubject": {"patient": ("individual",), "individual": ("individual",)},
    "Observation": {
        "subject": ("subject",),
        "patient": ("subject",),
        "code": ("code",),
        "encounter": ("encounter",),
    },
    "Encounter": {"subject": ("subject",), "patient": ("subject",)},
    "Group": {},
    "MedicationStatement": {
        "subject": ("subject",),
        "patient": ("subject",),
        "code": ("medicationCodeableConcept",),
    },
    "Procedure": {"subject": ("subject",), "patient": ("subject",), "code": ("code",)},
    "AdverseEvent": {"subject": ("subject",), "patient": ("subject",), "event": ("event",)},
}
REFERENCE_PARAMETERS = frozenset({"subject", "patient", "individual", "encounter"})
#: Parameters every search takes (FHIR R4B "Search": result parameters and `_format`).
COMMON_PARAMETERS = frozenset({"_id", "_count", "_offset", "_format", "_pretty"})
DEFAULT_COUNT = 50
MAX_COUNT = 500


class SearchError(ValueError):
    """A search the server cannot run; `parameter` names the parameter at fault."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass
class FhirIndex:
    """Resources by type and id, and the site of each one that belongs to a patient."""

    version: tuple[int, str]
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    site_of: dict[str, int] = field(default_factory=dict)  # "Type/id" -> site id

    def visible(self, actor: Actor, kind: str, resource_id: str) -> bool:
        site = self.site_of.get(f"{kind}/{resource_id}")
        return site is None or actor.sees_site(site)

    def read(self, actor: Actor, kind: str, resource_id: str) -> dict[str, Any] | None:
        """The resource, or None when there is none or it belongs to another site."""
        resource = self.resources.get(kind, {}).get(resource_id)
        if resource is None or not self.visible(actor, kind, resource_id):
            return None
        return self.scoped(actor, resource)

    def scoped(self, actor: Actor, resource: dict[str, Any]) -> dict[str, Any]:
        """A Group lists only the members the actor may see (participants of their sites)."""
        if resource["resourceType"] != "Group":
            return resource
        members = [
            m
            for m in resource.get("member", [])
            if self.visible(actor, *str(m["entity"]["reference"]).split("/", 1))
        ]
        return {**resource, "member": members, "quantity": len(members)}

    def search(
        self, actor: Actor, kind: str, params: Iterable[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        """The resources of `kind` the actor may see that match every parameter (values of one
        parameter separated by commas are alternatives: FHIR R4B "Search", composite OR)."""
        allowed = SEARCH_PARAMETERS[kind]
        tests = []
        for name, value in params:
            if name in COMMON_PARAMETERS - {"_id"}:
                continue
            if name != "_id" and name not in allowed:
                known = ", ".join(sorted({"_id", *allowed})) or "_id"
                raise SearchError(
                    name, f"{kind} cannot be searched by {name!r}; supported: {known}"
                )
            tests.append((name, [v for v in value.split(",") if v]))
        found = []
        for resource_id, resource in self.resources.get(kind, {}).items():
            if not self.visible(actor, kind, resource_id):
                continue
            if all(_matches(resource, allowed, name, values) for name, values in tests):
                found.append(self.scoped(actor, resource))
        return found


def _matches(
    resource: dict[str, Any], allowed: Mapping[str, tuple[str, ...]], name: str, values: list[str]
) -> bool:
    if name == "_id":
        return resource["id"] in values
    for path in allowed[name]:
        element = resource.get(path)
        elements = element if isinstance(element, list) else [element]
        for item in elements:
            if item is None:
                continue
            if name in REFERENCE_PARAMETERS and _reference_matches(item, values):
                return True
            if name not in REFERENCE_PARAMETERS and _token_matches(item, values):
                return True
    return False


def _reference_matches(reference: dict[str, Any], values: list[str]) -> bool:
    """`[type]/[id]`, `[id]` or an absolute URL ending in `[type]/[id]` (FHIR R4B reference)."""
    target = str(reference.get("reference", ""))
    for value in values:
        if value == target or ("/" not in value and target.endswith(f"/{value}")):
            return True
        if "://" in value and value.endswith(f"/{target}"):
            return True
    return False


def _token_matches(concept: dict[str, Any], values: list[str]) -> bool:
    """Token search on a CodeableConcept: `code`, `system|code`, `|code` (no system) or
    `system|` (any code of that system), FHIR R4B "Search" token parameter."""
    codings = concept.get("coding", []) or []
    for value in values:
        system, bar, code = value.rpartition("|")
        for coding in codings:
            if bar and system and coding.get("system") != system:
                continue
            if bar and not system and coding.get("system"):
                continue
            if not code or coding.get("code") == code:
                return True
        if not bar and concept.get("text") == value:
            return True
    return False


# --- building -----------------------------------------------------------------------------


def build_index(session: Session) -> FhirIndex:
    """Every resource of the study's Bundle, with relative references and the patients' sites."""
    version = audit_version(session)
    protocol = current_protocol(session)
    sources = sdtm_sources(session, protocol)
    bundle = study_bundle(protocol, sources).model_dump(mode="json", exclude_none=True)
    entries = [e["resource"] for e in bundle.get("entry", [])]
    types = {e["id"]: e["resourceType"] for e in entries}
    index = FhirIndex(version)
    for resource in entries:
        resource = _relative(resource, types)
        index.resources.setdefault(resource["resourceType"], {})[resource["id"]] = resource
    site_ids = {code: sid for code, sid in session.execute(select(Site.code, Site.id))}
    subjects = sources.frames.subjects
    site_by_usubjid = dict(zip(subjects["usubjid"], subjects["site"], strict=True))
    _sites(index, site_by_usubjid, site_ids)
    return index


def _relative(value: Any, types: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _relative(v, types) for k, v in value.items()}
        reference = out.get("reference")
        if isinstance(reference, str) and reference.startswith("urn:uuid:"):
            target = reference.removeprefix("urn:uuid:")
            if target in types:
                out["reference"] = f"{types[target]}/{target}"
        return out
    if isinstance(value, list):
        return [_relative(v, types) for v in value]
    return value


def _sites(
    index: FhirIndex, site_by_usubjid: Mapping[str, str], site_ids: Mapping[str, int]
) -> None:
    """Each patient's site, and that site for every resource referring to the patient."""
    patient_site: dict[str, int] = {}
    for patient_id, patient in index.resources.get("Patient", {}).items():
        usubjid = patient["identifier"][0]["value"]
        code = site_by_usubjid.get(usubjid)
        if code is not None and code in site_ids:
            patient_site[f"Patient/{patient_id}"] = site_ids[code]
    index.site_of.update(patient_site)
    for kind, resources in index.resources.items():
        for resource_id, resource in resources.items():
            for ref in _patient_refs(resource):
                if ref in patient_site:
                    index.site_of[f"{kind}/{resource_id}"] = patient_site[ref]


def _patient_refs(resource: Mapping[str, Any]) -> Iterator[str]:
    for key in ("subject", "individual"):
        value = resource.get(key)
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            yield value["reference"]


def audit_version(session: Session) -> tuple[int, str]:
    """The audit trail's last sequence number and hash: they change with every change to the
    data."""
    row = session.execute(select(AuditHead.last_sequence, AuditHead.last_hash).limit(1)).first()
    return (int(row[0] or 0), str(row[1] or "")) if row else (0, "")


class IndexCache:
    """One index per database, rebuilt when the audit trail has changed since it was built."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[int, FhirIndex] = {}

    def get(self, engine: Engine, session: Session) -> FhirIndex:
        version = audit_version(session)
        cached = self._indexes.get(id(engine))
        if cached is not None and cached.version == version:
            return cached
        with self._lock:
            cached = self._indexes.get(id(engine))
            if cached is not None and cached.version == audit_version(session):
                return cached
            index = build_index(session)
            self._indexes[id(engine)] = index
            return index


CACHE = IndexCache()
