"""Medical coding (issue 14): adverse event terms to MedDRA, medications to the drug dictionary.

* `load_dictionary` stores a release the sponsor distributes (MedDRA ASCII files, or the drug
  dictionary; read by `trialdesk.coding`), with who loaded it, when and a SHA-256 of its files.
  Loading a newer MedDRA release re-checks every coding in force (`services.coding_recode`).
* `autocode` codes each uncoded verbatim that matches exactly one *current* term of the latest
  release by name, or else the study's synonym list (case- and space-insensitive); anything
  else stays in the queue (`coding_queue`) for a coder.
* `code_manually` records the term a coder chose (found with `search_terms`); the verbatim
  joins the synonym list, so the same verbatim is autocoded next time.
* A later change of the verbatim clears its coding (`clear_coding_after_write`, called by
  `uow.change_record` like the SDV marks): the term must be coded again.

Every write is audited; a replaced coding is kept (status superseded). Only current LLTs may be
chosen: a non-current LLT is kept for history, not used for new coding ([@MedDRAIntro]).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.coding import (
    DictionaryFormatError,
    DrugRelease,
    DrugTerm,
    MeddraRelease,
    MeddraTerm,
    normalise,
    read_drugs,
    read_meddra,
)
from trialdesk.services.access import get_record, not_found, require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.views import RecordView, View
from trialdesk.store import audit
from trialdesk.store.enums import AuditAction, CodingMethod, CodingStatus, DictionaryKind
from trialdesk.store.models import (
    AdverseEvent,
    CodingAssignment,
    CodingDictionary,
    CodingSynonym,
    DrugTermRow,
    MeddraTermRow,
    OgldDose,
    Participant,
)
from trialdesk.store.types import utcnow

TARGETS: dict[str, tuple[Any, str, DictionaryKind]] = {
    "adverse_events": (AdverseEvent, "term", DictionaryKind.MEDDRA),
    "ogld_doses": (OgldDose, "drug", DictionaryKind.DRUG),
}
"""What is coded: the record, its verbatim field and the dictionary it is coded to."""
MIN_SEARCH_LETTERS = 2
"""Fewest letters a term search needs (one letter would match most of the dictionary)."""
IN_FORCE = (CodingStatus.CURRENT, CodingStatus.NEEDS_REVIEW)
KIND_TEXT = {DictionaryKind.MEDDRA: "MedDRA", DictionaryKind.DRUG: "drug dictionary"}


class DictionaryView(View):
    id: int
    kind: DictionaryKind
    version: str
    language: str
    name: str
    content_sha256: str
    term_count: int
    loaded_by: int | None
    loaded_at: datetime
    recoded: int = 0
    flagged: int = 0
    unchanged: int = 0


class CodingView(RecordView):
    participant_id: int
    target_table: str
    target_id: int
    verbatim: str
    dictionary_version: str
    method: CodingMethod
    status: CodingStatus
    review_reason: str | None
    coded_by: int | None
    coded_at: datetime
    llt_code: int | None
    llt_name: str | None
    pt_code: int | None
    pt_name: str | None
    hlt_code: int | None
    hlt_name: str | None
    hlgt_code: int | None
    hlgt_name: str | None
    soc_code: int | None
    soc_name: str | None
    drug_code: str | None
    drug_name: str | None
    atc_code: str | None
    atc_text: str | None

    @property
    def term(self) -> str:
        return self.llt_name or self.drug_name or ""


class TermView(View):
    """A dictionary entry a coder may pick: an LLT with its path, or a drug with its ATC."""

    code: str
    name: str
    current: bool
    path: str


class QueueItem(View):
    target_table: str
    target_id: int
    participant_id: int
    study_id: str
    verbatim: str
    coding: CodingView | None = None


class AutocodeResult(View):
    coded: int
    left: int
    dictionary_version: str


def _kind(value: DictionaryKind | str) -> DictionaryKind:
    try:
        return DictionaryKind(value)
    except ValueError:
        raise ValidationProblem("kind", f"{value!r} is not one of meddra, drug") from None


def latest_dictionary(session: Session, kind: DictionaryKind) -> CodingDictionary | None:
    query = select(CodingDictionary).where(CodingDictionary.kind == kind)
    return session.scalars(query.order_by(CodingDictionary.id.desc()).limit(1)).first()


def _require_dictionary(session: Session, kind: DictionaryKind) -> CodingDictionary:
    found = latest_dictionary(session, kind)
    if found is None:
        raise RuleViolation(
            "no_dictionary",
            f"no {KIND_TEXT[kind]} release is loaded yet: load one first "
            f"(trialdesk coding load {kind.value} DIR --version X)",
            "kind",
        )
    return found


# --- loading ----------------------------------------------------------------------------


def _read(kind: DictionaryKind, directory: Path) -> MeddraRelease | DrugRelease:
    if not directory.is_dir():
        raise ValidationProblem("directory", f"{directory.name!r} is not a directory")
    try:
        return read_meddra(directory) if kind is DictionaryKind.MEDDRA else read_drugs(directory)
    except DictionaryFormatError as exc:
        raise ValidationProblem("directory", str(exc), rule="dictionary_format") from None


def _term_rows(dictionary_id: int, release: MeddraRelease | DrugRelease) -> list[Any]:
    if isinstance(release, MeddraRelease):
        return [
            MeddraTermRow(dictionary_id=dictionary_id, llt_key=t.key, **vars(t))
            for t in release.terms
        ]
    return [
        DrugTermRow(dictionary_id=dictionary_id, drug_key=t.key, **vars(t)) for t in release.terms
    ]


def _check_new(
    session: Session,
    kind: DictionaryKind,
    release: MeddraRelease | DrugRelease,
    version: str | None,
) -> None:
    if version is not None and version.strip() != release.version:
        raise ValidationProblem(
            "version",
            f"the release files say version {release.version!r}, not {version.strip()!r}",
            rule="version_mismatch",
        )
    same = session.scalars(
        select(CodingDictionary).where(
            CodingDictionary.kind == kind, CodingDictionary.version == release.version
        )
    ).first()
    if same is not None:
        again = "the same files" if same.content_sha256 == release.content_sha256 else "other files"
        raise RuleViolation(
            "dictionary_loaded",
            f"{KIND_TEXT[kind]} {release.version} is already loaded ({again} than these); "
            "nothing was changed",
            "version",
            conflict=True,
        )


@service
def load_dictionary(
    session: Session,
    actor: Actor,
    kind: DictionaryKind | str,
    directory: Path | str,
    *,
    version: str | None = None,
) -> DictionaryView:
    """Store a dictionary release and, for an upgrade, re-check the codings in force."""
    require(actor, Permission.LOAD_DICTIONARY, table="coding_dictionaries")
    what = _kind(kind)
    release = _read(what, Path(directory))
    _check_new(session, what, release, version)
    previous = latest_dictionary(session, what)
    row = CodingDictionary(
        kind=what,
        version=release.version,
        language=getattr(release, "language", "English"),
        name="MedDRA" if what is DictionaryKind.MEDDRA else getattr(release, "name", ""),
        content_sha256=release.content_sha256,
        term_count=len(release.terms),
        loaded_by=actor.user_id,
        loaded_at=utcnow(),
    )
    session.add(row)
    session.flush()
    session.add_all(_term_rows(row.id, release))
    audit.append(
        session,
        audit.NewEntry(
            user_id=actor.user_id,
            action=AuditAction.CREATE,
            table=CodingDictionary.__tablename__,
            record_id=row.id,
            changes={
                "kind": [None, what.value],
                "version": [None, row.version],
                "content_sha256": [None, row.content_sha256],
                "term_count": [None, row.term_count],
            },
        ),
    )
    view = DictionaryView.model_validate(row)
    if previous is not None:
        from trialdesk.services.coding_recode import recode_after_upgrade

        counts = recode_after_upgrade(session, actor, row)
        view = view.model_copy(update=counts)
    return view


@service
def list_dictionaries(session: Session, actor: Actor) -> list[DictionaryView]:
    if not actor.can(Permission.LOAD_DICTIONARY):
        require(actor, Permission.READ_CLINICAL, table="coding_dictionaries")
    rows = session.scalars(select(CodingDictionary).order_by(CodingDictionary.id))
    return [DictionaryView.model_validate(r) for r in rows]


# --- terms --------------------------------------------------------------------------------


def _meddra_view(t: MeddraTermRow) -> TermView:
    return TermView(
        code=str(t.llt_code),
        name=t.llt_name,
        current=t.llt_current,
        path=f"{t.pt_name} › {t.hlt_name} › {t.hlgt_name} › {t.soc_name}",
    )


def _drug_view(t: DrugTermRow) -> TermView:
    return TermView(
        code=t.drug_code, name=t.drug_name, current=True, path=f"{t.atc_code} {t.atc_text}"
    )


@service
def search_terms(
    session: Session, actor: Actor, kind: DictionaryKind | str, text: str, *, limit: int = 20
) -> list[TermView]:
    """Terms of the latest release whose name contains `text` (case-insensitive); current
    terms first, exact matches first among them."""
    require(actor, Permission.CODE_TERMS, table="coding_assignments")
    what = _kind(kind)
    key = normalise(text)
    if len(key) < MIN_SEARCH_LETTERS:
        raise ValidationProblem(
            "text", f"type at least {MIN_SEARCH_LETTERS} letters of the term to search for"
        )
    dictionary = _require_dictionary(session, what)
    like = f"%{key.replace('%', '').replace('_', '')}%"
    if what is DictionaryKind.MEDDRA:
        rows = session.scalars(
            select(MeddraTermRow)
            .where(MeddraTermRow.dictionary_id == dictionary.id, MeddraTermRow.llt_key.like(like))
            .order_by(MeddraTermRow.llt_current.desc(), MeddraTermRow.llt_key != key,
                      MeddraTermRow.llt_key)
            .limit(limit)
        )  # fmt: skip
        return [_meddra_view(r) for r in rows]
    drugs = session.scalars(
        select(DrugTermRow)
        .where(DrugTermRow.dictionary_id == dictionary.id, DrugTermRow.drug_key.like(like))
        .order_by(DrugTermRow.drug_key != key, DrugTermRow.drug_key)
        .limit(limit)
    )
    return [_drug_view(r) for r in drugs]


def find_term(
    session: Session, dictionary: CodingDictionary, code: str
) -> MeddraTermRow | DrugTermRow | None:
    if dictionary.kind is DictionaryKind.MEDDRA:
        if not str(code).strip().isdigit():
            return None
        return session.scalars(
            select(MeddraTermRow).where(
                MeddraTermRow.dictionary_id == dictionary.id,
                MeddraTermRow.llt_code == int(str(code).strip()),
            )
        ).first()
    return session.scalars(
        select(DrugTermRow).where(
            DrugTermRow.dictionary_id == dictionary.id, DrugTermRow.drug_code == str(code).strip()
        )
    ).first()


def exact_matches(
    session: Session, dictionary: CodingDictionary, verbatim: str
) -> list[MeddraTermRow | DrugTermRow]:
    """Current terms named like `verbatim`, else the synonym list's term (if still current)."""
    key = normalise(verbatim)
    found: list[Any]
    if dictionary.kind is DictionaryKind.MEDDRA:
        found = list(
            session.scalars(
                select(MeddraTermRow).where(
                    MeddraTermRow.dictionary_id == dictionary.id,
                    MeddraTermRow.llt_key == key,
                    MeddraTermRow.llt_current.is_(True),
                )
            )
        )
    else:
        found = list(
            session.scalars(
                select(DrugTermRow).where(
                    DrugTermRow.dictionary_id == dictionary.id, DrugTermRow.drug_key == key
                )
            )
        )
    if found:
        return found
    synonym = session.scalars(
        select(CodingSynonym).where(
            CodingSynonym.kind == dictionary.kind, CodingSynonym.verbatim_key == key
        )
    ).first()
    term = None if synonym is None else find_term(session, dictionary, synonym.code)
    if term is None or (isinstance(term, MeddraTermRow) and not term.llt_current):
        return []
    return [term]


