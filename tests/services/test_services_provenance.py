"""The simulated-data mark: recorded once in the audit trail, never undone, refused to readers."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.store.audit import verify_chain
from trialdesk.store.models import AuditEntry
from trialdesk.store.provenance import PROVENANCE_TABLE


def _marks(session: Session) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.table_name == PROVENANCE_TABLE)
    return list(session.scalars(query))


def test_a_database_is_real_until_marked(session: Session, actors: dict[str, sv.Actor]) -> None:
    assert sv.data_provenance(session, actors["monitor"]) is None
    assert _marks(session) == []


def test_the_mark_is_audited_once_and_kept(session: Session, actors: dict[str, sv.Actor]) -> None:
    first = sv.mark_simulated(session, actors["coordinator"], "  seed 1,\n effect none ")
    again = sv.mark_simulated(session, actors["investigator"], "seed 2, effect strong")
    assert first == again == "seed 1, effect none"
    assert sv.data_provenance(session, actors["monitor"]) == "seed 1, effect none"
    (entry,) = _marks(session)
    assert entry.user_id == actors["coordinator"].user_id and "simulator" in (entry.reason or "")
    assert verify_chain(session).ok


def test_marking_needs_a_role_that_writes_data(
    session: Session, actors: dict[str, sv.Actor]
) -> None:
    with pytest.raises(sv.Forbidden):
        sv.mark_simulated(session, actors["monitor"], "seed 1")
    assert _marks(session) == []


def test_a_mark_must_say_how(session: Session, actors: dict[str, sv.Actor]) -> None:
    with pytest.raises(sv.ValidationProblem, match="description: say how"):
        sv.mark_simulated(session, actors["coordinator"], "   ")
    assert _marks(session) == []
