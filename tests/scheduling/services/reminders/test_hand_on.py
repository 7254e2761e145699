"""send_due's hand-on: a run that claims a full batch asks for another run before sending it
and stops after it, so idle workers share a backlog; if no other run can be asked for, it goes
on by itself. (Several real workers sharing one: tests/scheduling/test_reminders_end_to_end.py.)"""

import datetime

import pytest

from scheduling import tasks
from scheduling.models import Reminder
from scheduling.services import reminders
from tests.factories import AppointmentFactory, ChairFactory
from tests.scheduling.services.reminders.helpers import DAY_BEFORE, EMAIL, SENT, UTC, reachable, travel

NOW = datetime.datetime(2027, 1, 5, 17, tzinfo=UTC)


@pytest.fixture
def seven_due(clinic, monkeypatch):
    monkeypatch.setattr(reminders, "BATCH", 3)
    chair = ChairFactory(clinic=clinic)
    for n in range(7):
        starts_at = NOW + datetime.timedelta(days=1, hours=n)
        appointment = AppointmentFactory(patient=reachable(clinic, by=EMAIL), chair=chair, starts_at=starts_at,
                                         ends_at=starts_at + datetime.timedelta(minutes=45))
        Reminder.objects.create(appointment=appointment, kind=DAY_BEFORE, channel=EMAIL,
                                scheduled_for=NOW - datetime.timedelta(minutes=n))


def sent():
    return Reminder.objects.filter(status=SENT).count()


def test_a_run_that_handed_on_stops_after_its_batch(seven_due):
    asked = []
    with travel(NOW):
        assert reminders.send_due(hand_on=lambda: asked.append(sent()) or True)["sent"] == 3
        # Asked before its batch was sent, so that another worker claims the next one meanwhile.
        assert asked == [0]
        assert reminders.send_due(hand_on=lambda: True)["sent"] == 3
        assert reminders.send_due(hand_on=lambda: pytest.fail("the last batch is not full"))["sent"] == 1
    assert sent() == 7


def test_a_run_that_could_not_hand_on_sends_everything_itself(seven_due):
    asked = []
    with travel(NOW):
        assert reminders.send_due(hand_on=lambda: asked.append(1) and False)["sent"] == 7
    assert len(asked) == 2  # the two full batches
    assert sent() == 7


def test_run_eagerly_the_task_does_not_hand_on_but_sends_everything(seven_due):
    tasks.send_due_reminders.app.conf.task_always_eager = True
    try:
        with travel(NOW):
            assert tasks.send_due_reminders.apply().get()["sent"] == 7
    finally:
        tasks.send_due_reminders.app.conf.task_always_eager = False


def test_the_task_hands_on_by_enqueueing_another_run(seven_due, monkeypatch):
    enqueued = []
    monkeypatch.setattr(tasks.send_due_reminders, "apply_async", lambda **options: enqueued.append(options))
    with travel(NOW):
        assert tasks.send_due_reminders.run()["sent"] == 3
    assert enqueued == [{"retry": False}]


def test_the_task_goes_on_itself_when_the_broker_is_down(seven_due, monkeypatch):
    def down(**options):
        raise ConnectionError("the broker is down")

    monkeypatch.setattr(tasks.send_due_reminders, "apply_async", down)
    with travel(NOW):
        assert tasks.send_due_reminders.run()["sent"] == 7
    assert sent() == 7
