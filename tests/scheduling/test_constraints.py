"""The database itself refuses what must never happen, whatever code writes the rows."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from patients.models import MaintenancePlan, PatientFlag
from scheduling.models import Appointment
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    MaintenancePlanFactory,
    PatientFactory,
    PatientFlagFactory,
)

NINE = datetime.datetime(2026, 12, 1, 14, 0, tzinfo=datetime.UTC)
MINUTES = datetime.timedelta(minutes=1)


def refused_by_database():
    return pytest.raises(IntegrityError)


def test_overlap_on_one_chair_is_refused_by_postgres(on_postgres, chair):
    AppointmentFactory(chair=chair, starts_at=NINE)
    with refused_by_database(), transaction.atomic():
        AppointmentFactory(chair=chair, starts_at=NINE + 30 * MINUTES)


def test_overlap_for_one_patient_on_two_chairs_is_refused_by_postgres(on_postgres, clinic, patient):
    AppointmentFactory(chair=ChairFactory(clinic=clinic), patient=patient, starts_at=NINE)
    with refused_by_database(), transaction.atomic():
        AppointmentFactory(chair=ChairFactory(clinic=clinic), patient=patient, starts_at=NINE + 44 * MINUTES)


def test_back_to_back_and_cancelled_appointments_do_not_collide(on_postgres, chair):
    first = AppointmentFactory(chair=chair, starts_at=NINE)
    AppointmentFactory(chair=chair, starts_at=first.ends_at)  # [) ranges: touching is fine
    first.status = Appointment.Status.CANCELLED
    first.save()
    AppointmentFactory(chair=chair, starts_at=NINE - 10 * MINUTES)
    assert Appointment.objects.live().on_chair(chair).count() == 2


def test_the_exclusion_constraints_exist_in_postgres(on_postgres, db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'x' AND conrelid = 'scheduling_appointment'::regclass"
        )
        names = {row[0] for row in cursor.fetchall()}
    assert names == {"appt_no_chair_overlap", "appt_no_patient_overlap"}


def test_an_appointment_must_end_after_it_starts(chair):
    with refused_by_database(), transaction.atomic():
        AppointmentFactory(chair=chair, starts_at=NINE, ends_at=NINE)


def test_validation_names_the_collision_in_clinic_words(chair, clinic):
    AppointmentFactory(chair=chair, starts_at=NINE)
    other_patient = PatientFactory(home_clinic=clinic)
    clash = Appointment(patient=other_patient, clinic=clinic, chair=chair, kind="acute",
                        starts_at=NINE + 15 * MINUTES, ends_at=NINE + 60 * MINUTES)
    with pytest.raises(ValidationError) as caught:
        clash.full_clean()
    assert caught.value.message_dict["chair"] == ["This chair is already booked at that time."]


def test_validation_refuses_a_chair_from_another_clinic(chair, patient):
    elsewhere = ChairFactory()
    appointment = Appointment(patient=patient, clinic=chair.clinic, chair=elsewhere, kind="acute",
                              starts_at=NINE, ends_at=NINE + 45 * MINUTES)
    with pytest.raises(ValidationError) as caught:
        appointment.full_clean()
    assert "another clinic" in caught.value.message_dict["chair"][0]


def test_a_patient_has_at_most_one_live_plan(patient):
    MaintenancePlanFactory(patient=patient)
    with refused_by_database(), transaction.atomic():
        MaintenancePlanFactory(patient=patient, status=MaintenancePlan.Status.PAUSED)
    MaintenancePlanFactory(patient=patient, status=MaintenancePlan.Status.ENDED)


def test_a_patient_has_at_most_one_open_flag_of_a_kind(patient):
    first = PatientFlagFactory(patient=patient, kind=PatientFlag.Kind.SAFETY)
    with refused_by_database(), transaction.atomic():
        PatientFlagFactory(patient=patient, kind=PatientFlag.Kind.SAFETY)
    PatientFlagFactory(patient=patient, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE)
    first.resolved_at = NINE
    first.save()
    PatientFlagFactory(patient=patient, kind=PatientFlag.Kind.SAFETY)
