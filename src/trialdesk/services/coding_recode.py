"""Recoding on a dictionary upgrade (issue 14).

When a newer release is loaded, every coding in force made from an older release is compared
with the new one (a new MedDRA release may make a coded LLT non-current or move it to another
PT; the MSSO's versioning advice is to re-check codings on every upgrade, [@MedDRAPtC]):

* term unchanged (same LLT, still current, same primary path; same drug, same ATC class): the
  coding is carried to the new version (audited);
* changed, and the verbatim autocodes to exactly one current term of the new release: a new
  coding (autocoded) replaces it, the old one is kept (superseded), the change stated;
* changed otherwise: the coding stays in force, flagged ``needs_review`` with the reason, and
  shows in the coder's recode list until a coder chooses a term.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.actor import Actor
from trialdesk.services.coding import (
    IN_FORCE,
    TARGETS,
    CodingDecision,
    Target,
    assign,
    exact_matches,
    find_term,
)
from trialdesk.services.uow import change_record
from trialdesk.store.enums import CodingMethod, CodingStatus
from trialdesk.store.models import (
    CodingAssignment,
    CodingDictionary,
    DrugTermRow,
    MeddraTermRow,
    Participant,
)


def what_changed(old: CodingAssignment, new: MeddraTermRow | DrugTermRow | None) -> str | None:
    """Why the coding `old` no longer holds in the new release (None: it still holds)."""
    name = old.llt_name or old.drug_name
    if new is None:
        return f"{name} is not in the new release"
    if isinstance(new, MeddraTermRow):
        if not new.llt_current:
            return f"{name} is non-current in the new release"
        path_old = (old.pt_code, old.hlt_code, old.hlgt_code, old.soc_code)
        path_new = (new.pt_code, new.hlt_code, new.hlgt_code, new.soc_code)
        if path_old != path_new:
            return (
                f"{name} moved: preferred term {old.pt_name} → {new.pt_name}, "
                f"system organ class {old.soc_name} → {new.soc_name}"
            )
        return None
    if new.atc_code != old.atc_code:
        return f"{name} moved: ATC {old.atc_code} → {new.atc_code}"
    return None


def _carry(session: Session, actor: Actor, row: CodingAssignment, new: CodingDictionary) -> None:
    change_record(
        session, actor, row,
        {"dictionary_id": new.id, "dictionary_version": new.version},
        reason=f"dictionary upgrade {row.dictionary_version} → {new.version}: term unchanged",
        expected_version=None, participant=session.get(Participant, row.participant_id),
    )  # fmt: skip


def _recode_one(
    session: Session, actor: Actor, row: CodingAssignment, new: CodingDictionary, why: str
) -> bool:
    """Autocode `row`'s verbatim in `new` (True) or flag it for review (False)."""
    participant = session.get(Participant, row.participant_id)
    assert participant is not None
    source: Any = session.get(TARGETS[row.target_table][0], row.target_id)
    matches = exact_matches(session, new, row.verbatim)
    upgrade = f"dictionary upgrade {row.dictionary_version} → {new.version}: {why}"
    if len(matches) == 1 and source is not None and not source.voided:
        target = Target(row.target_table, source, participant, row.verbatim, new.kind)
        decision = CodingDecision(
            method=CodingMethod.AUTOCODED, reason=upgrade, review_reason=upgrade
        )
        assign(session, actor, target, new, matches[0], decision=decision)
        return True
    change_record(
        session, actor, row,
        {"status": CodingStatus.NEEDS_REVIEW, "review_reason": upgrade},
        reason=upgrade, expected_version=None, participant=participant,
    )  # fmt: skip
    return False


def recode_after_upgrade(session: Session, actor: Actor, new: CodingDictionary) -> dict[str, int]:
    """Re-check every coding in force against the release `new` (see the module docstring);
    returns how many were recoded, flagged and carried unchanged."""
    tables = [t for t, (_m, _f, kind) in TARGETS.items() if kind is new.kind]
    rows = list(
        session.scalars(
            select(CodingAssignment)
            .where(
                CodingAssignment.target_table.in_(tables),
                CodingAssignment.status.in_(IN_FORCE),
                CodingAssignment.voided.is_(False),
                CodingAssignment.dictionary_id != new.id,
            )
            .order_by(CodingAssignment.id)
        )
    )
    counts = {"recoded": 0, "flagged": 0, "unchanged": 0}
    for row in rows:
        code = row.llt_code if row.llt_code is not None else row.drug_code
        why = what_changed(row, find_term(session, new, str(code)))
        if why is None:
            _carry(session, actor, row, new)
            counts["unchanged"] += 1
        elif _recode_one(session, actor, row, new, why):
            counts["recoded"] += 1
        else:
            counts["flagged"] += 1
    return counts