# --- assignments --------------------------------------------------------------------------


def coding_view(row: CodingAssignment) -> CodingView:
    return CodingView.model_validate(row)


def in_force(session: Session, target_table: str, target_id: int) -> CodingAssignment | None:
    return session.scalars(
        select(CodingAssignment).where(
            CodingAssignment.target_table == target_table,
            CodingAssignment.target_id == target_id,
            CodingAssignment.status.in_(IN_FORCE),
            CodingAssignment.voided.is_(False),
        )
    ).first()


def term_fields(term: MeddraTermRow | DrugTermRow | MeddraTerm | DrugTerm) -> dict[str, Any]:
    if isinstance(term, MeddraTermRow | MeddraTerm):
        return {
            "llt_code": term.llt_code, "llt_name": term.llt_name,
            "pt_code": term.pt_code, "pt_name": term.pt_name,
            "hlt_code": term.hlt_code, "hlt_name": term.hlt_name,
            "hlgt_code": term.hlgt_code, "hlgt_name": term.hlgt_name,
            "soc_code": term.soc_code, "soc_name": term.soc_name,
        }  # fmt: skip
    return {
        "drug_code": term.drug_code, "drug_name": term.drug_name,
        "atc_code": term.atc_code, "atc_text": term.atc_text,
    }  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class CodingDecision:
    """How a term was chosen (by hand, autocoded) and why: the method is stored with the coding,
    the reason goes to the audit entry of the coding it supersedes (21 CFR 11.10(e));
    `review_reason` says why it was made when a dictionary upgrade made it."""

    method: CodingMethod
    reason: str
    review_reason: str | None = None


