"""Bringing a lapsed patient back, in Chromium on a phone (issue 14, part 1): the cadence's day-0
e-mail carries the self-booking link; the patient opens it without logging in, books the first
time offered in one tap, and the cadence stops. Each page passes axe-core."""

import datetime
import importlib
import re
from pathlib import Path

import pytest
import time_machine
from django.apps import apps as global_apps
from django.core import mail
from playwright.sync_api import expect

from patients.models import PatientFlag
from scheduling.models import Appointment, OutreachMessage
from scheduling.services import outreach
from scheduling.services.plans import refresh_plan
from tests.e2e.test_accessibility import blocking_violations
from tests.factories import (
    ChairFactory,
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    PatientFactory,
    PatientFlagFactory,
    ProtocolFactory,
)

pytestmark = pytest.mark.browser
SHOTS = Path("test-results/outreach")


def test_a_lapsed_patient_comes_back_from_the_cadences_message(phone, transactional_db, settings, live_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = live_server.url
    importlib.import_module("scheduling.migrations.0015_default_cadences").create_default_cadences(global_apps, None)
    SHOTS.mkdir(parents=True, exist_ok=True)
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York", phone="+12125550123")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
    ChairFactory(clinic=clinic, name="Chair A")
    protocol = ProtocolFactory(name="iTBS maintenance", chair_minutes=30, session_minutes=3)
    patient = PatientFactory(home_clinic=clinic, first_name="Ada", email="ada@patients.test", email_consent=True)
    plan = MaintenancePlanFactory(patient=patient, protocol=protocol, started_on=datetime.date(2027, 1, 11),
                                  grace_days=7)
    MaintenancePhaseFactory(plan=plan, interval_days=28, visits=None)
    refresh_plan(plan)
    monday = datetime.datetime(2027, 1, 19, 10, tzinfo=clinic.tz)  # lapsed since midnight
    flag = PatientFlagFactory(patient=patient, plan=plan, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE,
                              raised_at=monday - datetime.timedelta(hours=9), due_on=plan.next_due_on)
    with time_machine.travel(monday, tick=True):
        outreach.run()
        [email] = mail.outbox
        link = re.search(r"https?://\S+/portal/back/\S+/", email.body).group(0)
        phone.goto(link)
        expect(phone.get_by_role("heading", name="Hello Ada")).to_be_visible()
        assert blocking_violations(phone) == []
        phone.screenshot(path=str(SHOTS / "offered-times.png"), full_page=True)
        first = phone.get_by_role("button", name=re.compile(r"^Book Wednesday 20 January at "))
        expect(first.first).to_be_visible()
        label = first.first.get_attribute("aria-label")
        first.first.click()
        expect(phone.get_by_test_id("done")).to_contain_text("you are booked")
        expect(phone.get_by_test_id("booked")).to_contain_text("Wednesday 20 January")
        assert blocking_violations(phone) == []
        phone.screenshot(path=str(SHOTS / "booked.png"), full_page=True)
    [visit] = Appointment.objects.filter(patient=patient)
    local = clinic.local(visit.starts_at)
    assert label == f"Book Wednesday 20 January at {local:%H:%M}"
    assert visit.booked_via == Appointment.Via.PORTAL and visit.booked_after_lapse
    assert OutreachMessage.objects.get(flag=flag).appointment == visit
