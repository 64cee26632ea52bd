"""Subject-level SDTM domains: DM, DS, SV and IE (SDTMIG v3.4 §5–6).

Reference dates: RFSTDTC = RFXSTDTC = RFXENDTC = the transplantation date (single infusion);
RFICDTC = first informed consent; RFENDTC = RFPENDTC = end of participation, or the last date
with data while the subject is ongoing. IE holds only criteria not met (SDTMIG §6.3.4).

Screen failures (consented, screened ineligible, never enrolled) are SDTM subjects too: a DM
record with ARMCD/ARM/ACTARMCD/ACTARM null and ARMNRS "SCREEN FAILURE" (SDTMIG v3.4 §5.2,
Assumption 4; the v3.2 convention ARMCD = "SCRNFAIL" was retired in v3.3), an IE record per
criterion not met and a DS disposition event "SCREEN FAILURE" (CDISC CT NCOMPLT).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from trialdesk.derive import compute_age
from trialdesk.export.sdtm.sources import SdtmSources, records_of
from trialdesk.export.sdtm.text import ascii_text, iso, study_day
from trialdesk.export.sdtm.trial_design import (
    COUNTRIES,
    criterion_code,
    planned_study_day,
    visit_fields,
    visit_number,
)
from trialdesk.protocol import Protocol
from trialdesk.protocol.unscheduled import is_unscheduled

# Store/frame end reasons → CDISC CT "Completion/Reason for Non-Completion" (NCOMPLT).
END_REASONS = {
    "completed": "COMPLETED",
    "withdrawal_by_subject": "WITHDRAWAL BY SUBJECT",
    "withdrawn": "WITHDRAWAL BY SUBJECT",
    "death": "DEATH",
    "died": "DEATH",
    "lost_to_follow_up": "LOST TO FOLLOW-UP",
    "adverse_event": "ADVERSE EVENT",
    "physician_decision": "PHYSICIAN DECISION",
}


SCREEN_FAILURE = "SCREEN FAILURE"  # CDISC CT ARMNULRS and NCOMPLT submission value
UNKNOWN_SEX = "U"  # CDISC CT SEX: not recorded for the candidate


def submission_value(choice: Any) -> str | None:
    """DM.RACE / DM.ETHNIC: the CDISC CT submission value of a catalogue choice (RACE C74457,
    ETHNIC C66790: "not_hispanic_or_latino" → "NOT HISPANIC OR LATINO"); None when the
    participant's answer was not recorded (the variable stays empty, SDTMIG 3.4 DM)."""
    if not isinstance(choice, str) or not choice:
        return None
    return choice.replace("_", " ").upper()


def _origins(src: SdtmSources) -> dict[str, tuple[str | None, str | None]]:
    """(RACE, ETHNIC) by subject, from the answers recorded at screening."""
    return {
        str(p.usubjid): (submission_value(p.race), submission_value(p.ethnicity))
        for p in records_of(src.people)
    }


@dataclass(frozen=True)
class ScreenFailure:
    """A candidate who consented, was screened ineligible and was never enrolled."""

    subject: str
    screened_on: date | None
    failed: tuple[str, ...]


def screen_failures(src: SdtmSources) -> list[ScreenFailure]:
    """Consented candidates whose last screening was ineligible and who were never enrolled
    (declines and candidates never consented are not study subjects)."""
    enrolled = set(src.frames.subjects["usubjid"])
    screening = src.frames.screening
    enrolled |= set(screening.loc[screening["enrolled"].astype(bool), "candidate_id"])
    last: dict[str, Any] = {}
    for s in sorted(records_of(screening), key=lambda s: iso(s.screened_on) or ""):
        last[str(s.candidate_id)] = s  # the latest screening of each candidate
    return [
        ScreenFailure(c, _d(s.screened_on), tuple(str(f) for f in s.failed))
        for c, s in sorted(last.items())
        if s.status == "ineligible" and c not in enrolled
    ]


def site_of(protocol: Protocol, subject: str) -> str | None:
    """The site of a candidate: the site code its identifier starts with, else the only site."""
    for site in protocol.sites:
        if subject.startswith(f"{site.code}-"):
            return site.code
    return protocol.sites[0].code if len(protocol.sites) == 1 else None


def usubjid(protocol: Protocol, subject: str) -> str:
    """USUBJID unique across studies: `<study>-<subject>`."""
    return subject if subject.startswith(f"{protocol.id}-") else f"{protocol.id}-{subject}"


def _d(value: Any) -> date | None:
    text = iso(value)
    return date.fromisoformat(text[:10]) if text else None


