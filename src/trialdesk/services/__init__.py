"""Use cases of the trial: the one place where the trial's rules are enforced.

The API, the web pages, the simulator and the importers all call these functions, so they all
obey the same rules and leave the same audit trail.

Calling convention
------------------
Every use case is ``fn(session, actor, ...) -> View`` where

* `session` is a SQLAlchemy `Session` (``trialdesk.store.make_session_factory(engine)()``);
  the use case is **one transaction**: it commits on success and rolls back on any error
  (a use case called from inside another joins the outer transaction);
* `actor` is the `Actor` acting (user id, roles, site ids): `authenticate`, `resolve_token` or
  `actor_for` give one; `SYSTEM` is the command line (an administrator without sites);
* keyword arguments carry the data; dates are `datetime.date`, quantities a value plus a unit;
* the result is a pydantic view (`trialdesk.services.views`), detached from the session; lists
  are a `Page` (``items``, ``total``, ``limit``, ``offset``) or a plain list per participant.

Changing a record needs ``expected_version`` (the `version` of the view you read; an ETag) and a
``reason``; voiding replaces deletion (`void_clinical_record`). Every write appends field-level
old → new audit entries in the same transaction (`trialdesk.store.audit`).

Errors (`trialdesk.services.errors`), each with a stable ``rule`` code, a ``message`` naming the
field or rule, ``field`` and ``status`` (the HTTP status to answer with):

=====================  ======  =============================================================
`ValidationProblem`    422     a value is unacceptable (``hard_limit``, ``reason_required`` …)
`RuleViolation`        422/409 a trial rule forbids it (``enrollment_requires_consent``,
                               ``consent_withdrawn``, ``enrollment_target_reached`` …)
`NotFound`             404     no such record, or another site's (audited)
`Forbidden`            403     the role does not allow it (audited)
`StaleVersion`         409     changed by someone else since read; nothing was changed
`Unauthenticated`      401     login or token refused
`DataLocked`           423     the data are locked (form, participant or study: `locks`)
=====================  ======  =============================================================

Rules enforced
--------------
* Site scoping: users see only their sites' participants; other sites' records are `NotFound`.
* Roles: coordinator/investigator write clinical data; monitor reads and raises/closes queries;
  statistician reads de-identified data only; investigator alone overrides the enrollment
  target and signs; admin manages users and sites (`trialdesk.services.actor`).
* Consent before any trial data; after withdrawal no data dated later (`access`).
* Enrollment needs consent and an eligible latest screening; at most the protocol's target (24)
  unless an investigator overrides with a reason (`enrollment`).
* Edit checks from the catalogue: hard limits refuse, soft limits store and raise a query
  (`editchecks`); visits outside their window become protocol deviations (`visits`).
* A serious AE must be reported to the sponsor within 24 h of the site's awareness; only a SUSAR
  (confirmed by an investigator) gets the ICH E2A expedited-report due date, 7 or 15 calendar
  days from the sponsor's first knowledge (`safety`, `safety_reporting`: reports sent,
  causality proposed/confirmed, CTCAE grade confirmed, grades suggested from laboratory values).

Use cases
---------
Accounts: `create_site`, `list_sites`, `create_user`, `get_user`, `list_users`, `update_user`,
`set_password`, `authenticate`, `login`, `issue_token`, `resolve_token`, `revoke_token`,
`actor_for`.
Participants: `register_participant`, `get_participant`, `find_participant`,
`list_participants`, `get_identity`, `update_identity`, `update_participant`,
`end_participation`, `void_participant`.
Consent: `record_consent`, `update_consent`, `withdraw_consent`, `list_consents`,
`list_reconsent_due` (participants who signed an earlier form than the protocol version in
force requires).
Protocol versions: `set_up_protocol`, `register_amendment`, `list_protocol_versions`,
`check_protocol_file` (refuses a file that is not a registered version).
Screening: `screen_participant`, `save_screening` (a whole `ScreeningEntry`: findings,
measurements and ITT as entered, at once), `register_and_screen` (a new candidate registered,
consented and screened at once), `record_screening_data` (a ``trialdesk screen`` row at once),
`evaluate_eligibility`, `list_screenings`, `update_screening` (findings corrected, judged again).
Enrollment: `enroll_participant`, `get_enrollment`, `enrollment_summary`.
Visits: `record_visit`, `record_missed_visit`, `update_visit`, `list_visits`, `visit_calendar`;
`add_unscheduled_visit` (a visit outside the schedule, no window).
Data: `record_measurement` (a `VisitMeasurement`), `update_measurement` (with
`MeasurementChanges`), `get_measurement`, `list_measurements` (a `MeasurementFilter` and a
`paging.Page`), `record_itt_test` (`IttTestEntry`), `update_itt_test` (`IttTestChanges`),
`list_itt_tests`, `record_insulin_dose` (`InsulinDoseEntry`), `update_insulin_dose`
(`InsulinDoseChanges`), `list_insulin_doses`, `record_ogld_dose` (`OgldDoseEntry`),
`update_ogld_dose` (`OgldDoseChanges`), `list_ogld_doses`, `record_transplantation`
(`TransplantationEntry`), `update_transplantation`, `list_transplantations`. The form types
live in `services.crf_entries`, one per case report form.
Safety: `report_adverse_event` (an `AdverseEventReport`), `update_adverse_event` (with
`AdverseEventChanges`), `get_adverse_event`,
`list_adverse_events`, `record_deviation` (`DeviationEntry`), `update_deviation` (classify,
explain: `DeviationChanges`), `review_deviation` (investigator sign-off), `list_deviations`
(`DeviationFilter`).
Site log and settings: `log_screening_decline` (a `ScreeningLogEntry`),
`list_screening_declines` (candidates who declined or were not consented),
`set_site_time_zone`, `check_visit_window`.
Queries: `raise_query`, `answer_query`, `close_query`, `reopen_query`, `get_query`,
`list_queries`.
Pre-screening log (EHR candidates before consent, pseudonymous EHR key only):
`record_prescreen_run`, `check_prescreen_run_allowed`, `list_prescreen_runs`,
`list_prescreen_candidates`, `get_prescreen_candidate`, `mark_candidate` (invite / decline),
`link_candidate_to_participant` (candidate → screening visit), `void_prescreen_run`,
`prescreen_candidate_history`.
Records and audit: `get_clinical_record` (any record by table and id),
`void_clinical_record`, `record_history`, `participant_history`, `verify_audit_trail`,
`sign_casebook`, `list_signatures`.
Provenance: `mark_simulated` (the simulator marks its database, audited, for good),
`data_provenance` (the mark every report and export prints).
Visit pages: `save_visit_forms` (every block of a visit at once, all or nothing, saying what it
raised), `set_form_status`, `list_form_statuses` (REDCap-style Incomplete / Unverified /
Complete), `save_and_report` (any save, with the queries, deviations and SAE clocks it raised).
Monitoring (issue 14): `record_status_grid` (participants × scheduled forms, one status each),
`mark_source_data`, `list_sdv_marks` (SDV and review marks, cleared by a later change),
`sdv_progress`, `participant_sdv_plan` (risk-based selection, `services.sdv_plan`).
Medical coding (issue 14, `services.coding`): `load_dictionary` (MedDRA / drug dictionary
release; an upgrade re-checks the codings in force, `services.coding_recode`), `autocode`,
`code_manually`, `search_terms`, `coding_queue`, `review_queue`, `get_coding`,
`coding_history`, `list_dictionaries`.
"""

