"""REDCap API import of whole instruments, through PyCap as a REDCap user would: the project's
export, changed on several forms (labs, its date, ITT, dosing, consent, screening answers,
adverse events — one corrected, one new), imported back; each change written through the
services and audited with the token's user; `overwriteBehavior` normal/overwrite; a bad value on
one form refused naming record, event and field, with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from api_helpers import Env, day
from fastapi import FastAPI
from redcap import Project, RedcapError
from sqlalchemy import select
from tools.harness.live import LiveServer

from trialdesk import services as sv
from trialdesk.services.redcap_tokens import issue_redcap_token
from trialdesk.store.models import AuditEntry

IMPORTED = "REDCap API import"


@pytest.fixture(scope="module")
def url(app: FastAPI) -> Iterator[str]:
    with LiveServer(app) as server:
        yield f"{server.url}/redcap/api/"


def _project(env: Env, url: str, user: str = "coordinator") -> Project:
    token = issue_redcap_token(env.build.session, sv.SYSTEM, env.seed.users[user]).token
    return Project(url, token)


def _participant(env: Env) -> str:
    """An enrolled participant with screening data, ITT, a baseline visit, an insulin dose at
    screening, one oral drug and an adverse event (placed on the TX event's AE log)."""
    b = env.build
    pid = b.enrolled("APGH")
    b.baseline(pid)
    who = b.who("APGH")
    sv.record_insulin_dose(
        b.session,
        who,
        pid,
        sv.InsulinDoseEntry(start_date=day(0), total_units_per_day=48, visit_code="SCR"),
    )
    sv.record_ogld_dose(
        b.session,
        who,
        pid,
        sv.OgldDoseEntry(start_date=day(0), drug="metformin", daily_dose_mg=1000, visit_code="SCR"),
    )
    b.adverse_event(pid)
    return sv.get_participant(b.session, who, pid).study_id


def _row(rows: list[dict[str, str]], event: str, repeat: str = "") -> dict[str, str]:
    return next(
        r
        for r in rows
        if r["redcap_event_name"] == event and r["redcap_repeat_instrument"] == repeat
    )


def _audit_after(env: Env, sequence: int) -> list[AuditEntry]:
    session = env.build.session
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.sequence > sequence).order_by(AuditEntry.sequence)
        )
    )


def _last_sequence(env: Env) -> int:
    entries = _audit_after(env, 0)
    return entries[-1].sequence if entries else 0


def test_whole_instruments_are_imported_and_audited_with_the_tokens_user(
    env: Env, url: str
) -> None:
    study_id = _participant(env)
    project = _project(env, url)
    rows = project.export_records()
    scr, ae = _row(rows, "scr_arm_1"), _row(rows, "tx_arm_1", "adverse_events")
    assert scr["itt_glucose_t15"] and scr["insulin_daily_dose"] == "48"
    assert ae["ae_grade"] == "3" and ae["ae_term"] == "Hypoglycaemia"
    lab_day = day(1).isoformat()
    scr.update(
        hba1c="8.8",  # labs
        lb_date=lab_day,  # the form's date
        itt_glucose_t15="7.1",  # ITT sample (mmol/L)
        insulin_daily_dose="52",  # dosing
        ogld_ddd="1.0",  # metformin 1000 mg → 1 DDD (2000 mg) = 2000 mg
        consent_version="ICF v2.1",  # consent
        race="asian",  # demographics (a screening answer)
        hepatitis_b_infection="0",  # unchanged answer: nothing written
    )
    ae.update(ae_grade="2", ae_outcome="recovered_with_sequelae")
    new_ae = {
        "record_id": study_id,
        "redcap_event_name": "tx_arm_1",
        "redcap_repeat_instrument": "adverse_events",
        "redcap_repeat_instance": "2",
        "ae_term": "Headache",
        "ae_onset": day(45).isoformat(),
        "ae_grade": "1",
        "ae_related": "unlikely",
        "ae_outcome": "recovered",
        "ae_action": "not_applicable",
    }
    unresolved = {**new_ae, "ae_resolved": ""}
    with pytest.raises(RedcapError, match='"ae_resolved"'):  # recovered: needs its date
        project.import_records([unresolved])
    new_ae["ae_resolved"] = day(46).isoformat()
    bl = {"record_id": study_id, "redcap_event_name": "bl_arm_1", "weight": "77.5"}
    before = _last_sequence(env)
    assert project.import_records([scr, ae, new_ae, bl]) == {"count": 1}

    entries = _audit_after(env, before)
    written = {e.table_name for e in entries}
    assert {
        "measurements",
        "itt_tests",
        "insulin_doses",
        "ogld_doses",
        "consents",
        "screenings",
        "adverse_events",
    } <= written
    coordinator = env.seed.users["coordinator"]
    changes = [e for e in entries if e.action != "create" and e.table_name in written]
    assert changes and all(e.user_id == coordinator for e in entries)
    assert all(e.reason == IMPORTED for e in changes), [(e.table_name, e.reason) for e in changes]
    after = project.export_records()
    scr2, ae2 = _row(after, "scr_arm_1"), _row(after, "tx_arm_1", "adverse_events")
    assert scr2["hba1c"] == "8.8" and scr2["lb_date"] == lab_day
    assert scr2["itt_glucose_t15"] == "7.1" and scr2["insulin_daily_dose"] == "52"
    assert scr2["ogld_ddd"] == "1" or float(scr2["ogld_ddd"]) == pytest.approx(1.0)
    assert scr2["consent_version"] == "ICF v2.1" and scr2["race"] == "asian"
    assert ae2["ae_grade"] == "2" and ae2["ae_outcome"] == "recovered_with_sequelae"
    terms = {r["ae_term"] for r in after if r["redcap_repeat_instrument"] == "adverse_events"}
    assert terms == {"Hypoglycaemia", "Headache"}
    assert _row(after, "bl_arm_1")["weight"] == "77.5"
    # the same data again changes nothing
    sequence = _last_sequence(env)
    assert project.import_records(after) == {"count": 1}
    assert _last_sequence(env) == sequence