def reference_dates(src: SdtmSources) -> dict[str, date | None]:
    """RFSTDTC per frame subject id: the transplantation date."""
    subjects = src.frames.subjects
    dates = {row.usubjid: _d(row.transplanted_on) for row in records_of(subjects)}
    for row in records_of(src.transplants):
        dates[row.usubjid] = dates.get(row.usubjid) or _d(row.date)
    return dates


def last_dates(src: SdtmSources) -> dict[str, date]:
    """The last date with any data per subject (RFENDTC while ongoing)."""
    frames = src.frames
    dated = pd.concat(
        [
            frames.measurements[["usubjid", "date"]],
            frames.itt[["usubjid", "date"]],
            frames.dosing[["usubjid", "date"]],
            frames.adverse_events[["usubjid", "onset"]].rename(columns={"onset": "date"}),
            src.transplants[["usubjid", "date"]],
            src.categorical[["usubjid", "date"]],
        ],
        ignore_index=True,
    )
    out: dict[str, date] = {}
    for subject, value in zip(dated["usubjid"], dated["date"].map(_d), strict=True):
        if value is not None and (subject not in out or value > out[subject]):
            out[str(subject)] = value
    return out


def first_consents(src: SdtmSources) -> dict[str, date]:
    out: dict[str, date] = {}
    for row in records_of(src.consents):
        day = _d(row.consented_on)
        if day is not None and (row.usubjid not in out or day < out[row.usubjid]):
            out[row.usubjid] = day
    return out


def demographics(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    reference, last, consent = reference_dates(src), last_dates(src), first_consents(src)
    origins = _origins(src)
    arm = protocol.design.arms[0]
    sites = {s.code: s for s in protocol.sites}
    rows = []
    for s in records_of(src.frames.subjects):
        treated = reference.get(s.usubjid)
        ended = _d(s.end_on)
        end = ended or last.get(s.usubjid) or treated
        site = sites.get(s.site)
        died = s.status == "died"
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "DM",
                "USUBJID": usubjid(protocol, s.usubjid),
                "SUBJID": s.usubjid,
                "RFSTDTC": iso(treated),
                "RFENDTC": iso(end),
                "RFXSTDTC": iso(treated),
                "RFXENDTC": iso(treated),
                "RFICDTC": iso(consent.get(s.usubjid)),
                "RFPENDTC": iso(end),
                "DTHDTC": iso(ended) if died else None,
                "DTHFL": "Y" if died else None,
                "SITEID": s.site,
                "AGE": None if pd.isna(s.age) else int(s.age),
                "AGEU": None if pd.isna(s.age) else "YEARS",
                "SEX": s.sex,
                "RACE": origins.get(str(s.usubjid), (None, None))[0],
                "ETHNIC": origins.get(str(s.usubjid), (None, None))[1],
                "ARMCD": arm.code,
                "ARM": arm.name,
                "ACTARMCD": arm.code if treated else None,
                "ACTARM": arm.name if treated else None,
                "ARMNRS": None if treated else "ASSIGNED, NOT TREATED",
                "COUNTRY": COUNTRIES.get(site.country.lower()) if site else None,
            }
        )
    rows += _screen_failure_rows(protocol, src, consent)
    return _frame("DM", rows)


def _screen_failure_rows(
    protocol: Protocol, src: SdtmSources, consent: dict[str, date]
) -> list[dict[str, Any]]:
    people = {str(p.usubjid): p for p in records_of(src.people)}
    return [
        _screen_failure_dm(protocol, f, consent.get(f.subject), people.get(f.subject))
        for f in screen_failures(src)
    ]


def _screen_failure_dm(
    protocol: Protocol, failure: ScreenFailure, consented: date | None, person: Any
) -> dict[str, Any]:
    """DM of a screen failure: sex and age at consent as the site recorded them (BRTHDTC is
    left out, as for every subject: a direct identifier)."""
    site_code = site_of(protocol, failure.subject)
    site = next((s for s in protocol.sites if s.code == site_code), None)
    born = _d(person.birth_date) if person is not None else None
    at = consented or failure.screened_on
    sex = person.sex if person is not None and isinstance(person.sex, str) else None
    return {
        "STUDYID": protocol.id,
        "DOMAIN": "DM",
        "USUBJID": usubjid(protocol, failure.subject),
        "SUBJID": failure.subject,
        "RFICDTC": iso(consented),
        "RFPENDTC": iso(failure.screened_on),
        "SITEID": site_code,
        "SEX": sex or UNKNOWN_SEX,
        "RACE": submission_value(getattr(person, "race", None)),
        "ETHNIC": submission_value(getattr(person, "ethnicity", None)),
        "AGE": compute_age(born, at) if born and at else None,
        "AGEU": "YEARS" if born and at else None,
        "ARMNRS": SCREEN_FAILURE,
        "COUNTRY": COUNTRIES.get(site.country.lower()) if site else None,
    }


