"""Snoozing a flag from the worklist: hidden until that day in the patient's clinic."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from patients.models import PatientFlag
from tests.factories import PatientFlagFactory
from tests.scheduling.staff.worklist.helpers import NOW, SAFETY, UTC, WORKLIST, messages_of, rows

pytestmark = pytest.mark.usefixtures("frozen")


def test_snoozing_hides_the_flag_until_that_day(client, front_desk, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-snooze", args=[flag.pk]), {"until": "2026-12-09"})
    flag.refresh_from_db()
    assert flag.snoozed_until == datetime.date(2026, 12, 9)
    assert messages_of(response) == [f"{flag.patient.full_name} is off the worklist until Wed 9 Dec."]
    assert rows(client.get(WORKLIST)) == []
    with time_machine.travel(datetime.datetime(2026, 12, 9, 13, 0, tzinfo=UTC), tick=False):
        client.force_login(front_desk)  # staff sessions last a working day
        assert rows(client.get(WORKLIST)) == [flag.pk]


@pytest.mark.parametrize(("until", "error"), [
    ("2026-12-02", "Choose a day after today."),
    ("2026-11-30", "Choose a day after today."),
    ("2027-03-03", "A flag can be hidden for at most 90 days."),
    ("next week", "Enter the date as YYYY-MM-DD."),
    ("", "Choose the day the flag comes back."),
])
def test_a_bad_snooze_date_is_refused(client, front_desk, open_clinic, until, error):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-snooze", args=[flag.pk]), {"until": until})
    assert messages_of(response) == [error]
    flag.refresh_from_db()
    assert flag.snoozed_until is None


def test_the_longest_snooze_is_ninety_days(client, front_desk, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic)
    client.force_login(front_desk)
    client.post(reverse("staff:attention-snooze", args=[flag.pk]), {"until": "2027-03-02"})
    flag.refresh_from_db()
    assert flag.snoozed_until == datetime.date(2027, 3, 2)


def test_a_safety_flag_or_a_resolved_one_cannot_be_snoozed(client, clinician, technician, open_clinic):
    safety = PatientFlagFactory(patient__home_clinic=open_clinic, kind=SAFETY)
    resolved = PatientFlagFactory(patient__home_clinic=open_clinic, resolved_at=NOW)
    data = {"until": "2026-12-09"}
    client.force_login(technician)
    assert client.post(reverse("staff:attention-snooze", args=[resolved.pk]), data).status_code == 403
    client.force_login(clinician)
    response = client.post(reverse("staff:attention-snooze", args=[safety.pk]), data, follow=True)
    assert messages_of(response) == ["A safety flag needs a clinician's review today; it cannot be snoozed."]
    assert "is already resolved" in messages_of(client.post(reverse("staff:attention-snooze", args=[resolved.pk]),
                                                             data))[0]
    assert not PatientFlag.objects.filter(snoozed_until__isnull=False).exists()
