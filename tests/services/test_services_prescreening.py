"""The pre-screening log services: storing a run, reading it site-scoped, inviting/declining a
candidate and linking them to the participant they became at the screening visit (issue 7).
Runs on SQLite and, when TRIALDESK_TEST_POSTGRES_URL is set, on PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tools.harness.database import DemoSeed

from trialdesk import services as sv
from trialdesk.services.paging import Page as Paging
from trialdesk.services.prescreening import CandidateFilter, PrescreenProvenance
from trialdesk.services.validate import today
from trialdesk.store.enums import Role
from trialdesk.store.models import AuditEntry, PrescreenCandidate, PrescreenRun

INDEX = date(2025, 6, 30)


def row(key: int | str, rank: int, status: str = "incomplete", **values: Any) -> dict[str, Any]:
    """A candidate row as `trialdesk.prescreen.screening_log.log_rows` makes it."""
    return {
        "ehr_person_key": key,
        "rank": rank,
        "prescreen_status": status,
        "criteria": {
            "I3": {"verdict": "met", "values": {"age": 56}},
            "I5": {
                "verdict": "met",
                "values": {
                    "hba1c_value": 59.0,
                    "hba1c_unit": "mmol/mol",
                    "hba1c_percent": 7.55,
                    "hba1c_date": "2025-03-25",
                    **values,
                },
            },
            "I6": {"verdict": "assessed at visit", "values": {}},
        },
    }


ROWS = [row(86, 1), row(92, 2), row(4711, 3, "candidate")]


def record(
    session: Session, actor: sv.Actor, rows: list[dict[str, Any]] | None = None, **kw: Any
) -> sv.PrescreenRunView:
    args: dict[str, Any] = {
        "site_code": "APGH",
        "rows": ROWS if rows is None else rows,
        "protocol_id": "NCT01142050",
        "index_date": INDEX,
        "lookback_days": 365,
        "source_description": "DuckDB file /data/omop/apgh.duckdb",
        "persons_assessed": 243,
        "status_counts": {"candidate": 1, "incomplete": 3, "excluded": 239},
        **kw,
    }
    site_code, listed = args.pop("site_code"), args.pop("rows")
    provenance = PrescreenProvenance(**args)
    return sv.record_prescreen_run(
        session, actor, site_code=site_code, rows=listed, provenance=provenance
    )


def audit_entries(session: Session, table: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.table_name == table).order_by(AuditEntry.sequence)
        )
    )


def candidates(session: Session, actor: sv.Actor, **kw: Any) -> list[sv.PrescreenCandidateView]:
    return sv.list_prescreen_candidates(session, actor, where=CandidateFilter(**kw)).items


# --- storing a run ------------------------------------------------------------------------------


def test_a_run_is_stored_with_its_candidates_and_audited(
    session: Session, actors: dict[str, sv.Actor], seed: DemoSeed
) -> None:
    run = record(session, actors["coordinator"])
    assert run.site_code == "APGH" and run.run_by == seed.users["coordinator"]
    assert run.run_by_username == "coordinator"
    assert (run.protocol_id, run.index_date, run.lookback_days) == ("NCT01142050", INDEX, 365)
    assert run.persons_assessed == 243 and run.candidates_stored == 3
    assert run.status_counts == {"candidate": 1, "incomplete": 3, "excluded": 239}
    listed = candidates(session, actors["coordinator"])
    assert [(c.ehr_person_key, c.rank, c.prescreen_status) for c in listed] == [
        ("86", 1, "incomplete"),
        ("92", 2, "incomplete"),
        ("4711", 3, "candidate"),
    ]
    first = listed[0]
    assert first.workflow_status == "new" and first.participant_id is None
    assert first.index_date == INDEX and first.run_id == run.id and first.version == 1
    assert first.criteria["I5"]["values"]["hba1c_percent"] == 7.55
    assert first.criteria["I6"] == {"verdict": "assessed at visit", "values": {}}

    runs = audit_entries(session, "prescreen_runs")
    rows = audit_entries(session, "prescreen_candidates")
    assert len(runs) == 1 and len(rows) == 3
    assert {e.site_id for e in runs + rows} == {seed.sites["APGH"]}
    assert {e.user_id for e in runs + rows} == {seed.users["coordinator"]}
    created = json.loads(rows[0].changes)
    assert created["ehr_person_key"] == [None, "86"] and created["workflow_status"] == [None, "new"]
    assert sv.verify_audit_trail(session, actors["investigator"]).ok


def test_the_run_counts_default_to_the_rows_and_must_add_up(
    session: Session, actors: dict[str, sv.Actor]
) -> None:
    who = actors["investigator"]
    run = record(session, who, persons_assessed=None, status_counts=None)
    assert run.persons_assessed == 3
    assert run.status_counts == {"candidate": 1, "incomplete": 2, "excluded": 0}
    with pytest.raises(sv.ValidationProblem) as fewer:
        record(session, who, status_counts={"candidate": 0, "incomplete": 2, "excluded": 0})
    assert fewer.value.field == "status_counts.candidate"
    with pytest.raises(sv.ValidationProblem) as total:
        record(session, who, persons_assessed=100)
    assert total.value.field == "persons_assessed"


def test_only_site_staff_who_enter_data_store_a_run(
    session: Session, actors: dict[str, sv.Actor], seed: DemoSeed
) -> None:
    for name in ("statistician", "monitor", "admin"):
        with pytest.raises(sv.Forbidden):
            record(session, actors[name])
    with pytest.raises(sv.Forbidden) as other_site:
        record(session, actors["coordinator2"])
    assert other_site.value.rule == "site_not_assigned"
    with pytest.raises(sv.Forbidden):
        record(session, sv.SYSTEM)
    with pytest.raises(sv.ValidationProblem) as unknown:
        record(session, actors["coordinator"], site_code="NOPE")
    assert unknown.value.field == "site_code"
    assert session.scalar(select(func.count()).select_from(PrescreenRun)) == 0
    refusals = [
        e for e in audit_entries(session, "prescreen_runs") if e.action == "refuse"
    ]  # every refusal is in the audit trail, with the site it concerned
    assert len(refusals) == 5
    assert {e.site_id for e in refusals} == {seed.sites["APGH"]}
    assert {json.loads(e.changes)["operation"] for e in refusals} == {"record_prescreen_run"}


@pytest.mark.parametrize(
    "name",
    ["date_of_birth", "full_name", "birth_year", "person_source_value", "Phone", "mrn"],
)
def test_identifying_values_are_refused_and_nothing_is_stored(
    session: Session, actors: dict[str, sv.Actor], name: str
) -> None:
    bad = [ROWS[0], row(92, 2, **{name: "x"})]
    with pytest.raises(sv.ValidationProblem) as refused:
        record(session, actors["coordinator"], rows=bad)
    assert refused.value.rule == "identifying_data"
    assert refused.value.field == f"rows[1].criteria.I5.values.{name}"
    assert session.scalar(select(func.count()).select_from(PrescreenCandidate)) == 0
    assert session.scalar(select(func.count()).select_from(PrescreenRun)) == 0


def test_bad_rows_name_the_row_and_field(session: Session, actors: dict[str, sv.Actor]) -> None:
    who = actors["coordinator"]
    cases: list[tuple[list[dict[str, Any]], str]] = [
        ([row(1, 1), row(1, 2)], "rows[1].ehr_person_key"),
        ([row(1, 1), row(2, 1)], "rows[1].rank"),
        ([row(1, 0)], "rows[0].rank"),
        ([row("", 1)], "rows[0].ehr_person_key"),
        ([{**row(1, 1), "prescreen_status": "eligible"}], "rows[0].prescreen_status"),
        ([{**row(1, 1), "name": "Wang Wei"}], "rows[0].name"),
        (
            [{**row(1, 1), "criteria": {"I2": {"verdict": "probably", "values": {}}}}],
            "rows[0].criteria.I2.verdict",
        ),
    ]
    for rows, field in cases:
        with pytest.raises(sv.ValidationProblem) as problem:
            record(session, who, rows=rows, persons_assessed=None, status_counts=None)
        assert problem.value.field == field, (rows, problem.value.message)
    run_problems: list[tuple[dict[str, Any], str]] = [
        ({"lookback_days": 0}, "lookback_days"),
        ({"index_date": "2025-06-30"}, "index_date"),
        ({"source_description": "  "}, "source_description"),
        ({"source_description": "postgresql://omop:s3cret@ehr/cdm"}, "source_description"),
        ({"protocol_id": ""}, "protocol_id"),
        ({"status_counts": {"eligible": 3}}, "status_counts"),
    ]
    for kw, field in run_problems:
        with pytest.raises(sv.ValidationProblem) as problem:
            record(session, who, **kw)
        assert problem.value.field == field
    assert session.scalar(select(func.count()).select_from(PrescreenRun)) == 0


# --- reading the log ----------------------------------------------------------------------------


def test_reading_the_log_is_site_scoped_and_needs_identity_access(
    session: Session, actors: dict[str, sv.Actor]
) -> None:
    run = record(session, actors["coordinator"])
    other = sv.record_prescreen_run(
        session,
        actors["coordinator2"],
        site_code="PUMC",
        rows=[row(5, 1)],
        provenance=PrescreenProvenance(
            protocol_id="NCT01142050",
            index_date=INDEX,
            lookback_days=180,
            source_description="Parquet folder /data/pumc",
        ),
    )
    assert [c.ehr_person_key for c in candidates(session, actors["monitor"])] == [
        "86",
        "92",
        "4711",
    ]
    assert [c.ehr_person_key for c in candidates(session, actors["coordinator2"])] == ["5"]
    apgh_candidate = candidates(session, actors["investigator"])[0]
    with pytest.raises(sv.NotFound):
        sv.get_prescreen_candidate(session, actors["coordinator2"], apgh_candidate.id)
    with pytest.raises(sv.NotFound):
        sv.list_prescreen_candidates(
            session, actors["coordinator"], where=CandidateFilter(run_id=other.id)
        )
    with pytest.raises(sv.Forbidden):
        sv.list_prescreen_candidates(
            session, actors["coordinator"], where=CandidateFilter(site_code="PUMC")
        )
    # EHR keys lead to a patient's hospital record: not for the de-identified reader.
    with pytest.raises(sv.Forbidden):
        sv.list_prescreen_candidates(session, actors["statistician"])
    with pytest.raises(sv.Forbidden):
        sv.get_prescreen_candidate(session, actors["statistician"], apgh_candidate.id)
    # The run's counts are de-identified: the statistician may read them (CONSORT numbers).
    runs = sv.list_prescreen_runs(session, actors["statistician"])
    assert [(r.id, r.persons_assessed) for r in runs.items] == [(run.id, 243)]
    assert [r.site_code for r in sv.list_prescreen_runs(session, actors["coordinator2"]).items] == [
        "PUMC"
    ]


def test_candidate_lists_filter_and_paginate(session: Session, actors: dict[str, sv.Actor]) -> None:
    who = actors["coordinator"]
    first = record(session, who)
    second = record(session, who, rows=[row(86, 1), row(7, 2, "candidate")], index_date=INDEX)
    page = sv.list_prescreen_candidates(session, who, page=Paging(limit=2, offset=1))
    assert page.total == 5 and page.limit == 2 and page.offset == 1
    # Newest run first, then by rank.
    assert [(c.run_id, c.rank) for c in page.items] == [(second.id, 2), (first.id, 1)]
    only = sv.list_prescreen_candidates(
        session, who, where=CandidateFilter(run_id=first.id, prescreen_status="candidate")
    )
    assert [c.ehr_person_key for c in only.items] == ["4711"]
    assert (
        sv.list_prescreen_candidates(
            session, who, where=CandidateFilter(workflow_status="invited")
        ).total
        == 0
    )
    with pytest.raises(sv.ValidationProblem) as bad:
        sv.list_prescreen_candidates(
            session, who, where=CandidateFilter(workflow_status="contacted")
        )
    assert bad.value.field == "workflow_status"
    with pytest.raises(sv.ValidationProblem):
        sv.list_prescreen_candidates(session, who, page=Paging(limit=0))


# --- invite, decline ----------------------------------------------------------------------------


def test_invite_then_decline_with_reason_audited(
    session: Session, actors: dict[str, sv.Actor], seed: DemoSeed
) -> None:
    who = actors["coordinator"]
    record(session, who)
    first = candidates(session, who)[0]
    invited = sv.mark_candidate(
        session, who, first.id, action="invite", on=today(), expected_version=first.version
    )
    assert invited.workflow_status == "invited" and invited.status_changed_on == today()
    assert invited.status_reason == "invited to the screening visit" and invited.version == 2
    with pytest.raises(sv.ValidationProblem) as no_reason:
        sv.mark_candidate(session, who, first.id, action="decline", on=today(), expected_version=2)
    assert no_reason.value.rule == "reason_required"
    declined = sv.mark_candidate(
        session,
        who,
        first.id,
        action="decline",
        on=today(),
        expected_version=2,
        reason="does not wish to take part in a cell therapy trial",
    )
    assert declined.workflow_status == "declined" and declined.version == 3
    history = sv.prescreen_candidate_history(session, actors["monitor"], first.id)
    assert [h.action for h in history] == ["create", "update", "update"]
    assert history[2].changes["workflow_status"] == ["invited", "declined"]
    assert history[2].reason == "does not wish to take part in a cell therapy trial"
    assert history[2].username == "coordinator"
    last = audit_entries(session, "prescreen_candidates")[-1]
    assert last.site_id == seed.sites["APGH"] and last.participant_id is None
    with pytest.raises(sv.RuleViolation) as again:
        sv.mark_candidate(session, who, first.id, action="invite", on=today(), expected_version=3)
    assert again.value.rule == "candidate_status" and again.value.status == 409
    assert sv.verify_audit_trail(session, actors["investigator"]).ok


def test_marking_needs_the_current_version_a_valid_date_and_write_access(
    session: Session, actors: dict[str, sv.Actor]
) -> None:
    who = actors["coordinator"]
    record(session, who)
    first = candidates(session, who)[0]
    sv.mark_candidate(session, who, first.id, action="invite", on=today(), expected_version=1)
    with pytest.raises(sv.StaleVersion):
        sv.mark_candidate(
            session, who, first.id, action="decline", on=today(), expected_version=1, reason="no"
        )
    for on in (today() + timedelta(days=5), today() - timedelta(days=30)):
        with pytest.raises(sv.ValidationProblem) as bad_date:
            sv.mark_candidate(
                session, who, first.id, action="decline", on=on, expected_version=2, reason="x"
            )
        assert bad_date.value.field == "on"
    with pytest.raises(sv.ValidationProblem) as bad_action:
        sv.mark_candidate(session, who, first.id, action="call", on=today(), expected_version=2)
    assert bad_action.value.field == "action"
    with pytest.raises(sv.Forbidden):
        sv.mark_candidate(
            session, actors["monitor"], first.id, action="decline", on=today(), expected_version=2
        )
    with pytest.raises(sv.NotFound):
        sv.mark_candidate(
            session,
            actors["coordinator2"],
            first.id,
            action="decline",
            on=today(),
            expected_version=2,
        )
    assert sv.get_prescreen_candidate(session, who, first.id).version == 2


# --- candidate → screening visit ----------------------------------------------------------------


def test_a_screened_candidate_is_linked_to_the_participant_and_screening(
    session: Session, actors: dict[str, sv.Actor], clinic: Any
) -> None:
    who = actors["coordinator"]
    record(session, who)
    first = candidates(session, who)[0]
    sv.mark_candidate(session, who, first.id, action="invite", on=today(), expected_version=1)
    pid = clinic.eligible()
    screening_id = sv.list_screenings(session, who, pid)[-1].id
    linked = sv.link_candidate_to_participant(
        session, who, first.id, participant_id=pid, expected_version=2
    )
    assert linked.workflow_status == "screened" and linked.participant_id == pid
    assert linked.screening_id == screening_id and linked.study_id == "APGH-001"
    assert linked.status_changed_on == clinic.day(0)
    assert linked.status_reason == f"registered as APGH-001 and screened on {clinic.day(0)}"
    # The link is in the participant's own audit trail.
    trail = sv.participant_history(
        session, actors["investigator"], pid, page=Paging(limit=500)
    ).items
    link_entries = [e for e in trail if e.table == "prescreen_candidates"]
    assert len(link_entries) == 1
    assert link_entries[0].changes["participant_id"] == [None, pid]
    assert link_entries[0].changes["workflow_status"] == ["invited", "screened"]
    # A screened candidate is not declined afterwards, nor linked twice.
    with pytest.raises(sv.RuleViolation) as decline:
        sv.mark_candidate(
            session, who, first.id, action="decline", on=today(), expected_version=3, reason="x"
        )
    assert decline.value.rule == "candidate_status"
    second = candidates(session, who)[1]
    with pytest.raises(sv.RuleViolation) as twice:
        sv.link_candidate_to_participant(
            session, who, second.id, participant_id=pid, expected_version=1
        )
    assert twice.value.rule == "participant_already_linked"
    assert sv.verify_audit_trail(session, actors["investigator"]).ok


def test_linking_needs_a_screening_the_same_site_and_a_live_candidate(
    session: Session, actors: dict[str, sv.Actor], clinic: Any, seed: DemoSeed
) -> None:
    who = actors["coordinator"]
    record(session, who)
    first, second, third = candidates(session, who)
    registered = clinic.register()
    with pytest.raises(sv.RuleViolation) as unscreened:
        sv.link_candidate_to_participant(
            session, who, first.id, participant_id=registered, expected_version=1
        )
    assert unscreened.value.rule == "screening_required"
    pumc = clinic.eligible(site="PUMC", actor="coordinator2")
    with pytest.raises(sv.NotFound):  # another site's participant is not even seen
        sv.link_candidate_to_participant(
            session, who, first.id, participant_id=pumc, expected_version=1
        )
    both_sites = sv.Actor.of(
        seed.users["investigator"],
        "investigator",
        [Role.INVESTIGATOR],
        [seed.sites["APGH"], seed.sites["PUMC"]],
    )
    with pytest.raises(sv.RuleViolation) as elsewhere:
        sv.link_candidate_to_participant(
            session, both_sites, first.id, participant_id=pumc, expected_version=1
        )
    assert elsewhere.value.rule == "candidate_other_site"
    pid = clinic.eligible()
    with pytest.raises(sv.ValidationProblem) as wrong_screening:
        sv.link_candidate_to_participant(
            session, who, first.id, participant_id=pid, expected_version=1, screening_id=10_000
        )
    assert wrong_screening.value.field == "screening_id"
    sv.mark_candidate(
        session, who, second.id, action="decline", on=today(), expected_version=1, reason="moved"
    )
    with pytest.raises(sv.RuleViolation) as declined:
        sv.link_candidate_to_participant(
            session, who, second.id, participant_id=pid, expected_version=2
        )
    assert declined.value.rule == "candidate_status"
    with pytest.raises(sv.StaleVersion):
        sv.link_candidate_to_participant(
            session, who, third.id, participant_id=pid, expected_version=7
        )
    assert sv.get_prescreen_candidate(session, who, first.id).workflow_status == "new"


# --- voiding a run ------------------------------------------------------------------------------


def test_a_run_recorded_in_error_is_voided_with_its_candidates(
    session: Session, actors: dict[str, sv.Actor], clinic: Any
) -> None:
    who = actors["coordinator"]
    wrong = record(session, who)
    with pytest.raises(sv.ValidationProblem):
        sv.void_prescreen_run(session, who, wrong.id, expected_version=1, reason=" ")
    voided = sv.void_prescreen_run(
        session, who, wrong.id, expected_version=1, reason="wrong index date"
    )
    assert voided.voided and voided.void_reason == "wrong index date"
    assert voided.candidates_stored == 0
    assert candidates(session, who) == []
    kept = candidates(session, who, include_voided=True)
    assert len(kept) == 3 and all(c.voided for c in kept)
    with pytest.raises(sv.RuleViolation) as gone:
        sv.mark_candidate(session, who, kept[0].id, action="invite", on=today(), expected_version=2)
    assert gone.value.rule == "candidate_voided"
    assert sv.list_prescreen_runs(session, who).total == 0

    used = record(session, who)
    first = candidates(session, who)[0]
    pid = clinic.eligible()
    sv.link_candidate_to_participant(session, who, first.id, participant_id=pid, expected_version=1)
    with pytest.raises(sv.RuleViolation) as screened:
        sv.void_prescreen_run(session, who, used.id, expected_version=1, reason="oops")
    assert screened.value.rule == "run_has_screened_candidates"
    assert sv.verify_audit_trail(session, actors["investigator"]).ok
