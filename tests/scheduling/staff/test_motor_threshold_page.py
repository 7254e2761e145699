"""The patient page's motor threshold: the measurements (when, value, who) and their chart for
those who run sessions or read clinical detail, none for the front desk; a clinician records a
medication change, which then waits for the next session; bad input changes nothing."""

import datetime
import re

import pytest
from django.urls import reverse

from patients.models import MotorThresholdRecheck
from tests.factories import AppointmentFactory, SessionRecordFactory

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def measured(patient, chair, technician):
    records = []
    for day, mt in ((datetime.date(2026, 11, 2), 55), (datetime.date(2026, 11, 9), 58)):
        done = AppointmentFactory(patient=patient, chair=chair, status="completed",
                                  starts_at=datetime.datetime.combine(day, datetime.time(10), tzinfo=chair.clinic.tz))
        records.append(SessionRecordFactory(appointment=done, motor_threshold=mt, mt_measured=True,
                                            operator=technician))
    # A carried MT is no measurement: it is not listed.
    carried = AppointmentFactory(patient=patient, chair=chair, status="completed",
                                 starts_at=datetime.datetime(2026, 11, 10, 15, tzinfo=datetime.UTC))
    SessionRecordFactory(appointment=carried, motor_threshold=58, mt_measured=False)
    return records


def history_rows(page):
    table = re.search(r'data-testid="mt-history">(.*?)</table>', page, re.S).group(1)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(<td>.*?)</tr>", table, re.S)]


def test_technicians_see_the_measurements_newest_first_with_a_chart(client, technician, patient, measured):
    client.force_login(technician)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    assert history_rows(page) == [["9 Nov 2026", "58", "tech"], ["2 Nov 2026", "55", "tech"]]
    assert 'id="mt-measurements"' in page  # the chart's line
    assert "Record a medication change" not in page  # clinicians only


def test_the_front_desk_sees_no_motor_threshold(client, front_desk, patient, measured):
    client.force_login(front_desk)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    assert 'data-testid="motor-threshold"' not in page and 'data-testid="mt-history"' not in page


def test_a_clinician_records_a_medication_change_that_waits_for_the_next_session(client, clinician, patient,
                                                                                measured):
    client.force_login(clinician)
    url = reverse("staff:mt-recheck", args=[patient.uuid])
    response = client.post(url, {"reason": "medication", "note": "Sertraline 50 → 100 mg"}, follow=True)
    assert "will be measured at the next session" in response.content.decode()
    asked = MotorThresholdRecheck.objects.get()
    assert (asked.patient, asked.reason, asked.requested_by) == (patient, "medication", clinician)
    pending = re.search(r'data-testid="mt-recheck-pending">(.*?)</p>', response.content.decode(), re.S).group(1)
    assert "medication change (Sertraline 50 → 100 mg), 2 Dec 2026 by clinician" in pending


def test_a_bad_reason_changes_nothing_and_says_why(client, clinician, patient):
    client.force_login(clinician)
    response = client.post(reverse("staff:mt-recheck", args=[patient.uuid]), {"reason": "whim"}, follow=True)
    assert response.status_code == 200
    assert "Select a valid choice. whim is not one of the available choices." in response.content.decode()
    assert not MotorThresholdRecheck.objects.exists()
