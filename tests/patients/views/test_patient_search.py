"""The booking form's patient search: a fragment of at most ten active patients, exact MRN first."""

from django.urls import reverse

from tests.conftest import AUDIT_QUERIES
from tests.factories import PatientFactory


def search(client, text):
    return client.get(reverse("staff:patient-search"), {"q": text}, headers={"HX-Request": "true"})


def test_search_returns_a_fragment_of_active_patients_to_pick_from(desk_client, people):
    response = search(desk_client, "ann")
    page = response.content.decode()
    assert "<html" not in page
    assert page.lstrip().startswith('<div id="patient-results">')
    assert 'role="listbox" id="patient-listbox" aria-label="Search results">' in page  # shown: not hidden
    assert (
        f'role="option" aria-selected="false" id="patient-option-{people["ann"].pk}" '
        f'data-select-patient="{people["ann"].pk}" data-label="Ann Smith (A1001)"'
    ) in page
    assert "17 May 1980" in page
    assert [patient.mrn for patient in response.context["patients"]] == ["A1001", "A1002"]  # whole name first
    assert search(desk_client, "Cy Jones").context["patients"].count() == 0  # discharged


def test_search_shows_at_most_ten_patients_in_one_query(desk_client, clinic, django_assert_num_queries):
    PatientFactory.create_batch(12, home_clinic=clinic, last_name="Many")
    with django_assert_num_queries(5 + AUDIT_QUERIES):  # session, user, roles, clinics, the search, the audit
        response = search(desk_client, "many")
    assert response.content.decode().count("data-select-patient=") == 10


def test_search_puts_an_exact_mrn_first_among_longer_ones(desk_client, clinic):
    for n in range(12):
        PatientFactory(mrn=f"X5{n:02d}", first_name="Aaron", home_clinic=clinic)
    exact = PatientFactory(mrn="X5", first_name="Zed", home_clinic=clinic)
    assert search(desk_client, "x5").context["patients"][0] == exact


def test_search_asks_for_two_characters_before_looking(desk_client, people, django_assert_num_queries):
    with django_assert_num_queries(3 + AUDIT_QUERIES):  # session, user, roles, the audit
        response = search(desk_client, "a")
    page = response.content.decode()
    assert "data-select-patient" not in page
    assert 'aria-label="Search results" hidden>' in page  # the listbox stays, closed
    assert "Type at least 2 characters" in page
    assert "No active patient matches" in search(desk_client, "zz").content.decode()


def test_opened_as_a_page_the_search_is_the_patient_list_with_the_same_text(desk_client, people):
    response = desk_client.get(reverse("staff:patient-search"), {"q": " ann "})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('staff:patients')}?q=ann"
    listed = desk_client.get(response["Location"])
    assert "Smith, Ann" in listed.content.decode() and "<html" in listed.content.decode()
