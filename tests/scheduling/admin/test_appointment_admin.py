"""Appointments in Django admin: nothing there books, moves or changes the status of an
appointment behind scheduling.services' back. The change form is read-only where it matters,
appointments are not added in admin, the cancel action goes through cancel_appointment (so
reminders are disarmed and the plan recomputed), and only superusers delete, keeping plans in
step."""

import datetime

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from scheduling import services
from scheduling.admin import AppointmentAdmin
from scheduling.models import Appointment, Reminder
from scheduling.services.plans import refresh_plan
from tests import factories

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in New York
TOMORROW_10AM = datetime.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
CHANGELIST = reverse("admin:scheduling_appointment_changelist")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def patient(open_clinic):
    return factories.PatientFactory(home_clinic=open_clinic, email_consent=True)


@pytest.fixture
def plan(patient):
    """A weekly plan whose first visit (on its start date) is done."""
    plan = factories.MaintenancePlanFactory(patient=patient, started_on=datetime.date(2026, 11, 25))
    factories.MaintenancePhaseFactory(plan=plan, interval_days=7, visits=None)
    other_chair = factories.ChairFactory(clinic=patient.home_clinic, name="Chair 2")
    factories.AppointmentFactory(patient=patient, chair=other_chair,
                                 kind=Appointment.Kind.MAINTENANCE, plan=plan, status=Appointment.Status.COMPLETED,
                                 starts_at=datetime.datetime(2026, 11, 25, 15, 0, tzinfo=UTC))
    return plan


@pytest.fixture
def booked(patient, chair, plan, superuser):
    """Tomorrow's maintenance session, booked the proper way: its reminders are armed."""
    return services.book_appointment(patient=patient, chair=chair, starts_at=TOMORROW_10AM,
                                     kind=Appointment.Kind.MAINTENANCE, booked_by=superuser, plan=plan)


def change_url(appointment):
    return reverse("admin:scheduling_appointment_change", args=[appointment.pk])


def pending(appointment):
    return set(appointment.reminders.filter(status=Reminder.Status.PENDING).values_list("kind", flat=True))


def messages_after(response):
    assert response.status_code == 200
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(client, action, *appointments, follow=True, **data):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [a.pk for a in appointments], **data},
                       follow=follow)


# --- The change form ---------------------------------------------------------------------------


def test_an_admin_post_cannot_move_an_appointment_or_change_its_status(admin_client, booked, chair):
    other_chair = factories.ChairFactory(clinic=chair.clinic, name="Chair 3")
    technician = factories.UserFactory(username="tech")
    before = Appointment.objects.values().get(pk=booked.pk)
    armed = pending(booked)
    assert armed == {Reminder.Kind.DAY_BEFORE, Reminder.Kind.HOURS_BEFORE}

    # Everything the form used to accept, with the time, chair and status changed.
    response = admin_client.post(change_url(booked), {
        "patient": booked.patient.pk, "kind": booked.kind, "clinic": booked.clinic.pk, "chair": other_chair.pk,
        "technician": technician.pk, "course": "", "plan": booked.plan.pk,
        "starts_at_0": "2026-12-04", "starts_at_1": "16:00:00", "ends_at_0": "2026-12-04", "ends_at_1": "16:45:00",
        "status": Appointment.Status.COMPLETED, "confirmed_at_0": "", "confirmed_at_1": "",
        "checked_in_at_0": "", "checked_in_at_1": "", "cancelled_at_0": "", "cancelled_at_1": "",
        "cancel_reason": "", "booked_via": Appointment.Via.STAFF, "booked_by": "",
        "authorisation_override_by": "", "authorisation_override_note": "",
    })

    assert response.status_code == 302
    after = Appointment.objects.values().get(pk=booked.pk)
    # The technician is the one thing an administrator may set here.
    assert after.pop("technician_id") == technician.pk
    for changed in ("technician_id", "updated_at"):
        before.pop(changed)
    after.pop("updated_at")
    assert after == before
    assert pending(booked) == armed


def test_the_change_form_shows_the_booking_read_only_and_links_to_the_staff_page(admin_client, booked):
    page = admin_client.get(change_url(booked)).content.decode()
    assert reverse("staff:appointment", args=[booked.uuid]) in page
    assert "to reschedule, cancel, check in or complete it" in page
    for field in ("starts_at_0", "ends_at_0", "status", "chair", "patient", "clinic", "plan", "course", "kind"):
        assert f'name="{field}"' not in page
    assert 'name="technician"' in page


def test_a_change_saved_on_a_stale_copy_does_not_undo_a_cancellation(admin_client, booked, monkeypatch):
    """The admin reads the appointment, the front desk cancels it, then the admin saves."""
    read = AppointmentAdmin.get_object

    def read_then_cancelled_elsewhere(self, request, object_id, from_field=None):
        stale = read(self, request, object_id, from_field)
        services.cancel_appointment(stale, by=None, reason="Patient called")
        return stale

    monkeypatch.setattr(AppointmentAdmin, "get_object", read_then_cancelled_elsewhere)
    technician = factories.UserFactory(username="tech")
    assert admin_client.post(change_url(booked), {"technician": technician.pk}).status_code == 302

    booked.refresh_from_db()
    assert (booked.status, booked.cancel_reason, booked.technician) == (
        Appointment.Status.CANCELLED, "Patient called", technician)


# --- Adding --------------------------------------------------------------------------------------


