"""The new-patient and edit forms: consents stamped when given and cleared when withdrawn,
and every mistake (phone, date of birth, a taken MRN) refused with a message."""

import datetime
import uuid

import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from patients.forms import PatientForm
from patients.models import Patient
from tests.factories import PatientFactory
from tests.patients.views.helpers import form_data

NOW = datetime.datetime(2026, 11, 24, 15, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(hours=2)  # within the 8-hour session


def flash(response):
    return [message.message for message in get_messages(response.wsgi_request)]


# --- Adding a patient ------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_it_adds_a_patient_with_consents_and_goes_to_the_patient_page(desk_client, clinic, clinician):
    response = desk_client.post(
        reverse("staff:patient-new"),
        form_data(
            clinic,
            phone="(201) 555-0123",
            preferred_channel="sms",
            email_consent="on",
            sms_consent="on",
            primary_clinician=clinician.pk,
        ),
    )
    patient = Patient.objects.get(mrn="MRN-NEW-1")
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:patient", args=[patient.uuid])
    assert flash(response) == ["Added Ann Smith (MRN-NEW-1)."]
    assert (patient.first_name, patient.last_name, patient.home_clinic) == ("Ann", "Smith", clinic)
    assert patient.date_of_birth == datetime.date(1975, 3, 9)
    assert patient.phone == "+12015550123"  # stored in E.164
    assert patient.primary_clinician == clinician
    assert patient.status == Patient.Status.ACTIVE
    assert patient.email_consent_at == NOW
    assert patient.sms_consent_at == NOW


def test_a_patient_added_without_consent_has_no_consent_time(desk_client, clinic):
    desk_client.post(reverse("staff:patient-new"), form_data(clinic))
    patient = Patient.objects.get(mrn="MRN-NEW-1")
    assert not patient.email_consent and patient.email_consent_at is None
    assert not patient.sms_consent and patient.sms_consent_at is None


def test_the_new_patient_form_labels_every_field_and_has_a_date_picker(desk_client):
    page = desk_client.get(reverse("staff:patient-new")).content.decode()
    for name in PatientForm.Meta.fields:
        if name != "status":
            assert f'for="id_{name}"' in page, name
    assert 'type="date" name="date_of_birth"' in page
    assert 'name="status"' not in page  # a new patient is active


def test_only_clinicians_can_be_chosen_as_primary_clinician(desk_client, clinician, front_desk, clinic):
    choices = desk_client.get(reverse("staff:patient-new")).context["form"].fields["primary_clinician"].queryset
    assert list(choices) == [clinician]
    response = desk_client.post(reverse("staff:patient-new"), form_data(clinic, primary_clinician=front_desk.pk))
    assert response.status_code == 200
    assert "primary_clinician" in response.context["form"].errors


def test_a_bad_phone_number_is_refused_with_a_message(desk_client, clinic):
    response = desk_client.post(reverse("staff:patient-new"), form_data(clinic, phone="12345"))
    assert response.status_code == 200
    assert response.context["form"].errors["phone"] == [
        "Enter a valid phone number (e.g. (201) 555-0123) or a number with an international call prefix."
    ]
    assert not Patient.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_a_date_of_birth_in_the_future_is_refused(desk_client, clinic):
    response = desk_client.post(reverse("staff:patient-new"), form_data(clinic, date_of_birth="2026-11-25"))
    assert response.context["form"].errors["date_of_birth"] == ["The date of birth cannot be in the future."]
    assert not Patient.objects.exists()


def test_a_duplicate_mrn_is_refused_with_a_message_and_creates_nothing(desk_client, clinic, patient):
    response = desk_client.post(reverse("staff:patient-new"), form_data(clinic, mrn=patient.mrn))
    assert response.status_code == 200
    assert response.context["form"].errors["mrn"] == [f"A patient with MRN {patient.mrn} already exists."]
    assert f"A patient with MRN {patient.mrn} already exists." in response.content.decode()
    assert Patient.objects.count() == 1


def test_an_mrn_taken_by_another_request_after_validation_gets_the_same_message(desk_client, clinic, monkeypatch):
    validate_unique = PatientForm.validate_unique

    def validate_then_lose_the_race(form):
        validate_unique(form)
        PatientFactory(mrn=form.cleaned_data["mrn"], first_name="Quicker", home_clinic=clinic)

    monkeypatch.setattr(PatientForm, "validate_unique", validate_then_lose_the_race)
    response = desk_client.post(reverse("staff:patient-new"), form_data(clinic))
    assert response.status_code == 200
    assert response.context["form"].errors["mrn"] == ["A patient with MRN MRN-NEW-1 already exists."]
    assert list(Patient.objects.values_list("first_name", flat=True)) == ["Quicker"]


# --- Editing a patient -----------------------------------------------------------------------


def test_it_edits_a_patient_and_can_discharge_them(desk_client, clinic, patient):
    response = desk_client.post(
        reverse("staff:patient-edit", args=[patient.uuid]),
        form_data(clinic, mrn=patient.mrn, first_name="Anne", status="discharged"),
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:patient", args=[patient.uuid])
    patient.refresh_from_db()
    assert (patient.first_name, patient.status) == ("Anne", Patient.Status.DISCHARGED)
    assert flash(response) == [f"Saved Anne Smith ({patient.mrn})."]


def test_the_edit_form_shows_the_patient_as_stored(desk_client, patient):
    response = desk_client.get(reverse("staff:patient-edit", args=[patient.uuid]))
    page = response.content.decode()
    assert f'value="{patient.mrn}"' in page
    assert 'value="1980-05-17"' in page  # ISO, as the date picker needs
    assert 'name="status"' in page


def test_consent_time_is_set_when_given_kept_while_it_stands_and_cleared_when_withdrawn(desk_client, clinic, patient):
    def save(**consents):
        response = desk_client.post(
            reverse("staff:patient-edit", args=[patient.uuid]), form_data(clinic, mrn=patient.mrn, **consents)
        )
        assert response.status_code == 302
        patient.refresh_from_db()

    with time_machine.travel(NOW, tick=False):
        save(email_consent="on")
    with time_machine.travel(LATER, tick=False):
        save(email_consent="on", sms_consent="on")
    assert (patient.email_consent_at, patient.sms_consent_at) == (NOW, LATER)

    save(sms_consent="on")
    assert (patient.email_consent, patient.email_consent_at) == (False, None)
    assert patient.sms_consent_at == LATER


def test_changing_the_mrn_to_another_patients_is_refused(desk_client, clinic, patient):
    other = PatientFactory(home_clinic=clinic)
    response = desk_client.post(reverse("staff:patient-edit", args=[patient.uuid]), form_data(clinic, mrn=other.mrn))
    assert response.context["form"].errors["mrn"] == [f"A patient with MRN {other.mrn} already exists."]
    assert response.context["title"] == f"Edit {patient.full_name}"


def test_an_unknown_patient_is_not_found(desk_client, clinic):
    url = reverse("staff:patient-edit", args=[uuid.uuid4()])
    assert desk_client.get(url).status_code == 404
    assert desk_client.post(url, form_data(clinic)).status_code == 404
