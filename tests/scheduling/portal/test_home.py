"""The portal home: next appointments in the clinic's time, the plan in plain words, past
sessions and the PHQ-9 chart, in a fixed number of queries."""

import datetime

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


def test_an_overdue_visit_asks_the_patient_to_call(client, me):
    plan_due(me, datetime.date(2027, 2, 10), grace=7)
    assert "Your maintenance session was due on 10 February. Please call the clinic" in home(client, me)


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
    assert "Monday 15 March</strong> at 09:00" in page
    assert "Tuesday 16 March" not in page  # cancelled: not among the next appointments
    assert reverse("portal:appointment-ics", args=[upcoming.uuid]) in page
    assert "1 February 2027, 10:00 · Acute session · Completed" in page


def test_the_phq9_chart_is_shown(client, me):
    AssessmentFactory(patient=me, taken_at=NOW - datetime.timedelta(days=20))
    AssessmentFactory(patient=me, taken_at=NOW - datetime.timedelta(days=5), item_1=3)
    page = home(client, me)
    assert "<svg" in page and 'id="phq9-scores"' in page
    assert "No PHQ-9 yet." not in page


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
