"""Issue 13, "no internal names on any page or error": Debian's chromium logs in as each role and
follows every link of the site (one page per kind of address), on a study filled by the virtual
cohort simulator plus what a site meets besides (a serious adverse event, a voided dose, a value
not done, an unscheduled visit, a decline, an out-of-window visit, a query and its answer), and
fails on any text a site would not write: table names with ids ("measurements 6"), "querie",
"visit id: 2", user ids for names ("created by: — → 1"), raw floats (8.880994671403197),
"None", Python reprs and booleans, ISO timestamps with microseconds, snake_case identifiers.
Runs on SQLite, and PostgreSQL when TRIALDESK_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from tools.harness.database import DemoSeed, TestDatabase, available_backends
from web_helpers import actor_of, enrolled_participant, screened_candidate

from trialdesk import services as sv
from trialdesk.web.records import KINDS

pytestmark = [pytest.mark.browser]

TODAY = date.today()
ROLES = ("coordinator", "investigator", "monitor", "statistician", "admin")
TABLES = (
    "measurements|adverse_events|insulin_doses|ogld_doses|itt_tests|screenings|consents|visits"
    "|data_queries|queries|deviations|transplantations|enrollments|participants|form_statuses"
    "|users|sites|screening_declines|signatures|codings"
)
#: What a site never writes, each with what it stands for (the failure names it).
INTERNAL: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("table name and id", re.compile(rf"\b(?:{TABLES}) +#?\d+\b")),
    ("'querie'", re.compile(r"\bquerie\b", re.IGNORECASE)),
    ("an id for a name", re.compile(r"\b[a-z_]+ id:?\s*#?\d", re.IGNORECASE)),
    (
        "a user id for a name",
        re.compile(r"\b(?:by|user)\b:?\s*(?:— → )?\d+\b(?![-./:\d])", re.IGNORECASE),
    ),
    ("a raw float", re.compile(r"\d\.\d{5,}")),
    ("Python None/True/False", re.compile(r"\b(?:None|True|False|nan|NaN)\b(?! [a-z])")),
    ("a timestamp with microseconds", re.compile(r"\d\d:\d\d:\d\d\.\d{3,}")),
    ("a UTC offset as stored", re.compile(r"\d\d:\d\d(?::\d\d)?\+00:00")),
    ("a Python repr", re.compile(r"<[\w.]+ object at 0x|\b\w+\(\w+=|\{'\w+': |\['\w+'")),
    ("an enum repr", re.compile(r"\b[A-Z][A-Za-z]+\.[A-Z][A-Z_]+\b")),
    ("a snake_case name", re.compile(r"(?<![\w@./-])[a-z]+_[a-z_]+\b(?![\w@./-])")),
)
#: Addresses that are no page (files to download, the API, logging out).
NOT_PAGES = re.compile(r"^/(?:api|static|logout)|\.(?:csv|json|xml|pdf|zip|png|svg|txt|xpt)$")
MISSING_ID = "999999"  # in the addresses of records that do not exist
PER_KIND = 1  # pages visited per kind of address (digits and query values aside)
MAX_PAGES = 90  # per role: enough for every kind of page of this study


@pytest.fixture()
def study(web_database: TestDatabase, seeded: DemoSeed) -> int:
    """A small simulated study and one participant with what a site meets besides."""
    from trialdesk.simulate.population import ScreeningPopulation
    from trialdesk.simulate.run import SimulationSettings, run_simulation

    with web_database.session() as session:
        run_simulation(
            session,
            SimulationSettings(
                n_candidates=6,
                seed=11,
                start=TODAY - timedelta(days=320),
                population=ScreeningPopulation(mean_days_between_screenings=5.0),
            ),
        )
        pid = enrolled_participant(session, name="Li Wei")
        _site_events(session, pid)
    return pid


def _site_events(session: Any, pid: int) -> None:
    coordinator, monitor = actor_of(session, "coordinator"), actor_of(session, "monitor")
    sv.report_adverse_event(
        session, coordinator, pid, sv.AdverseEventReport(
            term="Pneumonia", onset_date=TODAY - timedelta(days=1), grade=3,
            relatedness="unlikely", action_taken="not applicable",
            outcome="recovering/resolving", seriousness=["hospitalisation"], expected=False,
        ),
    )  # fmt: skip
    dose = sv.record_insulin_dose(
        session, coordinator, pid, sv.InsulinDoseEntry(start_date=TODAY, total_units_per_day=40,
        regimen="glargine", visit_code="BL"),
    )  # fmt: skip
    sv.void_clinical_record(
        session, coordinator, "insulin_doses", dose.id, expected_version=dose.version,
        reason="entered for the wrong participant",
    )  # fmt: skip
    sv.record_ogld_dose(
        session,
        coordinator,
        pid,
        sv.OgldDoseEntry(start_date=TODAY, drug="metformin", daily_dose_mg=1500, visit_code="BL"),
    )
    sv.record_measurement(
        session, coordinator, pid, sv.VisitMeasurement(visit_code="BL", element="hba1c", value=None,
        missing_code="NAV", missing_reason="analyser down"),
    )  # fmt: skip
    weight = sv.record_measurement(
        session,
        coordinator,
        pid,
        sv.VisitMeasurement(visit_code="BL", element="weight", value="71.53", unit="kg"),
    )
    query = sv.raise_query(
        session, monitor, target_table="measurements", target_id=weight.id, field="value",
        text="please check against the scale print-out",
    )  # fmt: skip
    sv.answer_query(
        session, coordinator, query.id, expected_version=query.version, answer="confirmed"
    )
    sv.add_unscheduled_visit(
        session, coordinator, pid, visit_date=TODAY, reason="extra safety laboratory"
    )
    sv.record_visit(
        session, coordinator, pid, code="M1", visit_date=TODAY, deviation_reason="travel"
    )
    sv.log_screening_decline(
        session,
        coordinator,
        sv.ScreeningLogEntry(
            site_code="APGH",
            approached_on=TODAY,
            candidate_label="S-044",
            outcome="declined",
            reason_category="other",
            reason="moving to another city",
        ),
    )


@dataclass
class Crawl:
    """What one role saw: pages visited, kinds of address seen, and what a site would not write."""

    visited: list[str] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    def wants(self, path: str) -> bool:
        kind = _kind_of(path)
        if path in self.visited or self.kinds.get(kind, 0) >= PER_KIND:
            return False
        if len(self.visited) >= MAX_PAGES:
            return False
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        return True


def _kind_of(path: str) -> str:
    """An address with its ids and query values taken out (one kind of page)."""
    parts = urlsplit(path)
    keys = sorted(p.split("=")[0] for p in parts.query.split("&") if p)
    return re.sub(r"\d+", "#", parts.path) + "?" + "&".join(keys)


def internal_names(text: str) -> list[str]:
    """Each internal name in `text`, with what it is and the words around it."""
    found = []
    for what, pattern in INTERNAL:
        for match in pattern.finditer(text):
            around = text[max(0, match.start() - 40) : match.end() + 40].replace("\n", " ⏎ ")
            found.append(f"{what}: {match.group(0)!r} in …{around}…")
    return found


LINKS = """() => Array.from(document.querySelectorAll('a[href]'))
  .map(a => a.getAttribute('href')).filter(h => h.startsWith('/') && !h.startsWith('//'))"""


def crawl(page: Any, start: str, extra: tuple[str, ...] = ()) -> Crawl:
    seen = Crawl()
    queue = deque([start, *extra])
    while queue:
        path = queue.popleft().split("#")[0]
        if NOT_PAGES.search(urlsplit(path).path) or not seen.wants(path):
            continue
        seen.visited.append(path)
        response = page.goto(path)
        if response is not None and response.status >= 500:
            seen.findings.append(f"{path}: HTTP {response.status}")
        text = page.locator("body").inner_text() + "\n" + page.title()
        seen.findings += [f"{path}: {finding}" for finding in internal_names(text)]
        if MISSING_ID in path and MISSING_ID in text:
            seen.findings.append(f"{path}: the id of the address is shown")
        queue.extend(page.evaluate(LINKS))
    return seen


def test_the_patterns_catch_what_the_issue_names() -> None:
    for text in (
        "measurements 6",
        "data querie 1 not found",
        "created by: — → 1",
        "visit id: 2",
        "ratio 8.880994671403197",
        "resolution date: None",
        "saved 2026-12-05 11:02:01.116233",
        "saved 2026-12-05T11:02:01+00:00",
        "<Visit object at 0x7f>",
        "outcome: AeOutcome.RECOVERED",
        "value_as_entered: 8.1",
        "expected: True",
    ):
        assert internal_names(text), text
    for text in (
        "Haemoglobin A1c 8.1 % · BL (Baseline)",
        "by Coordinator on 2026-12-05 11:02 (Asia/Shanghai)",
        "report to the sponsor due by 2026-12-06 11:02 UTC",
        "Open queries: 2",
        "unresolved queries\n1",
        "None recorded at this visit.",
        "coordinator@example.org",
    ):
        assert not internal_names(text), (text, internal_names(text))


#: On PostgreSQL (values and times as it returns them) the crawl runs as the roles that see the
#: clinical values: the coordinator (every form and casebook) and the monitor (queries, SDV).
POSTGRES_ROLES = ("coordinator", "monitor")
CRAWLS = [("sqlite", role) for role in ROLES] + [
    ("postgresql", role) for role in POSTGRES_ROLES if "postgresql" in available_backends()
]


@pytest.mark.both_backends
@pytest.mark.parametrize(("web_database", "role"), CRAWLS, indirect=["web_database"])
def test_no_page_shows_an_internal_name_to_any_role(
    open_page: Any, study: int, web_database: TestDatabase, role: str
) -> None:
    errors = (
        f"/queries/{MISSING_ID}",
        f"/deviations/{MISSING_ID}",
        f"/audit/measurements/{MISSING_ID}",
        f"/participants/{study}/measurements/{MISSING_ID}",
        f"/participants/{study}/itt/{MISSING_ID}",
        f"/participants/{study}/visits/XX9",
        f"/participants/{MISSING_ID}",
        *(f"/participants/{study}/records/{table}/{MISSING_ID}" for table in KINDS),
    )
    page = open_page(role)
    seen = crawl(page, "/dashboard", (f"/participants/{study}", *errors))
    assert len(seen.visited) > len(errors) + 5, seen.visited  # the crawl reached the pages
    assert seen.findings == [], "\n".join(seen.findings)


@pytest.fixture()
def screened(web_database: TestDatabase, seeded: DemoSeed) -> int:
    """Screened 20 days ago and enrolled; the baseline visit not recorded yet."""
    with web_database.session() as session:
        pid = screened_candidate(session)
        sv.enroll_participant(
            session, actor_of(session, "coordinator"), pid, enrolled_on=TODAY - timedelta(days=2)
        )
    return pid


def test_the_baseline_date_says_when_it_would_put_the_screening_out_of_its_window(
    open_page: Any, screened: int
) -> None:
    page = open_page("coordinator")
    page.goto(f"/participants/{screened}/visits/BL")
    expect(page.locator(".lead")).to_contain_text("Baseline is day 0")
    expect(page.locator(".lead")).to_contain_text("counted from the screening date")
    check = page.locator("#window-check")
    page.get_by_label("Visit date").fill(TODAY.isoformat())  # screening on day -20: fine
    expect(check).to_contain_text("is day 0 of the schedule")
    expect(check).not_to_contain_text("screening")
    page.get_by_label("Visit date").fill((TODAY - timedelta(days=20)).isoformat())
    expect(check).to_contain_text("would then be day 0, outside its window (day -28 to -1)")
    page.get_by_role("button", name="Record visit").click()
    expect(page.get_by_role("status").first).to_contain_text("Raised: protocol deviation")
    expect(page.get_by_role("status").first).to_contain_text("Visit SCR (Screening)")


@pytest.mark.both_backends  # times as each database returns them
def test_the_site_reads_its_own_time_while_store_and_export_keep_utc(
    open_page: Any, screened: int, web_database: TestDatabase
) -> None:
    """Issue 13: times in the site's time zone on the pages, UTC kept in the store and the
    exports (ODM 1.3.2 AuditRecord DateTimeStamp, ISO 8601 with its offset)."""
    from lxml import etree
    from sqlalchemy import select

    from trialdesk.export.from_store import clinical_data
    from trialdesk.export.odm.write import odm_document
    from trialdesk.protocol import builtin_protocol
    from trialdesk.store.models import AuditEntry

    with web_database.session() as session:
        site = next(s for s in sv.list_sites(session, sv.SYSTEM) if s.code == "APGH")
        sv.set_site_time_zone(
            session, actor_of(session, "admin"), site.id, time_zone="Asia/Shanghai",
            expected_version=site.version, reason="the site is in Beijing",
        )  # fmt: skip
        (hba1c,) = sv.list_measurements(
            session,
            actor_of(session, "coordinator"),
            sv.MeasurementFilter(participant_id=screened, element="hba1c"),
        ).items
    page = open_page("coordinator")
    page.goto(f"/participants/{screened}/measurements/{hba1c.id}")
    page.get_by_label("Haemoglobin A1c", exact=True).fill("8.4")
    page.get_by_label("Reason for the change").fill("lab report re-read")
    page.get_by_role("button", name="Save correction").click()
    expect(page.get_by_role("status").first).to_contain_text("Change saved")
    with web_database.session() as session:
        stored = session.scalars(
            select(AuditEntry.occurred_at)
            .where(AuditEntry.table_name == "measurements", AuditEntry.action == "update")
            .order_by(AuditEntry.sequence.desc())
        ).first()
        data = clinical_data(session, builtin_protocol())
    assert stored is not None and stored.utcoffset() == timedelta(0)  # kept in UTC
    utc = stored
    beijing = utc.astimezone(ZoneInfo("Asia/Shanghai"))
    page.goto(f"/audit/measurements/{hba1c.id}")
    history = page.locator("table.history")
    expect(history).to_contain_text(beijing.strftime("%Y-%m-%d %H:%M"))
    expect(page.locator("main")).to_contain_text("Asia/Shanghai")
    root = odm_document(data.design, data, created=utc)
    stamps = [
        datetime.fromisoformat(s)
        for s in root.xpath(
            "//o:ItemData[@ItemOID='IT.hba1c'][@TransactionType='Update']"
            "/o:AuditRecord/o:DateTimeStamp/text()",
            namespaces={"o": "http://www.cdisc.org/ns/odm/v1.3"},
        )
    ]
    assert [s.utcoffset() for s in stamps] == [timedelta(0)], etree.tostring(root)[:200]
    assert abs((stamps[0] - utc).total_seconds()) < 1  # the stored instant, in UTC