def test_appointments_are_booked_on_the_staff_page_not_added_in_admin(admin_client, chair, patient):
    response = admin_client.post(reverse("admin:scheduling_appointment_add"), {
        "patient": patient.pk, "kind": Appointment.Kind.ACUTE, "clinic": chair.clinic.pk, "chair": chair.pk,
        "starts_at_0": "2026-12-03", "starts_at_1": "15:00", "ends_at_0": "2026-12-03", "ends_at_1": "15:45",
        "status": Appointment.Status.BOOKED, "booked_via": Appointment.Via.STAFF,
    })
    assert response.status_code == 403
    assert not Appointment.objects.exists()

    changelist = admin_client.get(CHANGELIST).content.decode()
    assert f'href="{reverse("staff:book")}"' in changelist
    assert 'href="{}"'.format(reverse("admin:scheduling_appointment_add")) not in changelist


def test_the_booking_link_is_shown_only_to_those_who_may_book(client, db):
    client.force_login(factories.admin_user("viewer", "Technician"))
    assert reverse("staff:book") not in client.get(CHANGELIST).content.decode()


# --- Cancelling ----------------------------------------------------------------------------------


def test_cancelling_asks_for_a_reason_first_and_changes_nothing_until_then(admin_client, booked):
    page = act(admin_client, "cancel_selected", booked)
    assert "Reason for cancelling" in page.content.decode()
    assert str(booked) in page.content.decode()

    without_reason = act(admin_client, "cancel_selected", booked, confirm="yes", reason="")
    assert "This field is required." in without_reason.content.decode()

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED
    assert pending(booked) == {Reminder.Kind.DAY_BEFORE, Reminder.Kind.HOURS_BEFORE}


def test_cancelling_disarms_the_reminders_and_brings_the_plan_up_to_date(admin_client, booked, plan, superuser):
    # As left by an earlier edit that marked the first visit done behind the plan's back.
    plan.next_due_on, plan.overdue_after = plan.started_on, None
    plan.save(update_fields=["next_due_on", "overdue_after"])

    response = act(admin_client, "cancel_selected", booked, confirm="yes", reason="Chair out of service")

    assert messages_after(response) == ["1 appointment cancelled; their reminders will not go out."]
    booked.refresh_from_db()
    assert (booked.status, booked.cancel_reason) == (Appointment.Status.CANCELLED, "Chair out of service")
    assert booked.cancelled_at == NOW
    assert pending(booked) == set()
    assert set(booked.reminders.values_list("last_error", flat=True)) == {"The appointment was cancelled."}
    plan.refresh_from_db()
    assert plan.next_due_on == datetime.date(2026, 12, 2)  # a week after the visit of 25 November
    assert plan.overdue_after == datetime.datetime(2026, 12, 10, 5, 0, tzinfo=UTC)  # midnight in New York


def test_a_refused_cancellation_is_reported_not_an_error(admin_client, booked, plan):
    done = plan.appointments.get(status=Appointment.Status.COMPLETED)
    cancelled = services.cancel_appointment(
        factories.AppointmentFactory(patient=booked.patient, chair=booked.chair,
                                     starts_at=TOMORROW_10AM + datetime.timedelta(days=1)),
        by=None, reason="Unwell")

    response = act(admin_client, "cancel_selected", booked, done, cancelled, confirm="yes", reason="Snow day")

    assert messages_after(response) == [
        "1 appointment cancelled; their reminders will not go out.",
        "1 not cancelled: This appointment is cancelled and cannot be cancelled.",
        "1 not cancelled: This appointment is completed and cannot be cancelled.",
    ]
    done.refresh_from_db()
    cancelled.refresh_from_db()
    assert done.status == Appointment.Status.COMPLETED
    assert cancelled.cancel_reason == "Unwell"


def test_only_roles_that_cancel_on_the_staff_page_may_cancel_in_admin(client, booked):
    technician = factories.admin_user("tech", "Technician")
    client.force_login(technician)
    act(client, "cancel_selected", booked, confirm="yes", reason="Not mine to cancel")
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED

    # A clinician given admin access cancels there as on the staff page; the clinic admin no
    # longer sees appointments at all (tests/scheduling/admin/test_staff_accounts.py).
    client.force_login(factories.admin_user("doc", "Clinician"))
    assert messages_after(act(client, "cancel_selected", booked, confirm="yes", reason="Closure")) == [
        "1 appointment cancelled; their reminders will not go out."]


# --- Deleting ------------------------------------------------------------------------------------


def test_only_superusers_may_delete_appointments(client, booked):
    from django.contrib.auth.models import Permission

    keeper = factories.admin_user("keeper", "Front desk")
    # Every permission on appointments, delete included: the guard, not a missing one, refuses.
    keeper.user_permissions.add(*Permission.objects.filter(codename__endswith="_appointment"))
    client.force_login(keeper)
    assert "delete_selected" not in client.get(CHANGELIST).content.decode()
    delete_url = reverse("admin:scheduling_appointment_delete", args=[booked.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    act(client, "delete_selected", booked, post="yes")
    assert Appointment.objects.filter(pk=booked.pk).exists()


def test_a_superusers_delete_keeps_the_plan_in_step(admin_client, plan, booked):
    done = plan.appointments.get(status=Appointment.Status.COMPLETED)
    assert refresh_plan(plan).next_due_on == datetime.date(2026, 12, 2)

    act(admin_client, "delete_selected", done, post="yes")
    plan.refresh_from_db()
    assert plan.next_due_on == plan.started_on  # the visit it counted is gone

    assert admin_client.post(reverse("admin:scheduling_appointment_delete", args=[booked.pk]),
                             {"post": "yes"}).status_code == 302
    assert not Appointment.objects.exists()
    assert not Reminder.objects.exists()
