import datetime
import uuid

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from patients.forms import PatientForm
from patients.models import Patient
from tests.factories import ClinicFactory, PatientFactory, UserFactory
from tmsclinic.roles import STAFF_ROLES

NOW = datetime.datetime(2026, 11, 24, 15, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(hours=2)  # within the 8-hour session


def form_data(clinic, **changes):
    return {
        "mrn": "MRN-NEW-1",
        "first_name": "Ann",
        "last_name": "Smith",
        "date_of_birth": "1975-03-09",
        "email": "ann@patients.test",
        "phone": "",
        "home_clinic": clinic.pk,
        "preferred_channel": "email",
        "primary_clinician": "",
        "status": "active",
        **changes,
    }


def flash(response):
    return [message.message for message in get_messages(response.wsgi_request)]


def listed(client, **params):
    response = client.get(reverse("staff:patients"), params)
    assert response.status_code == 200
    return [patient.mrn for patient in response.context["page"]]


@pytest.fixture
def desk_client(client, front_desk):
    client.force_login(front_desk)
    return client


# --- Who may open what -----------------------------------------------------------------------


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


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_every_staff_role_sees_the_list_and_the_search(client, role, patient):
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    assert client.get(reverse("staff:patients")).status_code == 200
    assert client.get(reverse("staff:patient-search"), {"q": patient.mrn}).status_code == 200


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


@pytest.mark.parametrize("role", ["Front desk", "Clinician", "Clinic admin"])
def test_editing_roles_open_the_forms(client, role, patient):
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    assert client.get(reverse("staff:patient-new")).status_code == 200
    assert client.get(reverse("staff:patient-edit", args=[patient.uuid])).status_code == 200


# --- The list --------------------------------------------------------------------------------


@pytest.fixture
def people(clinic):
    return {
        "ann": PatientFactory(
            mrn="A1001", first_name="Ann", last_name="Smith", home_clinic=clinic, email="ann.smith@mail.test"
        ),
        "bob": PatientFactory(
            mrn="A1002", first_name="Bob", last_name="Annis", home_clinic=clinic, email="bob@mail.test"
        ),
        "cy": PatientFactory(
            mrn="B2001",
            first_name="Cy",
            last_name="Jones",
            home_clinic=clinic,
            email="cyj@elsewhere.test",
            status=Patient.Status.DISCHARGED,
        ),
    }


def test_it_lists_patients_alphabetically_with_a_link_to_each(desk_client, people):
    response = desk_client.get(reverse("staff:patients"))
    assert [patient.mrn for patient in response.context["page"]] == ["A1002", "B2001", "A1001"]  # Annis, Jones, Smith
    assert reverse("staff:patient", args=[people["ann"].uuid]) in response.content.decode()


def test_it_finds_a_patient_by_mrn_exactly_or_by_its_start(desk_client, people):
    assert listed(desk_client, q="A1001") == ["A1001"]
    assert listed(desk_client, q="a100") == ["A1002", "A1001"]
    assert listed(desk_client, q="1001") == []  # the middle of an MRN is not a match


def test_it_finds_patients_by_any_part_of_a_name(desk_client, people):
    assert listed(desk_client, q="smi") == ["A1001"]
    assert listed(desk_client, q="ann") == ["A1002", "A1001"]  # Ann Smith and Bob Annis


def test_it_finds_a_patient_by_full_name(desk_client, people):
    assert listed(desk_client, q="ann smith") == ["A1001"]
    assert listed(desk_client, q="  Ann   Smith ") == ["A1001"]
    assert listed(desk_client, q="Bob Smith") == []


def test_it_finds_a_patient_by_email(desk_client, people):
    assert listed(desk_client, q="elsewhere.test") == ["B2001"]


def test_it_filters_by_status(desk_client, people):
    assert listed(desk_client, status="discharged") == ["B2001"]
    assert listed(desk_client, status="active") == ["A1002", "A1001"]


def test_it_filters_by_home_clinic(desk_client, people):
    other = ClinicFactory(name="Lakeside TMS")
    PatientFactory(mrn="C3001", home_clinic=other)
    assert listed(desk_client, clinic=other.pk) == ["C3001"]
    assert listed(desk_client, clinic=other.pk, q="a1") == []


def test_garbage_in_the_query_string_is_ignored_not_a_crash(desk_client, people):
    for params in (
        {"page": "x"},
        {"page": "-1"},
        {"page": "999"},
        {"clinic": "nope"},
        {"clinic": "99999"},
        {"status": "asleep"},
        {"q": "a\x00b"},
    ):
        assert len(listed(desk_client, **params)) == 3, params
    response = desk_client.get(reverse("staff:patients"), {"status": "asleep", "q": "smith"})
    assert [patient.mrn for patient in response.context["page"]] == ["A1001"]  # the valid filter still applies
    assert "Select a valid choice" in response.content.decode()


def test_it_shows_fifty_patients_a_page_and_keeps_the_filters_in_the_page_links(desk_client, clinic):
    PatientFactory.create_batch(51, home_clinic=clinic, last_name="Many")
    response = desk_client.get(reverse("staff:patients"), {"q": "many"})
    assert len(response.context["page"]) == 50
    assert "Page 1 of 2" in response.content.decode()
    assert "?q=many&amp;page=2" in response.content.decode()
    assert len(listed(desk_client, q="many", page=2)) == 1


def test_the_list_makes_as_many_queries_for_sixty_patients_as_for_three(desk_client, clinic, django_assert_num_queries):
    PatientFactory.create_batch(3, home_clinic=clinic)
    # session, user, roles, count, one page of patients with their clinics, clinics to filter by
    with django_assert_num_queries(7):
        desk_client.get(reverse("staff:patients"))
    for n in range(57):
        PatientFactory(home_clinic=ClinicFactory(name=f"Clinic {n}"))
    with django_assert_num_queries(7):
        response = desk_client.get(reverse("staff:patients"))
    assert response.content.decode().count('<a href="/staff/patients/') == 50


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


# --- The booking form's patient search --------------------------------------------------------


def search(client, text):
    return client.get(reverse("staff:patient-search"), {"q": text})


def test_search_returns_a_fragment_of_active_patients_to_pick_from(desk_client, people):
    response = search(desk_client, "ann")
    page = response.content.decode()
    assert "<html" not in page
    assert page.lstrip().startswith('<div class="list-group" id="patient-results">')
    assert f'data-select-patient="{people["ann"].pk}" data-label="Ann Smith (A1001)"' in page
    assert "17 May 1980" in page
    assert [patient.mrn for patient in response.context["patients"]] == ["A1002", "A1001"]
    assert search(desk_client, "Cy Jones").context["patients"].count() == 0  # discharged


def test_search_shows_at_most_ten_patients_in_one_query(desk_client, clinic, django_assert_num_queries):
    PatientFactory.create_batch(12, home_clinic=clinic, last_name="Many")
    with django_assert_num_queries(4):  # session, user, roles, the search
        response = search(desk_client, "many")
    assert response.content.decode().count("data-select-patient=") == 10


def test_search_puts_an_exact_mrn_first_among_longer_ones(desk_client, clinic):
    for n in range(12):
        PatientFactory(mrn=f"X5{n:02d}", first_name="Aaron", home_clinic=clinic)
    exact = PatientFactory(mrn="X5", first_name="Zed", home_clinic=clinic)
    assert search(desk_client, "x5").context["patients"][0] == exact


def test_search_asks_for_two_characters_before_looking(desk_client, people, django_assert_num_queries):
    with django_assert_num_queries(3):  # session, user, roles
        response = search(desk_client, "a")
    page = response.content.decode()
    assert "data-select-patient" not in page
    assert "Type at least 2 characters" in page
    assert "No active patient matches" in search(desk_client, "zz").content.decode()
