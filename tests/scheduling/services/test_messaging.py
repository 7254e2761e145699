"""messaging.save_outcomes: a batch's outcomes written with an UPDATE per common outcome and one
bulk_update for the rarer ones: every row gets exactly its own values, in a bounded number of
statements whatever the batch's size."""

import datetime

import pytest

from scheduling.models import Reminder
from scheduling.services import messaging
from tests.factories import AppointmentFactory, ChairFactory

UTC = datetime.UTC
NOW = datetime.datetime(2027, 1, 5, 17, tzinfo=UTC)
FIELDS = ["status", "sent_at", "scheduled_for", "last_error", "attempts"]


def claimed_rows(clinic, count):
    chair = ChairFactory(clinic=clinic)
    rows = []
    for n in range(count):
        starts_at = NOW + datetime.timedelta(days=1, hours=n)
        appointment = AppointmentFactory(chair=chair, starts_at=starts_at, ends_at=starts_at + datetime.timedelta(
            minutes=45), patient__home_clinic=clinic)
        rows.append(Reminder.objects.create(appointment=appointment, kind=Reminder.Kind.DAY_BEFORE,
                                            channel=Reminder.Channel.EMAIL, scheduled_for=NOW,
                                            status=Reminder.Status.SENDING, attempts=1))
    return rows


def outcome(n):
    """Mostly sent; some held, retried, skipped for a shared reason, failed with their own."""
    if n % 10 < 5:
        return {"status": "sent", "sent_at": NOW}
    if n % 10 == 5:
        return {"status": "pending", "scheduled_for": NOW + datetime.timedelta(hours=15), "attempts": 0}
    if n % 10 == 6:
        return {"status": "pending", "scheduled_for": NOW + datetime.timedelta(minutes=2), "last_error": "busy"}
    if n % 10 == 7:
        return {"status": "skipped", "last_error": "The patient is discharged."}
    return {"status": "failed", "last_error": f"refused number {n}"}


@pytest.mark.parametrize("count", [10, 60])
def test_each_row_gets_its_own_outcome_in_a_bounded_number_of_statements(clinic, count,
                                                                         django_assert_max_num_queries):
    rows = claimed_rows(clinic, count)
    for n, row in enumerate(rows):
        for field, value in outcome(n).items():
            setattr(row, field, value)
    with django_assert_max_num_queries(messaging.OUTCOME_UPDATES + 1):
        messaging.save_outcomes(rows, FIELDS)
    stored = {row.pk: row for row in Reminder.objects.filter(pk__in=[row.pk for row in rows])}
    for n, row in enumerate(rows):
        expected = {"status": "sending", "sent_at": None, "scheduled_for": NOW, "last_error": "", "attempts": 1,
                    **outcome(n)}
        assert {field: getattr(stored[row.pk], field) for field in FIELDS} == expected


def test_a_batch_all_sent_is_one_update(clinic, django_assert_num_queries):
    rows = claimed_rows(clinic, 5)
    for row in rows:
        row.status, row.sent_at = "sent", NOW
    with django_assert_num_queries(1):
        messaging.save_outcomes(rows, FIELDS)
    assert set(Reminder.objects.values_list("status", "sent_at")) == {("sent", NOW)}
