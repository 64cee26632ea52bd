"""The driver: a virtual cohort written into the study database through `trialdesk.services`.

Nothing is written around the services, so every rule site staff meet applies to the simulated
trial too, and every write leaves its audit entries: consent before any data, the eligibility
snapshot stored at screening, enrolment only when eligible and up to the protocol's target,
edit checks (hard limits refuse, soft limits raise queries), automatic visit-window deviations,
the 24-hour report of each serious adverse event to the sponsor, and no data after a withdrawal.

For each candidate, in order of screening date (`generate_candidates`):

1. register the candidate at the site (pseudonymous name ``Simulated S0001``);
2. a candidate who declines consent ends as a screen failure (no trial data may be entered
   without consent, so there is no eligibility snapshot for them);
3. otherwise: consent, the screening visit, its measurements and ITT, insulin and oral drug
   doses, and `screen_participant` with the yes/no findings (diagnosis, pregnancy,
   contraception, exclusion conditions), which evaluates and stores the eligibility snapshot;
4. an eligible candidate is enrolled while places remain; their year of follow-up
   (`simulate_followup`, the same function the in-memory `simulate_trial` uses) is written
   visit by visit: visits or missed visits, measurements, ITT, doses, the transplantation,
   safety laboratory values (`simulate.safety_labs`), adverse events (each serious one with its
   initial report to the sponsor recorded within 24 hours), and how participation
   ended (completion, consent withdrawal, loss to follow-up, adverse event, death).

The database decides eligibility (from the stored values), and so who is enrolled. Dates after
today cannot be entered: candidates not yet screened by today are left out, and participants'
data stop at today (`trialdesk.simulate.followup.as_of`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.protocol import Protocol
from trialdesk.protocol.model import Site
from trialdesk.services.accounts import NewUserAccount
from trialdesk.services.paging import Page as Paging
from trialdesk.services.study import current_protocol
from trialdesk.services.validate import today
from trialdesk.services.views import AdverseEventView
from trialdesk.simulate.adverse import AdverseEvent
from trialdesk.simulate.candidates import DEFAULT_START, Candidate, generate_candidates
from trialdesk.simulate.effect import NO_EFFECT, Effect
from trialdesk.simulate.followup import (
    ADVERSE_EVENT,
    COMPLETED,
    DEATH,
    LOST_TO_FOLLOW_UP,
    WITHDRAWAL_BY_SUBJECT,
    FollowupOptions,
    FollowupParameters,
    Participant,
    SimVisit,
    as_of,
    schedule_roles,
    simulate_followup,
)
from trialdesk.simulate.population import ScreeningPopulation

#: (stage, done, total): called after each candidate screened and each participant followed.
ProgressCallback = Callable[[str, int, int], None]

SCREENING = "screening"
FOLLOW_UP = "follow-up"
SIMULATOR_USERNAME = "simulator"
CONSENT_FORM = "ICF v1.0 (simulated)"

#: Screening-record quantities recorded as measurements of the screening visit.
_SCREENING_MEASUREMENTS = (
    "weight",
    "height",
    "diabetes_duration",
    "fasting_glucose",
    "ogtt_2h_glucose",
    "hba1c",
    "fasting_insulin",
    "c_peptide",
)
#: Screening-record answers given to `screen_participant` as findings.
_FINDINGS = (
    "race",
    "ethnicity",
    "t2dm_diagnosis",
    "diabetes_type",
    "fertile",
    "pregnant",
    "nursing",
    "effective_contraception",
    "severe_heart_disease",
    "severe_lung_disease",
    "haematopoietic_dysfunction",
    "liver_dysfunction",
    "kidney_dysfunction",
    "active_infection_requiring_treatment",
    "unexplained_fever",
    "hiv_infection",
    "hepatitis_b_infection",
    "hepatitis_c_infection",
    "other_immunosuppressive_disease",
)
_RELATEDNESS = {
    "Definite": "definite",
    "Probable": "probable",
    "Possible": "possible",
    "Unlikely": "unlikely",
    "Not related": "not_related",
}
_END_REASON = {
    COMPLETED: "completed",
    LOST_TO_FOLLOW_UP: "lost_to_follow_up",
    ADVERSE_EVENT: "adverse_event",
    DEATH: "death",
}


class SimulationError(RuntimeError):
    """The simulation cannot run against this database (the message says why and what to do)."""


@dataclass
class RunSummary:
    """What the run wrote: the participant flow and the safety totals."""

    candidates: int = 0
    not_yet_screened: int = 0  # screening date after today
    not_screened_target_reached: int = 0  # with stop_when_full
    declined_consent: int = 0
    screened: int = 0  # eligibility evaluated and stored
    eligible: int = 0
    ineligible: int = 0
    incomplete: int = 0
    enrolled: int = 0
    transplanted: int = 0
    completed: int = 0
    ongoing: int = 0
    withdrawn: int = 0
    died: int = 0
    visits: int = 0
    missed_visits: int = 0
    measurements: int = 0
    adverse_events: int = 0
    serious_adverse_events: int = 0
    deviations: int = 0  # protocol deviations raised by the services (visit windows)
    queries: int = 0  # data queries raised by edit checks (soft limits)
    enrolled_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SimulationSettings:
    """What to simulate (see `run_simulation`)."""

    n_candidates: int = 120
    seed: int = 0
    effect: Effect = NO_EFFECT
    start: date = DEFAULT_START
    population: ScreeningPopulation | None = None
    followup: FollowupParameters | None = None
    #: Stop screening once the enrolment target is reached (as a fully enrolled site does).
    stop_when_full: bool = False


def describe_settings(settings: SimulationSettings) -> str:
    """How the data were simulated, as every report and export made from them will say."""
    effect = "none" if settings.effect.is_null else settings.effect.name
    return (
        f"virtual cohort of {settings.n_candidates} candidates, seed {settings.seed}, "
        f"assumed treatment effect: {effect}"
    )


def simulation_actor(session: Session, site_code: str | None = None) -> sv.Actor:
    """The acting user: the ``simulator`` account (investigator and coordinator) at every site
    of the protocol (or only `site_code`), created with the sites if missing. Its password is
    random and not kept: nobody logs in as it, and every record it writes is attributed to it
    in the audit trail."""
    protocol = current_protocol(session)
    wanted = [_protocol_site(protocol, site_code)] if site_code else list(protocol.sites)
    codes = [site.code for site in wanted]
    sites = {s.code for s in sv.list_sites(session, sv.SYSTEM)}
    for site in wanted:
        if site.code not in sites:
            sv.create_site(
                session, sv.SYSTEM, site.code, site.name, city=site.city, country=site.country
            )
    for user in _all_users(session):
        if user.username == SIMULATOR_USERNAME:
            missing = [c for c in codes if c not in user.site_codes]
            if missing:
                raise SimulationError(
                    f"user {SIMULATOR_USERNAME!r} exists but not at site(s) "
                    f"{', '.join(missing)}; use a fresh database"
                )
            return sv.actor_for(session, user.id)
    created = sv.create_user(
        session,
        sv.SYSTEM,
        NewUserAccount(
            username=SIMULATOR_USERNAME,
            full_name="Virtual cohort simulator",
            password=secrets.token_urlsafe(24),
            roles=[sv.Role.INVESTIGATOR, sv.Role.COORDINATOR],
            site_codes=codes,
        ),
    )
    return sv.actor_for(session, created.id)


def _protocol_site(protocol: Protocol, site_code: str | None) -> Site:
    for site in protocol.sites:
        if site_code is None or site.code == site_code:
            return site
    codes = ", ".join(s.code for s in protocol.sites)
    raise SimulationError(f"site {site_code!r} is not a site of {protocol.id} ({codes})")


def _all_users(session: Session) -> list[sv.views.UserView]:
    users: list[sv.views.UserView] = []
    while True:
        page = sv.list_users(session, sv.SYSTEM, limit=100, offset=len(users))
        users += page.items
        if not page.items or len(users) >= page.total:
            return users


def run_simulation(
    session: Session,
    settings: SimulationSettings | None = None,
    *,
    actor: sv.Actor | None = None,
    site_code: str | None = None,
    progress: ProgressCallback | None = None,
) -> RunSummary:
    """Write a virtual cohort into an empty study database (see module docstring)."""
    settings = settings or SimulationSettings()
    protocol = current_protocol(session)
    actor = actor or simulation_actor(session, site_code)
    # Candidates are spread over the protocol's sites in turn (or all go to `site_code`).
    sites = (site_code,) if site_code else tuple(s.code for s in protocol.sites)
    existing = sv.list_participants(session, actor, limit=1).total
    if existing:
        raise SimulationError(
            f"the database already holds {existing} participant(s); simulate into a fresh "
            "database (the enrolment target and the study ids count every participant)"
        )
    sv.mark_simulated(session, actor, describe_settings(settings))
    candidates = generate_candidates(
        settings.n_candidates, settings.seed, start=settings.start, population=settings.population
    )
    writer = _Writer(session, actor, protocol, sites, settings, RunSummary(len(candidates)))
    due = [c for c in candidates if c.screening_date <= today()]
    writer.summary.not_yet_screened = len(candidates) - len(due)
    for done, candidate in enumerate(due, start=1):
        if settings.stop_when_full and writer.full:
            writer.summary.not_screened_target_reached = len(due) - done + 1
            if progress:
                progress(SCREENING, len(due), len(due))
            break
        writer.screen(candidate)
        if progress:
            progress(SCREENING, done, len(due))
    for done, participant in enumerate(writer.to_follow, start=1):
        writer.follow(participant)
        if progress:
            progress(FOLLOW_UP, done, len(writer.to_follow))
    writer.summary.deviations = sv.list_deviations(session, actor, page=Paging(limit=1)).total
    writer.summary.queries = sv.list_queries(session, actor, page=Paging(limit=1)).total
    return writer.summary


@dataclass
class _Writer:
    session: Session
    actor: sv.Actor
    protocol: Protocol
    sites: tuple[str, ...]
    settings: SimulationSettings
    summary: RunSummary
    to_follow: list[tuple[int, int, Participant]] = field(default_factory=list)

    def site_of(self, candidate: Candidate) -> str:
        return self.sites[candidate.index % len(self.sites)]

    @property
    def full(self) -> bool:
        return self.summary.enrolled >= self.protocol.target_enrollment

    @property
    def transplant_code(self) -> str | None:
        visit = schedule_roles(self.protocol).transplant
        return visit.code if visit else None

    # --- screening ------------------------------------------------------------------------
    def screen(self, candidate: Candidate) -> None:
        s, a, raw = self.session, self.actor, candidate.raw
        on = candidate.screening_date
        registered = sv.register_participant(
            s,
            a,
            sv.Registration(
                site_code=self.site_of(candidate),
                registered_on=on,
                full_name=f"Simulated {candidate.candidate_id}",
                date_of_birth=candidate.profile.birth_date,
                sex=candidate.profile.sex,
            ),
        )
        pid = registered.id
        if not raw["informed_consent"]:
            self.summary.declined_consent += 1
            sv.end_participation(
                s,
                a,
                pid,
                ended_on=on,
                end_reason="screen_failure",
                expected_version=registered.version,
                reason="declined informed consent",
            )
            return
        consent = sv.record_consent(s, a, pid, form_version=CONSENT_FORM, consented_on=on)
        self._screening_data(pid, candidate)
        findings = {k: raw[k] for k in _FINDINGS if k in raw}
        result = sv.screen_participant(s, a, pid, screened_on=on, findings=findings)
        self.summary.screened += 1
        status = result.status.value
        setattr(self.summary, status, getattr(self.summary, status) + 1)
        if status == "eligible" and not self.full:
            self._enrol(pid, registered.study_id, consent.id, candidate)

    def _screening_data(self, pid: int, candidate: Candidate) -> None:
        s, a, raw, on = self.session, self.actor, candidate.raw, candidate.screening_date
        sv.record_visit(s, a, pid, code="SCR", visit_date=on)
        for element in _SCREENING_MEASUREMENTS:
            if element in raw:
                self._measure(pid, "SCR", element, raw[element], raw[f"{element}_unit"])
        if "pregnancy_test" in raw:
            self._measure(pid, "SCR", "pregnancy_test", raw["pregnancy_test"], None)
        if "itt_glucose" in raw:
            self._itt(pid, "SCR", on, raw["itt_glucose"], raw["itt_glucose_unit"])
        p = candidate.profile
        sv.record_insulin_dose(
            s,
            a,
            pid,
            sv.InsulinDoseEntry(
                start_date=on, total_units_per_day=p.insulin_u_per_day, visit_code="SCR"
            ),
        )
        for drug, mg in p.oral_drugs_mg_per_day.items():
            sv.record_ogld_dose(
                s,
                a,
                pid,
                sv.OgldDoseEntry(start_date=on, drug=drug, daily_dose_mg=mg, visit_code="SCR"),
            )

    def _enrol(self, pid: int, study_id: str, consent_id: int, candidate: Candidate) -> None:
        participant = simulate_followup(
            candidate,
            study_id,
            self.protocol,
            self.settings.effect,
            options=FollowupOptions(
                seed=self.settings.seed,
                index=candidate.index,
                params=self.settings.followup,
                site=self.site_of(candidate),
            ),
        )
        participant = as_of(participant, today())
        sv.enroll_participant(self.session, self.actor, pid, enrolled_on=participant.enrolled_on)
        self.summary.enrolled += 1
        self.summary.enrolled_ids.append(study_id)
        self.to_follow.append((pid, consent_id, participant))

    # --- follow-up -----------------------------------------------------------------------
    def follow(self, item: tuple[int, int, Participant]) -> None:
        pid, consent_id, participant = item
        drugs = dict(participant.candidate.profile.oral_drugs_mg_per_day)
        for visit in participant.visits[1:]:  # the screening visit is already recorded
            drugs = self._visit(pid, participant, visit, drugs)
        for event in participant.adverse_events:
            self._adverse_event(pid, event)
        self._end(pid, consent_id, participant)

    def _visit(
        self, pid: int, participant: Participant, visit: SimVisit, drugs: dict[str, float]
    ) -> dict[str, float]:
        s, a = self.session, self.actor
        if not visit.done:
            sv.record_missed_visit(s, a, pid, code=visit.code, reason="did not attend")
            self.summary.missed_visits += 1
            return drugs
        assert visit.visit_date is not None
        on = visit.visit_date
        sv.record_visit(s, a, pid, code=visit.code, visit_date=on)
        self.summary.visits += 1
        for m in visit.measurements:
            self._measure(pid, visit.code, m.element, m.value, m.unit)
        for element, text in visit.findings.items():
            self._measure(pid, visit.code, element, text, None)
        if visit.itt is not None:
            self._itt(pid, visit.code, on, visit.itt.samples, visit.itt.unit)
        if on == participant.transplanted_on and visit.code == self.transplant_code:
            self._transplant(pid, visit)
        if visit.dosing is not None:
            sv.record_insulin_dose(
                s,
                a,
                pid,
                sv.InsulinDoseEntry(
                    start_date=on,
                    total_units_per_day=visit.dosing.insulin_u_per_day,
                    visit_code=visit.code,
                ),
            )
            current = visit.dosing.oral_drugs_mg_per_day
            for drug in sorted(set(drugs) | set(current)):
                if current.get(drug, 0.0) != drugs.get(drug, 0.0):
                    sv.record_ogld_dose(
                        s,
                        a,
                        pid,
                        sv.OgldDoseEntry(
                            start_date=on,
                            drug=drug,
                            daily_dose_mg=current.get(drug, 0.0),
                            visit_code=visit.code,
                        ),
                    )
            drugs = dict(current)
        return drugs

    def _transplant(self, pid: int, visit: SimVisit) -> None:
        assert visit.visit_date is not None
        intervention = self.protocol.intervention
        sv.record_transplantation(
            self.session,
            self.actor,
            pid,
            sv.TransplantationEntry(
                performed_on=visit.visit_date,
                product=intervention.name,
                lot_number=f"SIM-{self.settings.seed}-{pid:04d}",
                cell_source=intervention.cell_source or "other",
                dose_cells_per_kg=_cells_per_kg(intervention.dose_per_kg),
                route=intervention.route or "intravenous",
                operator="Simulated investigator",
                weight_kg=visit.value("weight"),
                visit_code=visit.code,
            ),
        )
        self.summary.transplanted += 1

    def _measure(self, pid: int, code: str, element: str, value: object, unit: object) -> None:
        sv.record_measurement(
            self.session,
            self.actor,
            pid,
            sv.VisitMeasurement(
                visit_code=code,
                element=element,
                value=value,
                unit=None if unit is None else str(unit),
            ),
        )
        self.summary.measurements += 1

    def _itt(self, pid: int, code: str, on: date, samples: object, unit: object) -> None:
        dose = self.protocol.parameters.get("itt_insulin_dose")
        sv.record_itt_test(
            self.session,
            self.actor,
            pid,
            sv.IttTestEntry(
                visit_code=code,
                samples=samples,  # type: ignore[arg-type]
                glucose_unit=str(unit),
                performed_on=on,
                insulin_dose_u_per_kg=dose.value if dose else 0.1,
            ),
        )

    def _adverse_event(self, pid: int, event: AdverseEvent) -> None:
        # The site learns of an event on its onset or within two days (not after today).
        aware = min(event.onset + timedelta(days=event.onset.toordinal() % 3), today())
        view = sv.report_adverse_event(
            self.session,
            self.actor,
            pid,
            sv.AdverseEventReport(
                term=event.term,
                onset_date=event.onset,
                grade=event.grade,
                relatedness=_RELATEDNESS[event.related],
                action_taken=event.action.lower(),
                outcome=event.outcome.lower(),
                seriousness=event.seriousness,
                resolution_date=event.resolved,
                awareness_date=aware,
            ),
        )
        self.summary.adverse_events += 1
        view = self._investigator_confirms(view)
        if view.serious:
            self.summary.serious_adverse_events += 1
            # The initial report reaches the sponsor within the 24 hours (ICH E6(R3) Annex 1
            # §2.7.2(b)): 2 to 20 hours after the site became aware, never after now.
            assert view.aware_at is not None
            sent = min(view.aware_at + timedelta(hours=2 + view.id % 19), datetime.now(UTC))
            sv.record_safety_report(
                self.session,
                self.actor,
                view.id,
                sent_at=sent,
                note="initial report (CIOMS form) to the sponsor",
            )

    def _investigator_confirms(self, view: AdverseEventView) -> AdverseEventView:
        """The investigator's judgement, as a site records it (ICH E6(R3) 2.7.2: causality
        and grade are the investigator's assessment): the entered relatedness, expectedness and
        CTCAE grade confirmed, so that exports carry confirmed judgements only."""
        view = sv.confirm_causality(
            self.session,
            self.actor,
            view.id,
            relatedness=view.relatedness,
            expected=self._expected(view),
            expected_version=view.version,
        )
        return sv.confirm_grade(
            self.session, self.actor, view.id, grade=view.grade, expected_version=view.version
        )

    def _expected(self, view: AdverseEventView) -> bool:
        """Expected when the protocol's reference safety information lists the term (ICH E2A
        II.C: "expected" is judged against the reference safety information)."""
        if view.expected is not None:
            return view.expected
        rsi = self.protocol.reference_safety_information
        return rsi is not None and rsi.listed(view.term) is not None

    def _end(self, pid: int, consent_id: int, participant: Participant) -> None:
        s, a = self.session, self.actor
        if participant.end_on is None:
            self.summary.ongoing += 1
            return
        if participant.end_reason == WITHDRAWAL_BY_SUBJECT:
            consent = next(c for c in sv.list_consents(s, a, pid) if c.id == consent_id)
            sv.withdraw_consent(
                s,
                a,
                consent_id,
                withdrawn_on=participant.end_on,
                expected_version=consent.version,
                withdrawal_reason="participant's decision (no reason given)",
            )
            self.summary.withdrawn += 1
            return
        current = sv.get_participant(s, a, pid)
        reason = _END_REASON[participant.end_reason or COMPLETED]
        sv.end_participation(
            s,
            a,
            pid,
            ended_on=participant.end_on,
            end_reason=reason,
            expected_version=current.version,
        )
        if reason == "completed":
            self.summary.completed += 1
        elif reason == "death":
            self.summary.died += 1
        else:
            self.summary.withdrawn += 1


def _cells_per_kg(text: str | None) -> float:
    """The protocol's dose per kg (e.g. ``1e6 cells/kg``) as a number of cells per kg."""
    if not text:
        return 1e6
    try:
        return float(text.split()[0])
    except ValueError:
        raise SimulationError(
            f"intervention dose_per_kg {text!r} is not '<number> cells/kg'"
        ) from None
