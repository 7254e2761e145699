"""MRNs given by the system: a new patient saved with the MRN left blank gets the next one in
TMS_MRN_FORMAT, numbered by the database's sequence; typed MRNs are kept and still checked."""

import re
import threading

import pytest
from django.contrib.messages import get_messages
from django.db import connections
from django.urls import reverse

from patients.models import Patient
from tests.factories import ClinicFactory, PatientFactory
from tests.patients.views.helpers import form_data

NEW = reverse("staff:patient-new")


def flash(response):
    return [message.message for message in get_messages(response.wsgi_request)]


def test_a_blank_mrn_is_given_the_next_number(desk_client, clinic):
    PatientFactory(home_clinic=clinic, mrn="OLD-7")
    response = desk_client.post(NEW, form_data(clinic, mrn=""))
    patient = Patient.objects.get(first_name="Ann")
    assert patient.mrn == f"TMS-{patient.pk:06d}"
    assert response["Location"] == reverse("staff:patient", args=[patient.uuid])
    assert flash(response) == [f"Added Ann Smith (TMS-{patient.pk:06d})."]
    desk_client.post(NEW, form_data(clinic, mrn="  ", first_name="Bo"))  # spaces are blank too
    second = Patient.objects.get(first_name="Bo")
    assert second.mrn == f"TMS-{second.pk:06d}" and second.pk > patient.pk


def test_the_format_is_a_setting_and_the_form_shows_an_example(desk_client, clinic, settings):
    settings.TMS_MRN_FORMAT = "RIV{number:05d}"
    assert "Leave blank to have the next one given, like RIV00123." in desk_client.get(NEW).content.decode()
    desk_client.post(NEW, form_data(clinic, mrn=""))
    patient = Patient.objects.get(first_name="Ann")
    assert patient.mrn == f"RIV{patient.pk:05d}"


def test_a_typed_mrn_is_kept_and_a_taken_one_refused(desk_client, clinic):
    desk_client.post(NEW, form_data(clinic, mrn="H-42"))
    assert Patient.objects.get(first_name="Ann").mrn == "H-42"
    response = desk_client.post(NEW, form_data(clinic, mrn="H-42", first_name="Bo"))
    assert response.status_code == 200
    assert response.context["form"].errors == {"mrn": ["A patient with MRN H-42 already exists."]}
    assert not Patient.objects.filter(first_name="Bo").exists()


def test_a_typed_mrn_holding_the_next_number_makes_the_given_one_take_a_suffix(desk_client, clinic):
    last = PatientFactory(home_clinic=clinic)
    typed_ahead = PatientFactory(home_clinic=clinic, mrn=f"TMS-{last.pk + 2:06d}")  # typed by hand, row last + 1
    desk_client.post(NEW, form_data(clinic, mrn=""))
    ann = Patient.objects.get(first_name="Ann")
    assert ann.pk == typed_ahead.pk + 1 and ann.mrn == f"TMS-{ann.pk:06d}-1"
    assert typed_ahead.mrn == f"TMS-{ann.pk:06d}"  # the number it would have had


def test_an_existing_patient_keeps_needing_an_mrn(desk_client, clinic):
    patient = PatientFactory(home_clinic=clinic, mrn="KEEP-1")
    response = desk_client.post(reverse("staff:patient-edit", args=[patient.uuid]), form_data(clinic, mrn=""))
    assert response.status_code == 200
    assert response.context["form"].errors == {"mrn": ["This field is required."]}
    patient.refresh_from_db()
    assert patient.mrn == "KEEP-1"


@pytest.mark.usefixtures("on_postgres")
def test_front_desks_adding_patients_at_once_get_different_mrns(transactional_db):
    clinic = ClinicFactory()
    threads_count = 12
    barrier = threading.Barrier(threads_count)
    made, errors, lock = [], [], threading.Lock()

    def add(n):
        try:
            barrier.wait()
            patient = Patient.objects.create(mrn="", first_name=f"P{n}", last_name="Race", home_clinic=clinic,
                                             date_of_birth="1980-01-01")
            with lock:
                made.append(patient.mrn)
        except Exception as error:  # any would be a 500 for a user
            with lock:
                errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    stored = {p.mrn: p.pk for p in Patient.objects.filter(last_name="Race")}
    assert sorted(made) == sorted(stored) and len(stored) == threads_count
    assert all(re.fullmatch(r"TMS-\d{6}", mrn) and mrn == f"TMS-{pk:06d}" for mrn, pk in stored.items())
