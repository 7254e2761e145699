"""BookedAt under concurrent writers, on real PostgreSQL: many transactions writing the first
appointments of one patient at a clinic at once (each its own connection, released together by a
barrier and holding its transaction open a moment) all commit, and leave exactly one pair — the
trigger's ON CONFLICT waits for the first writer instead of failing the others."""

import datetime
import threading
import time

import pytest
from django.db import connections, transaction

from scheduling.models import Appointment, BookedAt
from tests.factories import ChairFactory, ClinicFactory, PatientFactory

THREADS = 8
START = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=datetime.UTC)
pytestmark = pytest.mark.usefixtures("on_postgres")


def at_once(writes):
    barrier = threading.Barrier(len(writes))
    errors = []

    def run(write):
        try:
            barrier.wait()
            with transaction.atomic():
                write()
                time.sleep(0.05)  # the others' triggers meet this one's uncommitted pair
        except Exception as error:  # a failed booking would be a 500 for a user
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(write,)) for write in writes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_first_bookings_of_a_patient_at_a_clinic_at_once_all_commit_with_one_pair(transactional_db):
    home, away = ClinicFactory(name="Home TMS"), ClinicFactory(name="Away TMS")
    chairs = [ChairFactory(clinic=away, name=f"Chair {n}") for n in range(THREADS)]
    patient, other = PatientFactory(home_clinic=home), PatientFactory(home_clinic=home)

    def booking(n, who):
        return lambda: Appointment.objects.create(
            patient=who, clinic=away, chair=chairs[n], kind=Appointment.Kind.CONSULT,
            starts_at=START + datetime.timedelta(hours=n), ends_at=START + datetime.timedelta(hours=n, minutes=30))

    errors = at_once([booking(n, patient if n % 2 else other) for n in range(THREADS)])
    assert errors == []
    assert Appointment.objects.filter(clinic=away).count() == THREADS
    assert sorted(BookedAt.objects.values_list("clinic_id", "patient_id")) == sorted(
        [(away.pk, patient.pk), (away.pk, other.pk)])
