"""Sixteen patients on real PostgreSQL try to book the clinic's last free slot from the portal
at the same moment: exactly one gets it, the others are told, in words, that it has gone.

Each thread has its own database connection; a barrier releases them together.
"""

import datetime
import threading

import pytest
from django.db import connections
from django.utils import timezone

from scheduling.models import Appointment
from scheduling.services.plans import refresh_plan
from scheduling.services.portal import TAKEN, Refusal, book_slot
from tests.factories import (
    ChairFactory,
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    UserFactory,
)

PATIENTS = 16
pytestmark = pytest.mark.usefixtures("on_postgres")


def race(attempts):
    """Run the callables at once; return (winners, refusals, other errors)."""
    barrier = threading.Barrier(len(attempts))
    results = []
    lock = threading.Lock()

    def run(attempt):
        try:
            barrier.wait()
            outcome = ("won", attempt())
        except Refusal as refusal:
            outcome = ("refused", str(refusal))
        except Exception as error:  # anything else would be a 500 for a patient
            outcome = ("error", error)
        finally:
            connections.close_all()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    by_kind = {kind: [value for k, value in results if k == kind] for kind in ("won", "refused", "error")}
    return by_kind["won"], by_kind["refused"], by_kind["error"]


@pytest.fixture
def last_slot(transactional_db):
    """A clinic with one chair, open for one 45-minute slot on one day of the patients'
    booking window; sixteen patients whose maintenance session falls due that day."""
    clinic = ClinicFactory(time_zone="America/New_York")
    due = clinic.today() + datetime.timedelta(days=3)
    OpeningHoursFactory(clinic=clinic, weekday=due.weekday(), opens_at=datetime.time(10),
                        closes_at=datetime.time(10, 45))
    ChairFactory(clinic=clinic, name="Chair 1")
    protocol = ProtocolFactory(chair_minutes=45)
    patients = []
    for n in range(PATIENTS):
        patient = PatientFactory(home_clinic=clinic, user=UserFactory(username=f"racer{n}"))
        plan = MaintenancePlanFactory(patient=patient, protocol=protocol, started_on=due, grace_days=0)
        MaintenancePhaseFactory(plan=plan, interval_days=28, visits=None)
        refresh_plan(plan)
        patients.append(patient)
    return clinic, patients, datetime.datetime.combine(due, datetime.time(10), tzinfo=clinic.tz)


def test_sixteen_patients_booking_the_last_slot_at_once(last_slot):
    clinic, patients, starts_at = last_slot
    assert starts_at > timezone.now() + datetime.timedelta(hours=24)
    won, refused, errors = race([
        lambda p=p: book_slot(patient=p, kind=Appointment.Kind.MAINTENANCE, starts_at=starts_at, user=p.user)
        for p in patients
    ])
    assert errors == []
    assert len(won) == 1
    assert refused == [TAKEN] * (PATIENTS - 1)
    [appointment] = Appointment.objects.all()
    assert appointment == won[0]
    assert (appointment.booked_via, appointment.booked_by) == (Appointment.Via.PORTAL, appointment.patient.user)
