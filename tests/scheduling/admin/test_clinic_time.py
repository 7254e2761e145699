"""Admin lists show moments in the clinic's own zone: an appointment's clinic, a plan
reminder's patient's home clinic."""

import datetime

import pytest

from scheduling.models import Appointment, Reminder
from tests import factories
from tests.admin_pages import admin_url

UTC = datetime.UTC
pytestmark = pytest.mark.usefixtures("_fast_password_hashing", "admin_client")


def test_appointment_times_are_shown_in_the_clinics_own_zone(client, chair):
    appointment = factories.AppointmentFactory(chair=chair, starts_at=datetime.datetime(2026, 11, 25, 14, tzinfo=UTC))
    changelist = client.get(admin_url(Appointment, "changelist")).content.decode()
    assert "2026-11-25 09:00 EST" in changelist
    assert "2026-11-25 09:45 EST" in changelist

    change = client.get(admin_url(Appointment, "change", appointment.pk)).content.decode()
    assert "2026-11-25 09:00 EST to 2026-11-25 09:45 EST" in change
    assert "In UTC" in change


def test_plan_reminder_is_shown_in_the_patients_home_clinic_zone(client, clinic):
    plan = factories.MaintenancePlanFactory(patient__home_clinic=clinic)
    factories.ReminderFactory(
        appointment=None,
        plan=plan,
        due_on=plan.started_on,
        kind=Reminder.Kind.MAINTENANCE_DUE,
        scheduled_for=datetime.datetime(2026, 11, 24, 22, tzinfo=UTC),
    )
    assert "2026-11-24 17:00 EST" in client.get(admin_url(Reminder, "changelist")).content.decode()
