"""The REDCap-compatible API (/redcap/api/) served by uvicorn and used through PyCap, REDCap's
Python client, as a REDCap user would: project metadata, events, arms, form-event mapping,
records (JSON, CSV, DataFrame), and a record change imported, checked and audited."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pandas as pd
import pytest
from api_helpers import Env
from fastapi import FastAPI
from redcap import Project, RedcapError
from sqlalchemy import select
from tools.harness.live import LiveServer

from trialdesk import services as sv
from trialdesk.export.crf import design_from_protocol
from trialdesk.export.redcap.columns import unique_event_name
from trialdesk.export.redcap.dictionary import redcap_project
from trialdesk.protocol import builtin_protocol
from trialdesk.services.redcap_tokens import issue_redcap_token
from trialdesk.store.models import AuditEntry, Measurement


@pytest.fixture(scope="module")
def url(app: FastAPI) -> Iterator[str]:
    with LiveServer(app) as server:
        yield f"{server.url}/redcap/api/"


def _token(env: Env, user: str = "coordinator") -> str:
    return issue_redcap_token(env.build.session, sv.SYSTEM, env.seed.users[user]).token


def _enrolled(env: Env) -> str:
    b = env.build
    pid = b.enrolled("APGH")
    b.baseline(pid)
    b.enrolled("PUMC")  # another site's participant: never in APGH's exports
    return sv.get_participant(b.session, b.who("APGH"), pid).study_id


def test_project_structure_as_pycap_reads_it(env: Env, url: str) -> None:
    project = Project(url, _token(env))
    design = design_from_protocol(builtin_protocol())
    assert project.def_field == "record_id"
    assert project.is_longitudinal
    assert project.redcap_version is not None
    names = [f["field_name"] for f in project.export_metadata()]
    file_export = redcap_project(design).dictionary.splitlines()
    assert len(names) == len(file_export) - 1  # the API and the file export agree
    assert "hba1c" in names
    events = project.export_instrument_event_mappings()
    assert {"arm_num": 1, "unique_event_name": "bl_arm_1", "form": "labs"} in events
    assert [e["unique_event_name"] for e in project.export_events()] == [
        unique_event_name(e.code) for e in design.events
    ]
    assert project.export_arms() == [{"arm_num": 1, "name": builtin_protocol().design.arms[0].name}]
    info = project.export_project_info()
    assert info["is_longitudinal"] == 1 and "NCT01142050" in info["project_title"]
    forms = [i["instrument_name"] for i in project.export_instruments()]
    assert forms == [f.name for f in design.forms]
    fields = project.export_field_names()
    assert {
        "original_field_name": "record_id",
        "choice_value": "",
        "export_field_name": "record_id",
    } in fields
    assert isinstance(project.export_metadata(format_type="df"), pd.DataFrame)
    repeating = project.export_repeating_instruments_events()
    assert {"event_name", "form_name", "custom_form_label"} <= set(repeating[0])
    assert any(r["form_name"] == "adverse_events" for r in repeating)
    with pytest.raises(RedcapError, match="cannot be changed"):
        project.import_arms([{"arm_num": 2, "name": "Control"}])
    with pytest.raises(RedcapError, match="rawOrLabel"):
        project.export_records(raw_or_label="label")


def test_records_export_json_csv_and_dataframe(env: Env, url: str) -> None:
    study_id = _enrolled(env)
    project = Project(url, _token(env))
    records = project.export_records()
    assert {r["record_id"] for r in records} == {study_id}  # only the coordinator's site
    screening = next(r for r in records if r["redcap_event_name"] == "scr_arm_1")
    assert screening["hba1c"] == "8.6" and screening["fasting_glucose"] == "9.4"
    only = project.export_records(fields=["hba1c"], events=["scr_arm_1"])
    assert only == [
        {
            "record_id": study_id,
            "redcap_event_name": "scr_arm_1",
            "redcap_repeat_instrument": "",
            "redcap_repeat_instance": "",
            "hba1c": "8.6",
        }
    ]
    text = project.export_records(format_type="csv")
    assert text.splitlines()[0].startswith("record_id,redcap_event_name,")
    frame = project.export_records(format_type="df")
    assert frame.loc[(study_id, "scr_arm_1"), "hba1c"] == 8.6
    with pytest.raises(RedcapError, match="nonsense_field"):
        project.export_records(fields=["nonsense_field"])


def test_import_a_change_is_checked_and_audited_with_the_tokens_user(env: Env, url: str) -> None:
    study_id = _enrolled(env)
    project = Project(url, _token(env))
    answer = project.import_records(
        [{"record_id": study_id, "redcap_event_name": "scr_arm_1", "hba1c": "8.9"}]
    )
    assert answer == {"count": 1}
    session = env.build.session
    session.expire_all()
    pid = sv.find_participant(session, env.build.who("APGH"), study_id).id
    mine = (Measurement.element == "hba1c", Measurement.participant_id == pid)
    row = session.scalars(select(Measurement).where(*mine)).one()
    assert row.value == pytest.approx(8.9)
    entry = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.table_name == "measurements", AuditEntry.record_id == str(row.id))
        .order_by(AuditEntry.sequence.desc())
    ).first()
    assert entry is not None
    assert entry.user_id == env.seed.users["coordinator"]
    assert entry.reason == "REDCap API import"
    # a new value at a visit without one is recorded, an unchanged one changes nothing
    answer = project.import_records(
        [
            {"record_id": study_id, "redcap_event_name": "bl_arm_1", "hba1c": "8.2"},
            {"record_id": study_id, "redcap_event_name": "scr_arm_1", "hba1c": "8.9"},
        ]
    )
    assert answer == {"count": 1}
    values = sorted(m.value for m in session.scalars(select(Measurement).where(*mine)))
    assert values == pytest.approx([8.2, 8.9])
    assert project.export_records(fields=["hba1c"], events=["bl_arm_1"])[0]["hba1c"] == "8.2"


def test_bad_values_are_refused_naming_the_field_and_nothing_is_written(env: Env, url: str) -> None:
    study_id = _enrolled(env)
    project = Project(url, _token(env))
    before = project.export_records()
    for rows, field in (
        ([{"record_id": study_id, "redcap_event_name": "scr_arm_1", "hba1c": "95"}], "hba1c"),
        ([{"record_id": study_id, "redcap_event_name": "scr_arm_1", "hba1c": "abc"}], "hba1c"),
        ([{"record_id": study_id, "redcap_event_name": "scr_arm_1", "colour": "1"}], "colour"),
        ([{"record_id": "XX-999", "redcap_event_name": "scr_arm_1", "hba1c": "8"}], "record_id"),
        (
            [
                {"record_id": study_id, "redcap_event_name": "bl_arm_1", "hba1c": "8.0"},
                {"record_id": study_id, "redcap_event_name": "scr_arm_1", "sex": "X"},
            ],
            "sex",
        ),
        (
            [
                {"record_id": study_id, "redcap_event_name": "bl_arm_1", "hba1c": "8.0"},
                {"record_id": study_id, "redcap_event_name": "scr_arm_1", "bmi": "40"},
            ],
            "bmi",
        ),
        (
            [{"record_id": study_id, "redcap_event_name": "scr_arm_1", "labs_complete": "0"}],
            "labs_complete",
        ),
        (
            [
                {
                    "record_id": study_id,
                    "redcap_event_name": "unscheduled_arm_1",
                    "redcap_repeat_instance": "1",
                    "hba1c": "8.0",
                }
            ],
            "hba1c",
        ),
    ):
        with pytest.raises(RedcapError) as refused:
            project.import_records(rows)
        message = refused.value.args[0]["error"]
        assert f'"{field}"' in message, message
    assert project.export_records() == before  # all or nothing


def test_tokens_and_rights(env: Env, url: str) -> None:
    _enrolled(env)
    post = {"content": "record", "format": "json", "returnFormat": "json"}
    unknown = httpx.post(url, data={**post, "token": "0" * 32})
    assert unknown.status_code == 403 and "permissions" in unknown.json()["error"]
    bearer = env.api.token("coordinator")  # a sign-in token is not a REDCap token
    assert httpx.post(url, data={**post, "token": bearer}).status_code == 403
    redcap = _token(env)  # nor the reverse: a REDCap token has no idle timeout
    refused = env.api.client.get(
        "/api/v1/participants", headers={"Authorization": f"Bearer {redcap}"}
    )
    assert refused.status_code == 401
    monitor = Project(url, _token(env, "monitor"))
    assert monitor.export_records()  # monitors read
    with pytest.raises(RedcapError, match="may not import"):
        monitor.import_records([{"record_id": "x", "hba1c": "8"}])
    admin = Project(url, _token(env, "admin"))
    assert admin.export_metadata()  # the project's design is not clinical data
    with pytest.raises(RedcapError, match="may not export records"):
        admin.export_records()
    stats = Project(url, _token(env, "statistician"))
    records = stats.export_records()
    assert records and all(r.get("date_of_birth", "") == "" for r in records)
    bad = httpx.post(url, data={**post, "content": "survey", "token": _token(env)})
    assert bad.status_code == 400 and "content" in bad.json()["error"]
    xml = httpx.post(url, data={"content": "record", "format": "xml", "token": _token(env)})
    assert xml.status_code == 400 and "<error>" in xml.text


def test_token_command_makes_32_hex_characters_stored_hashed(env: Env) -> None:
    issued = issue_redcap_token(env.build.session, sv.SYSTEM, env.seed.users["coordinator"])
    assert len(issued.token) == 32 and int(issued.token, 16) >= 0
    with pytest.raises(sv.Forbidden):
        issue_redcap_token(
            env.build.session, env.build.actors["investigator"], env.seed.users["coordinator"]
        )
    stored = env.build.session.scalars(select(AuditEntry.changes)).all()
    assert not any(issued.token in str(c) for c in stored)


def test_csv_import_and_an_unchanged_export_imports_as_no_change(env: Env, url: str) -> None:
    """A CSV import (format=csv) changes the value sent; the project's own export sent back
    unchanged (statuses, dates, answers) changes nothing and is accepted."""
    study_id = _enrolled(env)
    project = Project(url, _token(env))
    csv_text = f"record_id,redcap_event_name,hba1c\n{study_id},scr_arm_1,8.4\n"
    assert project.import_records(csv_text, import_format="csv") == {"count": 1}
    exported = project.export_records(format_type="csv")
    sequence = _last_audit(env)
    assert project.import_records(exported, import_format="csv") == {"count": 1}
    assert _last_audit(env) == sequence  # nothing written
    assert project.export_records(fields=["hba1c"], events=["scr_arm_1"])[0]["hba1c"] == "8.4"


def _last_audit(env: Env) -> int:
    session = env.build.session
    session.expire_all()
    return int(
        session.scalars(select(AuditEntry.sequence).order_by(AuditEntry.sequence.desc())).first()
        or 0
    )
