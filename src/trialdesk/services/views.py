"""What services return: plain pydantic models, detached from the database session.

Every clinical view carries `id` and `version` (the optimistic lock: send it back as
`expected_version`, e.g. from an HTTP ETag / If-Match) plus the void status. Lists come as a
`Page` (items, total, limit, offset).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from trialdesk.store.enums import (
    AeAction,
    AeOutcome,
    AssessmentStep,
    AssessmentSubject,
    CellSource,
    DeviationCategory,
    DeviationSeverity,
    ParticipantStatus,
    QueryOrigin,
    QueryStatus,
    Relatedness,
    Role,
    Route,
    SafetyReportKind,
    ScreeningDeclineOutcome,
    ScreeningDeclineReason,
    ScreeningStatus,
    StudyEndReason,
    TokenKind,
    VisitStatus,
)

T = TypeVar("T")


class View(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="Number of matching records (all pages)")
    limit: int
    offset: int


class RecordView(View):
    id: int
    version: int
    voided: bool
    void_reason: str | None = None
    voided_at: datetime | None = None
    voided_by: int | None = None
    created_at: datetime
    created_by: int | None = None
    updated_at: datetime | None = None
    updated_by: int | None = None


class SiteView(View):
    id: int
    code: str
    name: str
    city: str
    country: str
    active: bool
    time_zone: str = "UTC"
    version: int


class UserView(View):
    id: int
    username: str
    full_name: str
    email: str | None
    active: bool
    roles: list[Role]
    site_codes: list[str]
    last_login_at: datetime | None
    locked_until: datetime | None = None
    must_change_password: bool = False
    totp_enrolled: bool = False
    version: int


class IssuedToken(View):
    """A new bearer token: `token` is shown once and stored only as a hash."""

    token: str
    token_id: int
    kind: TokenKind
    user_id: int
    expires_at: datetime


class ParticipantView(RecordView):
    study_id: str
    site_id: int
    site_code: str
    sex: str | None
    status: ParticipantStatus
    registered_on: date
    ended_on: date | None
    end_reason: StudyEndReason | None


class IdentityView(RecordView):
    participant_id: int
    full_name: str
    date_of_birth: date
    medical_record_number: str | None
    phone: str | None
    email: str | None
    address: str | None


class ConsentView(RecordView):
    participant_id: int
    form_version: str
    consented_on: date
    obtained_by: int
    withdrawn_on: date | None
    withdrawal_reason: str | None
    protocol_version: str | None = Field(None, description="Protocol version in force that day")


class ScreeningView(RecordView):
    participant_id: int
    screened_on: date
    protocol_id: str
    protocol_version: str | None = Field(None, description="Protocol version judged under")
    status: ScreeningStatus
    findings: dict[str, Any]
    result: dict[str, Any] = Field(description="EligibilityResult.to_dict() snapshot")


class EligibilityView(View):
    """An evaluation from stored data (not saved): status and the per-criterion snapshot."""

    participant_id: int
    study_id: str
    evaluated_on: date
    status: ScreeningStatus
    result: dict[str, Any]
    record: dict[str, Any] = Field(description="The raw record given to the Evaluator")


class EnrollmentView(RecordView):
    participant_id: int
    enrolled_on: date
    arm_code: str
    screening_id: int
    consent_id: int
    over_target: bool
    override_reason: str | None


class VisitView(RecordView):
    participant_id: int
    code: str
    name: str
    status: VisitStatus
    visit_date: date | None
    study_day: int | None = Field(None, description="Days from baseline (day 0), if known")
    notes: str | None
    protocol_version: str | None = Field(None, description="Protocol version in force that day")
    unscheduled: bool = Field(False, description="Outside the schedule (code e.g. M3.U01)")
    unscheduled_reason: str | None = None


class MeasurementView(RecordView):
    participant_id: int
    visit_id: int
    visit_code: str
    element: str
    label: str
    value_as_entered: str
    unit_as_entered: str | None
    value: float | None
    unit: str | None
    text_value: str | None
    loinc: str | None
    collected_on: date
    limit_flag: str | None = Field(
        None, description="'low'/'high' when outside the catalogue's soft limits"
    )
    missing_code: str | None = Field(
        None, description="Why there is no value: REDCap/HL7 NullFlavor code (e.g. ND, NA, UNK)"
    )
    missing_reason: str | None = Field(None, description="The site's reason for the missing value")
    missing_label: str | None = Field(None, description="The missing-data code in words")


class IttSampleView(View):
    minute: float
    glucose_as_entered: float
    glucose_mmol_l: float


class IttCodedSampleView(View):
    """A sample of the ITT that was not taken: its minute, missing-data code and reason."""

    minute: float
    missing_code: str
    missing_label: str
    missing_reason: str | None = None


class IttTestView(RecordView):
    participant_id: int
    visit_id: int
    visit_code: str
    performed_on: date
    insulin_dose_u_per_kg: float | None
    glucose_unit_as_entered: str
    samples: list[IttSampleView]
    kitt_percent_per_min: float | None
    kitt_problem: str | None
    coded_samples: list[IttCodedSampleView] = Field(
        default_factory=list, description="Samples not taken, with their missing-data code"
    )


class InsulinDoseView(RecordView):
    participant_id: int
    visit_id: int | None
    start_date: date
    total_units_per_day: float
    basal_units_per_day: float | None
    bolus_units_per_day: float | None
    regimen: str | None


class OgldDoseView(RecordView):
    participant_id: int
    visit_id: int | None
    start_date: date
    drug: str
    daily_dose_mg: float
    ddd_mg: float
    ddd: float


class TransplantationView(RecordView):
    participant_id: int
    visit_id: int | None
    performed_on: date
    product: str
    lot_number: str
    cell_source: CellSource
    dose_cells_per_kg: float
    weight_kg: float | None
    total_cells: float | None
    route: Route
    operator: str
    notes: str | None


class AdverseEventView(RecordView):
    participant_id: int
    term: str
    onset_date: date
    resolution_date: date | None
    grade: int
    results_in_death: bool
    life_threatening: bool
    hospitalisation: bool
    disability: bool
    congenital_anomaly: bool
    important_medical_event: bool
    serious: bool
    seriousness_criteria: list[str] = Field(default_factory=list)
    relatedness: Relatedness
    expected: bool | None
    action_taken: AeAction
    outcome: AeOutcome
    awareness_date: date
    expedited_report_due: date | None
    expedited_reported_on: date | None
    expedited_report_overdue: bool = False
    aware_at: datetime | None = None
    new_information_at: datetime | None = None
    causality_confirmed_by: int | None = None
    causality_confirmed_at: datetime | None = None
    grade_confirmed_by: int | None = None
    grade_confirmed_at: datetime | None = None


class SafetyReportView(RecordView):
    """A report of a serious adverse event sent by the site to the sponsor (issue 14)."""

    participant_id: int
    adverse_event_id: int
    kind: SafetyReportKind
    sequence: int
    sent_at: datetime
    sent_by: int
    recipient: str
    note: str | None = None

    @property
    def label(self) -> str:
        return "initial report" if self.sequence == 0 else f"follow-up report {self.sequence}"


class SafetyAssessmentView(RecordView):
    """A safety judgement on an adverse event, proposed or confirmed, with who and when."""

    participant_id: int
    adverse_event_id: int
    subject: AssessmentSubject
    step: AssessmentStep
    relatedness: Relatedness | None = None
    expected: bool | None = None
    grade: int | None = None
    basis: str | None = None
    assessed_by: int
    assessed_at: datetime


class LabGradeSuggestion(View):
    """A CTCAE v5.0 grade a recorded laboratory value meets (`trialdesk.derive.ctcae`)."""

    measurement_id: int
    element: str
    visit_code: str
    collected_on: date
    value: float
    unit: str
    term: str
    grade: int
    reason: str

    @property
    def text(self) -> str:
        return f"CTCAE grade {self.grade} ({self.term}: {self.reason})"


class SafetyStatusView(View):
    """The clocks and judgements of one adverse event, as the site acts on them (issue 14).

    Site clock: the initial report to the sponsor is due `site_report_due_at` (awareness + 24 h,
    ICH E6(R3) Annex 1 §2.7.2(b)). Sponsor clock (ICH E2A III.A), only for a SUSAR: `susar`,
    `sponsor_day0` (the site's date of the first report sent after the investigator's
    confirmation), `sponsor_due` (7 or 15 calendar days), `sponsor_complete_due` (+8 after 7)."""

    adverse_event_id: int
    participant_id: int
    serious: bool
    aware_at: datetime | None
    site_report_due_at: datetime | None = None
    initial_report_sent_at: datetime | None = None
    site_report_overdue: bool = False
    follow_up_expected: bool = False
    reports: list[SafetyReportView] = Field(default_factory=list)
    causality_confirmed: bool = False
    grade_confirmed: bool = False
    susar: bool = False
    fatal_or_life_threatening: bool = False
    sponsor_day0: date | None = None
    sponsor_due: date | None = None
    sponsor_complete_due: date | None = None
    history: list[SafetyAssessmentView] = Field(default_factory=list)
    expected_per_reference: str | None = None  # the listed term the event matches, if any
    reference_provisional: bool = False


class SafetyClockRow(View):
    """A serious adverse event with a report to send (dashboard, issue 14)."""

    adverse_event_id: int
    participant_id: int
    study_id: str
    term: str
    due_at: datetime | None  # the initial report's 24-hour deadline (None: a follow-up)
    what: str  # "initial report" | "follow-up report 2"
    time_left: str  # "5 h 20 min left", "overdue by 2 h", "new information since 3 Mar"
    overdue: bool
    susar: bool = False
    sponsor_due: date | None = None


class DeviationView(RecordView):
    participant_id: int
    visit_id: int | None
    category: DeviationCategory
    severity: DeviationSeverity
    description: str
    detected_on: date
    automatic: bool
    explanation: str | None = None
    reviewed_by: int | None = None
    reviewed_at: datetime | None = None
    review_comment: str | None = None


class QueryView(RecordView):
    participant_id: int
    target_table: str
    target_id: int
    field: str
    origin: QueryOrigin
    status: QueryStatus
    text: str
    raised_by: int | None
    raised_at: datetime
    answer_text: str | None
    answered_by: int | None
    answered_at: datetime | None
    close_text: str | None
    closed_by: int | None
    closed_at: datetime | None


class SignatureView(RecordView):
    participant_id: int
    signed_by: int
    signer_name: str
    signed_at: datetime
    meaning: str
    audit_sequence: int
    content_hash: str | None = None
    signature_hash: str | None = None


class LockView(RecordView):
    scope: str
    participant_id: int | None = None
    study_id: str | None = None
    visit_code: str | None = None
    form: str | None = None
    reason: str
    locked_by_name: str
    locked_at: datetime
    unlocked_at: datetime | None = None
    unlocked_by_name: str | None = None
    unlock_reason: str | None = None
    what: str = ""  # the locked data in a site's words ("Month 6 labs of APGH-001")

    @property
    def active(self) -> bool:
        return self.unlocked_at is None and not self.voided


class AuditEntryView(View):
    sequence: int
    occurred_at: datetime
    user_id: int | None
    username: str | None
    action: str
    table: str
    record_id: str | None
    participant_id: int | None
    changes: dict[str, Any]
    reason: str | None


class CalendarEntry(View):
    """One visit of the schedule for one participant, as of a date.

    status: ``done`` / ``missed`` (recorded), ``due`` (today is inside the window),
    ``overdue`` (the window has passed), ``upcoming`` (the window is ahead), or ``unscheduled``
    (no anchor date yet: the participant has no screening or baseline visit).
    """

    code: str
    name: str
    day: int
    window_start_day: int
    window_end_day: int
    planned_date: date | None
    window_start: date | None
    window_end: date | None
    status: str
    visit_id: int | None = None
    visit_date: date | None = None
    study_day: int | None = None
    in_window: bool | None = None
    protocol_version: str | None = None
    unscheduled: bool = Field(False, description="An unscheduled visit (no window applies)")
    reason: str | None = Field(None, description="Why the unscheduled visit took place")


class VisitCalendar(View):
    participant_id: int
    study_id: str
    as_of: date
    anchor_date: date | None = Field(description="Day 0 (baseline) used for the windows")
    anchor: str = Field(description="baseline | provisional (screening + 28 days) | none")
    visits: list[CalendarEntry]


class ChainReportView(View):
    ok: bool
    checked: int
    last_sequence: int
    problem_kind: str | None = None
    problem_sequence: int | None = None
    problem_entry_id: int | None = None
    message: str
    anchored_through: int | None = Field(
        default=None,
        description="Last entry the signed checkpoints vouch for (None: no checkpoint key)",
    )
    notes: list[str] = Field(default_factory=list)


class EnrollmentSummary(View):
    enrolled: int
    target: int
    remaining: int


class ProtocolVersionView(RecordView):
    """A registered protocol version (the original or an amendment); the YAML text is left out."""

    protocol_id: str
    label: str
    effective_on: date
    summary_of_changes: str
    sha256: str
    consent_form_version: str
    registered_by: int | None


class ReconsentDueView(View):
    """A participant who signed an earlier consent form than the protocol now requires."""

    participant_id: int
    study_id: str
    site_code: str
    signed_form_version: str
    signed_on: date
    required_form_version: str
    required_since: date = Field(description="Effective date of the amendment requiring it")
    protocol_version: str


class ScreeningDeclineView(RecordView):
    site_id: int
    approached_on: date
    candidate_label: str
    outcome: ScreeningDeclineOutcome
    reason_category: ScreeningDeclineReason
    reason: str | None = None
