"""seed_demo gives the demo a waitlist: wishes, and freed times whose offers are in every state."""

import collections
import datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from scheduling.models import Appointment, FreedSlot, SlotOffer, WaitlistEntry

NOW = datetime.datetime(2026, 3, 11, 15, 0, tzinfo=datetime.UTC)  # a Wednesday, as test_seed_demo's


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_demo_has_waiting_patients_and_offers_in_every_state(db):
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", patients=150, stdout=StringIO())
    assert WaitlistEntry.objects.filter(status=WaitlistEntry.Status.WAITING).count() >= 5
    statuses = collections.Counter(SlotOffer.objects.values_list("status", flat=True))
    assert set(statuses) == {"open", "declined", "expired", "gone", "accepted"}
    assert set(FreedSlot.objects.values_list("status", flat=True)) == {"open", "filled", "unfilled"}
    accepted = SlotOffer.objects.select_related("appointment", "entry").get(status=SlotOffer.Status.ACCEPTED)
    assert accepted.appointment.status == Appointment.Status.BOOKED
    booked = accepted.appointment
    assert (booked.starts_at, booked.patient_id) == (accepted.starts_at, accepted.patient_id)
    assert accepted.entry.status == WaitlistEntry.Status.BOOKED
    # Every offer is of a time still to come, not within the notice, on a chair of its clinic.
    for offer in SlotOffer.objects.select_related("chair"):
        assert offer.starts_at >= NOW + datetime.timedelta(hours=3) and offer.chair.clinic_id == offer.clinic_id