from trialdesk.services.accounts import (
    AccountChange,
    actor_for,
    authenticate,
    create_site,
    create_user,
    find_user,
    get_user,
    issue_token,
    list_sites,
    list_users,
    login,
    reset_password,
    reset_totp,
    resolve_token,
    revoke_token,
    set_password,
    unlock_user,
    update_user,
)
from trialdesk.services.actor import SYSTEM, Actor, Permission
from trialdesk.services.adverse_event_fields import AdverseEventChanges, AdverseEventReport
from trialdesk.services.coding import (
    autocode,
    code_manually,
    coding_history,
    coding_queue,
    get_coding,
    list_dictionaries,
    load_dictionary,
    review_queue,
    search_terms,
)
from trialdesk.services.consent import (
    list_consents,
    record_consent,
    update_consent,
    withdraw_consent,
)
from trialdesk.services.consequences import save_and_report
from trialdesk.services.crf_entries import (
    DeviationChanges,
    DeviationEntry,
    DeviationFilter,
    InsulinDoseChanges,
    InsulinDoseEntry,
    IttTestChanges,
    IttTestEntry,
    MeasurementChanges,
    MeasurementFilter,
    OgldDoseChanges,
    OgldDoseEntry,
    Registration,
    ScreeningLogEntry,
    TransplantationEntry,
    VisitChanges,
    VisitMeasurement,
)
from trialdesk.services.deviations import (
    list_deviations,
    record_deviation,
    review_deviation,
    update_deviation,
)
from trialdesk.services.dosing import (
    list_insulin_doses,
    list_ogld_doses,
    record_insulin_dose,
    record_ogld_dose,
    update_insulin_dose,
    update_ogld_dose,
)
from trialdesk.services.enrollment import enroll_participant, enrollment_summary, get_enrollment
from trialdesk.services.errors import (
    AccessRefused,
    DataLocked,
    Forbidden,
    NotFound,
    RuleViolation,
    ServiceError,
    StaleVersion,
    Unauthenticated,
    ValidationProblem,
)
from trialdesk.services.form_status import list_form_statuses, set_form_status
from trialdesk.services.itt import list_itt_tests, record_itt_test, update_itt_test
from trialdesk.services.locks import (
    list_locks,
    lock_form,
    lock_participant,
    lock_study,
    unlock,
    write_block,
)
from trialdesk.services.measurements import (
    get_measurement,
    list_measurements,
    record_measurement,
    update_measurement,
)
from trialdesk.services.participants import (
    IdentityCorrection,
    end_participation,
    find_participant,
    get_identity,
    get_participant,
    list_participants,
    register_participant,
    update_identity,
    update_participant,
)
from trialdesk.services.prescreening import (
    CandidateAction,
    check_prescreen_run_allowed,
    get_prescreen_candidate,
    link_candidate_to_participant,
    list_prescreen_candidates,
    list_prescreen_runs,
    mark_candidate,
    prescreen_candidate_history,
    record_prescreen_run,
    void_prescreen_run,
)
from trialdesk.services.prescreening_entries import (
    CandidateRow,
    CriterionOutcome,
    PrescreenCandidateView,
    PrescreenRunView,
)
from trialdesk.services.protocol_versions import (
    check_protocol_file,
    list_protocol_versions,
    list_reconsent_due,
    register_amendment,
    set_up_protocol,
)
from trialdesk.services.provenance import (
    data_provenance,
    mark_simulated,
    record_imported_provenance,
)
from trialdesk.services.queries import (
    answer_query,
    close_query,
    get_query,
    list_queries,
    raise_query,
    reopen_query,
)
from trialdesk.services.record_grid import record_status_grid
from trialdesk.services.records import (
    get_clinical_record,
    participant_history,
    record_history,
    verify_audit_trail,
    void_clinical_record,
    void_participant,
)
from trialdesk.services.safety import (
    expedited_report_due,
    get_adverse_event,
    list_adverse_events,
    report_adverse_event,
    update_adverse_event,
)
from trialdesk.services.safety_reporting import (
    confirm_causality,
    confirm_grade,
    lab_grade_suggestions,
    open_safety_clocks,
    propose_causality,
    record_safety_report,
    safety_status,
)
from trialdesk.services.screening import (
    CandidateRegistration,
    CandidateScreeningEntry,
    ConsentEntry,
    EntryProblem,
    IttEntry,
    IttSampleEntry,
    MeasurementEntry,
    MissingEntry,
    ScreeningEntry,
    evaluate_eligibility,
    list_screenings,
    record_screening_data,
    register_and_screen,
    save_screening,
    screen_participant,
)
from trialdesk.services.screening_correction import update_screening
from trialdesk.services.screening_declines import (
    list_screening_declines,
    log_screening_decline,
)
from trialdesk.services.sdv import list_sdv_marks, mark_source_data
from trialdesk.services.sdv_progress import participant_sdv_plan, sdv_progress
from trialdesk.services.security_policy import (
    PolicySettings,
    PolicyView,
    get_security_policy,
    set_security_policy,
)
from trialdesk.services.signin import (
    LoginStep,
    change_initial_password,
    confirm_totp_enrolment,
    login_progress,
    start_login,
    start_totp_enrolment,
    submit_code,
)
from trialdesk.services.signoff import (
    list_signatures,
    sign_casebook,
    signature_state,
)
from trialdesk.services.sites import set_site_time_zone
from trialdesk.services.transplantation import (
    list_transplantations,
    record_transplantation,
    update_transplantation,
)
from trialdesk.services.visit_forms import (
    EnteredMeanwhile,
    VisitFormProblems,
    VisitFormsEntry,
    VisitIttEntry,
    VisitValue,
    save_visit_forms,
)
from trialdesk.services.visits import (
    add_unscheduled_visit,
    list_visits,
    record_missed_visit,
    record_visit,
    update_visit,
    visit_calendar,
)
from trialdesk.services.windows import check_visit_window
from trialdesk.store.enums import Role

