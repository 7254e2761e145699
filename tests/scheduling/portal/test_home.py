"""The portal home: next appointments in the clinic's time, the plan in plain words, past
sessions and the PHQ-9 chart, in a fixed number of queries."""

import datetime
import re

import pytest
import time_machine
from django.urls import reverse

from patients.models import MaintenancePlan
from scheduling.models import Appointment
from tests.conftest import AUDIT_QUERIES
from tests.factories import (
    AppointmentFactory,
    AssessmentFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    TreatmentCourseFactory,
    UserFactory,
)

UTC = datetime.UTC
NOW = datetime.datetime(2027, 3, 1, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def me(patient):
    patient.first_name = "Dora"
    patient.user = UserFactory(username=patient.email)
    patient.save()
    return patient


def plan_due(patient, due, grace=7, status=MaintenancePlan.Status.ACTIVE, **extra):
    plan = MaintenancePlanFactory(patient=patient, status=status, grace_days=grace, **extra)
    MaintenancePhaseFactory(plan=plan, interval_days=28, visits=None)
    MaintenancePlan.objects.filter(pk=plan.pk).update(next_due_on=due)
    return plan


def home(client, me):
    client.force_login(me.user)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_plan_in_plain_words(client, me):
    plan_due(me, datetime.date(2027, 3, 12))
    assert ("Your next maintenance session is due around 12 March — book between 5 March and 19 March"
            in home(client, me))


def test_the_window_follows_the_setting(client, me, settings):
    settings.TMS_PORTAL_BOOK_DAYS_BEFORE = 3
    plan_due(me, datetime.date(2027, 3, 12), grace=2)
    assert "book between 9 March and 14 March" in home(client, me)


def test_an_overdue_visit_is_booked_from_today(client, me):
    plan_due(me, datetime.date(2027, 2, 10), grace=7)  # 19 days overdue on 1 March
    assert ("Your maintenance session was due on 10 February. Book it as soon as you can — between today and "
            "15 March.") in home(client, me)


def test_a_long_overdue_visit_asks_the_patient_to_call(client, me):
    plan_due(me, datetime.date(2026, 12, 20), grace=7)  # 71 days overdue on 1 March
    assert "Your maintenance session was due on 20 December. As it has been a while, please call" in home(client, me)


def test_a_paused_plan_says_until_when(client, me):
    plan_due(me, datetime.date(2027, 3, 20), status=MaintenancePlan.Status.PAUSED,
             paused_until=datetime.date(2027, 3, 20))
    assert "Your maintenance plan is paused until 20 March." in home(client, me)


def test_a_booked_visit_is_named(client, me, chair):
    plan = plan_due(me, datetime.date(2027, 3, 12))
    AppointmentFactory(patient=me, chair=chair, plan=plan, kind=Appointment.Kind.MAINTENANCE,
                       starts_at=datetime.datetime(2027, 3, 11, 14, 30, tzinfo=UTC))
    assert "Your next maintenance session is booked for 11 March at 09:30." in home(client, me)


def test_appointments_in_the_clinics_time_and_past_sessions(client, me, chair):
    # 13:00 UTC on 15 March 2027 is 09:00 in New York (clocks went forward on the 14th).
    upcoming = AppointmentFactory(patient=me, chair=chair, kind=Appointment.Kind.MAINTENANCE,
                                  starts_at=datetime.datetime(2027, 3, 15, 13, 0, tzinfo=UTC))
    AppointmentFactory(patient=me, chair=chair, status=Appointment.Status.CANCELLED,
                       starts_at=datetime.datetime(2027, 3, 16, 13, 0, tzinfo=UTC))
    AppointmentFactory(patient=me, chair=chair, status=Appointment.Status.COMPLETED,
                       starts_at=datetime.datetime(2027, 2, 1, 15, 0, tzinfo=UTC))
    page = home(client, me)
    assert (f'href="{reverse("portal:appointment", args=[upcoming.uuid])}" data-testid="open-appointment">'
            "Monday 15 March at 09:00</a>") in page
    assert "Tuesday 16 March" not in page  # cancelled: not among the next appointments
    assert reverse("portal:appointment-ics", args=[upcoming.uuid]) in page
    assert "1 February 2027, 10:00 · Acute session · Completed" in page


def test_the_phq9_chart_is_shown(client, me):
    AssessmentFactory(patient=me, taken_at=NOW - datetime.timedelta(days=20))
    AssessmentFactory(patient=me, taken_at=NOW - datetime.timedelta(days=5), item_1=3)
    page = home(client, me)
    assert "<svg" in page and 'id="phq9-scores"' in page
    assert "No PHQ-9 yet." not in page


# The PHQ-9 bands as ../shared/CLINICAL.md gives them (Kroenke 2001), written out independently.
CLINICAL_BANDS = ["0–4: minimal — below 5 is remission-level", "5–9: mild", "10–14: moderate",
                  "15–19: moderately severe", "20–27: severe"]


def test_the_chart_speaks_the_patients_words_in_readable_text(client, me):
    TreatmentCourseFactory(patient=me, start_date=datetime.date(2027, 2, 1))
    AssessmentFactory(patient=me, taken_at=datetime.datetime(2027, 1, 30, 15, tzinfo=UTC), item_1=3)  # 10
    AssessmentFactory(patient=me, taken_at=datetime.datetime(2027, 2, 20, 15, tzinfo=UTC), item_2=0)  # 7
    page = home(client, me)
    legend = re.search(r'data-testid="phq9-legend">(.*?)</ul>', page, re.S).group(1)
    assert re.findall(r"<span>([^<]*)</span>", legend) == [
        "Your score (lower is better)",
        "Half your score when a treatment course began: a score at or below it means the treatment is working well",
        *CLINICAL_BANDS,
    ]
    for staff_words in ("baseline", "Baseline", "Response", "Remission (", "Session"):
        assert staff_words not in page
    svg = re.search(r'<div role="img" aria-labelledby="phq9-caption">(<svg.*?</svg>)', page, re.S).group(1)
    assert 'id="phq9-halfway-0"' in svg and 'id="phq9-scores"' in svg
    # No tiny text: every label in the drawing is at least 12 units, and the drawing is at most
    # 310 units wide (its viewBox), so a 390 px phone (about 358 px of column) shows it at 14 px
    # or more.
    sizes = [float(size) for size in re.findall(r'font-size="([\d.]+)(?:px)?"', svg)]
    assert sizes and min(sizes) >= 12, sizes
    width = float(re.search(r'<svg[^>]* viewBox="0 0 ([\d.]+) [\d.]+"', svg).group(1))
    assert width <= 310 and min(sizes) * 358 / width >= 14


def test_no_halfway_line_or_key_without_a_course(client, me):
    AssessmentFactory(patient=me, taken_at=NOW - datetime.timedelta(days=5))
    page = home(client, me)
    assert "phq9-halfway" not in page and "Half your score" not in page
    assert "Your score (lower is better)" in page and "5–9: mild" in page


def test_the_home_page_has_a_fixed_number_of_queries(client, me, chair, django_assert_max_num_queries):
    plan = plan_due(me, datetime.date(2027, 3, 12))
    for day in range(1, 25):
        AppointmentFactory(patient=me, chair=chair, plan=plan, status=Appointment.Status.COMPLETED,
                           kind=Appointment.Kind.MAINTENANCE,
                           starts_at=datetime.datetime(2026, 12, day, 15, 0, tzinfo=UTC))
        AssessmentFactory(patient=me, taken_at=datetime.datetime(2026, 12, day, 16, 0, tzinfo=UTC))
    client.force_login(me.user)
    with django_assert_max_num_queries(14 + AUDIT_QUERIES):
        assert client.get(reverse("portal:home")).status_code == 200
