"""Who may open the patient list, search and forms."""

import pytest
from django.urls import reverse

from patients.models import Patient
from tests.factories import UserFactory, staff_user
from tests.patients.views.helpers import form_data
from tmsclinic.roles import CLINIC_ADMIN, CLINICIAN, FRONT_DESK, TECHNICIAN


@pytest.fixture
def every_page(patient):
    return [
        reverse("staff:patients"),
        reverse("staff:patient-search"),
        reverse("staff:patient-new"),
        reverse("staff:patient-edit", args=[patient.uuid]),
    ]


def test_anonymous_user_is_sent_to_login(client, every_page):
    for url in every_page:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_a_portal_account_is_refused_everywhere(client, every_page):
    client.force_login(UserFactory(username="portal-patient"))
    for url in every_page:
        assert client.get(url).status_code == 403


@pytest.mark.parametrize("role", [FRONT_DESK, TECHNICIAN, CLINICIAN])
def test_every_role_that_sees_patients_sees_the_list_and_the_search(client, role, patient):
    client.force_login(staff_user(username=f"u-{role}", role=role))
    assert client.get(reverse("staff:patients")).status_code == 200
    search = client.get(reverse("staff:patient-search"), {"q": patient.mrn}, headers={"HX-Request": "true"})
    assert search.status_code == 200


def test_the_clinic_admin_configures_but_opens_no_patient(client, patient, every_page):
    client.force_login(staff_user(username="u-admin", role=CLINIC_ADMIN))
    for url in every_page:
        assert client.get(url).status_code == 403


def test_a_technician_cannot_add_or_edit_patients(client, technician, patient, clinic):
    client.force_login(technician)
    assert client.get(reverse("staff:patient-new")).status_code == 403
    assert client.post(reverse("staff:patient-new"), form_data(clinic)).status_code == 403
    edit = reverse("staff:patient-edit", args=[patient.uuid])
    assert client.post(edit, form_data(clinic, mrn=patient.mrn, first_name="Changed")).status_code == 403
    patient.refresh_from_db()
    assert patient.first_name != "Changed"
    assert not Patient.objects.filter(mrn="MRN-NEW-1").exists()
    assert "New patient" not in client.get(reverse("staff:patients")).content.decode()


@pytest.mark.parametrize("role", [FRONT_DESK, CLINICIAN])
def test_editing_roles_open_the_forms(client, role, patient):
    client.force_login(staff_user(username=f"u-{role}", role=role))
    assert client.get(reverse("staff:patient-new")).status_code == 200
    assert client.get(reverse("staff:patient-edit", args=[patient.uuid])).status_code == 200
