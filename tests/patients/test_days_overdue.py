"""Days overdue are whole days on the wall calendar of the patient's home clinic, not on UTC's:
UTC's date is a day ahead every evening in the Americas and a day behind every morning in
New Zealand."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from patients.models import MaintenancePlan
from scheduling.services.plans import refresh_plan
from tests.factories import ClinicFactory, MaintenancePhaseFactory, MaintenancePlanFactory, PatientFactory

# Due Monday 4 January 2027 with 7 grace days: overdue from the start of 12 January, local time.
DUE = datetime.date(2027, 1, 4)


def travel(moment):
    return time_machine.travel(moment, tick=False)


def local(zone, day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=ZoneInfo(zone))


def plan_in(zone):
    patient = PatientFactory(home_clinic=ClinicFactory(time_zone=zone))
    plan = MaintenancePlanFactory(patient=patient, started_on=DUE, grace_days=7)
    MaintenancePhaseFactory(plan=plan, interval_days=28, visits=None)
    return refresh_plan(plan)


def fresh(plan):
    return MaintenancePlan.objects.select_related("patient__home_clinic").get(pk=plan.pk)


@pytest.mark.django_db
@pytest.mark.parametrize(("zone", "moment", "days"), [
    # 20:00 on the 14th in Los Angeles is already 04:00 on the 15th in UTC.
    ("America/Los_Angeles", local("America/Los_Angeles", datetime.date(2027, 1, 14), 20), 10),
    ("America/Los_Angeles", local("America/Los_Angeles", datetime.date(2027, 1, 14), 23, 59), 10),
    ("America/Los_Angeles", local("America/Los_Angeles", datetime.date(2027, 1, 15), 0), 11),
    # 09:00 on the 15th in Auckland (summer time, UTC+13) is still 20:00 on the 14th in UTC.
    ("Pacific/Auckland", local("Pacific/Auckland", datetime.date(2027, 1, 15), 9), 11),
    ("Pacific/Auckland", local("Pacific/Auckland", datetime.date(2027, 1, 14), 23, 59), 10),
])
def test_days_overdue_are_counted_on_the_home_clinics_calendar(zone, moment, days):
    plan = plan_in(zone)
    with travel(moment):
        assert fresh(plan).days_overdue == days


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Pacific/Auckland", "Europe/London"])
def test_on_the_first_overdue_day_it_is_the_grace_days_plus_one(zone):
    plan = plan_in(zone)
    first_day = datetime.date(2027, 1, 12)
    with travel(local(zone, first_day, 0) - datetime.timedelta(seconds=1)):
        assert fresh(plan).days_overdue == 0  # still in grace
    with travel(local(zone, first_day, 0)):
        assert fresh(plan).days_overdue == 8


@pytest.mark.django_db
def test_counting_reads_nothing_more_from_the_database(django_assert_num_queries):
    plan = plan_in("America/Los_Angeles")
    with travel(local("America/Los_Angeles", datetime.date(2027, 1, 14), 20)):
        loaded = fresh(plan)
        with django_assert_num_queries(0):
            assert loaded.days_overdue == 10


def test_the_patient_page_says_how_overdue_on_the_clinics_calendar(client, front_desk):
    plan = plan_in("America/Los_Angeles")
    with travel(local("America/Los_Angeles", datetime.date(2027, 1, 14), 20)):
        client.force_login(front_desk)
        page = client.get(reverse("staff:patient", args=[plan.patient.uuid])).content.decode()
    assert "Overdue by 10 days" in page
