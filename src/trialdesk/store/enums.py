"""Controlled terminology stored in the study database (values are what the columns hold).

Terms follow the standards clinicians and data managers already use:

* AE outcome and action taken: CDISC SDTM controlled terminology (codelists OUT and ACN);
* relatedness: the five-point causality scale commonly used on CRFs (WHO-UMC style wording);
* seriousness: the six ICH E2A criteria (CPMP/ICH/377/95, section II.B), stored as one boolean
  column each, as SDTM AE does (AESDTH, AESLIFE, AESHOSP, AESDISAB, AESCONG, AESMIE).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # manages users and sites; sees no clinical data by this role alone
    INVESTIGATOR = "investigator"  # writes clinical data, overrides the cap, signs off
    COORDINATOR = "coordinator"  # writes clinical data at their sites
    MONITOR = "monitor"  # reads, raises and closes queries; changes no data
    STATISTICIAN = "statistician"  # reads de-identified data only
    CODER = "coder"  # codes AE terms and medications to the dictionaries; edits no data


class TokenKind(StrEnum):
    API = "api"  # bearer token for the REST API
    SESSION = "session"  # browser session of the web UI


class ParticipantStatus(StrEnum):
    SCREENING = "screening"
    SCREEN_FAILED = "screen_failed"
    ENROLLED = "enrolled"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    DIED = "died"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"


class StudyEndReason(StrEnum):
    """Why a participant's participation ended (cf. SDTM DS decoded terms)."""

    COMPLETED = "completed"
    WITHDRAWAL_BY_SUBJECT = "withdrawal_by_subject"
    DEATH = "death"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"
    ADVERSE_EVENT = "adverse_event"
    PHYSICIAN_DECISION = "physician_decision"
    SCREEN_FAILURE = "screen_failure"


class ScreeningStatus(StrEnum):
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    INCOMPLETE = "incomplete"


class VisitStatus(StrEnum):
    DONE = "done"
    MISSED = "missed"


class Relatedness(StrEnum):
    NOT_RELATED = "not_related"
    UNLIKELY = "unlikely"
    POSSIBLE = "possible"
    PROBABLE = "probable"
    DEFINITE = "definite"


class AeOutcome(StrEnum):
    """CDISC SDTM codelist OUT (C66768)."""

    RECOVERED = "recovered/resolved"
    RECOVERING = "recovering/resolving"
    NOT_RECOVERED = "not recovered/not resolved"
    RECOVERED_WITH_SEQUELAE = "recovered/resolved with sequelae"
    FATAL = "fatal"
    UNKNOWN = "unknown"


class AeAction(StrEnum):
    """CDISC SDTM codelist ACN (C66767), action taken with the study treatment."""

    DOSE_NOT_CHANGED = "dose not changed"
    DRUG_INTERRUPTED = "drug interrupted"
    DRUG_WITHDRAWN = "drug withdrawn"
    DOSE_REDUCED = "dose reduced"
    DOSE_INCREASED = "dose increased"
    NOT_APPLICABLE = "not applicable"  # e.g. after the single infusion was given
    UNKNOWN = "unknown"


class DeviationCategory(StrEnum):
    VISIT_WINDOW = "visit_window"  # raised automatically from the schedule of assessments
    ELIGIBILITY = "eligibility"
    CONSENT = "consent"
    TREATMENT = "treatment"
    PROCEDURE = "procedure"
    OTHER = "other"


class DeviationSeverity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"


class QueryStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class QueryOrigin(StrEnum):
    MANUAL = "manual"  # raised by a person (monitor, investigator)
    EDIT_CHECK = "edit_check"  # raised automatically by a soft-limit edit check


class CellSource(StrEnum):
    UMBILICAL_CORD = "umbilical_cord"
    BONE_MARROW = "bone_marrow"
    ADIPOSE = "adipose"
    PLACENTA = "placenta"
    OTHER = "other"