# What the autocoder decides: an exact, unique match of the verbatim, taken as it is.
AUTOCODED = CodingDecision(method=CodingMethod.AUTOCODED, reason="autocoded")


@dataclass
class Target:
    table: str
    row: Any
    participant: Participant
    verbatim: str
    kind: DictionaryKind


def get_target(
    session: Session, actor: Actor, target_table: str, target_id: int, permission: Permission
) -> Target:
    if target_table not in TARGETS:
        raise ValidationProblem(
            "target_table", f"{target_table!r} is not coded (adverse events, oral drug doses)"
        )
    model, field, kind = TARGETS[target_table]
    row, participant = get_record(session, actor, model, target_id, permission)
    if row.voided:
        raise not_found(target_table, target_id, participant_id=participant.id)
    return Target(target_table, row, participant, getattr(row, field), kind)


def assign(
    session: Session,
    actor: Actor,
    target: Target,
    dictionary: CodingDictionary,
    term: MeddraTermRow | DrugTermRow | MeddraTerm | DrugTerm,
    *,
    decision: CodingDecision,
) -> CodingAssignment:
    """Add the coding of `target` to `term` of the release `dictionary` (superseding the one
    in force, which is kept)."""
    old = in_force(session, target.table, target.row.id)
    if old is not None:
        change_record(
            session, actor, old, {"status": CodingStatus.SUPERSEDED},
            reason=decision.reason, expected_version=None, participant=target.participant,
        )  # fmt: skip
    row = CodingAssignment(
        participant_id=target.participant.id,
        target_table=target.table,
        target_id=target.row.id,
        verbatim=target.verbatim,
        dictionary_id=dictionary.id,
        dictionary_version=dictionary.version,
        method=decision.method,
        status=CodingStatus.CURRENT,
        review_reason=decision.review_reason,
        coded_by=actor.user_id,
        coded_at=utcnow(),
        **term_fields(term),
    )
    return add_record(session, actor, row, target.participant)


