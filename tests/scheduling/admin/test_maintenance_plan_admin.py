"""Maintenance plans in Django admin: a plan that stops is ended with a reason through the End
action, which calls scheduling.plans.end_plan as the staff page does, so its history, flags,
nudges and place in the outcomes report stay. Only superusers delete a plan (one entered in
error)."""

import datetime

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from patients.models import MaintenancePlan, PatientFlag
from scheduling.models import Appointment, Reminder
from scheduling.services import plans
from scheduling.services.plans import RESOLVED_BECAUSE, refresh_plan
from tests import factories

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in New York
CHANGELIST = reverse("admin:patients_maintenanceplan_changelist")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def plan(patient, chair):
    """A weekly plan whose patient came once, on 4 November, and not since: overdue and flagged,
    with a nudge that went out."""
    plan = factories.MaintenancePlanFactory(patient=patient, started_on=datetime.date(2026, 11, 4))
    factories.MaintenancePhaseFactory(plan=plan, interval_days=7, visits=None)
    factories.AppointmentFactory(patient=patient, chair=chair, kind=Appointment.Kind.MAINTENANCE, plan=plan,
                                 status=Appointment.Status.COMPLETED,
                                 starts_at=datetime.datetime(2026, 11, 4, 15, 0, tzinfo=UTC))
    refresh_plan(plan)
    assert plan.is_overdue
    factories.PatientFlagFactory(patient=patient, plan=plan, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE,
                                 due_on=plan.next_due_on)
    factories.ReminderFactory(appointment=None, plan=plan, due_on=plan.next_due_on, kind=Reminder.Kind.MAINTENANCE_DUE,
                              scheduled_for=datetime.datetime(2026, 11, 10, 14, tzinfo=UTC),
                              status=Reminder.Status.SENT)
    return plan


@pytest.fixture
def clinician_admin_client(client, db):
    """A clinician given admin access (the clinic admin no longer opens patients' plans)."""
    client.force_login(factories.admin_user("doc", "Clinician"))
    return client


def delete_url(plan):
    return reverse("admin:patients_maintenanceplan_delete", args=[plan.pk])


def messages_after(response):
    assert response.status_code == 200
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(client, action, *plans, **data):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [p.pk for p in plans], **data}, follow=True)


def history(plan):
    """Everything deleting the plan would take or orphan."""
    return {
        "plan": MaintenancePlan.objects.filter(pk=plan.pk).values().get(),
        "visits": list(Appointment.objects.filter(plan=plan).values_list("pk", flat=True)),
        "flags": list(PatientFlag.objects.filter(plan=plan).values()),
        "nudges": list(Reminder.objects.filter(plan=plan).values_list("pk", flat=True)),
    }


# --- Ending --------------------------------------------------------------------------------------


def test_ending_asks_for_a_reason_first_and_changes_nothing_until_then(clinician_admin_client, plan):
    before = history(plan)

    page = act(clinician_admin_client, "end_selected", plan).content.decode()
    assert "Reason for ending the plan" in page
    assert str(plan) in page

    for reason in ("", "   "):
        refused = act(clinician_admin_client, "end_selected", plan, confirm="yes", reason=reason)
        assert refused.status_code == 200
        assert "Say why the plan ends" in refused.content.decode()

    assert history(plan) == before


def test_ending_goes_through_end_plan_and_resolves_the_overdue_flag(clinician_admin_client, plan, monkeypatch):
    ended_by_service = []

    def spy(plan, **kwargs):
        ended_by_service.append(plan.pk)
        return plans.end_plan(plan, **kwargs)

    monkeypatch.setattr("scheduling.admin.end_plan", spy)

    response = act(clinician_admin_client, "end_selected", plan, confirm="yes", reason="Moved away")

    assert messages_after(response) == ["1 plan ended."]
    assert ended_by_service == [plan.pk]
    plan.refresh_from_db()
    assert (plan.status, plan.end_reason) == (MaintenancePlan.Status.ENDED, "Moved away")
    assert plan.ended_on == datetime.date(2026, 12, 2)  # the clinic's today
    assert plan.overdue_after is None
    flag = plan.flags.get()
    assert (flag.resolved_at, flag.resolution_note) == (NOW, RESOLVED_BECAUSE[MaintenancePlan.Status.ENDED])
    assert flag.resolution_note == "The maintenance plan was ended: resolved by the system."
    # Its history stays: the visit, the nudge that went out, the flag.
    assert plan.appointments.count() == 1
    assert plan.reminders.count() == 1