__all__ = [
    "DataLocked",
    "list_locks",
    "lock_form",
    "lock_participant",
    "lock_study",
    "unlock",
    "write_block",
    "signature_state",
    "SYSTEM",
    "AccessRefused",
    "Actor",
    "CandidateRegistration",
    "CandidateScreeningEntry",
    "ConsentEntry",
    "EntryProblem",
    "Forbidden",
    "IttEntry",
    "IttSampleEntry",
    "MeasurementEntry",
    "MissingEntry",
    "NotFound",
    "Permission",
    "Role",
    "RuleViolation",
    "ScreeningEntry",
    "ServiceError",
    "StaleVersion",
    "Unauthenticated",
    "ValidationProblem",
    "actor_for",
    "answer_query",
    "autocode",
    "code_manually",
    "coding_history",
    "coding_queue",
    "get_coding",
    "list_dictionaries",
    "load_dictionary",
    "review_queue",
    "search_terms",
    "authenticate",
    "close_query",
    "create_site",
    "create_user",
    "end_participation",
    "enroll_participant",
    "enrollment_summary",
    "evaluate_eligibility",
    "expedited_report_due",
    "find_participant",
    "get_adverse_event",
    "get_clinical_record",
    "get_enrollment",
    "get_identity",
    "get_measurement",
    "get_participant",
    "get_query",
    "get_user",
    "issue_token",
    "list_adverse_events",
    "list_consents",
    "list_deviations",
    "list_insulin_doses",
    "list_itt_tests",
    "list_measurements",
    "list_ogld_doses",
    "list_participants",
    "list_queries",
    "list_screenings",
    "list_signatures",
    "list_sites",
    "list_transplantations",
    "list_users",
    "list_visits",
    "login",
    "find_user",
    "reset_password",
    "reset_totp",
    "unlock_user",
    "LoginStep",
    "change_initial_password",
    "confirm_totp_enrolment",
    "login_progress",
    "start_login",
    "start_totp_enrolment",
    "submit_code",
    "PolicyView",
    "get_security_policy",
    "set_security_policy",
    "PolicySettings",
    "participant_history",
    "raise_query",
    "record_consent",
    "register_amendment",
    "set_up_protocol",
    "check_protocol_file",
    "list_protocol_versions",
    "list_reconsent_due",
    "record_deviation",
    "record_history",
    "record_insulin_dose",
    "record_itt_test",
    "record_measurement",
    "add_unscheduled_visit",
    "record_missed_visit",
    "record_ogld_dose",
    "record_screening_data",
    "record_transplantation",
    "record_visit",
    "register_and_screen",
    "register_participant",
    "reopen_query",
    "report_adverse_event",
    "AdverseEventReport",
    "DeviationChanges",
    "DeviationEntry",
    "DeviationFilter",
    "InsulinDoseChanges",
    "InsulinDoseEntry",
    "IttTestChanges",
    "IttTestEntry",
    "MeasurementChanges",
    "VisitMeasurement",
    "MeasurementFilter",
    "OgldDoseChanges",
    "OgldDoseEntry",
    "Registration",
    "ScreeningLogEntry",
    "TransplantationEntry",
    "VisitChanges",
    "AdverseEventChanges",
    "confirm_causality",
    "confirm_grade",
    "lab_grade_suggestions",
    "open_safety_clocks",
    "propose_causality",
    "record_safety_report",
    "safety_status",
    "resolve_token",
    "revoke_token",
    "save_screening",
    "screen_participant",
    "set_password",
    "sign_casebook",
    "update_adverse_event",
    "update_deviation",
    "update_identity",
    "AccountChange",
    "IdentityCorrection",
    "update_insulin_dose",
    "update_itt_test",
    "update_measurement",
    "update_ogld_dose",
    "update_participant",
    "update_transplantation",
    "update_user",
    "verify_audit_trail",
    "update_visit",
    "visit_calendar",
    "void_clinical_record",
    "void_participant",
    "withdraw_consent",
    "CandidateAction",
    "CandidateRow",
    "CriterionOutcome",
    "PrescreenCandidateView",
    "PrescreenRunView",
    "check_prescreen_run_allowed",
    "get_prescreen_candidate",
    "link_candidate_to_participant",
    "list_prescreen_candidates",
    "list_prescreen_runs",
    "mark_candidate",
    "prescreen_candidate_history",
    "record_prescreen_run",
    "void_prescreen_run",
    "data_provenance",
    "record_imported_provenance",
    "mark_simulated",
    "check_visit_window",
    "list_screening_declines",
    "log_screening_decline",
    "review_deviation",
    "set_site_time_zone",
    "EnteredMeanwhile",
    "VisitFormProblems",
    "VisitFormsEntry",
    "VisitIttEntry",
    "VisitValue",
    "list_form_statuses",
    "save_and_report",
    "save_visit_forms",
    "set_form_status",
    "update_consent",
    "update_screening",
    "list_sdv_marks",
    "mark_source_data",
    "participant_sdv_plan",
    "record_status_grid",
    "sdv_progress",
]