def _remember_synonym(
    session: Session, actor: Actor, kind: DictionaryKind, verbatim: str, *, code: str, name: str
) -> None:
    key = normalise(verbatim)
    if key == normalise(name):
        return
    row = session.scalars(
        select(CodingSynonym).where(CodingSynonym.kind == kind, CodingSynonym.verbatim_key == key)
    ).first()
    old = None if row is None else row.code
    if row is None:
        row = CodingSynonym(kind=kind, verbatim_key=key, code=code, created_by=actor.user_id)
        session.add(row)
    elif row.code == code:
        return
    row.code = code
    session.flush()
    audit.append(
        session,
        audit.NewEntry(
            user_id=actor.user_id,
            action=AuditAction.CREATE if old is None else AuditAction.UPDATE,
            table=CodingSynonym.__tablename__,
            record_id=row.id,
            changes={"verbatim_key": [None, key], "code": [old, code]},
        ),
    )


@service
def code_manually(
    session: Session,
    actor: Actor,
    target_table: str,
    target_id: int,
    *,
    code: str | int,
    reason: str | None = None,
) -> CodingView:
    """Code a record's verbatim to the term `code` of the latest release (an LLT code for an
    adverse event, a drug code for a medication). Replacing a coding needs a reason."""
    target = get_target(session, actor, target_table, target_id, Permission.READ_CLINICAL)
    require(
        actor, Permission.CODE_TERMS, table=target_table, record_id=target_id,
        site_id=target.participant.site_id, participant_id=target.participant.id,
    )  # fmt: skip
    dictionary = _require_dictionary(session, target.kind)
    term = find_term(session, dictionary, str(code))
    if term is None:
        raise ValidationProblem(
            "code", f"{code} is not a term of {KIND_TEXT[target.kind]} {dictionary.version}"
        )
    if isinstance(term, MeddraTermRow) and not term.llt_current:
        raise ValidationProblem(
            "code",
            f"{term.llt_name} ({term.llt_code}) is a non-current term of MedDRA "
            f"{dictionary.version}: choose a current one",
            rule="non_current_term",
        )
    why = (reason or "").strip()
    if in_force(session, target_table, target_id) is not None and not why:
        raise ValidationProblem(
            "reason", "a reason is required to replace a coding", rule="reason_required"
        )
    decision = CodingDecision(method=CodingMethod.MANUAL, reason=why or "coded by hand")
    row = assign(session, actor, target, dictionary, term, decision=decision)
    name = term.llt_name if isinstance(term, MeddraTermRow) else term.drug_name
    _remember_synonym(
        session, actor, target.kind, target.verbatim, code=str(code).strip(), name=name
    )
    return coding_view(row)


