"""The clinic wall read by walking the (clinic, patient) index: for any bookings, any of the
user's clinics and any break-glass patients, the same patients as a plain recomputation from
the raw rows — home clinic among the user's, or any appointment (of any status) at one of them."""

import datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patients.models import Patient, PatientFlag, behind_wall
from scheduling.models import Appointment
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
