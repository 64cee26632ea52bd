"""The coding endpoints (issue 14): a coder's queue, autocoding, term search, manual coding and
a record's coding history; every other role refused, and the coder refused clinical edits."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import Env, day, error_of
from tools.harness.database import DEMO_PASSWORD

from trialdesk import services as sv
from trialdesk.services.accounts import NewUserAccount

DATA = Path(__file__).parents[1] / "coding" / "data"


@pytest.fixture
def coded_env(env: Env) -> Env:
    session = env.build.session
    user = sv.create_user(
        session,
        sv.SYSTEM,
        NewUserAccount(
            username="coder",
            full_name="Cora Coder",
            password=DEMO_PASSWORD,
            roles=["coder"],
            site_codes=["APGH"],
            must_change_password=False,
        ),
    )
    sv.load_dictionary(session, sv.actor_for(session, user.id), "meddra", DATA / "meddra_test_0_1")
    return env


def _aes(env: Env) -> tuple[int, int]:
    pid = env.build.enrolled()
    exact = env.build.adverse_event(pid).id  # "Hypoglycaemia": an LLT's name
    other = sv.report_adverse_event(
        env.build.session,
        env.build.who("APGH"),
        pid,
        sv.AdverseEventReport(
            term="Sugar low",
            onset_date=day(50),
            grade=1,
            relatedness="possible",
            action_taken="not applicable",
            outcome="recovering/resolving",
            awareness_date=day(50),
        ),
    ).id
    return exact, other


def test_coder_codes_through_the_api(coded_env: Env) -> None:
    api = coded_env.api
    exact, other = _aes(coded_env)
    queue = api.get("coder", "/coding/queue")
    assert queue.status_code == 200, queue.text
    assert {i["target_id"] for i in queue.json()} == {exact, other}
    auto = api.post("coder", "/coding/autocode", json={"kind": "meddra"})
    assert auto.status_code == 200 and (auto.json()["coded"], auto.json()["left"]) == (1, 1)
    terms = api.get("coder", "/coding/terms", params={"text": "blood"})
    assert [(t["code"], t["name"]) for t in terms.json()] == [("90000404", "Low blood sugar")]
    coded = api.post(
        "coder", "/coding/assignments",
        json={"target_table": "adverse_events", "target_id": other, "code": "90000404"},
    )  # fmt: skip
    assert coded.status_code == 201, coded.text
    assert (coded.json()["pt_name"], coded.json()["method"]) == ("Hypoglycaemia", "manual")
    record = api.get("investigator", f"/adverse-events/{exact}/coding")
    assert record.status_code == 200
    assert record.json()["current"]["soc_name"] == "TEST metabolism class"
    assert api.get("coder", "/coding/queue").json() == []
    assert [d["version"] for d in api.get("coder", "/coding/dictionaries").json()] == ["TEST 0.1"]


def test_bad_input_is_refused_by_field(coded_env: Env) -> None:
    api = coded_env.api
    exact, _other = _aes(coded_env)
    unknown = api.post(
        "coder", "/coding/assignments",
        json={"target_table": "adverse_events", "target_id": exact, "code": "12345"},
    )  # fmt: skip
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "code"
    stale = api.post(
        "coder", "/coding/assignments",
        json={"target_table": "adverse_events", "target_id": exact, "code": "90000409"},
    )  # fmt: skip
    assert stale.status_code == 422 and error_of(stale)["code"] == "non_current_term"
    table = api.post(
        "coder", "/coding/assignments",
        json={"target_table": "participants", "target_id": 1, "code": "90000404"},
    )  # fmt: skip
    assert table.status_code == 422 and error_of(table)["field"] == "target_table"
    short = api.get("coder", "/coding/terms", params={"text": "a"})
    assert short.status_code == 422 and error_of(short)["field"] == "text"


@pytest.mark.parametrize(
    ("role", "queue", "assign"),
    [
        ("admin", 403, 404),
        ("investigator", 403, 403),
        ("coordinator", 403, 403),
        ("monitor", 403, 403),
        ("statistician", 403, 403),
        ("coordinator2", 403, 404),
        ("coder", 200, 201),
    ],
)
def test_only_a_coder_codes(coded_env: Env, role: str, queue: int, assign: int) -> None:
    api = coded_env.api
    exact, _other = _aes(coded_env)
    assert api.get(role, "/coding/queue").status_code == queue
    response = api.post(
        role, "/coding/assignments",
        json={"target_table": "adverse_events", "target_id": exact, "code": "90000403"},
    )  # fmt: skip
    assert response.status_code == assign, response.text


def test_a_coder_may_not_change_clinical_data(coded_env: Env) -> None:
    api = coded_env.api
    exact, _other = _aes(coded_env)
    read = api.get("coder", f"/adverse-events/{exact}")
    assert read.status_code == 200
    change = api.patch(
        "coder", f"/adverse-events/{exact}", json={"reason": "typo", "grade": 2},
        if_match=read.json()["version"],
    )  # fmt: skip
    assert change.status_code == 403, change.text
    identity = api.get("coder", f"/participants/{read.json()['participant_id']}/identity")
    assert identity.status_code == 403


def test_an_administrator_creates_a_coder(env: Env) -> None:
    created = env.api.post(
        "admin", "/users",
        json={"username": "cora", "full_name": "Cora Coder", "password": "a long passphrase 42",
              "roles": ["coder"], "site_codes": ["APGH"]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["coder"]