def _frame(domain: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    from trialdesk.export.sdtm.spec import DOMAINS

    columns = DOMAINS[domain].names
    return pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)


def _with_seq(domain: str, frame: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    frame = frame.sort_values(order, kind="stable").reset_index(drop=True)
    frame[f"{domain}SEQ"] = frame.groupby("USUBJID").cumcount() + 1
    return frame


def epoch_on(protocol: Protocol, day: date | None, reference: date | None) -> str | None:
    """The epoch a date falls in: before the transplantation SCREENING, on it TREATMENT, after
    it FOLLOW-UP."""
    if day is None or reference is None:
        return "SCREENING" if reference is None and day is not None else None
    return "SCREENING" if day < reference else "TREATMENT" if day == reference else "FOLLOW-UP"


def disposition(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    reference, consent = reference_dates(src), first_consents(src)
    rows = []
    for s in records_of(src.frames.subjects):
        subject, ref = usubjid(protocol, s.usubjid), reference.get(s.usubjid)
        if s.usubjid in consent:
            day = consent[s.usubjid]
            rows.append(
                {
                    "DSTERM": "INFORMED CONSENT OBTAINED",
                    "DSDECOD": "INFORMED CONSENT OBTAINED",
                    "DSCAT": "PROTOCOL MILESTONE",
                    "EPOCH": "SCREENING",
                    "USUBJID": subject,
                    "DSSTDTC": iso(day),
                    "DSSTDY": study_day(day, ref),
                }
            )
        if s.status in ("completed", "withdrawn", "died"):
            reason = str(s.end_reason or s.status).strip().lower().replace(" ", "_")
            decod = END_REASONS.get(reason, "OTHER")
            end = _d(s.end_on)
            rows.append(
                {
                    "DSTERM": str(s.end_reason or decod).replace("_", " ").upper(),
                    "DSDECOD": decod,
                    "DSCAT": "DISPOSITION EVENT",
                    "EPOCH": epoch_on(protocol, end, ref),
                    "USUBJID": subject,
                    "DSSTDTC": iso(end),
                    "DSSTDY": study_day(end, ref),
                }
            )
    for failure in screen_failures(src):
        rows.append(
            {
                "DSTERM": SCREEN_FAILURE,
                "DSDECOD": SCREEN_FAILURE,
                "DSCAT": "DISPOSITION EVENT",
                "EPOCH": "SCREENING",
                "USUBJID": usubjid(protocol, failure.subject),
                "DSSTDTC": iso(failure.screened_on),
            }
        )
    frame = _frame("DS", [{"STUDYID": protocol.id, "DOMAIN": "DS", **r} for r in rows])
    return _with_seq("DS", frame, ["USUBJID", "DSSTDTC"])


def subject_visits(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    """One SV record per subject and visit with data (values, or values recorded as missing):
    first and last date. Unscheduled visits (VISITNUM 5.01) are not pre-specified (SVPRESP
    null, no VISITDY) and carry their reason in SVUPDES."""
    reference = reference_dates(src)
    frames = src.frames
    dated = pd.concat(
        [
            frames.measurements[["usubjid", "visit", "date"]],
            frames.itt[["usubjid", "visit", "date"]],
            frames.dosing[["usubjid", "visit", "date"]],
            frames.missing[["usubjid", "visit", "date"]],
            src.categorical[["usubjid", "visit", "date"]],
            src.unscheduled[["usubjid", "visit", "date"]],
        ],
        ignore_index=True,
    )
    reasons = {(u.usubjid, u.visit): u.reason for u in records_of(src.unscheduled)}
    tx = protocol.schedule[
        [v.code for v in protocol.schedule].index(
            next(v.code for v in protocol.schedule if "transplantation" in v.forms)
        )
    ].code
    transplants = pd.DataFrame(
        {"usubjid": list(reference), "visit": tx, "date": list(reference.values())}
    ).dropna()
    screened = _screening_dates(protocol, src)
    dated = pd.concat([dated, transplants, screened], ignore_index=True).dropna()
    rows = []
    for (subject, visit), group in dated.groupby(["usubjid", "visit"]):
        unplanned = is_unscheduled(str(visit))
        fields = visit_fields(protocol, str(visit))
        if fields["VISITNUM"] is None:
            continue
        days = sorted(d for d in (_d(v) for v in group["date"]) if d is not None)
        ref = reference.get(str(subject))
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "SV",
                "USUBJID": usubjid(protocol, str(subject)),
                **fields,
                "SVPRESP": None if unplanned else "Y",
                "SVOCCUR": None if unplanned else "Y",
                "VISITDY": None if unplanned else planned_study_day(protocol, str(visit)),
                "SVUPDES": _description(reasons.get((str(subject), str(visit)))),
                "SVSTDTC": iso(days[0]),
                "SVENDTC": iso(days[-1]),
                "SVSTDY": study_day(days[0], ref),
                "SVENDY": study_day(days[-1], ref),
            }
        )
    frame = _frame("SV", rows + _missed_visits(protocol, src, rows))
    return frame.sort_values(["USUBJID", "VISITNUM"], kind="stable").reset_index(drop=True)


def _screening_dates(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    """The screening visit of enrolled subjects and of screen failures."""
    screened = src.frames.screening.dropna(subset=["usubjid"])
    failures = screen_failures(src)
    return pd.DataFrame(
        {
            "usubjid": [*screened["usubjid"], *(f.subject for f in failures)],
            "visit": protocol.schedule[0].code,
            "date": [*screened["screened_on"], *(f.screened_on for f in failures)],
        }
    )


def _missed_visits(
    protocol: Protocol, src: SdtmSources, occurred: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Planned visits recorded as missed (and not `occurred`): SVOCCUR = N with the site's
    reason in SVREASOC (SDTMIG v3.4 §5.4 SV, Assumption 2: planned visits that did not occur),
    no dates."""
    seen = {(r["USUBJID"], r["VISITNUM"]) for r in occurred}
    rows = []
    for m in records_of(src.missed):
        fields = visit_fields(protocol, str(m.visit))
        subject = usubjid(protocol, str(m.usubjid))
        if fields["VISITNUM"] is None or (subject, fields["VISITNUM"]) in seen:
            continue
        rows.append(
            {
                "STUDYID": protocol.id,
                "DOMAIN": "SV",
                "USUBJID": subject,
                **fields,
                "SVPRESP": "Y",
                "SVOCCUR": "N",
                "SVREASOC": _description(m.reason),
                "VISITDY": planned_study_day(protocol, str(m.visit)),
            }
        )
    return rows


def _description(reason: Any) -> str | None:
    return ascii_text(str(reason)) if isinstance(reason, str) and reason else None


def inclusion_exclusion(protocol: Protocol, src: SdtmSources) -> pd.DataFrame:
    """Criteria not met: by enrolled subjects (an enrolment that overrode the screening result)
    and by screen failures (their last screening)."""
    reference = reference_dates(src)
    criteria = {c.id: c for c in protocol.criteria}
    first = protocol.schedule[0].code
    rows = []
    enrolled = set(src.frames.subjects["usubjid"])
    screenings = [
        (str(s.usubjid), _d(s.screened_on), s.failed)
        for s in records_of(src.frames.screening)
        if s.usubjid and s.usubjid in enrolled
    ]
    screenings += [(f.subject, f.screened_on, f.failed) for f in screen_failures(src)]
    for subject, day, failed in screenings:
        for criterion_id in failed:
            criterion = criteria.get(str(criterion_id))
            if criterion is None:
                continue
            exclusion = criterion.kind.value == "exclusion"
            rows.append(
                {
                    "STUDYID": protocol.id,
                    "DOMAIN": "IE",
                    "USUBJID": usubjid(protocol, subject),
                    "IETESTCD": criterion_code(criterion.kind.value, criterion.number),
                    "IECAT": criterion.kind.value.upper(),
                    "IEORRES": "Y" if exclusion else "N",
                    "IESTRESC": "Y" if exclusion else "N",
                    "VISITNUM": visit_number(protocol, first),
                    "VISIT": protocol.visit(first).name,
                    "EPOCH": "SCREENING",
                    "IEDTC": iso(day),
                    "IEDY": study_day(day, reference.get(subject)),
                }
            )
    frame = _frame("IE", rows)
    if not frame.empty:
        from trialdesk.export.sdtm.trial_design import trial_criteria

        tests = dict(zip(*trial_criteria(protocol)[["IETESTCD", "IETEST"]].T.values, strict=True))
        frame["IETEST"] = frame["IETESTCD"].map(tests)
    return _with_seq("IE", frame, ["USUBJID", "IETESTCD"])
