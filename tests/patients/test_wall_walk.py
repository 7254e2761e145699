"""The clinic wall read by walking the (clinic, patient) index: for any bookings, any of the
user's clinics and any break-glass patients, the same patients as a plain recomputation from
the raw rows — home clinic among the user's, or any appointment (of any status) at one of them."""

import datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patients.models import Patient, PatientFlag, behind_wall
from scheduling.models import Appointment, BookedAt
from tests.factories import ChairFactory, ClinicFactory, PatientFactory, PatientFlagFactory, staff_user

CLINICS, PATIENTS = 4, 9
START = datetime.datetime(2026, 11, 2, 14, 0, tzinfo=datetime.UTC)

bookings = st.lists(st.tuples(st.integers(0, PATIENTS - 1), st.integers(0, CLINICS - 1),
                              st.sampled_from(Appointment.Status.values)), max_size=25)


@pytest.fixture
def chain(db):
    clinics = [ClinicFactory(name=f"Clinic {n}") for n in range(CLINICS)]
    chairs = [ChairFactory(clinic=clinic) for clinic in clinics]
    patients = [PatientFactory(home_clinic=clinics[n % CLINICS], mrn=f"WALK-{n}") for n in range(PATIENTS)]
    for patient in patients:
        PatientFlagFactory(patient=patient)
    return clinics, chairs, patients


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(booked=bookings, mine=st.sets(st.integers(0, CLINICS - 1), max_size=CLINICS),
       opened=st.sets(st.integers(0, PATIENTS - 1), max_size=3))
def test_the_wall_is_home_or_booked_at_one_of_the_users_clinics(chain, booked, mine, opened):
    clinics, chairs, patients = chain
    with transaction.atomic():
        # One slot an hour, each booking its own: no chair or patient is double-booked.
        Appointment.objects.bulk_create(
            Appointment(patient=patients[p], clinic=clinics[c], chair=chairs[c], status=status,
                        kind=Appointment.Kind.ACUTE, starts_at=START + datetime.timedelta(hours=n),
                        ends_at=START + datetime.timedelta(hours=n, minutes=30))
            for n, (p, c, status) in enumerate(booked)
        )
        user = staff_user(username="walker", clinics=[clinics[c] for c in sorted(mine)])
        also = [patients[p].pk for p in opened]

        mine_ids = {clinics[c].pk for c in mine}
        home = {pk for pk, clinic in Patient.objects.values_list("pk", "home_clinic_id") if clinic in mine_ids}
        booked_there = {pk for pk, clinic in Appointment.objects.values_list("patient_id", "clinic_id")
                        if clinic in mine_ids}
        expected = home | booked_there | set(also)

        assert set(Patient.objects.visible_to(user, also=also).values_list("pk", flat=True)) == expected
        assert set(Patient.objects.filter(pk__in=behind_wall(user, also=also)).values_list("pk", flat=True)) == expected
        assert set(PatientFlag.objects.visible_to(user, also=also).values_list("patient_id", flat=True)) == expected
        outside = Patient.objects.exclude(pk__in=behind_wall(user, also=also)).values_list("pk", flat=True)
        assert set(outside) == {patient.pk for patient in patients} - expected
        assert (set(Appointment.objects.visible_to(user, also=also).values_list("patient_id", flat=True))
                == set(Appointment.objects.filter(patient_id__in=expected).values_list("patient_id", flat=True)))
        transaction.set_rollback(True)


# Bookings crowded onto three patients at two clinics, so that most pairs have several
# appointments; then what may happen to an appointment after it is written: deleted (a superuser
# in Django admin), moved to another clinic or given to another patient (an UPDATE, as a data fix
# would).
crowded = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1), st.sampled_from(Appointment.Status.values)),
                   min_size=1, max_size=25)
changes = st.lists(st.tuples(st.sampled_from(["delete", "clinic", "patient"]), st.integers(0, 24), st.integers(0, 3)),
                   max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(booked=crowded, changed=changes, mine=st.sets(st.integers(0, CLINICS - 1), min_size=1, max_size=CLINICS))
def test_the_booked_pairs_follow_every_write_of_the_appointments(chain, booked, changed, mine):
    """BookedAt, kept by the database's triggers, against the raw rows after inserts, deletes and
    moves; and the wall read from it is still home or booked."""
    clinics, chairs, patients = chain
    with transaction.atomic():
        written = Appointment.objects.bulk_create(
            Appointment(patient=patients[p], clinic=clinics[c], chair=chairs[c], status=status,
                        kind=Appointment.Kind.ACUTE, starts_at=START + datetime.timedelta(hours=n),
                        ends_at=START + datetime.timedelta(hours=n, minutes=30))
            for n, (p, c, status) in enumerate(booked)
        )
        for change, which, to in changed:
            rows = Appointment.objects.filter(pk=written[which % len(written)].pk)
            if change == "delete":
                rows.delete()
            elif change == "clinic":
                rows.update(clinic=clinics[to % CLINICS], chair=chairs[to % CLINICS])
            else:
                rows.update(patient=patients[to % PATIENTS])
        pairs = set(Appointment.objects.values_list("clinic_id", "patient_id"))
        assert set(BookedAt.objects.values_list("clinic_id", "patient_id")) == pairs
        assert BookedAt.objects.count() == len(pairs)  # each pair once

        user = staff_user(username="mover", clinics=[clinics[c] for c in sorted(mine)])
        mine_ids = {clinics[c].pk for c in mine}
        expected = ({pk for pk, clinic in Patient.objects.values_list("pk", "home_clinic_id") if clinic in mine_ids}
                    | {patient for clinic, patient in pairs if clinic in mine_ids})
        assert set(Patient.objects.visible_to(user).values_list("pk", flat=True)) == expected
        transaction.set_rollback(True)


def test_a_save_that_changes_neither_clinic_nor_patient_keeps_the_pair(chain):
    clinics, chairs, patients = chain
    appointment = Appointment.objects.create(
        patient=patients[0], clinic=clinics[1], chair=chairs[1], kind=Appointment.Kind.ACUTE,
        starts_at=START, ends_at=START + datetime.timedelta(minutes=30))
    appointment.status = Appointment.Status.CANCELLED
    appointment.save()
    assert list(BookedAt.objects.values_list("clinic_id", "patient_id")) == [(clinics[1].pk, patients[0].pk)]


def test_rebuild_gives_back_the_pairs_the_triggers_keep(chain):
    clinics, chairs, patients = chain
    for n, (p, c) in enumerate([(0, 1), (0, 1), (2, 1), (3, 0)]):
        Appointment.objects.create(patient=patients[p], clinic=clinics[c], chair=chairs[c], kind=Appointment.Kind.ACUTE,
                                   starts_at=START + datetime.timedelta(hours=n),
                                   ends_at=START + datetime.timedelta(hours=n, minutes=30))
    kept = sorted(BookedAt.objects.values_list("clinic_id", "patient_id"))
    assert len(kept) == 3
    BookedAt.objects.all().delete()
    BookedAt.rebuild()
    assert sorted(BookedAt.objects.values_list("clinic_id", "patient_id")) == kept
