"""Exports made from a simulated study database say so (SDTM TS, ODM, FHIR), exports of a real
one do not, and an ODM copy of simulated data imported elsewhere stays marked as simulated.

`cohort` is written by the simulator (which marks its database); `target` is a database of
real sites and users with no simulated record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree
from tools.harness.database import TestDatabase

from trialdesk import services as sv
from trialdesk.export.fhir.bundle import SIMULATED_TAG, study_bundle
from trialdesk.export.from_store import clinical_data, sdtm_sources
from trialdesk.export.odm import names as n
from trialdesk.export.odm.read import read_odm
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.odm.write import odm_document, to_bytes
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.conformance import check
from trialdesk.export.to_store import import_into
from trialdesk.protocol import builtin_protocol
from trialdesk.store.provenance import simulated_description

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
pytestmark = pytest.mark.slow  # writes a simulated cohort through the services


def _ts(db: TestDatabase) -> dict[str, list[str]]:
    protocol = builtin_protocol()
    with db.session() as session:
        datasets = sdtm_datasets(protocol, sdtm_sources(session, protocol))
    assert check(datasets) == []  # the extra parameter keeps TS conformant
    ts = datasets["TS"]
    return {code: list(ts.loc[ts["TSPARMCD"] == code, "TSVAL"]) for code in set(ts["TSPARMCD"])}


def test_sdtm_ts_says_simulated(cohort: TestDatabase, target: TestDatabase) -> None:
    assert _ts(cohort)["SIMDATA"] == ["Y"]
    assert "SIMDATA" not in _ts(target)


def test_fhir_resources_are_tagged_as_test_data(cohort: TestDatabase) -> None:
    protocol = builtin_protocol()
    with cohort.session() as session:
        bundle = study_bundle(protocol, sdtm_sources(session, protocol)).model_dump(mode="json")
    assert SIMULATED_TAG in bundle["meta"]["tag"]
    untagged = [
        e["resource"]["resourceType"]
        for e in bundle["entry"]
        if SIMULATED_TAG not in e["resource"].get("meta", {}).get("tag", [])
    ]
    assert untagged == [] and len(bundle["entry"]) > 10


def test_odm_says_simulated_and_an_imported_copy_stays_simulated(
    cohort: TestDatabase, target: TestDatabase
) -> None:
    protocol = builtin_protocol()
    with cohort.session() as session:
        how = simulated_description(session)
        data = clinical_data(session, protocol)
    assert how and "seed 3" in how and data.simulated == how
    document = odm_document(data.design, data, created=WHEN)
    assert schema_errors(document) == []
    content = to_bytes(document)
    root = etree.fromstring(content)
    assert root.get("SourceSystem") == n.SIMULATED_SOURCE_SYSTEM
    assert root.get("Description") == n.SIMULATED_PREFIX + how
    imported = read_odm(content).data
    assert imported is not None and imported.simulated == how
    with target.session() as session:
        assert sv.data_provenance(session, sv.SYSTEM) is None
        import_into(session, imported, username="investigator", source="odm", protocol=protocol)
    with target.session() as session:
        assert simulated_description(session) == how


def test_odm_of_real_data_carries_no_mark(target: TestDatabase) -> None:
    protocol = builtin_protocol()
    with target.session() as session:
        data = clinical_data(session, protocol)
    root = etree.fromstring(to_bytes(odm_document(data.design, data, created=WHEN)))
    assert root.get("SourceSystem") == "trialdesk" and root.get("Description") is None
