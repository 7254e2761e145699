"""One search, everywhere (issue 13, part 2): the patient list, the booking picker and the
navigation box find patients by names in any order, MRN, date of birth in several formats and
phone in any formatting, best first, and never behind another clinic's wall. Run on SQLite and
on PostgreSQL: both must give these same answers."""

import datetime

import pytest
from django.db import connection
from django.urls import reverse

from patients.models import Patient
from patients.search import dates_in, phone_in, search
from tests.conftest import AUDIT_QUERIES
from tests.factories import ClinicFactory, PatientFactory, staff_user

DEC_9 = datetime.date(1966, 12, 9)
SEP_12 = datetime.date(1966, 9, 12)


@pytest.fixture
def riverside(clinic):
    """Three patients at Riverside, a twin of Elena at Lakeside, and a desk that works only at Riverside."""
    people = {
        "elena": PatientFactory(mrn="RV-1001", first_name="Elena", last_name="Okoro", date_of_birth=DEC_9,
                                phone="+12125550123", home_clinic=clinic),
        "helena": PatientFactory(mrn="RV-1002", first_name="Helena", last_name="Okorocha",
                                 date_of_birth=datetime.date(1971, 3, 4), phone="+13125550188", home_clinic=clinic),
        "grace": PatientFactory(mrn="RV-2001", first_name="Grace", last_name="Adeyemi", date_of_birth=SEP_12,
                                phone="+442079460958", home_clinic=clinic),
        # An MRN that is also a name: typed exactly, it comes before the name matches.
        "okoro_mrn": PatientFactory(mrn="OKORO", first_name="Zed", last_name="Zulu",
                                    date_of_birth=datetime.date(1990, 1, 1), home_clinic=clinic),
    }
    lakeside = ClinicFactory(name="Lakeside TMS")
    PatientFactory(mrn="LK-1001", first_name="Elena", last_name="Okoro", date_of_birth=DEC_9,
                   phone="+12125550123", email="elena@lakeside.test", home_clinic=lakeside)
    return people


@pytest.fixture
def desk(client, clinic, riverside):
    client.force_login(staff_user(role="Front desk", username="riverdesk", clinics=[clinic]))
    return client


def listed(client, text):
    """The MRNs the patient list (where the navigation box submits) shows for ``text``, in order."""
    response = client.get(reverse("staff:patients"), {"q": text})
    assert response.status_code == 200
    return [patient.mrn for patient in response.context["page"]]


