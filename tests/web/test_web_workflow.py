"""The pages over HTTP: screening (live and saved), enrollment, visit data in any unit,
corrections with a reason and their audit history, queries, adverse events, the dashboard and
the role limits. The browser tests (test_web_browser.py) drive the same flows in chromium."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from html import unescape

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tools.harness.database import TestDatabase
from web_helpers import (
    ELIGIBLE_FINDINGS,
    actor_of,
    csrf_of,
    enrolled_participant,
    screened_candidate,
)

from trialdesk import services as sv
from trialdesk.services.uow import service

Client = Callable[[str], TestClient]
TODAY = date.today().isoformat()


def eligible_form(**changes: str) -> dict[str, str]:
    form = {
        "site_code": "APGH",
        "full_name": "Li Wei",
        "medical_record_number": "MRN-0042",
        "consent_form_version": "1.0",
        "consent_date": TODAY,
        "t2dm_diagnosis": "yes",
        "fasting_glucose": "160",
        "fasting_glucose_unit": "mg/dL",
        "date_of_birth": "1970-05-01",
        "screening_date": TODAY,
        "weight": "154",
        "weight_unit": "lb",
        "height": "1.70",
        "height_unit": "m",
        "hba1c": "65",
        "hba1c_unit": "mmol/mol",
        "itt_glucose_unit": "mg/dL",
        "sex": "M",
        **{k: ("yes" if v else "no") for k, v in ELIGIBLE_FINDINGS.items()},
    }
    for minute, value in zip((0, 3, 6, 9, 12, 15), (180, 176, 171, 164, 160, 153), strict=True):
        form[f"itt_glucose_{minute}"] = str(value)
    form.update(changes)
    return form


def errors_of(html: str) -> dict[str, str]:
    return {
        name: unescape(text)
        for name, text in re.findall(r'id="err-([\w]+)"[^>]*>([^<]+)</span>', html)
        if text.strip()
    }


def verdicts(html: str) -> dict[str, str]:
    return dict(
        re.findall(
            r'id="crit-(\w+)">\s*<strong>[^<]*</strong>\s*<span class="badge [^"]*">([^<]+)<', html
        )
    )


# --- screening -------------------------------------------------------------------------------


def test_live_screening_judges_each_criterion_in_the_units_typed(client_for: Client) -> None:
    client = client_for("coordinator")
    token = csrf_of(client.get("/screening/new").text)
    html = client.post("/screening/evaluate", data={"csrf_token": token, **eligible_form()}).text
    assert 'class="badge eligible">Eligible<' in html
    shown = verdicts(html)
    assert len(shown) == 13
    assert set(shown.values()) <= {"met", "absent"}
    assert "160 mg/dL (= 8.9 mmol/L)" in html  # FBG kept in the unit typed, converted beside
    assert "65 mmol/mol (= 8.1 %)" in html  # HbA1c IFCC → NGSP (Hoelzel 2004)


def test_live_screening_names_what_is_missing_and_what_fails(client_for: Client) -> None:
    client = client_for("coordinator")
    token = csrf_of(client.get("/screening/new").text)
    form = eligible_form(weight="120", weight_unit="kg")
    del form["hiv_infection"]
    html = client.post("/screening/evaluate", data={"csrf_token": token, **form}).text
    shown = verdicts(html)
    assert shown["I4"] == "not met"  # BMI 41.5
    assert "Body mass index: 41.5 kg/m²" in html
    assert shown["E4"] == "missing"
    assert 'class="badge ineligible">Ineligible<' in html


def test_the_screening_form_asks_the_diabetes_type_and_i2_uses_it(
    client_for: Client, web_database: TestDatabase
) -> None:
    """Issue #16: glucose establishes diabetes, not its type; a type 1 patient with FBG 160
    mg/dL fails I2 on the form, and the type is saved with the screening."""
    client = client_for("coordinator")
    page = client.get("/screening/new").text
    field = re.search(r'<select[^>]*name="diabetes_type".*?</select>', page, re.S)
    assert field is not None, "the form has a diabetes type field"
    for choice in ("type_1", "type_2", "other_specified", "unknown"):
        assert f'value="{choice}"' in field.group(0)
    token = csrf_of(page)
    form = eligible_form(t2dm_diagnosis="no", diabetes_type="type_1")
    html = client.post("/screening/evaluate", data={"csrf_token": token, **form}).text
    assert verdicts(html)["I2"] == "not met"
    assert "Type of diabetes: type_1" in html
    unknown = eligible_form(t2dm_diagnosis="no", diabetes_type="unknown")
    html = client.post("/screening/evaluate", data={"csrf_token": token, **unknown}).text
    assert verdicts(html)["I2"] == "met"
    saved = client.post("/screening", data={"csrf_token": token, **form}, follow_redirects=False)
    assert saved.status_code == 303, errors_of(saved.text)
    casebook = client.get(saved.headers["location"]).text
    assert 'class="badge ineligible"' in casebook
    with web_database.session() as session:
        coordinator = actor_of(session, "coordinator")
        participant = sv.find_participant(session, coordinator, "APGH-001")
        [screening] = sv.list_screenings(session, coordinator, participant.id)
        assert screening.findings["diabetes_type"] == "type_1"


def test_a_bad_value_is_reported_next_to_its_field_and_the_rest_still_judged(
    client_for: Client,
) -> None:
    client = client_for("coordinator")
    token = csrf_of(client.get("/screening/new").text)
    form = eligible_form(
        hba1c="8..1", hba1c_unit="%", fasting_glucose="700", fasting_glucose_unit="mmol/L"
    )
    html = client.post("/screening/evaluate", data={"csrf_token": token, **form}).text
    errors = errors_of(html)
    assert errors["hba1c"] == "'8..1' is not a number"
    assert "physiologically possible range" in errors["fasting_glucose"]
    assert 'hx-swap-oob="true"' in html
    assert verdicts(html)["I4"] == "met"
    assert verdicts(html)["I5"] == "missing"


def test_a_soft_limit_warns_that_saving_raises_a_query(client_for: Client) -> None:
    client = client_for("coordinator")
    token = csrf_of(client.get("/screening/new").text)
    html = client.post(
        "/screening/evaluate",
        data={"csrf_token": token, **eligible_form(weight="160", weight_unit="kg")},
    ).text
    assert re.search(r'id="warn-weight"[^>]*>Outside the expected range: saving raises', html)


def test_saving_an_eligible_screening_then_enrolling(
    client_for: Client, web_database: TestDatabase
) -> None:
    client = client_for("coordinator")
    token = csrf_of(client.get("/screening/new").text)
    saved = client.post(
        "/screening", data={"csrf_token": token, **eligible_form()}, follow_redirects=False
    )
    assert saved.status_code == 303, errors_of(saved.text)
    casebook = client.get(saved.headers["location"])
    assert "Screening saved." in casebook.text
    assert "APGH-001" in casebook.text and "Li Wei" in casebook.text
    assert 'class="badge eligible"' in casebook.text
    enrolled = client.post(
        saved.headers["location"].split("?")[0] + "/enroll",
        data={"csrf_token": csrf_of(casebook.text), "enrolled_on": TODAY},
        follow_redirects=False,
    )
    assert enrolled.status_code == 303
    with web_database.session() as session:
        coordinator = actor_of(session, "coordinator")
        participant = sv.find_participant(session, coordinator, "APGH-001")
        assert participant.status.value == "enrolled"
        values = {
            m.element: (m.value_as_entered, m.unit_as_entered, round(m.value or 0, 2))
            for m in sv.list_measurements(
                session, coordinator, sv.MeasurementFilter(participant_id=participant.id)
            ).items
        }
    assert values["fasting_glucose"] == ("160", "mg/dL", 8.88)
    assert values["weight"] == ("154", "lb", 69.85)


def test_an_ineligible_screening_is_saved_without_an_enroll_button(client_for: Client) -> None:
    client = client_for("coordinator")
    token = csrf_of(client.get("/screening/new").text)
    form = eligible_form(weight="120", weight_unit="kg")
    saved = client.post("/screening", data={"csrf_token": token, **form}, follow_redirects=False)
    assert saved.status_code == 303
    casebook = client.get(saved.headers["location"]).text
    assert 'class="badge ineligible"' in casebook
    assert "/enroll" not in casebook
    assert "Enrollment is not possible yet: the latest screening" in casebook
    dashboard = client.get("/dashboard").text
    assert "Inclusion 4" in dashboard and "Body mass index: 41.5 kg/m²" in dashboard


def test_a_refused_screening_keeps_everything_typed(client_for: Client) -> None:
    client = client_for("coordinator")
    token = csrf_of(client.get("/screening/new").text)
    form = eligible_form(consent_form_version="", consent_date="", full_name="")
    page = client.post("/screening", data={"csrf_token": token, **form})
    assert page.status_code == 422
    assert errors_of(page.text)["full_name"] == "is required"
    assert 'value="160"' in page.text and 'value="1970-05-01"' in page.text
    assert re.search(r'<option value="mg/dL" selected', page.text)
    assert "APGH-001" not in client.get("/participants").text


def test_screening_without_consent_is_refused_next_to_the_consent_fields(
    client_for: Client,
) -> None:
    client = client_for("coordinator")
    token = csrf_of(client.get("/screening/new").text)
    form = eligible_form(consent_form_version="", consent_date="")
    page = client.post("/screening", data={"csrf_token": token, **form})
    assert page.status_code == 422
    assert "ICH E6(R2) 4.8.8" in errors_of(page.text)["consent_form_version"]
    assert client.get("/participants").text.count("/participants/") == 0


def test_the_enrollment_target_needs_an_investigators_reason(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = screened_candidate(session)
    client = client_for("coordinator")
    # Fill the 24 places study-wide through the second site (one transaction: faster).
    with web_database.session() as session:
        _fill_target(session, actor_of(session, "coordinator2"))
    page = client.get(f"/participants/{pid}").text
    assert "only an investigator can enroll beyond it" in page
    assert re.search(r"<button type=\"submit\" disabled>Enroll", page)
    investigator = client_for("investigator")
    page = investigator.get(f"/participants/{pid}").text
    assert "Reason to enroll beyond the target of 24" in page
    refused = investigator.post(
        f"/participants/{pid}/enroll",
        data={"csrf_token": csrf_of(page), "enrolled_on": TODAY},
    )
    assert refused.status_code == 422 and "APGH-" in refused.text
    assert errors_of(refused.text)


@service
def _fill_target(session: Session, actor: sv.Actor) -> None:
    for i in range(24):
        p = sv.register_participant(
            session,
            actor,
            sv.Registration(
                site_code="PUMC",
                registered_on=date.today(),
                full_name=f"P{i}",
                date_of_birth=date(1970, 1, 1),
                sex="F",
            ),
        )
        _eligible_at(session, actor, p.id)
        sv.enroll_participant(session, actor, p.id, enrolled_on=date.today())


def _eligible_at(session: Session, actor: sv.Actor, pid: int) -> None:
    day = date.today()
    sv.record_consent(session, actor, pid, form_version="1.0", consented_on=day)
    sv.record_visit(session, actor, pid, code="SCR", visit_date=day)
    for element, value, unit in (
        ("fasting_glucose", "8.9", "mmol/L"),
        ("hba1c", "8.2", "%"),
        ("weight", "60", "kg"),
        ("height", "165", "cm"),
    ):
        sv.record_measurement(
            session,
            actor,
            pid,
            sv.VisitMeasurement(visit_code="SCR", element=element, value=value, unit=unit),
        )
    sv.record_itt_test(
        session,
        actor,
        pid,
        sv.IttTestEntry(
            visit_code="SCR",
            samples={3: 9.8, 6: 9.5, 9: 9.1, 12: 8.9, 15: 8.5},
            glucose_unit="mmol/L",
        ),
    )
    sv.screen_participant(
        session, actor, pid, screened_on=day, findings={**ELIGIBLE_FINDINGS, "fertile": False}
    )


# --- visits, corrections, audit ----------------------------------------------------------------


def test_visit_values_in_any_unit_then_a_correction_with_its_reason_in_the_audit(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
    client = client_for("coordinator")
    visit = client.get(f"/participants/{pid}/visits/BL").text
    token = csrf_of(visit)
    saved = client.post(
        f"/participants/{pid}/visits/BL/forms",
        data={
            "csrf_token": token,
            "fasting_glucose": "162",
            "fasting_glucose_unit": "mg/dL",
            "c_peptide": "0.45",
            "c_peptide_unit": "nmol/L",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    visit = client.get(f"/participants/{pid}/visits/BL").text
    cells = re.findall(r'<td class="nowrap">([^<]+)</td>', visit)
    assert cells[:4] == ["162 mg/dL", "9.0 mmol/L", "0.45 nmol/L", "1.36 ng/mL"]
    mid = re.search(rf"/participants/{pid}/measurements/(\d+)", visit).group(1)  # type: ignore[union-attr]
    page = client.get(f"/participants/{pid}/measurements/{mid}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    no_reason = client.post(
        f"/participants/{pid}/measurements/{mid}",
        data={
            "csrf_token": token,
            "version": version,
            "value": "171",
            "unit": "mg/dL",
            "reason": "",
        },
    )
    assert no_reason.status_code == 422
    assert errors_of(no_reason.text)["reason"] == "is required"
    assert 'value="171"' in no_reason.text  # what was typed is kept
    done = client.post(
        f"/participants/{pid}/measurements/{mid}",
        data={
            "csrf_token": token,
            "version": version,
            "value": "171",
            "unit": "mg/dL",
            "reason": "transcription error, lab report says 171",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    history = client.get(f"/audit/measurements/{mid}").text
    assert "transcription error, lab report says 171" in history
    assert re.search(r"<strong>value as entered</strong>: 162 mg/dL → 171 mg/dL", history)
    assert re.search(r"<strong>value</strong>: 9.0 mmol/L → 9.5 mmol/L", history)
    assert "coordinator" in history


def test_a_stale_correction_is_refused_and_changes_nothing(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
        m = sv.record_measurement(
            session,
            actor_of(session, "coordinator"),
            pid,
            sv.VisitMeasurement(visit_code="BL", element="hba1c", value="8.0", unit="%"),
        )
    client = client_for("coordinator")
    token = csrf_of(client.get(f"/participants/{pid}/measurements/{m.id}").text)
    data = {"csrf_token": token, "version": "1", "unit": "%", "reason": "typo"}
    assert (
        client.post(
            f"/participants/{pid}/measurements/{m.id}",
            data={**data, "value": "8.1"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    stale = client.post(f"/participants/{pid}/measurements/{m.id}", data={**data, "value": "8.2"})
    assert stale.status_code == 409  # issue 13: the other user's value beside yours
    assert "changed by someone else while you were editing" in stale.text
    assert "8.1 %" in stale.text
    assert 'name="version" value="2"' in stale.text  # the merge is offered at the new version


def test_itt_shows_kitt_and_its_curve(client_for: Client, web_database: TestDatabase) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
    client = client_for("coordinator")
    token = csrf_of(client.get(f"/participants/{pid}/visits/BL").text)
    samples = {
        f"itt_glucose_{m}": str(v)
        for m, v in zip((0, 3, 6, 9, 12, 15), (180, 176, 165, 153, 144, 134), strict=True)
    }
    saved = client.post(
        f"/participants/{pid}/visits/BL/forms",
        data={
            "csrf_token": token,
            "itt_glucose_unit": "mg/dL",
            "insulin_dose_u_per_kg": "0.1",
            **samples,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    visit = client.get(f"/participants/{pid}/visits/BL").text
    assert "KITT 2.27 %/min" in visit  # [@KITT-examples] case B
    assert 'aria-labelledby="itt-' in visit and "Fit, KITT 2.27 %/min" in visit


def test_visit_date_correction_uses_the_record_form_with_a_reason(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
        visit = next(
            v
            for v in sv.list_visits(session, actor_of(session, "coordinator"), pid)
            if v.code == "BL"
        )
    client = client_for("coordinator")
    page = client.get(f"/participants/{pid}/records/visits/{visit.id}").text
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    answer = client.post(
        f"/participants/{pid}/records/visits/{visit.id}",
        data={
            "csrf_token": csrf_of(page),
            "version": str(visit.version),
            "visit_date": yesterday,
            "notes": "",
            "reason": "date misread",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert "date misread" in client.get(f"/audit/visits/{visit.id}").text


# --- queries -----------------------------------------------------------------------------------


def test_monitor_raises_coordinator_answers_monitor_closes(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
        m = sv.record_measurement(
            session,
            actor_of(session, "coordinator"),
            pid,
            sv.VisitMeasurement(
                visit_code="BL", element="fasting_glucose", value="9.1", unit="mmol/L"
            ),
        )
    monitor = client_for("monitor")
    form = monitor.get(f"/queries/new?table=measurements&id={m.id}&field=value").text
    raised = monitor.post(
        f"/queries/new?table=measurements&id={m.id}",
        data={
            "csrf_token": csrf_of(form),
            "field": "value",
            "text": "Please confirm against the lab report",
        },
        follow_redirects=False,
    )
    assert raised.status_code == 303
    qid = int(re.search(r"/queries/(\d+)", raised.headers["location"]).group(1))  # type: ignore[union-attr]
    coordinator = client_for("coordinator")
    visit = coordinator.get(f"/participants/{pid}/visits/BL").text
    assert "Open query: Please confirm against the lab report" in visit
    page = coordinator.get(f"/queries/{qid}").text
    assert "Send answer" in page and "Close query" not in page
    answered = coordinator.post(
        f"/queries/{qid}/answer",
        data={
            "csrf_token": csrf_of(page),
            "version": "1",
            "answer": "Checked: 9.1 mmol/L is right",
        },
        follow_redirects=False,
    )
    assert answered.status_code == 303
    page = monitor.get(f"/queries/{qid}").text
    assert "Checked: 9.1 mmol/L is right" in page and "Send answer" not in page
    closed = monitor.post(
        f"/queries/{qid}/close",
        data={"csrf_token": csrf_of(page), "version": "2", "resolution": "Confirmed"},
        follow_redirects=False,
    )
    assert closed.status_code == 303
    assert "Open query" not in coordinator.get(f"/participants/{pid}/visits/BL").text


def test_a_query_without_text_is_refused_with_the_reason(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
    monitor = client_for("monitor")
    form = monitor.get(f"/queries/new?table=participants&id={pid}").text
    page = monitor.post(
        f"/queries/new?table=participants&id={pid}",
        data={"csrf_token": csrf_of(form), "field": "sex", "text": " "},
    )
    assert page.status_code == 422 and errors_of(page.text)["text"] == "is required"


# --- adverse events and the dashboard -------------------------------------------------------------


def test_a_serious_adverse_event_appears_on_the_dashboard_with_its_due_date(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
    client = client_for("coordinator")
    form = client.get(f"/participants/{pid}/records/adverse_events/new").text
    onset = (date.today() - timedelta(days=1)).isoformat()
    saved = client.post(
        f"/participants/{pid}/records/adverse_events/new",
        data={
            "csrf_token": csrf_of(form),
            "term": "Pneumonia",
            "onset_date": onset,
            "grade": "3",
            "seriousness": ["hospitalisation"],
            "relatedness": "unlikely",
            "expected": "no",
            "action_taken": "not applicable",
            "outcome": "recovering/resolving",
            "awareness_date": onset,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, errors_of(saved.text)
    dashboard = client.get("/dashboard").text
    section = dashboard.split('id="h-sae"')[1].split("</section>")[0]
    # Aware since the start of yesterday: the initial report (24 hours) is overdue.
    assert "Pneumonia" in section and "Initial report" in section and "overdue by" in section


def test_adverse_event_cross_checks_come_back_next_to_the_field(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
    client = client_for("coordinator")
    form = client.get(f"/participants/{pid}/records/adverse_events/new").text
    page = client.post(
        f"/participants/{pid}/records/adverse_events/new",
        data={
            "csrf_token": csrf_of(form),
            "term": "Headache",
            "onset_date": TODAY,
            "grade": "5",
            "relatedness": "not_related",
            "action_taken": "not applicable",
            "outcome": "recovered/resolved",
            "resolution_date": TODAY,
        },
    )
    assert page.status_code == 422
    assert "goes with outcome 'fatal'" in errors_of(page.text)["grade"]
    assert 'value="Headache"' in page.text


def test_dashboard_shows_visits_due_and_enrollment_against_target(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        enrolled_participant(session)
    html = client_for("investigator").get("/dashboard").text
    assert "1 / 24" in html
    assert 'aria-labelledby="enrollment-t enrollment-d"' in html and "Target 24" in html
    visits = html.split('id="h-visits"')[1].split("</section>")[0]
    assert "TX" in visits  # transplantation due about a week after baseline


# --- role limits --------------------------------------------------------------------------------


def test_a_monitor_reads_and_queries_but_cannot_change_data(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
        m = sv.record_measurement(
            session,
            actor_of(session, "coordinator"),
            pid,
            sv.VisitMeasurement(visit_code="BL", element="hba1c", value="8.0", unit="%"),
        )
    monitor = client_for("monitor")
    page = monitor.get(f"/participants/{pid}/measurements/{m.id}").text
    assert "Correct the value" not in page and "Raise a query on this value" in page
    assert "/screening/new" not in monitor.get("/dashboard").text
    refused = monitor.post(
        f"/participants/{pid}/measurements/{m.id}",
        data={
            "csrf_token": csrf_of(page),
            "version": "1",
            "value": "9",
            "unit": "%",
            "reason": "x",
        },
    )
    assert refused.status_code == 403 and "enter or change clinical data" in refused.text
    # Issue 14: the screening form opens read-only with the reason (no inputs, no Save).
    screening = monitor.get("/screening/new")
    assert (
        screening.status_code == 200 and "may not enter or change clinical data" in screening.text
    )
    assert 'action="/screening' not in screening.text.split("<main")[1]


def test_a_statistician_sees_no_identifying_data(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session, name="Zhang Min")
    statistician = client_for("statistician")
    casebook = statistician.get(f"/participants/{pid}").text
    assert "APGH-001" in casebook
    assert (
        "Zhang Min" not in casebook and "1968-03-14" not in casebook and "MRN-4411" not in casebook
    )
    assert "De-identified view" in casebook
    assert "Audit history" not in casebook
    assert statistician.get(f"/participants/{pid}/audit").status_code == 403
    assert "Zhang Min" in client_for("coordinator").get(f"/participants/{pid}").text


def test_other_sites_participants_are_not_found(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
    other = client_for("coordinator2")
    assert other.get(f"/participants/{pid}").status_code == 404
    assert "APGH-001" not in other.get("/participants").text


def test_correcting_an_itt_keeps_samples_at_unusual_minutes(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
        test = sv.record_itt_test(
            session, actor_of(session, "coordinator"), pid, sv.IttTestEntry(visit_code="BL",
            samples={0: 10.0, 3: 9.8, 6: 9.5, 9: 9.1, 12: 8.9, 15: 8.5, 30: 7.9},
            glucose_unit="mmol/L"),
        )  # fmt: skip
    client = client_for("coordinator")
    page = client.get(f"/participants/{pid}/itt/{test.id}").text
    assert 'name="itt_glucose_30" value="7.9"' in page
    form = dict(re.findall(r'name="(itt_glucose_\d+)" value="([^"]*)"', page))
    form.update(itt_glucose_3="9.7", itt_glucose_unit="mmol/L", reason="3-min sample misread")
    done = client.post(
        f"/participants/{pid}/itt/{test.id}",
        data={"csrf_token": csrf_of(page), "version": str(test.version), **form},
        follow_redirects=False,
    )
    assert done.status_code == 303, errors_of(client.get(done.headers.get("location", "/")).text)
    with web_database.session() as session:
        tests = sv.list_itt_tests(session, actor_of(session, "coordinator"), pid)
        stored = next(t for t in tests if t.id == test.id)
    assert [(s.minute, s.glucose_as_entered) for s in stored.samples][-1] == (30.0, 7.9)
    assert (3.0, 9.7) in [(s.minute, s.glucose_as_entered) for s in stored.samples]
