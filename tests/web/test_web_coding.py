"""The coding pages without a browser (issue 14): only a coder reaches them, refused input is
said on the page, and an adverse event's page shows its coded term and path to every reader."""

from __future__ import annotations

from coding_helpers import coder_with_events
from tools.harness.database import TestDatabase
from web_helpers import csrf_of


def test_only_a_coder_sees_the_coding_page(web_database: TestDatabase, client_for) -> None:  # type: ignore[no-untyped-def]
    with web_database.session() as session:
        coder_with_events(session, ("Headache",))
    page = client_for("coder").get("/coding")
    assert page.status_code == 200
    assert "MedDRA TEST 0.1" in page.text and "Headache" in page.text
    assert 'href="/coding"' in page.text  # in the coder's navigation
    for role in ("coordinator", "monitor", "investigator", "statistician"):
        refused = client_for(role).get("/coding")
        assert refused.status_code == 403, role
        assert 'href="/coding"' not in client_for(role).get("/dashboard").text


def test_an_unknown_code_is_refused_on_the_page(web_database: TestDatabase, client_for) -> None:  # type: ignore[no-untyped-def]
    with web_database.session() as session:
        _pid, _study, (ae,) = coder_with_events(session, ("Sugar low",))
    coder = client_for("coder")
    page = coder.get(f"/coding/adverse_events/{ae}?q=blood")
    assert "Low blood sugar" in page.text
    refused = coder.post(
        f"/coding/adverse_events/{ae}", data={"csrf_token": csrf_of(page.text), "code": "77"}
    )
    assert refused.status_code == 422
    assert "77 is not a term of MedDRA TEST 0.1" in refused.text
    short = coder.get(f"/coding/adverse_events/{ae}?q=b")
    assert short.status_code == 200 and "type at least 2 letters" in short.text


def test_the_adverse_event_page_shows_the_coded_path(
    web_database: TestDatabase, client_for
) -> None:  # type: ignore[no-untyped-def]
    with web_database.session() as session:
        pid, _study, (ae,) = coder_with_events(session, ("Fever",))
    coordinator = client_for("coordinator")
    before = coordinator.get(f"/participants/{pid}/records/adverse_events/{ae}")
    assert "Medical coding" in before.text and "Not coded yet." in before.text
    coder = client_for("coder")
    coding = coder.get("/coding")
    done = coder.post(
        "/coding/autocode", data={"csrf_token": csrf_of(coding.text), "kind": "meddra"},
        follow_redirects=True,
    )  # fmt: skip
    assert "Autocoded 1 term(s) with MedDRA TEST 0.1" in done.text
    after = coordinator.get(f"/participants/{pid}/records/adverse_events/{ae}")
    for words in ("Preferred term", "Pyrexia", "System organ class", "TEST general class",
                  "Autocoded by Cora Coder"):  # fmt: skip
        assert words in after.text, words
    assert (
        "Code this term" not in after.text
        and "adverse_events" not in after.text.split("Medical coding")[1].split("</section>")[0]
    )


def test_coding_reads_in_the_audit_trail(web_database: TestDatabase, client_for) -> None:  # type: ignore[no-untyped-def]
    with web_database.session() as session:
        pid, _study, (ae,) = coder_with_events(session, ("Fever",))
    coder = client_for("coder")
    dashboard = coder.get("/dashboard")
    assert dashboard.status_code == 200
    card = dashboard.text.split('id="coding-card"')[1].split("</section>")[0]
    assert "<strong>1</strong> to code" in card and "MedDRA" in card
    assert 'id="coding-card"' not in client_for("coordinator").get("/dashboard").text
    page = coder.get(f"/coding/adverse_events/{ae}?q=fever")
    chosen = coder.post(
        f"/coding/adverse_events/{ae}",
        data={"csrf_token": csrf_of(page.text), "code": "90000405"},
        follow_redirects=True,
    )
    assert "Coded “Fever” to Fever." in chosen.text
    trail = client_for("investigator").get(f"/participants/{pid}/audit")
    assert trail.status_code == 200
    assert "Coding" in trail.text or "coding" in trail.text
    assert "coding_assignments" not in trail.text and "llt_code" not in trail.text
    for words in ("Cora Coder", "90000405", "Pyrexia", "TEST 0.1", "adverse event"):
        assert words in trail.text, words
    assert "× 10" not in trail.text.split("Pyrexia")[0].rsplit("coding of", 1)[-1]
