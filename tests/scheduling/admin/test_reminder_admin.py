"""Reminders in Django admin: the outbox is written by booking, cancelling and the nudge job and
sent by claim, so admin adds none and edits none; the Resend action, which obeys the sending
rules, is the one way to send one again (see tests/scheduling/staff/test_delivery_log.py for its
rules). A reminder is never deleted on its own, only with the appointment or plan it is about."""

import datetime

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from patients.models import MaintenancePlan
from scheduling import services
from scheduling.models import Appointment, Reminder
from tests import factories

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in New York
TOMORROW_10AM = datetime.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
CHANGELIST = reverse("admin:scheduling_reminder_changelist")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def patient(open_clinic):
    return factories.PatientFactory(home_clinic=open_clinic, email_consent=True)


@pytest.fixture
def booked(patient, chair, superuser):
    """Tomorrow's session, booked the proper way: its reminders are armed."""
    return services.book_appointment(patient=patient, chair=chair, starts_at=TOMORROW_10AM,
                                     kind=Appointment.Kind.ACUTE, booked_by=superuser)


@pytest.fixture
def failed(booked):
    reminder = booked.reminders.get(kind=Reminder.Kind.HOURS_BEFORE)
    Reminder.objects.filter(pk=reminder.pk).update(status=Reminder.Status.FAILED, attempts=5,
                                                   last_error="Mailbox unavailable")
    reminder.refresh_from_db()
    return reminder


def change_url(reminder):
    return reverse("admin:scheduling_reminder_change", args=[reminder.pk])


def delete_url(reminder):
    return reverse("admin:scheduling_reminder_delete", args=[reminder.pk])


def ledger():
    return list(Reminder.objects.order_by("pk").values())


# --- The change page -----------------------------------------------------------------------------


def test_an_admin_post_cannot_change_a_reminder(admin_client, failed, booked):
    before = ledger()

    # Everything the form used to accept, set so that the row would go out again, by SMS, now.
    response = admin_client.post(change_url(failed), {
        "appointment": booked.pk, "plan": "", "due_on": "", "kind": Reminder.Kind.HOURS_BEFORE,
        "channel": Reminder.Channel.SMS, "scheduled_for_0": "2026-12-02", "scheduled_for_1": "15:00:00",
        "status": Reminder.Status.PENDING, "attempts": 0, "claimed_at_0": "", "claimed_at_1": "",
        "last_error": "", "sent_at_0": "", "sent_at_1": "",
    })

    assert response.status_code == 403
    assert ledger() == before


def test_the_page_shows_the_reminder_without_a_form(admin_client, failed):
    page = admin_client.get(change_url(failed)).content.decode()
    assert "Mailbox unavailable" in page
    assert "2026-12-03 08:00 EST" in page  # two hours before the session, in the clinic's time
    for field in ("status", "channel", "scheduled_for_0", "attempts"):
        assert f'name="{field}"' not in page
    assert 'name="_save"' not in page
    assert delete_url(failed) not in page


# --- Adding --------------------------------------------------------------------------------------


def test_reminders_are_written_by_booking_not_added_in_admin(admin_client, booked):
    before = ledger()
    response = admin_client.post(reverse("admin:scheduling_reminder_add"), {
        "appointment": booked.pk, "kind": Reminder.Kind.DAY_BEFORE, "channel": Reminder.Channel.SMS,
        "scheduled_for_0": "2026-12-02", "scheduled_for_1": "15:00:00", "status": Reminder.Status.PENDING,
        "attempts": 0,
    })
    assert response.status_code == 403
    assert ledger() == before
    assert reverse("admin:scheduling_reminder_add") not in admin_client.get(CHANGELIST).content.decode()


# --- Resending -----------------------------------------------------------------------------------


def reminder_keeper():
    """A staff member whom the clinic lets change reminders in admin (no role does by default)."""
    user = factories.admin_user("keeper", "Front desk")
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="_reminder"))
    return user


def test_whoever_may_change_reminders_resends_a_failed_one(client, failed):
    client.force_login(reminder_keeper())

    response = client.post(CHANGELIST, {"action": "resend", "_selected_action": [failed.pk]}, follow=True)

    assert [str(message) for message in get_messages(response.wsgi_request)] == ["1 reminder re-armed."]
    failed.refresh_from_db()
    assert (failed.status, failed.scheduled_for, failed.attempts, failed.last_error) == (
        Reminder.Status.PENDING, NOW, 0, "")


# --- Deleting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["keeper", "superuser"])
def test_a_reminder_is_not_deleted_on_its_own(who, client, superuser, failed):
    client.force_login(superuser if who == "superuser" else reminder_keeper())

    assert "delete_selected" not in client.get(CHANGELIST).content.decode()
    assert client.get(delete_url(failed)).status_code == 403
    assert client.post(delete_url(failed), {"post": "yes"}).status_code == 403
    client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [failed.pk], "post": "yes"})

    assert Reminder.objects.filter(pk=failed.pk).exists()


def test_a_nudge_goes_with_the_plan_it_is_about(admin_client, patient):
    """Deleting a plan still takes its nudges along, for whoever may delete plans (superusers:
    see test_maintenance_plan_admin.py)."""
    plan = factories.MaintenancePlanFactory(patient=patient, next_due_on=datetime.date(2026, 12, 4))
    factories.ReminderFactory(appointment=None, plan=plan, due_on=plan.next_due_on,
                              kind=Reminder.Kind.MAINTENANCE_DUE, scheduled_for=NOW, status=Reminder.Status.SENT)

    response = admin_client.post(reverse("admin:patients_maintenanceplan_delete", args=[plan.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not MaintenancePlan.objects.exists()
    assert not Reminder.objects.exists()