def picked(client, text):
    """The MRNs the booking picker offers for ``text``, in order."""
    response = client.get(reverse("staff:patient-search"), {"q": text}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return [patient.mrn for patient in response.context["patients"]]


@pytest.mark.parametrize(
    "text",
    ["Elena Okoro", "Okoro Elena", "Okoro, Elena", "okoro,elena", "  OKORO   elena ", "Elena, Okoro"],
)
def test_names_in_any_order_find_the_patient_first_then_partial_matches(desk, text):
    # Helena Okorocha contains both words; she is a partial match, after the whole one.
    assert listed(desk, text) == ["RV-1001", "RV-1002"]
    assert picked(desk, text) == ["RV-1001", "RV-1002"]


@pytest.mark.parametrize(("text", "found"), [
    ("ok el", ["RV-1001", "RV-1002"]),       # parts of both names, either order
    ("el ok", ["RV-1001", "RV-1002"]),
    ("orocha", ["RV-1002"]),
    ("Okoro, H", ["RV-1002"]),               # "Last, F": only Helena has an h
    ("Elena Adeyemi", []),                   # every word must match
])
def test_partial_words_narrow_the_list(desk, text, found):
    assert listed(desk, text) == found


def test_an_exact_mrn_comes_first_then_whole_names_then_parts(desk):
    # Zulu's MRN is OKORO; Elena's last name is Okoro; Helena Okorocha only contains it.
    assert listed(desk, "okoro") == ["OKORO", "RV-1001", "RV-1002"]
    assert listed(desk, "RV-1001") == ["RV-1001"]
    assert listed(desk, "rv-100") == ["RV-1001", "RV-1002"]  # an MRN's start: both, alphabetical
    assert listed(desk, "RV-2") == ["RV-2001"]


@pytest.mark.parametrize("text", ["1966-12-09", "12/09/1966", "9 Dec 1966", "09 December 1966", "Dec 9 1966",
                                  "December 9, 1966", "9.12.1966", "09-12-1966"])
def test_a_date_of_birth_in_any_accepted_format_finds_the_patient(desk, text):
    # 12/09/1966 (US: December 9) and 09.12.1966 (day first: 9 December) could each also be
    # 12 September: both readings are searched, so Grace (born 12 Sep 1966) comes too for those.
    ambiguous = text in {"12/09/1966", "9.12.1966", "09-12-1966"}
    assert listed(desk, text) == (["RV-2001", "RV-1001"] if ambiguous else ["RV-1001"])  # Adeyemi, Okoro
    assert picked(desk, text) == listed(desk, text)


def test_a_date_that_can_only_be_read_one_way_finds_only_that_day(desk):
    assert listed(desk, "12/9/1966") == ["RV-2001", "RV-1001"]
    assert listed(desk, "12 Sep 1966") == ["RV-2001"]
    assert listed(desk, "1966-09-12") == ["RV-2001"]
    assert listed(desk, "25/12/1966") == []  # read only as 25 December: nobody
    assert listed(desk, "1966-02-30") == []  # no such day: not a date, no match, no error


@pytest.mark.parametrize("text", ["(212) 555-0123", "212-555-0123", "212.555.0123", "+1 212 555 0123",
                                  "1 (212) 555 0123", "2125550123", "+12125550123", "555-0123"])
def test_a_phone_number_in_any_formatting_finds_the_patient(desk, text):
    assert listed(desk, text) == ["RV-1001"]
    assert picked(desk, text) == ["RV-1001"]


def test_an_international_number_is_compared_in_e164(desk):
    assert listed(desk, "+44 20 7946 0958") == ["RV-2001"]
    assert listed(desk, "+44 (0)20 7946 0958") == ["RV-2001"]
    assert listed(desk, "555") == []  # too few digits to be a phone number


def test_the_other_clinics_twin_is_never_found(desk):
    """Lakeside's Elena Okoro has the same names, birthday and phone, and her own e-mail and MRN:
    no input form reaches her for a desk that works only at Riverside."""
    for text in ("Elena Okoro", "Okoro, Elena", "LK-1001", "1966-12-09", "12/09/1966", "9 Dec 1966",
                 "(212) 555-0123", "lakeside.test"):
        assert "LK-1001" not in listed(desk, text), text
        assert "LK-1001" not in picked(desk, text), text
    assert listed(desk, "LK-1001") == []


def test_the_picker_offers_only_active_patients(desk, riverside):
    riverside["elena"].status = Patient.Status.DISCHARGED
    riverside["elena"].save()
    assert picked(desk, "Okoro, Elena") == ["RV-1002"]
    assert listed(desk, "Okoro, Elena") == ["RV-1001", "RV-1002"]  # the list shows everyone


def test_a_typo_is_found_on_postgresql_only_and_last(desk):
    if connection.vendor == "postgresql":
        assert listed(desk, "Okorro Elena") == ["RV-1001"]
    else:
        assert listed(desk, "Okorro Elena") == []


def test_odd_input_is_a_search_not_an_error(desk):
    for text in ("%", "_", "'; drop table", ",", " , , ", "+", "1/2/3", "9 Foo 1966", "Ω" * 100):
        assert listed(desk, text) == [], text
    assert desk.get(reverse("staff:patients"), {"q": "x" * 101}).status_code == 200  # too long: the error is shown


def test_the_search_is_one_query_whatever_the_input(django_assert_num_queries, riverside):
    for text in ("Okoro, Elena", "12/09/1966", "(212) 555-0123", "RV-1001", "ok el"):
        with django_assert_num_queries(1):
            found = list(search(Patient.objects.all(), text))
        assert found, text


def test_the_picker_and_the_list_make_a_fixed_number_of_queries(desk, clinic, django_assert_num_queries):
    PatientFactory.create_batch(12, home_clinic=clinic, last_name="Okoro")
    with django_assert_num_queries(5 + AUDIT_QUERIES):  # session, user, roles, clinics, the search, the audit
        response = desk.get(reverse("staff:patient-search"), {"q": "Okoro, E"}, headers={"HX-Request": "true"})
    assert response.content.decode().count('role="option"') == 2  # Elena Okoro, Helena Okorocha: no "e" in Pat
    # session, user, roles, the user's clinics, one page of patients with their count, clinics to
    # filter by
    with django_assert_num_queries(7 + AUDIT_QUERIES):
        response = desk.get(reverse("staff:patients"), {"q": "12/09/1966"})
    assert len(response.context["page"]) == 2


def test_dates_in_reads_the_documented_formats():
    assert dates_in("1966-12-09") == {DEC_9}
    assert dates_in("12/09/1966") == {DEC_9, SEP_12}
    assert dates_in("09.12.1966") == {DEC_9, SEP_12}
    assert dates_in("13/12/1966") == {datetime.date(1966, 12, 13)}  # only day first makes sense
    assert dates_in("12/13/1966") == {datetime.date(1966, 12, 13)}
    assert dates_in("9 Dec 1966") == dates_in("December 9, 1966") == dates_in("9. Dec. 1966") == {DEC_9}
    for text in ("12/09/66", "1966", "19661209", "Okoro", "32/13/1966", ""):
        assert dates_in(text) == set(), text


def test_phone_in_reads_any_formatting_in_the_default_region(settings):
    settings.PHONENUMBER_DEFAULT_REGION = "US"
    assert phone_in("(212) 555-0123") == ("+12125550123", "2125550123")
    assert phone_in("+44 20 7946 0958") == ("+442079460958", "442079460958")
    assert phone_in("555-0123") == (None, "5550123")  # not a whole number: only its end is compared
    assert phone_in("555") is None and phone_in("Okoro") is None and phone_in("RV-1001") is None


# --- Names and a date of birth together ---------------------------------------------------------


@pytest.mark.parametrize("text", ["Elena Okoro 1966-12-09", "Okoro 12/09/1966", "okoro, elena 9 Dec 1966",
                                  "December 9, 1966 Okoro", "09.12.1966 elena"])
def test_names_with_a_date_of_birth_find_the_patient_both_identify(desk, text):
    """Not Helena Okorocha (another birthday), not Grace (born 12 September, the other reading of
    12/09, but another name), not Lakeside's Elena Okoro (another clinic)."""
    assert listed(desk, text) == ["RV-1001"]
    assert picked(desk, text) == ["RV-1001"]


def test_both_must_match(desk):
    assert listed(desk, "Helena 1966-12-09") == []
    assert listed(desk, "Grace 12/09/1966") == ["RV-2001"]  # the other reading of 12/09: 12 September
    assert listed(desk, "Okoro 1971-03-04") == ["RV-1002"]  # Okorocha, born that day: part of her name


def test_whole_names_with_the_date_come_before_parts(desk, riverside):
    PatientFactory(mrn="RV-3001", first_name="Elena-Maria", last_name="Okoroafor", date_of_birth=DEC_9,
                   home_clinic=riverside["elena"].home_clinic)
    assert listed(desk, "elena okoro 1966-12-09") == ["RV-1001", "RV-3001"]
    assert listed(desk, "elen okor 1966-12-09") == ["RV-1001", "RV-3001"]  # both partial: by name


def test_names_and_date_reads_the_date_first_or_last_and_nothing_else():
    from patients.search import names_and_date

    assert names_and_date("Elena Okoro 1966-12-09") == ("Elena Okoro", {DEC_9})
    assert names_and_date("9 Dec 1966 Okoro") == ("Okoro", {DEC_9})
    assert names_and_date("Okoro 12/09/1966") == ("Okoro", {DEC_9, SEP_12})
    assert names_and_date("Okoro December 9, 1966") == ("Okoro", {DEC_9})
    for text in ["Elena Okoro", "1966-12-09", "Okoro 1966-12-09 Elena", "Okoro 12/09/66", "12 1966-12-09", "Okoro"]:
        assert names_and_date(text) == (None, set()), text
