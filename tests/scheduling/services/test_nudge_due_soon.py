"""The "time to book your maintenance session" nudge: its window runs on the calendar of the
patient's home clinic, one query whatever the number of plans and clinics, and a patient who
can log in to the portal is sent a link to book there."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import PlanTemplate
from scheduling import sms
from scheduling.models import Reminder
from scheduling.services.plans import start_plan
from scheduling.services.reminders import nudge_due_soon, send_due
from tests.factories import (
    ChairFactory,
    ClinicFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    UserFactory,
)

UTC = datetime.UTC
PHONE = "+12125550100"
CLINIC_PHONE = "+12125550123"
SITE = "https://clinic.example"
BOOK_LINK = f"{SITE}/portal/book/"
# Due Thursday 14 January 2027; with a 5-day window the nudge may go from Saturday 9 January.
DUE = datetime.date(2027, 1, 14)
LOS_ANGELES, AUCKLAND, NEW_YORK = "America/Los_Angeles", "Pacific/Auckland", "America/New_York"


@pytest.fixture(autouse=True)
def _in_memory_backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TMS_SMS_BACKEND = "scheduling.sms.InMemoryBackend"
    settings.SITE_URL = SITE + "/"
    settings.TMS_DUE_SOON_DAYS = 5
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def travel(moment):
    return time_machine.travel(moment, tick=False)


def local(zone, day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=ZoneInfo(zone))


@pytest.fixture
def monthly(db):
    template = PlanTemplate.objects.create(name="Test monthly", grace_days=7)
    template.phases.create(order=0, interval_days=28, visits=None)
    return template


def plan_due(template, zone=NEW_YORK, *, clinic=None, due=DUE, by="email", **fields):
    clinic = clinic or ClinicFactory(time_zone=zone, phone=CLINIC_PHONE)
    patient = PatientFactory(home_clinic=clinic, email_consent=True, sms_consent=True, phone=PHONE,
                             preferred_channel=by, **fields)
    return start_plan(patient=patient, protocol=ProtocolFactory(), template=template, started_on=due)


def nudged(plan):
    return Reminder.objects.filter(plan=plan, kind=Reminder.Kind.MAINTENANCE_DUE, due_on=plan.next_due_on).exists()


# --- The window, on the clinic's calendar ------------------------------------------------------


@pytest.mark.parametrize(("zone", "moment", "expected"), [
    # Friday 8 January, 20:00 in Los Angeles: six days ahead there, though UTC is already on the 9th.
    (LOS_ANGELES, local(LOS_ANGELES, datetime.date(2027, 1, 8), 20), False),
    # Saturday 9 January, 08:00 in Los Angeles (16:00 UTC): five days ahead, the first day of the window.
    (LOS_ANGELES, local(LOS_ANGELES, datetime.date(2027, 1, 9), 8), True),
    # The due day itself, 20:00 in Los Angeles: still today there, though UTC is on the 15th.
    (LOS_ANGELES, local(LOS_ANGELES, DUE, 20), True),
    # Saturday 9 January, 08:00 in Auckland (summer time, UTC+13) is still the 8th in UTC.
    (AUCKLAND, local(AUCKLAND, datetime.date(2027, 1, 9), 8), True),
    # Beat's 15:00 UTC on the due day is 04:00 on the 15th in Auckland: past due, no nudge.
    (AUCKLAND, datetime.datetime(2027, 1, 14, 15, tzinfo=UTC), False),
    (AUCKLAND, local(AUCKLAND, datetime.date(2027, 1, 8), 23, 59), False),
])
def test_the_window_runs_on_the_home_clinics_calendar(monthly, zone, moment, expected):
    plan = plan_due(monthly, zone)
    with travel(moment):
        assert nudge_due_soon() == int(expected)
    assert nudged(plan) is expected


def test_one_run_holds_each_plan_to_its_own_clinics_today(monthly):
    # 15:00 UTC on Friday 8 January: 07:00 on the 8th in Los Angeles, 04:00 on the 9th in Auckland.
    los_angeles, auckland = plan_due(monthly, LOS_ANGELES), plan_due(monthly, AUCKLAND)
    with travel(datetime.datetime(2027, 1, 8, 15, tzinfo=UTC)):
        assert nudge_due_soon() == 1
    assert (nudged(los_angeles), nudged(auckland)) == (False, True)


def test_it_costs_the_same_queries_for_many_plans_in_many_clinics(monthly, django_assert_num_queries):
    moment = datetime.datetime(2027, 1, 10, 15, tzinfo=UTC)
    for zone in (LOS_ANGELES, AUCKLAND):
        plan_due(monthly, zone)
    with travel(moment), CaptureQueriesContext(connection) as few:
        assert nudge_due_soon() == 2
    zones = (LOS_ANGELES, AUCKLAND, NEW_YORK, "Europe/London", "Asia/Kolkata", "Pacific/Honolulu")
    for n in range(30):
        plan_due(monthly, zones[n % len(zones)], due=DUE + datetime.timedelta(days=n % 2))
    with travel(moment), django_assert_num_queries(len(few)):
        assert nudge_due_soon() == 30


# --- The link to book in the portal ------------------------------------------------------------


@pytest.fixture
def portal_user(db):
    return UserFactory(username="ada@patients.test")  # with a password: the portal is open to her


def sent_to(plan, moment):
    with travel(moment):
        assert nudge_due_soon() == 1
        assert send_due()["sent"] == 1
    emails = [m for m in mail.outbox if m.to == [plan.patient.email]]
    texts = [m["body"] for m in sms.outbox if m["to"] == PHONE]
    return emails, texts


SATURDAY_MORNING = local(NEW_YORK, datetime.date(2027, 1, 9), 10)


def test_a_portal_patients_email_carries_a_link_to_book(monthly, portal_user):
    plan = plan_due(monthly, user=portal_user)
    (message,), _ = sent_to(plan, SATURDAY_MORNING)
    assert f"Book it in the patient portal: {BOOK_LINK}" in message.body
    assert f"Or call us on {CLINIC_PHONE}." in message.body
    ((html, _),) = message.alternatives
    assert f'href="{BOOK_LINK}"' in html


def test_a_portal_patients_sms_carries_the_link_too(monthly, portal_user):
    plan = plan_due(monthly, user=portal_user, by="sms")
    _, (text,) = sent_to(plan, SATURDAY_MORNING)
    assert BOOK_LINK in text and CLINIC_PHONE in text
    assert len(text) <= 320  # two SMS segments at most


def test_the_link_opens_the_booking_page_once_logged_in(client, monthly, portal_user):
    clinic = ClinicFactory(time_zone=NEW_YORK, phone=CLINIC_PHONE)
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday)
    ChairFactory(clinic=clinic)
    plan = plan_due(monthly, clinic=clinic, user=portal_user)
    (message,), _ = sent_to(plan, SATURDAY_MORNING)
    link = next(word for word in message.body.split() if word.startswith(SITE))
    with travel(SATURDAY_MORNING):
        assert client.get(link.removeprefix(SITE)).url.startswith("/portal/login/")
        client.force_login(portal_user)
        page = client.get(link.removeprefix(SITE))
    assert page.status_code == 200
    # The page offers the visit the nudge was about: from 7 days before it is due to the end of grace.
    assert "You can book between Thursday 7 January and Thursday 21 January" in page.content.decode()
    assert "no free times left" not in page.content.decode()


def without_password(user):
    user.set_unusable_password()
    user.save()
    return user


def inactive(user):
    user.is_active = False
    user.save()
    return user


@pytest.mark.parametrize("account", [
    pytest.param(lambda user: None, id="no portal account"),
    pytest.param(without_password, id="invited, password never set"),
    pytest.param(inactive, id="account switched off"),
])
def test_a_patient_who_cannot_log_in_is_asked_to_call_without_a_link(monthly, portal_user, account):
    plan = plan_due(monthly, user=account(portal_user), by="email")
    (message,), _ = sent_to(plan, SATURDAY_MORNING)
    assert "/portal/" not in message.body
    assert f"Please call us on {CLINIC_PHONE} to book." in message.body
    ((html, _),) = message.alternatives
    assert "/portal/" not in html


def test_sending_nudges_with_links_costs_the_same_queries_for_2_or_20(monthly, django_assert_num_queries):
    def due(count, start):
        for n in range(start, start + count):
            plan_due(monthly, by=("email", "sms")[n % 2], email=f"p{n}@patients.test",
                     user=UserFactory(username=f"p{n}@patients.test"))

    due(2, 0)
    with travel(SATURDAY_MORNING):
        nudge_due_soon()
        with CaptureQueriesContext(connection) as few:
            assert send_due()["sent"] == 2
    due(20, 2)
    with travel(SATURDAY_MORNING + datetime.timedelta(minutes=1)):
        nudge_due_soon()
        with django_assert_num_queries(len(few)):
            assert send_due()["sent"] == 20
    assert sum(BOOK_LINK in m.body for m in mail.outbox) + sum(BOOK_LINK in m["body"] for m in sms.outbox) == 22
