"""The patient page's lists — upcoming, past, reminders — are paged, 20 rows a page, each with
its own query parameter so that paging one keeps the others where they were, with links that
work as plain links and that htmx swaps in place; a whole 36-session course can be read."""

import datetime
import re
from html import unescape

import pytest
from django.urls import reverse

from scheduling.models import Reminder
from tests.conftest import AUDIT_QUERIES
from tests.factories import AppointmentFactory, ReminderFactory, TreatmentCourseFactory

pytestmark = pytest.mark.usefixtures("frozen")
NOW = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=datetime.UTC)


def sessions(patient, chair, count, *, ahead, **kwargs):
    """``count`` sessions a day apart, from tomorrow on (``ahead``) or from yesterday back."""
    step = datetime.timedelta(days=1 if ahead else -1)
    return [AppointmentFactory(patient=patient, chair=chair, starts_at=NOW + step * (n + 1), **kwargs)
            for n in range(count)]


def listed(response, testid):
    """The appointment pages linked from one list's rows, in order."""
    html = response.content.decode()
    table = html.split(f'data-testid="{testid}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'href="/staff/appointments/([0-9a-f-]+)/"', table)


def links(response, list_id):
    html = unescape(response.content.decode())
    return dict(re.findall(rf'id="{list_id}-(previous|next)" href="([^"]+)"', html))


@pytest.mark.parametrize("count", [20, 21])
def test_twenty_fit_on_one_page_and_the_twenty_first_is_on_the_next(client, front_desk, patient, chair, count):
    past = sessions(patient, chair, count, ahead=False, status="completed")
    client.force_login(front_desk)
    url = reverse("staff:patient", args=[patient.uuid])
    first = client.get(url)
    assert listed(first, "past") == [str(a.uuid) for a in past[:20]]  # latest first
    if count == 20:
        assert links(first, "past-list") == {} and 'aria-label="Pages of past appointments"' not in first.text
        return
    assert links(first, "past-list") == {"next": f"{url}?past=2"}
    second = client.get(f"{url}?past=2")
    assert listed(second, "past") == [str(past[20].uuid)]
    assert links(second, "past-list") == {"previous": url}
    assert "Page 2<" in second.text


def test_the_last_session_of_a_36_session_course_is_reachable(client, front_desk, patient, chair, protocol):
    course = TreatmentCourseFactory(patient=patient, protocol=protocol)
    booked = sessions(patient, chair, 36, ahead=True, course=course)
    client.force_login(front_desk)
    url = reverse("staff:patient", args=[patient.uuid])
    first = client.get(url)
    assert listed(first, "upcoming") == [str(a.uuid) for a in booked[:20]]  # soonest first
    second = client.get(links(first, "upcoming-list")["next"])
    assert listed(second, "upcoming") == [str(a.uuid) for a in booked[20:]]
    assert str(booked[-1].uuid) in listed(second, "upcoming") and "next" not in links(second, "upcoming-list")


def test_paging_one_list_keeps_the_others_where_they_were(client, front_desk, patient, chair):
    sessions(patient, chair, 45, ahead=True)
    past = sessions(patient, chair, 45, ahead=False, status="completed")
    for appointment in past:
        ReminderFactory(appointment=appointment, kind=Reminder.Kind.DAY_BEFORE, status=Reminder.Status.SENT,
                        scheduled_for=appointment.starts_at - datetime.timedelta(hours=20))
    client.force_login(front_desk)
    url = reverse("staff:patient", args=[patient.uuid])
    response = client.get(f"{url}?upcoming=2&past=3&reminders=2")
    assert listed(response, "past") == [str(a.uuid) for a in past[40:]]
    assert links(response, "upcoming-list") == {"previous": f"{url}?past=3&reminders=2",
                                                "next": f"{url}?upcoming=3&past=3&reminders=2"}
    assert links(response, "past-list") == {"previous": f"{url}?upcoming=2&past=2&reminders=2"}
    assert links(response, "reminders-list") == {"previous": f"{url}?upcoming=2&past=3",
                                                 "next": f"{url}?upcoming=2&past=3&reminders=3"}
    # Plain links work without htmx; with it, each swaps only its own list in place.
    html = unescape(response.content.decode())
    assert (f'href="{url}?upcoming=2&past=2&reminders=2" hx-get="{url}?upcoming=2&past=2&reminders=2" '
            'hx-target="#past-list" hx-select="#past-list" hx-swap="outerHTML" hx-push-url="true"') in html
    swapped = client.get(f"{url}?upcoming=2&past=2&reminders=2", headers={"HX-Request": "true"})
    assert swapped.status_code == 200 and '<section id="past-list"' in swapped.text
    assert listed(swapped, "past") == [str(a.uuid) for a in past[20:40]]


@pytest.mark.parametrize("value", ["abc", "0", "-1", "", "2.5", "1e3", "99999999999999999999", "3\x00"])
def test_a_page_number_that_is_not_one_shows_the_first_page(client, front_desk, patient, chair, value):
    past = sessions(patient, chair, 25, ahead=False, status="completed")
    client.force_login(front_desk)
    response = client.get(reverse("staff:patient", args=[patient.uuid]), {"past": value})
    assert response.status_code == 200
    assert listed(response, "past") == [str(a.uuid) for a in past[:20]]


def test_a_page_past_the_end_says_there_is_no_more(client, front_desk, patient, chair):
    sessions(patient, chair, 3, ahead=False, status="completed")
    client.force_login(front_desk)
    url = reverse("staff:patient", args=[patient.uuid])
    response = client.get(f"{url}?past=9")
    assert listed(response, "past") == [] and "No more." in response.text
    assert links(response, "past-list") == {"previous": f"{url}?past=8"}


def test_reminders_show_the_latest_deliveries_before_those_still_to_send(client, front_desk, patient, chair):
    held = sessions(patient, chair, 25, ahead=False, status="completed")
    coming = sessions(patient, chair, 25, ahead=True)
    sent = [ReminderFactory(appointment=a, kind=Reminder.Kind.HOURS_BEFORE, status=Reminder.Status.SENT,
                            scheduled_for=a.starts_at - datetime.timedelta(hours=2), sent_at=a.starts_at)
            for a in held]
    pending = [ReminderFactory(appointment=a, kind=Reminder.Kind.HOURS_BEFORE,
                               scheduled_for=a.starts_at - datetime.timedelta(hours=2)) for a in coming]
    client.force_login(front_desk)
    url = reverse("staff:patient", args=[patient.uuid])

    def reminders(query=""):
        html = client.get(url + query).content.decode()
        return [int(pk) for pk in re.findall(r'data-testid="reminder-(\d+)"', html)]

    # Newest delivery first (yesterday's), then back; what is still to send after, soonest first.
    expected = [r.pk for r in sent] + [r.pk for r in pending]
    assert reminders() == expected[:20]
    assert reminders("?reminders=2") == expected[20:40]
    assert reminders("?reminders=3") == expected[40:]


def test_every_page_of_every_list_costs_the_same_queries(client, front_desk, patient, chair,
                                                         django_assert_num_queries):
    client.force_login(front_desk)
    url = reverse("staff:patient", args=[patient.uuid])
    client.get(url)
    # As many as before paging (the front desk, no course, no plan): each list is still one query,
    # two for the reminders (appointments' and plans'), two for the waitlist card, and none counts its rows.
    with django_assert_num_queries(15 + AUDIT_QUERIES) as empty:
        client.get(url)
    for appointment in sessions(patient, chair, 50, ahead=False, status="completed") + sessions(
            patient, chair, 50, ahead=True):
        ReminderFactory(appointment=appointment, status=Reminder.Status.SENT, scheduled_for=appointment.starts_at)
    for query in ("", "?past=2&upcoming=3&reminders=5"):
        with django_assert_num_queries(len(empty)):
            client.get(url + query)