def _uncoded(session: Session, actor: Actor, table: str) -> list[tuple[Any, Participant]]:
    model, _field, _kind = TARGETS[table]
    coded = select(CodingAssignment.target_id).where(
        CodingAssignment.target_table == table,
        CodingAssignment.status.in_(IN_FORCE),
        CodingAssignment.voided.is_(False),
    )
    query = (
        select(model, Participant)
        .join(Participant, Participant.id == model.participant_id)
        .where(
            Participant.site_id.in_(actor.site_ids),
            model.voided.is_(False),
            model.id.not_in(coded),
        )
        .order_by(Participant.study_id, model.id)
    )
    return [(r, p) for r, p in session.execute(query)]


@service
def autocode(
    session: Session, actor: Actor, kind: DictionaryKind | str = "meddra"
) -> AutocodeResult:
    """Code every uncoded verbatim at the actor's sites that matches exactly one term."""
    what = _kind(kind)
    require(actor, Permission.CODE_TERMS, table="coding_assignments")
    dictionary = _require_dictionary(session, what)
    coded = left = 0
    for table, (_model, field, table_kind) in TARGETS.items():
        if table_kind is not what:
            continue
        for row, participant in _uncoded(session, actor, table):
            verbatim = getattr(row, field)
            matches = exact_matches(session, dictionary, verbatim)
            if len(matches) != 1:
                left += 1
                continue
            target = Target(table, row, participant, verbatim, what)
            assign(session, actor, target, dictionary, matches[0], decision=AUTOCODED)
            coded += 1
    return AutocodeResult(coded=coded, left=left, dictionary_version=dictionary.version)


