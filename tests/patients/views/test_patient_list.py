"""The patient list: alphabetical, found by MRN, name or e-mail, filtered by status and home
clinic, fifty a page, and a fixed number of queries."""

from django.urls import reverse

from tests.conftest import AUDIT_QUERIES
from tests.factories import ClinicFactory, PatientFactory


def listed(client, **params):
    response = client.get(reverse("staff:patients"), params)
    assert response.status_code == 200
    return [patient.mrn for patient in response.context["page"]]


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
    # Ann Smith's first name is the whole word, so she comes before Bob Annis, a part match.
    assert listed(desk_client, q="ann") == ["A1001", "A1002"]


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
    # session, user, roles, the user's clinics, one page of patients with their clinics and their
    # count, clinics to filter by
    with django_assert_num_queries(7 + AUDIT_QUERIES):
        desk_client.get(reverse("staff:patients"))
    for n in range(57):
        PatientFactory(home_clinic=ClinicFactory(name=f"Clinic {n}"))
    with django_assert_num_queries(7 + AUDIT_QUERIES):
        response = desk_client.get(reverse("staff:patients"))
    assert response.content.decode().count('<a href="/staff/patients/') == 50