def test_a_plan_already_ended_keeps_its_reason_and_is_reported(clinician_admin_client, plan, clinic):
    earlier, paused = factories.MaintenancePlanFactory.create_batch(2, patient__home_clinic=clinic)
    plans.end_plan(earlier, reason="Reintroduction started", on=datetime.date(2026, 11, 20))
    plans.pause_plan(paused)

    response = act(clinician_admin_client, "end_selected", plan, earlier, paused, confirm="yes",
                   reason="Clinic closing")

    assert messages_after(response) == ["2 plans ended.", "1 not ended: This plan has already ended."]
    earlier.refresh_from_db()
    assert (earlier.end_reason, earlier.ended_on) == ("Reintroduction started", datetime.date(2026, 11, 20))
    paused.refresh_from_db()
    assert (paused.status, paused.end_reason) == (MaintenancePlan.Status.ENDED, "Clinic closing")


def test_only_those_who_may_change_plans_may_end_them(client, plan):
    client.force_login(factories.admin_user("frontdesk", "Front desk"))  # may view plans, not change them
    assert "end_selected" not in client.get(CHANGELIST).content.decode()

    act(client, "end_selected", plan, confirm="yes", reason="Not mine to end")

    plan.refresh_from_db()
    assert plan.status == MaintenancePlan.Status.ACTIVE


# --- Deleting ------------------------------------------------------------------------------------


def test_a_clinician_in_admin_cannot_delete_a_plan(clinician_admin_client, plan):
    before = history(plan)

    changelist = clinician_admin_client.get(CHANGELIST).content.decode()
    assert "delete_selected" not in changelist
    assert "end_selected" in changelist
    change = clinician_admin_client.get(reverse("admin:patients_maintenanceplan_change", args=[plan.pk]))
    assert change.status_code == 200
    assert delete_url(plan) not in change.content.decode()
    assert clinician_admin_client.get(delete_url(plan)).status_code == 403
    assert clinician_admin_client.post(delete_url(plan), {"post": "yes"}).status_code == 403
    act(clinician_admin_client, "delete_selected", plan, post="yes")

    assert history(plan) == before


def test_a_superuser_still_deletes_a_plan_entered_in_error(admin_client, plan, clinic):
    visit = plan.appointments.get()
    response = admin_client.post(delete_url(plan), {"post": "yes"})

    assert response.status_code == 302
    assert not MaintenancePlan.objects.filter(pk=plan.pk).exists()
    assert not Reminder.objects.exists()  # its nudges go with it
    visit.refresh_from_db()
    assert visit.plan is None  # the session itself happened

    other = factories.MaintenancePlanFactory(patient=factories.PatientFactory(home_clinic=clinic))
    act(admin_client, "delete_selected", other, post="yes")
    assert not MaintenancePlan.objects.exists()


def test_the_change_form_cannot_end_or_reopen_a_plan_without_the_end_action(admin_client, plan):
    url = reverse("admin:patients_maintenanceplan_change", args=[plan.pk])
    page = admin_client.get(url).content.decode()
    for field in ("status", "ended_on", "end_reason"):
        assert f'name="{field}"' not in page
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and not isinstance(value, list)}
    data.update({"patient": plan.patient_id, "protocol": plan.protocol_id, "started_on": plan.started_on,
                 "grace_days": plan.grace_days, "status": "ended", "end_reason": "", "ended_on": "2027-01-01",
                 "phases-TOTAL_FORMS": 0, "phases-INITIAL_FORMS": 0})
    admin_client.post(url, data)
    plan.refresh_from_db()
    assert (plan.status, plan.ended_on, plan.end_reason) == (MaintenancePlan.Status.ACTIVE, None, "")
