"""The adherence dashboard in Chromium, on the seeded demo with a history of flags and outreach:
a clinician reads it for all their clinics and for one, downloads a table, and a clinic admin
opens it too; axe-core finds no serious or critical violation, and full-page screenshots go to
test-results/adherence/."""

import csv
import importlib
import io
import random
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.apps import apps as global_apps
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from scheduling.models import Clinic
from scheduling.services import adherence
from tests.e2e.test_accessibility import check, sign_in
from tests.scheduling.services.test_adherence import SEEDED_AT, add_history

pytestmark = pytest.mark.browser
SHOTS = Path("test-results/adherence")
URL = reverse("staff:adherence")
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo(transactional_db):
    """The seeded demo (150 patients) with past flags and the messages their cadences sent.
    A transactional test starts without what data migrations made: the roles and templates the
    seed needs are made again by the migrations' own steps."""
    for app, name in (("patients", "0003_course_templates"), ("patients", "0004_plan_templates_and_outreach"),
                      ("scheduling", "0002_role_groups"), ("scheduling", "0009_least_privilege")):
        for operation in importlib.import_module(f"{app}.migrations.{name}").Migration.operations:
            if hasattr(operation, "code"):
                operation.code(global_apps, None)
    with time_machine.travel(SEEDED_AT, tick=False):
        call_command("seed_demo", patients=150, stdout=StringIO())
        add_history(random.Random(14))
    return {clinic.name: clinic for clinic in Clinic.objects.all()}


def test_a_clinician_and_a_clinic_admin_read_the_dashboard(page, demo):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(DESKTOP)
    with time_machine.travel(SEEDED_AT, tick=True):
        figures = adherence.dashboard(clinics=list(demo.values()), now=SEEDED_AT)
        sign_in(page, User.objects.get(username="clinician"))
        page.goto("/staff/")
        page.get_by_role("link", name="Adherence").click()
        expect(page.get_by_role("heading", name="Adherence dashboard", level=1)).to_be_visible()
        expect(page.get_by_test_id("share-today")).to_have_text(f"{round(figures['today']['share'] * 100)}%")
        expect(page.get_by_test_id("overdue-today")).to_have_text(str(figures["today"]["overdue"]))
        on_schedule = page.get_by_role("img", name="Maintenance patients on schedule, weekly: all your clinics")
        expect(on_schedule).to_be_visible()
        expect(page.get_by_role("img", name="Chair utilisation by day: all your clinics")).to_be_visible()
        expect(page.get_by_test_id("on-schedule-table").locator("tbody tr")).to_have_count(26)
        checked, failures = check(page, [URL])
        assert checked == [URL] and failures == []
        page.screenshot(path=str(SHOTS / "all-clinics.png"), full_page=True)

        page.get_by_label("Clinic", exact=True).select_option(label="Thames TMS")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_test_id("scope")).to_contain_text("Thames TMS")
        thames = adherence.dashboard(clinics=[demo["Thames TMS"]], now=SEEDED_AT)
        expect(page.get_by_test_id("overdue-today")).to_have_text(str(thames["today"]["overdue"]))
        expect(page.get_by_role("img", name="No-show rate, weekly: Thames TMS")).to_be_visible()
        with page.expect_download() as download:
            page.get_by_test_id("csv-response").click()
        rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
        assert rows[-1][:2] == ["All protocols", str(thames["response"][-1]["courses"])]
        assert download.value.suggested_filename == "adherence-response-thames-tms-2026-12-04.csv"

        sign_in(page, User.objects.get(username="clinicadmin"))
        page.set_viewport_size(PHONE)
        page.goto(URL)
        expect(page.get_by_test_id("overdue-today")).to_have_text(str(figures["today"]["overdue"]))
        checked, failures = check(page, [f"{URL}?clinic={demo['Riverside TMS'].pk}"])
        assert failures == []
        page.screenshot(path=str(SHOTS / "clinic-admin-phone.png"), full_page=True)
