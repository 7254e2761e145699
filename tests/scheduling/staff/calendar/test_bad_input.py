"""Bad input on the calendar's pages never gives a 500: days at the ends of the calendar in the
day and week URLs, a booking or a course at the end of year 9999. Each is refused with a plain
message (or a 404 for a URL) and nothing changes."""

import re

import pytest
from django.urls import reverse

from patients.models import CourseTemplate, TreatmentCourse
from scheduling.models import Appointment

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.mark.parametrize("name", ["day", "week"])
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "2201-01-01", "2026-02-30"])
def test_a_day_out_of_range_in_the_url_is_not_found(client, front_desk, open_clinic, name, day):
    client.force_login(front_desk)
    response = client.get(f"/staff/{name}/{day}/")
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["day", "week"])
@pytest.mark.parametrize("day", ["1900-01-01", "2200-12-31"])
def test_the_first_and_last_days_in_range_open(client, front_desk, open_clinic, name, day):
    client.force_login(front_desk)
    assert client.get(f"/staff/{name}/{day}/").status_code == 200


@pytest.mark.parametrize("name", ["day", "week"])
@pytest.mark.parametrize("day", ["1900-01-01", "1900-01-07", "2200-12-28", "2200-12-31"])
def test_at_the_ends_of_the_calendar_every_link_of_the_page_opens(client, front_desk, open_clinic, name, day):
    """A previous or next day or week past the years the URLs accept is shown, not linked."""
    client.force_login(front_desk)
    page = client.get(f"/staff/{name}/{day}/").content.decode()
    links = set(re.findall(r'href="(/staff/(?:day|week)/[^"]*)"', page))
    assert links
    for link in links:
        assert client.get(link.replace("&amp;", "&")).status_code == 200, link
    # The weeks of 1900-01-01 (a Monday) and of 2200-12-31 (Monday the 29th) are the first and last.
    first_or_last = day in ("1900-01-01", "2200-12-31") if name == "day" else day != "2200-12-28"
    unlinked = re.findall(r'<span class="btn btn-outline-secondary disabled" aria-disabled="true">([^<]*)</span>', page)
    assert len(unlinked) == (1 if first_or_last else 0), unlinked


@pytest.mark.parametrize("starts_at", ["9999-12-31T23:59", "0001-01-01T00:00", "2201-01-01T09:00"])
def test_a_booking_out_of_range_is_refused_with_a_message(client, front_desk, open_clinic, chair, patient,
                                                          starts_at):
    client.force_login(front_desk)
    response = client.post(reverse("staff:book"), {"patient": patient.pk, "chair": chair.pk,
                                                   "starts_at": starts_at, "kind": "consult"})
    assert response.status_code == 200
    assert response.context["form"].errors["starts_at"] == ["Enter a date between 1900 and 2200."]
    assert Appointment.objects.count() == 0


@pytest.mark.parametrize("starts_at", ["9999-12-31T23:59:00+00:00", "0001-01-01T00:00:00-05:00", "0001-01-01T00:00"])
def test_a_prefilled_booking_out_of_range_is_ignored(client, front_desk, open_clinic, chair, starts_at):
    client.force_login(front_desk)
    response = client.get(reverse("staff:book"), {"chair": chair.pk, "starts_at": starts_at})
    assert response.status_code == 200
    assert "starts_at" not in response.context["form"].initial


@pytest.mark.parametrize("start_date", ["9999-12-31", "2201-01-01"])
def test_a_course_starting_out_of_range_is_refused_with_a_message(client, clinician, open_clinic, chair, patient,
                                                                  protocol, start_date):
    client.force_login(clinician)
    response = client.post(reverse("staff:start-course", args=[patient.uuid]), {
        "protocol": protocol.pk, "template": CourseTemplate.objects.get(is_default=True).pk, "kind": "acute",
        "start_date": start_date, "chair": chair.pk, "time_of_day": "09:00", "authorised_sessions": "36",
    })
    assert response.status_code == 200
    assert response.context["form"].errors["start_date"] == ["Enter a date between 1900 and 2200."]
    assert TreatmentCourse.objects.count() == 0
    assert Appointment.objects.count() == 0
