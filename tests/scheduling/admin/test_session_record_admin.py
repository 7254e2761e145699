"""Session records in Django admin: a record is written by complete_appointment, which completes
the appointment and moves the maintenance plan with it, so admin adds none, never moves one to
another appointment nor changes who recorded it or when, and deletes one only with its
appointment (a superuser's delete, which recomputes the plan). What was delivered can be
corrected: nothing in scheduling reads it."""

import datetime

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse

from scheduling import services
from scheduling.models import Appointment, SessionRecord
from tests import factories

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 3, 16, 0, tzinfo=UTC)  # Thursday 11:00 in New York
TODAY_10AM = datetime.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
CHANGELIST = reverse("admin:scheduling_sessionrecord_changelist")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def patient(clinic):
    return factories.PatientFactory(home_clinic=clinic)


@pytest.fixture
def plan(patient, chair):
    """A weekly plan whose first visit (on its start date, 25 November) is done."""
    plan = factories.MaintenancePlanFactory(patient=patient, started_on=datetime.date(2026, 11, 25))
    factories.MaintenancePhaseFactory(plan=plan, interval_days=7, visits=None)
    factories.AppointmentFactory(patient=patient, chair=chair, kind=Appointment.Kind.MAINTENANCE, plan=plan,
                                 status=Appointment.Status.COMPLETED,
                                 starts_at=datetime.datetime(2026, 11, 25, 15, 0, tzinfo=UTC))
    return plan


@pytest.fixture
def technician(db):
    return factories.staff_user(username="tech", role="Technician")


@pytest.fixture
def done(patient, chair, plan, technician):
    """This morning's maintenance session, completed the proper way: it has its record and the
    plan counts it."""
    session = factories.AppointmentFactory(patient=patient, chair=chair, kind=Appointment.Kind.MAINTENANCE,
                                           plan=plan, starts_at=TODAY_10AM)
    return services.complete_appointment(session, by=technician, pulses_delivered=3000, intensity_percent_mt=120,
                                         motor_threshold=55, coil_position="L-DLPFC")


@pytest.fixture
def record(done):
    return done.session_record


@pytest.fixture
def next_week(patient, chair, plan):
    return factories.AppointmentFactory(patient=patient, chair=chair, kind=Appointment.Kind.MAINTENANCE, plan=plan,
                                        starts_at=TODAY_10AM + datetime.timedelta(days=7))


def change_url(record):
    return reverse("admin:scheduling_sessionrecord_change", args=[record.pk])


def delete_url(record):
    return reverse("admin:scheduling_sessionrecord_delete", args=[record.pk])


def plan_schedule(plan):
    plan.refresh_from_db()
    return plan.next_due_on, plan.overdue_after


# --- The change form ---------------------------------------------------------------------------


def test_an_admin_post_cannot_move_a_record_or_change_who_recorded_it_or_when(admin_client, record, done,
                                                                               next_week, plan, technician):
    schedule = plan_schedule(plan)
    assert schedule[0] == datetime.date(2026, 12, 10)  # a week after this morning's visit

    response = admin_client.post(change_url(record), {
        "appointment": next_week.pk, "operator": factories.UserFactory(username="someone").pk,
        "recorded_at_0": "2026-12-10", "recorded_at_1": "15:00:00",
        "pulses_delivered": 1800, "intensity_percent_mt": 110, "motor_threshold": 57, "coil_position": "F3",
        "side_effects": "Mild headache that evening", "notes": "Pulses corrected from the device log",
    })

    assert response.status_code == 302
    record.refresh_from_db()
    assert (record.appointment, record.operator, record.recorded_at) == (done, technician, NOW)
    # What was delivered is the part a correction may change.
    assert (record.pulses_delivered, record.intensity_percent_mt, record.motor_threshold, record.coil_position,
            record.side_effects, record.notes) == (1800, 110, 57, "F3", "Mild headache that evening",
                                                   "Pulses corrected from the device log")
    next_week.refresh_from_db()
    assert next_week.status == Appointment.Status.BOOKED
    assert not SessionRecord.objects.filter(appointment=next_week).exists()
    assert plan_schedule(plan) == schedule


def test_the_change_form_shows_the_appointment_read_only_and_links_to_its_staff_page(admin_client, record, done):
    page = admin_client.get(change_url(record)).content.decode()
    assert reverse("staff:appointment", args=[done.uuid]) in page
    for field in ("appointment", "operator", "recorded_at_0"):
        assert f'name="{field}"' not in page
    for field in ("pulses_delivered", "intensity_percent_mt", "motor_threshold", "side_effects", "notes"):
        assert f'name="{field}"' in page
    assert delete_url(record) not in page


# --- Adding --------------------------------------------------------------------------------------


def test_sessions_are_recorded_on_the_staff_page_not_added_in_admin(admin_client, next_week, technician, plan):
    schedule = plan_schedule(plan)
    response = admin_client.post(reverse("admin:scheduling_sessionrecord_add"), {
        "appointment": next_week.pk, "operator": technician.pk, "recorded_at_0": "2026-12-03",
        "recorded_at_1": "16:00:00", "pulses_delivered": 3000, "intensity_percent_mt": 120,
    })

    assert response.status_code == 403
    assert not SessionRecord.objects.exists()
    next_week.refresh_from_db()
    assert next_week.status == Appointment.Status.BOOKED
    assert plan_schedule(plan) == schedule

    changelist = admin_client.get(CHANGELIST).content.decode()
    assert f'href="{reverse("staff:today")}"' in changelist
    assert reverse("admin:scheduling_sessionrecord_add") not in changelist


def test_the_link_to_todays_sessions_is_shown_only_to_those_who_run_them(client, db):
    viewer = factories.UserFactory(username="viewer")
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    viewer.user_permissions.add(Permission.objects.get(codename="view_sessionrecord"))
    client.force_login(viewer)
    assert reverse("staff:today") not in client.get(CHANGELIST).content.decode()


# --- Deleting ------------------------------------------------------------------------------------


def granted_everything_on(model_name):
    """An admin user holding every permission on a model, delete included: the guard, not a
    missing permission, must be what refuses."""
    from django.contrib.auth.models import Permission

    user = factories.admin_user("keeper", "Technician")
    user.user_permissions.add(*Permission.objects.filter(codename__endswith=f"_{model_name}"))
    return user


@pytest.mark.parametrize("who", ["keeper", "superuser"])
def test_a_record_is_not_deleted_on_its_own(who, client, superuser, record):
    client.force_login(superuser if who == "superuser" else granted_everything_on("sessionrecord"))

    assert "delete_selected" not in client.get(CHANGELIST).content.decode()
    assert client.get(delete_url(record)).status_code == 403
    assert client.post(delete_url(record), {"post": "yes"}).status_code == 403
    client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"})

    assert SessionRecord.objects.filter(pk=record.pk).exists()


def test_a_superusers_delete_of_the_appointment_takes_its_record_and_recomputes_the_plan(admin_client, record,
                                                                                         done, plan):
    assert plan_schedule(plan)[0] == datetime.date(2026, 12, 10)

    response = admin_client.post(reverse("admin:scheduling_appointment_delete", args=[done.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Appointment.objects.filter(pk=done.pk).exists()
    assert not SessionRecord.objects.exists()
    assert plan_schedule(plan)[0] == datetime.date(2026, 12, 2)  # a week after the visit of 25 November