class Route(StrEnum):
    INTRAVENOUS = "intravenous"
    INTRA_ARTERIAL = "intra_arterial"  # e.g. pancreatic artery, as in some T2DM MSC trials
    INTRAMUSCULAR = "intramuscular"
    SUBCUTANEOUS = "subcutaneous"
    OTHER = "other"


class AuditAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    VOID = "void"
    REFUSE = "refuse"  # an access refusal (403/404): who tried what
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    SIGN = "sign"  # an electronic signature (21 CFR 11.50)


class ScreeningDeclineOutcome(StrEnum):
    """Why a candidate approached for screening did not go on to be screened (CONSORT 2010
    flow diagram, "Excluded: declined to participate / other reasons")."""

    DECLINED = "declined"  # the candidate declined to take part
    NOT_CONSENTED = "not_consented"  # consent could not be obtained (e.g. capacity, no LAR)


class ScreeningDeclineReason(StrEnum):
    """The reason category a site gives; free text beside it says the rest."""

    VISIT_BURDEN = "visit_burden"  # visits, travel or time off work
    PROCEDURE_CONCERNS = "procedure_concerns"  # bone-marrow harvest, infusion, stem cells
    FAMILY_OR_PHYSICIAN_ADVICE = "family_or_physician_advice"
    NO_REASON_GIVEN = "no_reason_given"
    UNABLE_TO_CONSENT = "unable_to_consent"  # lacks capacity, language, no representative
    OTHER = "other"


class FormStatus(StrEnum):
    """A form's status per participant and visit, as REDCap's "Complete?" field: Incomplete
    (0), Unverified (1), Complete (2) (REDCap's ``<form>_complete`` field)."""

    INCOMPLETE = "incomplete"
    UNVERIFIED = "unverified"
    COMPLETE = "complete"


class SdvKind(StrEnum):
    """What a monitor's mark on a field or form says (ICH E6(R2) 5.18.4 (m)): the value was
    checked against the source document (source-data verification, SDV), or the data were
    reviewed for consistency and protocol compliance without a source (source-data review)."""

    VERIFIED = "verified"
    REVIEWED = "reviewed"


class DictionaryKind(StrEnum):
    """The coding dictionaries a sponsor loads (issue 14)."""

    MEDDRA = "meddra"  # MedDRA, adverse event terms
    DRUG = "drug"  # the drug dictionary (WHODrug-style, ATC classes)


class CodingMethod(StrEnum):
    AUTOCODED = "autocoded"  # exact match on a current term's name or on the study's synonym list
    MANUAL = "manual"  # a coder chose the term


class CodingStatus(StrEnum):
    CURRENT = "current"  # the coding in force
    NEEDS_REVIEW = "needs_review"  # in force, but a dictionary upgrade changed its term or path
    SUPERSEDED = "superseded"  # replaced by a later coding (kept for the history)
    CLEARED = "cleared"  # the verbatim changed after coding: the term must be coded again


class AssessmentSubject(StrEnum):
    """What an investigator's safety judgement is about (issue 14): causality and expectedness
    together (ICH E2A II.A.2, II.C), or the CTCAE v5.0 severity grade."""

    CAUSALITY = "causality"
    GRADE = "grade"


class AssessmentStep(StrEnum):
    """A coordinator may propose; only an investigator confirms (ICH E6(R3) Annex 1 §2.7.2(b):
    the investigator's assessment of causality)."""

    PROPOSED = "proposed"
    CONFIRMED = "confirmed"


class SafetyReportKind(StrEnum):
    """A report of a serious adverse event from the site to the sponsor: the initial one, then
    follow-ups with new information (ICH E6(R3) Annex 1 §2.7.2(b))."""

    INITIAL = "initial"
    FOLLOW_UP = "follow_up"


class LockScope(StrEnum):
    """How much a data lock freezes (issue 14): one form of one visit of one participant, a
    participant's whole casebook, or the whole study (the database lock before analysis;
    CDISC CDASH/ICH E6(R3) call it "database lock")."""

    FORM = "form"
    PARTICIPANT = "participant"
    STUDY = "study"
