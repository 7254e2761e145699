"""counted_page: the same page as Django's own Paginator.get_page for any list length, page size
and page asked for (numbers, words, nothing, past either end), with the list's length read in
the same query as the page."""

import pytest
from django.core.paginator import Paginator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patients.models import Patient
from tests.factories import ClinicFactory, PatientFactory
from tmsclinic.paging import counted_page

MOST = 23

asked = st.one_of(st.none(), st.integers(-3, 12), st.sampled_from(["", "two", "2.0", "1e3", " 3", "9" * 30]))


@pytest.fixture
def patients(db):
    clinic = ClinicFactory()
    return [PatientFactory(home_clinic=clinic, last_name=f"Name{n:02d}", mrn=f"PAGE-{n}") for n in range(MOST)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(length=st.integers(0, MOST), per_page=st.integers(1, 8), number=asked)
def test_the_same_page_as_djangos_paginator(patients, length, per_page, number):
    ids = [patient.pk for patient in patients[:length]]
    listed = Patient.objects.filter(pk__in=ids).order_by("last_name")
    expected = Paginator(listed, per_page).get_page(number)
    page = counted_page(listed, per_page, number)
    assert [patient.pk for patient in page] == [patient.pk for patient in expected]
    assert (page.number, page.paginator.count, page.paginator.num_pages, page.has_previous(), page.has_next(),
            page.start_index(), page.end_index()) == (
        expected.number, expected.paginator.count, expected.paginator.num_pages, expected.has_previous(),
        expected.has_next(), expected.start_index(), expected.end_index())


def test_one_query_for_a_page_that_exists_and_three_past_the_end(patients, django_assert_num_queries):
    listed = Patient.objects.order_by("last_name")
    with django_assert_num_queries(1):
        page = counted_page(listed, 10, "2")
        assert (page.paginator.count, page.paginator.num_pages, len(page)) == (MOST, 3, 10)
    with django_assert_num_queries(3):  # nothing on page 9: then the count, then the last page
        page = counted_page(listed, 10, "9")
        assert (page.number, len(page)) == (3, 3)
