"""The front door in a real browser (Debian's headless chromium, driven by Playwright).

A referral sent through the gateway appears on the board; simulated agencies answer, the
education staff answer on the agency response page, probation stays silent so the case
turns PARTIAL at its deadline; the case view shows it agency by agency, and the decision
arrives, all without a reload. The wall screen shows no personal data. Screenshots go to
a temporary folder, or to docs/screenshots/ with MASH_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from mash_hub.demo.access import SecuredHub
from mash_hub.demo.hub_system import HubSystem
from mash_hub.demo.pipeline import Pipeline, PipelineOptions
from mash_hub.demo.web import WebFront
from mash_sdk.simulated.agency import Behaviour, Profile, run_agencies
from tests.support.referrals import FAMILY_NAME, GIVEN_NAME, referral_body

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("MASH_CHROMIUM", "/usr/bin/chromium")
# The committed screenshots are refreshed on purpose (MASH_UPDATE_SCREENSHOTS=1); an
# ordinary run writes its own beside the test's other output, not into the repository.
_DOCS_SHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


def _shots() -> Path:
    if os.environ.get("MASH_UPDATE_SCREENSHOTS") == "1":
        return _DOCS_SHOTS
    where = Path(tempfile.gettempdir()) / "mash-screenshots"
    where.mkdir(exist_ok=True)
    return where
DEADLINE_S = 30  # every RAG: time enough to answer on the page, short enough for CI


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Fail, never skip: CI installs chromium (.ci/run), and a browser test that cannot run
    # must say so.
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), f"no chromium at {CHROMIUM}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


def login(page: Page, url: str, user: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_referral_through_the_front_door_to_its_decision(
        secured_hub: SecuredHub, tmp_path: Path, browser: Browser) -> None:
    pipeline = Pipeline(secured_hub, PipelineOptions(
        run_dir=tmp_path, due_red_s=DEADLINE_S, due_amber_s=DEADLINE_S, due_green_s=DEADLINE_S,
        metrics_ports={}))
    # Everyone but education (answers on the page) and probation (silent) runs an adapter.
    adapters = [a for a in sorted(secured_hub.hub.agencies) if a not in ("education", "probation")]
    web = agencies = hub = None
    try:
        pipeline.start(lambda _: None)
        web = WebFront(secured_hub, tmp_path).start()
        agencies = run_agencies({a: secured_hub.agency(a) for a in adapters}, agencies=adapters,
                                profile=Profile(default=Behaviour()))
        hub = HubSystem(secured_hub.hub_system(), decision_delay_s=1.0).start()

        staff = browser.new_page(viewport={"width": 1600, "height": 900})
        login(staff, web.board_url, web.logins["staff"].user, web.logins["staff"].password)
        expect(staff.locator("header .where")).to_have_text("Open cases")

        rid = f"web-{uuid.uuid4().hex[:8]}"
        sent = httpx.post(f"{web.gateway_url}/v1/referrals",
                          json=referral_body(rid, indicators=["CHILD_DISCLOSURE"]),
                          headers={"X-API-Key": web.api_keys["school-portal"]}, timeout=30)
        assert sent.status_code == 202, sent.text

        row = staff.locator("#open tr[data-case]", has_text=GIVEN_NAME)
        expect(row).to_be_visible(timeout=30_000)
        expect(row.locator("[data-agency=police][data-state=ANSWERED]")).to_be_visible(timeout=15_000)
        expect(row.locator("[data-agency=probation]")).to_be_visible()
        case_id = row.get_attribute("data-case")
        assert case_id

        agency = browser.new_page(viewport={"width": 1400, "height": 900})
        education = web.logins["agency:education"]
        login(agency, web.board_url, education.user, education.password)
        request_row = agency.locator(f"#requests tr[data-case='{case_id}']")
        expect(request_row).to_be_visible(timeout=10_000)
        agency.screenshot(path=str(_shots() / "agency-requests.png"))
        request_row.get_by_role("link", name="Answer").click()
        agency.get_by_label("Records found").check()
        agency.get_by_label("school-and-attendance summary").fill(
            "Attendance 78% this term; two late marks a week since September.")
        agency.get_by_label("school-and-attendance reference").fill("EDU-4411")
        agency.get_by_label("safeguarding-concerns summary").fill(
            "Class teacher logged unexplained bruising on 3 March (synthetic).")
        agency.screenshot(path=str(_shots() / "agency-answer.png"), full_page=True)
        agency.get_by_role("button", name="Send the answer to the hub").click()
        expect(agency.get_by_text(f"Your answer for case {case_id} was sent")).to_be_visible()
        expect(request_row).to_have_count(0)
        # The answer is on the broker once the page says so; the board shows it within a
        # second, without a reload.
        expect(row.locator("[data-agency=education][data-state=ANSWERED]")).to_be_visible(timeout=1_000)
        staff.screenshot(path=str(_shots() / "board-staff.png"))

        # Probation never answers: at the deadline the case is assembled PARTIAL.
        expect(row.locator("[data-stage=PARTIAL]")).to_be_visible(timeout=(DEADLINE_S + 20) * 1000)
        expect(row).to_contain_text("missing: probation")

        wall = browser.new_page(viewport={"width": 1920, "height": 1080})
        login(wall, web.board_url, web.logins["wall"].user, web.logins["wall"].password)
        expect(wall.locator(f"tr[data-case='{case_id}']")).to_be_visible()
        content = wall.content()
        for personal in (GIVEN_NAME, FAMILY_NAME, "2016-04-02", "EX1 2AB"):
            assert personal not in content
        assert wall.request.get(f"{web.board_url}/api/cases/{case_id}").status == 403
        wall.screenshot(path=str(_shots() / "board-wall.png"))

        staff.locator(f"a[href='/cases/{case_id}']").first.click()
        expect(staff.locator("#case-head")).to_contain_text(case_id)
        education_panel = staff.locator(".agency[data-agency=education]")
        expect(education_panel).to_contain_text("unexplained bruising")
        expect(staff.locator(".agency[data-agency=probation][data-state=OVERDUE]")).to_be_visible()
        expect(staff.locator("#missing")).to_contain_text("probation")
        # The simulated hub decides a moment after assembly; the case view shows it live.
        expect(staff.locator("[data-decision]")).to_be_visible(timeout=20_000)
        staff.screenshot(path=str(_shots() / "case-view.png"), full_page=True)

        # The gateway tells the referrer, by polling.
        status = httpx.get(f"{web.gateway_url}/v1/referrals/{rid}",
                           headers={"X-API-Key": web.api_keys["school-portal"]}).json()
        assert status["case_id"] == case_id and status["outcomes"]
    finally:
        for part in (hub, agencies):
            if part is not None:
                part.stop()
        if web is not None:
            web.stop()
        pipeline.stop()
