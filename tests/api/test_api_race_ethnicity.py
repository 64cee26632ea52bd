"""Issue #15: race and ethnicity collected at screening over HTTP (optional findings with the
CDISC CT RACE C74457 / ETHNIC C66790 choices), refused by field when not a choice, and
exported to SDTM DM.RACE / DM.ETHNIC as CDISC submission values."""

from __future__ import annotations

import pandas as pd
from api_helpers import ELIGIBLE_FINDINGS, Env, day, error_of

from trialdesk import services as sv
from trialdesk.export.from_store import sdtm_sources
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.protocol import builtin_protocol

FINDINGS = {"t2dm_diagnosis": True, "fertile": False}


def _screen(env: Env, pid: int, findings: dict[str, object]) -> object:
    body = {"screened_on": day(0).isoformat(), "findings": {**FINDINGS, **findings}}
    return env.api.post("coordinator", f"/participants/{pid}/screenings", body)


def _dm(env: Env) -> dict[str, tuple[str, str]]:
    protocol = builtin_protocol()
    with env.database.session() as session:
        dm = sdtm_datasets(protocol, sdtm_sources(session, protocol))["DM"]
    return {row.SUBJID: (row.RACE, row.ETHNIC) for row in dm.itertuples()}


def test_race_and_ethnicity_given_at_screening_are_stored(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    created = _screen(env, pid, {"race": "asian", "ethnicity": "not_hispanic_or_latino"})
    assert created.status_code == 201, created.text
    findings = created.json()["findings"]
    assert (findings["race"], findings["ethnicity"]) == ("asian", "not_hispanic_or_latino")
    silent = env.build.consented()
    env.build.screening_visit(silent)
    answered = _screen(env, silent, {})
    assert answered.status_code == 201  # optional
    assert "race" not in answered.json()["findings"]


def test_an_enrolled_participant_s_answers_reach_dm(env: Env) -> None:
    answers = {"race": "asian", "ethnicity": "not_reported"}
    pid = env.build.consented()
    env.build.screening_data(pid)
    sv.screen_participant(
        env.build.session,
        env.build.who("APGH"),
        pid,
        screened_on=day(0),
        findings={**ELIGIBLE_FINDINGS, **answers},
    )
    sv.enroll_participant(env.build.session, env.build.who("APGH"), pid, enrolled_on=day(1))
    other = env.build.enrolled()  # screened without the questions: left empty
    rows = _dm(env)
    assert len(rows) == 2
    assert ("ASIAN", "NOT REPORTED") in rows.values()
    (unanswered,) = [values for values in rows.values() if values[0] != "ASIAN"]
    assert all(pd.isna(v) or v == "" for v in unanswered), (other, rows)


def test_a_race_outside_the_choices_is_refused_by_field(env: Env) -> None:
    pid = env.build.consented()
    env.build.screening_visit(pid)
    refused = _screen(env, pid, {"race": "martian"})
    assert refused.status_code == 422
    error = error_of(refused)
    assert error["field"].endswith("findings.race")
    assert "Traceback" not in refused.text
