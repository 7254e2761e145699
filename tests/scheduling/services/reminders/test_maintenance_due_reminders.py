"""The maintenance-due reminder in the outbox: nudge_due_soon writes it once per due date, not
when the next session is booked nor for a paused or ended plan, and send_due skips it if the
plan changed since (its window and link: tests/scheduling/services/test_nudge_due_soon.py)."""

import pytest

from patients.models import MaintenancePlan, PlanTemplate
from scheduling.models import Reminder
from scheduling.services.plans import end_plan, pause_plan, start_plan
from scheduling.services.reminders import nudge_due_soon, send_due
from tests.factories import ProtocolFactory
from tests.scheduling.services.reminders.helpers import (
    SENT,
    SKIPPED,
    SMS,
    book,
    day,
    local,
    messages_to,
    reachable,
    travel,
)


@pytest.fixture
def monthly(db):
    template = PlanTemplate.objects.create(name="Test monthly", grace_days=7)
    template.phases.create(order=0, interval_days=28, visits=None)
    return template


def plan_due_on(clinic, template, due_on, **contact):
    return start_plan(patient=reachable(clinic, **contact), protocol=ProtocolFactory(), template=template,
                      started_on=due_on)


def test_a_plan_due_soon_with_nothing_booked_is_nudged_once_per_due_date(clinic, monthly, settings):
    settings.TMS_DUE_SOON_DAYS = 5
    plan = plan_due_on(clinic, monthly, day(10))
    with travel(local(clinic, day(4), 10)):  # six days ahead: not yet
        assert nudge_due_soon() == 0
    with travel(local(clinic, day(5), 10)):
        assert nudge_due_soon() == 1
        assert nudge_due_soon() == 0
        send_due()
    with travel(local(clinic, day(6), 10)):
        assert nudge_due_soon() == 0
        send_due()
    nudge = Reminder.objects.get(plan=plan)
    assert (nudge.kind, nudge.due_on, nudge.status) == (Reminder.Kind.MAINTENANCE_DUE, day(10), SENT)
    (message,) = messages_to(plan.patient)
    assert message.subject == f"Time to book your next session at {clinic.name}"
    assert "Thursday 14 January" in message.body
    assert plan.protocol.name not in message.body


def test_a_nudge_is_not_repeated_when_the_patient_changes_channel(clinic, monthly):
    plan = plan_due_on(clinic, monthly, day(10))
    with travel(local(clinic, day(6), 10)):
        nudge_due_soon()
        send_due()
    plan.patient.preferred_channel = SMS
    plan.patient.save()
    with travel(local(clinic, day(7), 10)):
        nudge_due_soon()
        send_due()
    assert Reminder.objects.filter(plan=plan).count() == 1
    assert len(messages_to(plan.patient)) == 1


def test_no_nudge_when_the_next_session_is_booked(chair, clinic, monthly):
    plan = plan_due_on(clinic, monthly, day(10))
    with travel(local(clinic, day(6), 10)):
        book(plan.patient, chair, local(clinic, day(9), 10), plan=plan)
        assert nudge_due_soon() == 0
    assert not Reminder.objects.filter(plan=plan).exists()


@pytest.mark.parametrize("stop", ["pause", "end"])
def test_no_nudge_for_a_paused_or_ended_plan(clinic, monthly, stop):
    plan = plan_due_on(clinic, monthly, day(10))
    if stop == "pause":
        pause_plan(plan, until=day(8))  # until before the due date: the plan stays paused in the window
    else:
        end_plan(plan, reason="Remission", on=day(1))
    with travel(local(clinic, day(6), 10)):
        assert nudge_due_soon() == 0
    assert MaintenancePlan.objects.get().status != MaintenancePlan.Status.ACTIVE


def test_a_nudge_written_before_the_plan_changed_is_skipped(chair, clinic, monthly):
    plan = plan_due_on(clinic, monthly, day(10))
    with travel(local(clinic, day(6), 10)):
        nudge_due_soon()
    pause_plan(plan, until=None)
    with travel(local(clinic, day(6), 10, 1)):
        send_due()
    assert Reminder.objects.get(plan=plan).status == SKIPPED
    assert messages_to(plan.patient) == []
