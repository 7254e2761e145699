"""Resolving a flag from the worklist, with a note; clinical flags by a clinician only."""

import datetime

import pytest
from django.urls import reverse

from tests.factories import PatientFlagFactory
from tests.scheduling.staff.worklist.helpers import MISSED, NOW, SAFETY, WORKLIST, WORSENING, messages_of, rows

pytestmark = pytest.mark.usefixtures("frozen")


def test_resolving_with_a_note(client, front_desk, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic, kind=MISSED)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-resolve", args=[flag.pk]), {"note": "Moved away; discharged"})
    flag.refresh_from_db()
    assert (flag.resolved_at, flag.resolved_by, flag.resolution_note) == (NOW, front_desk, "Moved away; discharged")
    assert messages_of(response) == [f"Resolved “Missed appointments” for {flag.patient.full_name}."]
    assert rows(client.get(WORKLIST)) == []


def test_resolving_needs_a_note(client, front_desk, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-resolve", args=[flag.pk]), {"note": "  "})
    assert messages_of(response) == ["Say why the flag is resolved."]
    flag.refresh_from_db()
    assert flag.resolved_at is None


def test_a_resolved_flag_stays_as_it_was_resolved(client, front_desk, clinician, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic, resolved_at=NOW - datetime.timedelta(days=1),
                              resolved_by=clinician, resolution_note="Booked by phone")
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-resolve", args=[flag.pk]), {"note": "Again"})
    assert "is already resolved" in messages_of(response)[0]
    flag.refresh_from_db()
    assert (flag.resolved_by, flag.resolution_note) == (clinician, "Booked by phone")


@pytest.mark.parametrize("kind", [SAFETY, WORSENING])
def test_only_a_clinician_resolves_a_clinical_flag(client, front_desk, clinician, technician, open_clinic, kind):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic, kind=kind)
    url = reverse("staff:attention-resolve", args=[flag.pk])
    client.force_login(technician)
    assert client.post(url, {"note": "Seen"}).status_code == 403
    client.force_login(front_desk)
    assert messages_of(client.post(url, {"note": "Seen"})) == [
        f"Only a clinician can resolve a flag “{flag.get_kind_display()}”."
    ]
    flag.refresh_from_db()
    assert flag.resolved_at is None
    client.force_login(clinician)
    client.post(url, {"note": "Reviewed in clinic today; safety plan in place"})
    flag.refresh_from_db()
    assert flag.resolved_by == clinician
