"""Protocol versions (issue 18) and re-consent (issue 13): the study's protocol is stored with its
hash, amendments take effect on their date, criteria are judged under the version in force on
the screening date, each screening, consent and visit records its version, and a new consent form
flags the consented participants until they sign it."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.services.conftest import START, Clinic

from trialdesk import services as sv
from trialdesk.protocol.load import builtin_protocol_text
from trialdesk.services.protocol_versions import Amendment
from trialdesk.services.study import current_protocol, text_sha256
from trialdesk.store.models import AuditEntry, ProtocolVersion

ORIGINAL = builtin_protocol_text()
# Amendment 2: HbA1c of at least 9 % (was 7 %) and a revised consent form.
HBA1C_7 = '- {element: hba1c, op: ">=", value: 7 %}'
AMENDED = ORIGINAL.replace(HBA1C_7, HBA1C_7.replace("7 %", "9 %")) + (
    "consent_form_version: ICF v3.0\n"
)
assert AMENDED.count("value: 9 %") == 1
AMENDMENT_DAY = 10


@pytest.fixture
def amended(clinic: Clinic) -> Clinic:
    """The study set up under the built-in protocol, amended from day 10 (after one screening
    and consent were recorded on day 0 under version 1)."""
    sv.set_up_protocol(clinic.session, sv.SYSTEM, ORIGINAL, "builtin", effective_on=START)
    return clinic


def _amend(clinic: Clinic) -> sv.views.ProtocolVersionView:
    return sv.register_amendment(
        clinic.session,
        sv.SYSTEM,
        AMENDED,
        "amendment-2.yaml",
        Amendment(
            effective_on=clinic.day(AMENDMENT_DAY),
            summary="HbA1c threshold raised to 9 %; consent form ICF v3.0",
        ),
    )


def test_set_up_stores_text_and_hash_and_refuses_another_protocol(
    clinic: Clinic, session: Session
) -> None:
    first = sv.set_up_protocol(session, sv.SYSTEM, ORIGINAL, "builtin", effective_on=START)
    assert (first.label, first.protocol_id) == ("1", "NCT01142050")
    assert first.sha256 == text_sha256(ORIGINAL)
    row = session.scalars(select(ProtocolVersion)).one()
    assert row.yaml_text == ORIGINAL  # the full text, byte for byte
    again = sv.set_up_protocol(session, sv.SYSTEM, ORIGINAL, "builtin", effective_on=START)
    assert again.id == first.id  # idempotent
    audited = session.scalars(
        select(AuditEntry).where(AuditEntry.table_name == "protocol_versions")
    ).all()
    assert len(audited) == 1
    with pytest.raises(sv.RuleViolation) as refused:
        sv.set_up_protocol(session, sv.SYSTEM, AMENDED, "other.yaml", effective_on=START)
    message = refused.value.message
    assert refused.value.rule == "protocol_mismatch"
    assert text_sha256(AMENDED) in message and text_sha256(ORIGINAL) in message
    assert "trialdesk protocol register" in message


def test_criteria_are_judged_under_the_version_in_force_on_the_screening_date(
    amended: Clinic, session: Session
) -> None:
    clinic = amended
    pid = clinic.register()
    clinic.consent(pid)
    clinic.screening_data(pid)  # HbA1c 8.6 %
    before = clinic.screen(pid)
    assert before.status.value == "eligible" and before.protocol_version == "1"
    version = _amend(clinic)
    assert (version.label, version.consent_form_version) == ("2", "ICF v3.0")
    # A date before the amendment is still judged under version 1.
    earlier = sv.evaluate_eligibility(
        session, clinic.coordinator, pid, on=clinic.day(AMENDMENT_DAY - 1)
    )
    assert earlier.status.value == "eligible"
    _reconsent(session, clinic, pid, AMENDMENT_DAY + 1)  # no new data before (issue 18)
    after = sv.screen_participant(
        session,
        clinic.coordinator,
        pid,
        screened_on=clinic.day(AMENDMENT_DAY + 1),
        findings=before.findings,
    )
    assert after.status.value == "ineligible" and after.protocol_version == "2"
    failed = [c["id"] for c in after.result["criteria"] if c["satisfied"] is False]
    assert failed == ["I5"]
    # The snapshot of the first screening still says what version 1 decided.
    first = sv.list_screenings(session, clinic.coordinator, pid)[0]
    assert first.status.value == "eligible" and first.protocol_version == "1"
    assert current_protocol(session, clinic.day(AMENDMENT_DAY - 1)).criteria != (
        current_protocol(session, clinic.day(AMENDMENT_DAY)).criteria
    )


def _reconsent(session: Session, clinic: Clinic, pid: int, day: int) -> None:
    sv.record_consent(
        session, clinic.coordinator, pid, form_version="ICF v3.0", consented_on=clinic.day(day)
    )


def test_consent_and_visits_record_the_version_in_force(amended: Clinic, session: Session) -> None:
    clinic = amended
    pid = clinic.enrolled()
    _amend(clinic)
    consent = sv.list_consents(session, clinic.coordinator, pid)[0]
    assert consent.protocol_version == "1"
    visits = {v.code: v for v in sv.list_visits(session, clinic.coordinator, pid)}
    assert visits["SCR"].protocol_version == "1"
    _reconsent(session, clinic, pid, AMENDMENT_DAY + 1)  # no new data before (issue 18)
    baseline = sv.record_visit(
        session, clinic.coordinator, pid, code="BL", visit_date=clinic.day(AMENDMENT_DAY + 18)
    )
    assert baseline.protocol_version == "2"
    calendar = sv.visit_calendar(session, clinic.coordinator, pid)
    by_code = {e.code: e.protocol_version for e in calendar.visits}
    assert by_code["SCR"] == "1" and by_code["BL"] == "2" and by_code["M1"] is None
    # Moving the visit before the amendment moves it back under version 1.
    moved = sv.update_visit(
        session,
        clinic.coordinator,
        baseline.id,
        sv.VisitChanges(
            visit_date=clinic.day(AMENDMENT_DAY - 2),
            expected_version=baseline.version,
            reason="date transcribed wrongly",
        ),
    )
    assert moved.protocol_version == "1"


def test_a_new_consent_form_flags_participants_until_they_re_consent(
    amended: Clinic, session: Session, actors: dict[str, sv.Actor]
) -> None:
    clinic = amended
    consented = clinic.enrolled()
    withdrawn = clinic.eligible()
    never = clinic.register()
    failed = clinic.register()
    clinic.consent(failed)
    clinic.screening_data(failed, hba1c=(6.1, "%"))
    assert clinic.screen(failed).status.value == "ineligible"
    record = sv.list_consents(session, clinic.coordinator, withdrawn)[0]
    sv.withdraw_consent(
        session,
        clinic.coordinator,
        record.id,
        withdrawn_on=clinic.day(2),
        expected_version=record.version,
    )
    assert sv.list_reconsent_due(session, clinic.coordinator) == []  # no amendment yet
    _amend(clinic)
    due = sv.list_reconsent_due(session, clinic.coordinator)
    # Not the withdrawn, the screen failure nor the candidate who never consented.
    assert [d.participant_id for d in due] == [consented]
    flag = due[0]
    assert (flag.signed_form_version, flag.required_form_version) == ("ICF v2.0", "ICF v3.0")
    assert flag.required_since == clinic.day(AMENDMENT_DAY) and flag.protocol_version == "2"
    assert never not in [d.participant_id for d in due]
    # Another site's coordinator does not see APGH's participants.
    assert sv.list_reconsent_due(session, actors["coordinator2"]) == []
    sv.record_consent(
        session,
        clinic.coordinator,
        consented,
        form_version="ICF v3.0",
        consented_on=clinic.day(AMENDMENT_DAY + 5),
    )
    assert sv.list_reconsent_due(session, clinic.coordinator) == []
    history = sv.list_consents(session, clinic.coordinator, consented)
    assert [(c.form_version, c.protocol_version) for c in history] == [
        ("ICF v2.0", "1"),
        ("ICF v3.0", "2"),
    ]


@pytest.mark.parametrize(
    ("change", "rule", "words"),
    [
        ({"effective_on": START}, "invalid_value", "must be after"),
        ({"summary": "  "}, "invalid_value", "summary of the changes"),
        ({"text": ORIGINAL}, "already_registered", "already registered as version 1"),
        (
            {"text": ORIGINAL.replace("id: NCT01142050", "id: NCT99999999", 1)},
            "other_study",
            "keeps the study's id",
        ),
        ({"text": "id: [unclosed"}, "invalid_protocol", "not valid YAML"),
    ],
)
def test_an_amendment_is_refused_with_the_reason(
    amended: Clinic, session: Session, change: dict[str, object], rule: str, words: str
) -> None:
    arguments: dict[str, object] = {
        "text": AMENDED,
        "effective_on": amended.day(AMENDMENT_DAY),
        "summary": "raise HbA1c",
        **change,
    }
    text = str(arguments.pop("text"))
    with pytest.raises(sv.ServiceError) as refused:
        sv.register_amendment(session, sv.SYSTEM, text, "file.yaml", Amendment(**arguments))  # type: ignore[arg-type]
    assert refused.value.rule == rule and words in refused.value.message
    assert len(sv.list_protocol_versions(session, sv.SYSTEM)) == 1


def test_only_an_administrator_registers_versions_and_everyone_lists_them(
    amended: Clinic, session: Session
) -> None:
    with pytest.raises(sv.Forbidden):
        sv.register_amendment(
            session,
            amended.coordinator,
            AMENDED,
            "a.yaml",
            Amendment(effective_on=amended.day(AMENDMENT_DAY), summary="x"),
        )
    assert [v.label for v in sv.list_protocol_versions(session, amended.coordinator)] == ["1"]


def test_without_a_stored_protocol_the_configured_one_applies(
    clinic: Clinic, session: Session
) -> None:
    assert sv.list_protocol_versions(session, sv.SYSTEM) == []
    assert current_protocol(session).id == "NCT01142050"
    pid = clinic.eligible()
    assert sv.list_screenings(session, clinic.coordinator, pid)[0].protocol_version is None
