"""Issue 14 over HTTP: the record status grid (filters, counts, legend, accessible cells, click
through), the SDV page (marks by a monitor only, a cleared mark saying why) and the dashboard
counts."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

from fastapi.testclient import TestClient
from tools.harness.database import TestDatabase
from web_helpers import actor_of, csrf_of, enrolled_participant

from trialdesk import services as sv
from trialdesk.services.sdv import SdvTarget

Client = Callable[[str], TestClient]


def _weight(db: TestDatabase, pid: int) -> sv.views.MeasurementView:
    with db.session() as session:
        items = sv.list_measurements(
            session,
            actor_of(session, "monitor"),
            sv.MeasurementFilter(participant_id=pid, element="weight"),
        ).items
    return items[0]


def test_grid_is_a_table_with_headers_icons_with_text_and_links_to_the_form(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
    page = client_for("monitor").get("/monitoring")
    assert page.status_code == 200
    html = unescape(page.text)
    assert '<table class="status-grid" id="record-status">' in html
    assert '<th scope="colgroup" colspan="9" id="v-SCR" class="visit-start">SCR' in html
    assert re.search(r'<th scope="row"><a href="/participants/\d+">APGH-\d+</a></th>', html)
    # each icon has its text alternative and leads to the form
    assert f'<a href="/participants/{pid}/visits/SCR#sec-labs"' in html
    assert re.search(r'<span class="sr-only">APGH-\d+ SCR Labs: Incomplete</span>', html)
    assert re.search(r'<span class="sr-only">APGH-\d+ M12 Labs: Not started</span>', html)
    for label in ("Not started", "Incomplete", "Complete", "Open query", "Deviation",
                  "Verified", "Signed", "Locked"):  # fmt: skip
        assert f"{label}</dt>" in html
    assert re.search(r"<strong>\d+</strong> not started", html)


def test_grid_filters_by_status_and_site_and_explains_a_bad_filter(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
        sv.mark_source_data(
            session,
            actor_of(session, "monitor"),
            pid,
            SdvTarget(visit_code="BL", form="vital_signs"),
        )
        enrolled_participant(session, name="Li Na")
    client = client_for("monitor")
    verified = unescape(client.get("/monitoring?status=verified").text)
    assert "1 participant with a form verified" in verified
    assert (
        unescape(client.get("/monitoring?status=locked").text).count("No participant matches") == 1
    )
    bad = unescape(client.get("/monitoring?status=purple").text)
    assert "status: 'purple' is not one of" in bad and "2 participants" in bad
    other = unescape(client.get("/monitoring?site=PUMC").text)
    assert "'PUMC' is not one of your sites" in other
    assert client.get("/monitoring?site=APGH").status_code == 200


def test_dashboard_counts_forms_per_status_and_links_to_the_grid(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        enrolled_participant(session)
    html = unescape(client_for("coordinator").get("/dashboard").text)
    assert 'aria-labelledby="h-record-status"' in html
    assert '<a href="/monitoring?status=incomplete">' in html
    assert '<a href="/monitoring">Record status grid</a>' in html


def test_monitor_verifies_a_value_and_a_correction_clears_it_with_the_reason(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
    weight = _weight(web_database, pid)
    monitor = client_for("monitor")
    page = monitor.get(f"/participants/{pid}/sdv")
    assert "eligibility" in page.text and "Verified</button>" in page.text
    saved = monitor.post(
        f"/participants/{pid}/sdv",
        data={
            "csrf_token": csrf_of(page.text),
            "visit_code": "SCR",
            "form": "vital_signs",
            "kind": "verified",
            "target_table": "measurements",
            "target_id": str(weight.id),
            "field": "value_as_entered",
        },  # fmt: skip
        follow_redirects=True,
    )
    assert saved.status_code == 200 and "Marked verified: Vital signs at SCR." in unescape(
        saved.text
    )
    with web_database.session() as session:
        sv.update_measurement(
            session,
            actor_of(session, "coordinator"),
            weight.id,
            sv.MeasurementChanges(
                value="71", unit="kg", reason="source says 71 kg", expected_version=weight.version
            ),
        )
    html = unescape(monitor.get(f"/participants/{pid}/sdv").text)
    assert "Marks cleared by a later change" in html
    assert "source says 71 kg" in html and "70 → 71" in html
    trail = unescape(monitor.get(f"/participants/{pid}/audit").text)
    assert "source-data verification mark" in trail and "sdv_marks" not in trail


def test_only_a_monitor_gets_the_mark_buttons_and_a_bad_mark_is_explained(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
    coordinator = client_for("coordinator").get(f"/participants/{pid}/sdv")
    assert coordinator.status_code == 200 and "<button" not in coordinator.text.split("<main")[1]
    monitor = client_for("monitor")
    page = monitor.get(f"/participants/{pid}/sdv")
    bad = monitor.post(
        f"/participants/{pid}/sdv",
        data={"csrf_token": csrf_of(page.text), "visit_code": "SCR", "form": "surgery"},
    )
    assert bad.status_code == 422
    assert "form: 'surgery' is not a form of visit SCR" in unescape(bad.text)


def test_sdv_progress_by_site_visit_and_participant(
    client_for: Client, web_database: TestDatabase
) -> None:
    with web_database.session() as session:
        pid = enrolled_participant(session)
        sv.mark_source_data(
            session, actor_of(session, "monitor"), pid, SdvTarget(visit_code="SCR", form="labs")
        )
    html = unescape(client_for("monitor").get("/monitoring/sdv").text)
    site = re.search(r'<table id="sdv-by-site">.*?</table>', html, re.S)
    assert site and re.search(r"APGH</th>\s*<td class=\"num\">6</td><td class=\"num\">1</td>",
                              site.group(0))  # fmt: skip
    assert re.search(r'SCR</th>\s*<td class="num">6</td><td class="num">1</td>', html)
    assert f'<a href="/participants/{pid}/sdv">APGH-' in html
    assert "1 of 6 selected forms verified (17 %)" in html
