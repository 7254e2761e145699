"""Many front desks at once, on real PostgreSQL: exactly one booking wins every race.

Each thread has its own database connection; a barrier releases them together.
"""

import datetime
import threading
import time

import pytest
from django.db import connections

from scheduling.models import Appointment
from scheduling.services import SlotUnavailable, book_appointment
from tests.factories import ChairFactory, ClinicFactory, OpeningHoursFactory, PatientFactory, ProtocolFactory

THREADS = 16
ROUNDS = 20
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
        except SlotUnavailable as refusal:
            outcome = ("refused", refusal)
        except Exception as error:  # anything else would be a 500 for a user
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
def setting(transactional_db):
    clinic = ClinicFactory(time_zone="Europe/London")
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(0), closes_at=datetime.time(23, 59))
    chairs = [ChairFactory(clinic=clinic, name=f"Chair {n}") for n in range(THREADS)]
    patients = [PatientFactory(home_clinic=clinic) for _ in range(THREADS)]
    protocol = ProtocolFactory(chair_minutes=45)
    return clinic, chairs, patients, protocol


def round_start(clinic, number):
    day = datetime.date.today() + datetime.timedelta(days=2 + number // 10)
    return datetime.datetime.combine(day, datetime.time(1 + 2 * (number % 10)), tzinfo=clinic.tz)


def booking(patient, chair, starts_at, protocol):
    return lambda: book_appointment(patient=patient, chair=chair, starts_at=starts_at, kind="consult",
                                    booked_by=None, duration=datetime.timedelta(minutes=protocol.chair_minutes))


def assert_one_winner_each_round(make_attempts, clinic):
    for number in range(ROUNDS):
        won, refused, errors = race(make_attempts(round_start(clinic, number)))
        assert errors == [], f"round {number}: {errors!r}"
        assert len(won) == 1, f"round {number}: {len(won)} bookings won"
        assert len(refused) == THREADS - 1


def test_sixteen_desks_booking_the_same_chair_and_time(setting):
    clinic, chairs, patients, protocol = setting
    assert_one_winner_each_round(
        lambda start: [booking(p, chairs[0], start, protocol) for p in patients], clinic
    )
    assert Appointment.objects.count() == ROUNDS


def test_sixteen_overlapping_but_different_times_on_one_chair(setting):
    clinic, chairs, patients, protocol = setting
    # Starts two minutes apart: every pair overlaps within the 45 chair minutes.
    assert_one_winner_each_round(
        lambda start: [
            booking(p, chairs[0], start + datetime.timedelta(minutes=2 * i), protocol) for i, p in enumerate(patients)
        ],
        clinic,
    )


def test_one_patient_booked_on_sixteen_chairs_at_once(setting):
    clinic, chairs, patients, protocol = setting
    assert_one_winner_each_round(
        lambda start: [booking(patients[0], chair, start, protocol) for chair in chairs], clinic
    )


def naive_booking(patient, chair, starts_at, protocol):
    """Check, then insert, with no lock: the bug the real service must not have."""

    def attempt():
        ends_at = starts_at + datetime.timedelta(minutes=protocol.chair_minutes)
        if Appointment.objects.live().on_chair(chair).between(starts_at, ends_at).exists():
            raise SlotUnavailable("taken")
        time.sleep(0.01)  # the time a real request spends between its check and its insert
        return Appointment.objects.create(patient=patient, clinic=chair.clinic, chair=chair, kind="consult",
                                          starts_at=starts_at, ends_at=ends_at)

    return attempt


def test_negative_control_the_race_catches_a_naive_check_then_insert(setting):
    clinic, chairs, patients, protocol = setting
    won, refused, errors = race([naive_booking(p, chairs[0], round_start(clinic, 0), protocol) for p in patients])
    # The database still refuses the double booking, but as an IntegrityError: a 500 for the user.
    assert errors, "the naive version should have lost races with raw database errors"
    assert len(refused) < THREADS - 1