def test_overwrite_behavior_blank_cells(env: Env, url: str) -> None:
    """normal: a blank cell keeps the stored value; overwrite: a blank cell where a value is
    stored is refused naming record, field and event (trialdesk never erases a value)."""
    study_id = _participant(env)
    project = _project(env, url)
    blank = {"record_id": study_id, "redcap_event_name": "scr_arm_1", "hba1c": "", "race": ""}
    sequence = _last_sequence(env)
    assert project.import_records([blank]) == {"count": 1}
    assert _last_sequence(env) == sequence
    assert project.export_records(fields=["hba1c"], events=["scr_arm_1"])[0]["hba1c"] == "8.6"
    with pytest.raises(RedcapError) as refused:
        project.import_records([blank], overwrite="overwrite")
    message = refused.value.args[0]["error"]
    assert f'"{study_id}","hba1c"' in message and "scr_arm_1" in message, message
    assert "erase" in message
    assert _last_sequence(env) == sequence


@pytest.mark.parametrize(
    ("event", "repeat", "field", "value", "why"),
    [
        ("scr_arm_1", "", "itt_glucose_t15", "abc", "number"),
        ("scr_arm_1", "", "consent_date", day(80).isoformat(), "consent"),
        ("tx_arm_1", "adverse_events", "ae_onset", date(2099, 1, 1).isoformat(), "future"),
        ("scr_arm_1", "", "screening_date", day(2).isoformat(), "screened"),
        ("scr_arm_1", "", "kitt", "3.0", "calculated"),
        ("scr_arm_1", "", "hiv_infection", "UNK", "missing-data code"),
    ],
)
def test_a_bad_value_on_one_form_refuses_the_whole_import(
    env: Env, url: str, *, event: str, repeat: str, field: str, value: str, why: str
) -> None:
    study_id = _participant(env)
    project = _project(env, url)
    before = project.export_records()
    rows = [dict(r) for r in before]
    _row(rows, "scr_arm_1")["hba1c"] = "9.1"  # a good change on another form
    rows.append({"record_id": study_id, "redcap_event_name": "bl_arm_1", "weight": "80"})
    _row(rows, event, repeat)[field] = value
    sequence = _last_sequence(env)
    with pytest.raises(RedcapError) as refused:
        project.import_records(rows)
    message = refused.value.args[0]["error"]
    assert f'"{study_id}","{field}"' in message and event in message, message
    assert why in message.lower(), message
    assert project.export_records() == before  # nothing partial
    assert all(e.reason != IMPORTED for e in _audit_after(env, sequence))


def test_a_monitor_token_may_not_import_whole_forms(env: Env, url: str) -> None:
    study_id = _participant(env)
    monitor = _project(env, url, "monitor")
    with pytest.raises(RedcapError, match="may not import"):
        monitor.import_records(
            [{"record_id": study_id, "redcap_event_name": "scr_arm_1", "race": "white"}]
        )


def test_an_unscheduled_visit_instance_is_imported_to_its_visit(env: Env, url: str) -> None:
    """The repeating unscheduled event's instance maps back to its visit (M-code.U01): its
    reason and date are corrected on the visit, a new weight is recorded at it."""
    study_id = _participant(env)
    b = env.build
    pid = sv.find_participant(b.session, b.who("APGH"), study_id).id
    visit = sv.add_unscheduled_visit(
        b.session, b.who("APGH"), pid, visit_date=day(35), reason="hypoglycaemia check"
    )
    project = _project(env, url)
    rows = [
        {
            "record_id": study_id,
            "redcap_event_name": "unscheduled_arm_1",
            "redcap_repeat_instrument": "",
            "redcap_repeat_instance": "1",
            "uv_reason": "hypoglycaemia follow-up",
            "uv_date": day(36).isoformat(),
            "weight": "76.5",
        }
    ]
    sequence = _last_sequence(env)
    assert project.import_records(rows) == {"count": 1}
    entries = _audit_after(env, sequence)
    assert {e.table_name for e in entries} >= {"visits", "measurements"}
    assert all(e.user_id == env.seed.users["coordinator"] for e in entries)
    after = _row(project.export_records(), "unscheduled_arm_1")
    assert after["uv_reason"] == "hypoglycaemia follow-up" and after["weight"] == "76.5"
    assert after["uv_date"] == day(36).isoformat()
    b.session.expire_all()
    assert sv.get_participant(b.session, b.who("APGH"), pid).study_id == study_id
    assert visit.code.endswith(".U01")