@service
def coding_queue(
    session: Session, actor: Actor, kind: DictionaryKind | str = "meddra"
) -> list[QueueItem]:
    """Verbatims at the actor's sites with no coding in force (oldest participant first)."""
    what = _kind(kind)
    require(actor, Permission.CODE_TERMS, table="coding_assignments")
    items = []
    for table, (_model, field, table_kind) in TARGETS.items():
        if table_kind is what:
            items += [
                QueueItem(target_table=table, target_id=row.id, participant_id=p.id,
                          study_id=p.study_id, verbatim=getattr(row, field))
                for row, p in _uncoded(session, actor, table)
            ]  # fmt: skip
    return items


@service
def review_queue(
    session: Session, actor: Actor, kind: DictionaryKind | str = "meddra"
) -> list[QueueItem]:
    """Codings a dictionary upgrade flagged for review (term made non-current, path moved)."""
    what = _kind(kind)
    require(actor, Permission.CODE_TERMS, table="coding_assignments")
    tables = [t for t, (_m, _f, k) in TARGETS.items() if k is what]
    rows = session.execute(
        select(CodingAssignment, Participant)
        .join(Participant, Participant.id == CodingAssignment.participant_id)
        .where(
            Participant.site_id.in_(actor.site_ids),
            CodingAssignment.target_table.in_(tables),
            CodingAssignment.status == CodingStatus.NEEDS_REVIEW,
            CodingAssignment.voided.is_(False),
        )
        .order_by(Participant.study_id, CodingAssignment.id)
    )
    return [
        QueueItem(target_table=a.target_table, target_id=a.target_id, participant_id=p.id,
                  study_id=p.study_id, verbatim=a.verbatim, coding=coding_view(a))
        for a, p in rows
    ]  # fmt: skip


@service
def get_coding(
    session: Session, actor: Actor, target_table: str, target_id: int
) -> CodingView | None:
    """The coding in force of a record (None: not coded yet)."""
    get_target(session, actor, target_table, target_id, Permission.READ_CLINICAL)
    row = in_force(session, target_table, target_id)
    return None if row is None else coding_view(row)


@service
def coding_history(
    session: Session, actor: Actor, target_table: str, target_id: int
) -> list[CodingView]:
    """Every coding a record has had, the oldest first (superseded and cleared ones kept)."""
    get_target(session, actor, target_table, target_id, Permission.READ_CLINICAL)
    rows = session.scalars(
        select(CodingAssignment)
        .where(CodingAssignment.target_table == target_table,
               CodingAssignment.target_id == target_id)
        .order_by(CodingAssignment.id)
    )  # fmt: skip
    return [coding_view(r) for r in rows]


def clear_coding_after_write(
    session: Session,
    actor: Actor,
    row: Any,
    *,
    changes: Mapping[str, list[Any]] | None,
    reason: str,
    participant: Any | None,
) -> None:
    """A changed verbatim clears the coding in force (it coded other words), in the same
    transaction, with the change's reason; the coding is kept, status cleared."""
    table = getattr(row, "__tablename__", "")
    if table not in TARGETS or not changes:
        return
    field = TARGETS[table][1]
    if field not in changes:
        return
    old = in_force(session, table, row.id)
    if old is None:
        return
    change_record(
        session, actor, old,
        {"status": CodingStatus.CLEARED,
         "review_reason": f"the {field} changed after coding: {reason}"},
        reason=f"the {field} changed after coding: {reason}",
        expected_version=None, participant=participant,
    )  # fmt: skip
