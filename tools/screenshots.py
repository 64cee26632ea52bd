"""Screenshots of the main pages, for the README: ``python -m tools.screenshots``.

A throw-away SQLite study is filled by the virtual-cohort simulator (through the services, as in
`trialdesk simulate`), a few things a site meets are added (a correction with its reason, a
monitor's query and its answer, a serious adverse event awaiting its expedited report), the app
is served by uvicorn on 127.0.0.1, and Debian's chromium (through Playwright) logs in as each
role and saves PNGs. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tools.harness.database import DEMO_PASSWORD, fresh_database, seed_demo_site_and_users
from tools.harness.live import LiveServer, launch_chromium
from trialdesk import services as sv

DEFAULT_OUT = Path("docs/screenshots")
DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 768, "height": 1024}


@dataclass(frozen=True)
class Scene:
    """What the screenshots show (ids in the simulated study)."""

    participant_id: int
    study_id: str
    visit_code: str
    measurement_id: int
    query_id: int
    serious_event_id: int


def _actor(session: Session, username: str) -> sv.Actor:
    users = sv.list_users(session, sv.SYSTEM, limit=500).items
    return sv.actor_for(session, next(u.id for u in users if u.username == username))


def build_study(session: Session, candidates: int, seed: int) -> Scene:
    """Simulate the cohort, then add what the pages should show besides routine data."""
    from trialdesk.simulate.population import ScreeningPopulation
    from trialdesk.simulate.run import SimulationSettings, run_simulation

    seed_demo_site_and_users(session)
    start = date.today() - timedelta(days=320)
    run_simulation(
        session,
        SimulationSettings(
            n_candidates=candidates,
            seed=seed,
            start=start,
            population=ScreeningPopulation(mean_days_between_screenings=5.0),
        ),
    )
    coordinator, monitor = _actor(session, "coordinator"), _actor(session, "monitor")
    enrolled = sv.list_participants(session, coordinator, status="enrolled", limit=500).items
    subject = min(enrolled, key=lambda p: p.registered_on)  # the longest follow-up
    # The latest visit with an ITT, so its page shows the glucose curve and KITT too.
    itt_visit = max(
        sv.list_itt_tests(session, coordinator, subject.id), key=lambda t: t.performed_on
    )
    latest = sv.list_measurements(
        session,
        coordinator,
        sv.MeasurementFilter(
            participant_id=subject.id, element="hba1c", visit_code=itt_visit.visit_code
        ),
    ).items[0]
    corrected = sv.update_measurement(
        session,
        coordinator,
        latest.id,
        sv.MeasurementChanges(
            expected_version=latest.version,
            reason="transcription error: the laboratory report says otherwise",
            value=f"{(latest.value or 7.0) + 0.3:.1f}",
            unit="%",
        ),
    )
    query = sv.raise_query(
        session,
        monitor,
        target_table="measurements",
        target_id=corrected.id,
        field="value",
        text="HbA1c changed after entry: please confirm against the laboratory report",
    )
    sv.answer_query(
        session,
        coordinator,
        query.id,
        expected_version=query.version,
        answer="Confirmed: the report reads the corrected value",
    )
    other = next(p for p in enrolled if p.id != subject.id)
    _query_a_visit(session, monitor, other.id)
    pneumonia = sv.report_adverse_event(
        session,
        coordinator,
        other.id,
        sv.AdverseEventReport(
            term="Pneumonia",
            onset_date=date.today() - timedelta(days=3),
            grade=3,
            relatedness="unlikely",
            action_taken="not applicable",
            outcome="recovering/resolving",
            seriousness=["hospitalisation"],
            expected=False,
            awareness_date=date.today() - timedelta(days=2),
        ),
    )
    return Scene(
        subject.id, subject.study_id, latest.visit_code, corrected.id, query.id, pneumonia.id
    )


def _query_a_visit(session: Session, monitor: sv.Actor, participant_id: int) -> None:
    visits = sv.list_visits(session, monitor, participant_id)
    if visits:
        sv.raise_query(
            session,
            monitor,
            target_table="visits",
            target_id=visits[-1].id,
            field="visit_date",
            text="The visit date differs from the source notes; please check",
        )


def _log_in(browser: Any, url: str, username: str, viewport: dict[str, int]) -> Any:
    context = browser.new_context(base_url=url, viewport=viewport)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")
    return page


def _screening(page: Any) -> None:
    """A candidate being typed in: one criterion not met, one value mistyped, gaps left."""
    page.goto("/screening/new")
    page.get_by_label("Site").select_option("APGH")
    page.get_by_label("Full name (kept apart from the study data)").fill("Chen Jie")
    page.get_by_label("Consent form version").fill("1.0")
    page.get_by_label("Date consent signed").fill(date.today().isoformat())
    page.locator('input[name="t2dm_diagnosis"][value="yes"]').check()
    page.locator("#f-fasting_glucose_unit").select_option("mg/dL")
    page.get_by_label("Fasting plasma glucose (FBG)", exact=True).fill("151")
    page.get_by_label("Date of birth").fill("1961-09-23")
    page.get_by_label("Body weight", exact=True).fill("94")
    page.get_by_label("Body height", exact=True).fill("168")
    page.get_by_label("Haemoglobin A1c", exact=True).press_sequentially("8..4")
    page.locator("#err-hba1c").filter(has_text="number").wait_for()
    page.evaluate("window.scrollTo(0, 0)")


def _conflict(browser: Any, url: str, page: Any, scene: Scene) -> None:
    """Two users correct the same HbA1c: the investigator saves first, so the coordinator's
    save comes back with both versions side by side (nothing of the investigator's reverted)."""
    where = f"/participants/{scene.participant_id}/measurements/{scene.measurement_id}"
    page.goto(where)
    other = _log_in(browser, url, "investigator", DESKTOP)
    other.goto(where)
    other.get_by_label("Haemoglobin A1c", exact=True).fill("7.9")
    other.get_by_label("Reason for the change").fill("laboratory re-issued the report")
    other.get_by_role("button", name="Save correction").click()
    other.get_by_role("status").first.wait_for()
    page.get_by_label("Haemoglobin A1c", exact=True).fill("8.2")
    page.get_by_label("Reason for the change").fill("value from the source notes")
    page.get_by_role("button", name="Save correction").click()
    page.locator(".conflict-summary").wait_for()


@contextmanager
def _served(candidates: int, seed: int) -> Iterator[tuple[str, Scene]]:
    from trialdesk.api import ApiSettings, create_app

    with tempfile.TemporaryDirectory(prefix="trialdesk-shots-") as folder:
        db = fresh_database(directory=Path(folder))
        try:
            with db.session() as session:
                scene = build_study(session, candidates, seed)
            app = create_app(ApiSettings(database_url=str(db.engine.url)), engine=db.engine)
            with LiveServer(app) as server:
                yield server.url, scene
        finally:
            db.dispose()


Shot = Callable[..., None]  # shot(page, name, full=True): one PNG of the page


def _coordinator_shots(browser: Any, url: str, scene: Scene, shot: Shot) -> Any:
    """Login, dashboard, screening, casebook, visit, audit trail, conflict, deviations."""
    anonymous = browser.new_context(base_url=url, viewport=DESKTOP).new_page()
    anonymous.goto("/login")
    shot(anonymous, "login", full=False)
    page = _log_in(browser, url, "coordinator", DESKTOP)
    shot(page, "dashboard")
    _screening(page)
    page.set_viewport_size({"width": 1280, "height": 1300})
    shot(page, "screening", full=False)
    page.set_viewport_size(DESKTOP)
    pid = scene.participant_id
    page.goto(f"/participants/{pid}")
    shot(page, "casebook")
    page.goto(f"/participants/{pid}/visits/{scene.visit_code}")
    # At the end of the page the sticky save bar rests below the last block, as a user
    # sees it after the last field; a full-page capture from the top would draw it across
    # whichever row sat at the bottom of the first screen.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    shot(page, "visit")
    page.goto(f"/audit/measurements/{scene.measurement_id}")
    shot(page, "audit-history")
    _conflict(browser, url, page, scene)
    shot(page, "conflict")
    page.goto("/deviations")
    shot(page, "deviations", full=False)
    return page


def _monitor_shots(browser: Any, url: str, scene: Scene, shot: Shot) -> None:
    monitor = _log_in(browser, url, "monitor", DESKTOP)
    monitor.goto(f"/queries/{scene.query_id}")
    shot(monitor, "query")
    monitor.goto("/monitoring")
    shot(monitor, "record-status", full=False)
    monitor.goto("/monitoring/sdv")
    shot(monitor, "sdv-progress", full=False)


def _investigator_shots(browser: Any, url: str, pid: int, shot: Shot) -> None:
    """The casebook on a tablet, signing, data locks, and the statistician's blinded view."""
    tablet = _log_in(browser, url, "investigator", TABLET)
    tablet.goto(f"/participants/{pid}")
    shot(tablet, "casebook-tablet")
    investigator = _log_in(browser, url, "investigator", DESKTOP)
    investigator.goto(f"/participants/{pid}/sign")
    shot(investigator, "sign-casebook", full=False)
    investigator.goto("/locks")
    shot(investigator, "data-locks", full=False)
    statistician = _log_in(browser, url, "statistician", DESKTOP)
    statistician.goto(f"/participants/{pid}")
    shot(statistician, "casebook-statistician", full=False)


def capture(
    out: Path, candidates: int = 45, seed: int = 11, only: frozenset[str] = frozenset()
) -> list[Path]:
    """Write the PNGs into `out` (only those named in `only`, when given); returns their paths."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def shot(page: Any, name: str, full: bool = True) -> None:
        if only and name not in only:
            return
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        saved.append(path)

    with _served(candidates, seed) as (url, scene), sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = _coordinator_shots(browser, url, scene, shot)
        _monitor_shots(browser, url, scene, shot)
        page.goto(f"/adverse-events/{scene.serious_event_id}")
        shot(page, "serious-adverse-event")
        page.goto("/screening/log")
        shot(page, "screening-log", full=False)
        _investigator_shots(browser, url, scene.participant_id, shot)
        browser.close()
    return saved


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNGs")
    parser.add_argument("--candidates", type=int, default=45, help="simulated candidates")
    parser.add_argument("--seed", type=int, default=11, help="simulation seed")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="only this PNG (repeatable)"
    )
    args = parser.parse_args(argv)
    for path in capture(args.out, args.candidates, args.seed, frozenset(args.only)):
        print(path)


if __name__ == "__main__":
    main()
