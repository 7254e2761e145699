"""The front desk's waitlist: the card on the patient page (add a wish, take it off, see its
offers), and the freed times with their offers on the day view."""

import datetime

import pytest
from django.urls import reverse

from patients.models import MaintenancePlan
from scheduling.models import Appointment, SlotOffer, WaitlistEntry
from scheduling.services import book_appointment, cancel_appointment, waitlist
from tests.conftest import AUDIT_QUERIES, NOW
from tests.factories import (
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    PatientFactory,
    ProtocolFactory,
    WaitlistEntryFactory,
    staff_user,
)

pytestmark = pytest.mark.usefixtures("frozen")  # Wednesday 2 December 2026, 08:00 in New York
SLOT = datetime.datetime(2026, 12, 2, 19, 0, tzinfo=datetime.UTC)  # 14:00 the same day


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TMS_WAITLIST_BATCH = 2


def with_plan(clinic, name):
    patient = PatientFactory(home_clinic=clinic, first_name=name, last_name="Waits", email_consent=True)
    plan = MaintenancePlanFactory(patient=patient, protocol=ProtocolFactory(chair_minutes=45))
    MaintenancePhaseFactory(plan=plan)
    MaintenancePlan.objects.filter(pk=plan.pk).update(next_due_on=datetime.date(2026, 12, 20))
    return patient


def test_the_front_desk_adds_a_wish_sees_it_and_takes_it_off(client, front_desk, open_clinic):
    patient = with_plan(open_clinic, "Ann")
    client.force_login(front_desk)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    assert "Put on the waitlist" in page
    answer = client.post(reverse("staff:waitlist-add", args=[patient.uuid]),
                         {"weekdays": ["0"], "latest_time": "12:00", "note": "Prefers mornings"})
    assert answer.status_code == 302
    entry = WaitlistEntry.objects.get(patient=patient)
    assert (entry.created_by, entry.via, entry.clinic) == (front_desk, "staff", open_clinic)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    assert "Mondays; starting by 12:00" in page and "Prefers mornings" in page
    client.post(reverse("staff:waitlist-withdraw", args=[patient.uuid]))
    assert WaitlistEntry.objects.get(patient=patient).status == WaitlistEntry.Status.WITHDRAWN
    again = client.post(reverse("staff:waitlist-withdraw", args=[patient.uuid]), follow=True)
    assert "not on the waitlist" in again.content.decode()


@pytest.mark.parametrize(("data", "words"), [
    ({"earliest_time": "16:00", "latest_time": "09:00"}, "The latest start must not be before the earliest"),
    ({"until_date": "2026-12-01"}, "That day has passed"),
    ({"from_date": "99999-01-01"}, "Enter a valid date"),
    ({"note": "a\r\nb"}, "Note"),
])
def test_bad_input_is_refused_with_a_message(client, front_desk, open_clinic, data, words):
    patient = with_plan(open_clinic, "Ann")
    client.force_login(front_desk)
    answer = client.post(reverse("staff:waitlist-add", args=[patient.uuid]), data, follow=True)
    assert answer.status_code == 200 and words in answer.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_a_patient_with_nothing_to_book_or_already_waiting_is_refused(client, front_desk, open_clinic):
    nothing = PatientFactory(home_clinic=open_clinic)
    client.force_login(front_desk)
    answer = client.post(reverse("staff:waitlist-add", args=[nothing.uuid]), {}, follow=True)
    assert "nothing to offer" in answer.content.decode()
    patient = with_plan(open_clinic, "Ann")
    WaitlistEntryFactory(patient=patient)
    answer = client.post(reverse("staff:waitlist-add", args=[patient.uuid]), {}, follow=True)
    assert "already on this clinic&#x27;s waitlist" in answer.content.decode()
    assert WaitlistEntry.objects.count() == 1


def test_a_technician_may_not_and_another_clinics_patient_is_not_found(client, technician, open_clinic):
    patient = with_plan(open_clinic, "Ann")
    client.force_login(technician)
    assert client.post(reverse("staff:waitlist-add", args=[patient.uuid]), {}).status_code == 403
    elsewhere = with_plan(ClinicFactory(name="Elsewhere"), "Eve")
    desk = staff_user(username="desk-north", role="Front desk", clinics=[open_clinic])
    client.force_login(desk)
    assert client.post(reverse("staff:waitlist-add", args=[elsewhere.uuid]), {}).status_code == 404
    assert client.post(reverse("staff:waitlist-withdraw", args=[elsewhere.uuid])).status_code == 404
    assert not WaitlistEntry.objects.exists()


def offers_of_the_day(open_clinic, chair, names):
    for n, name in enumerate(names):
        WaitlistEntryFactory(patient=with_plan(open_clinic, name), created_at=NOW - datetime.timedelta(days=10 - n))
    appointment = book_appointment(patient=PatientFactory(home_clinic=open_clinic), chair=chair, starts_at=SLOT,
                                   kind=Appointment.Kind.CONSULT, booked_by=None,
                                   duration=datetime.timedelta(minutes=45))
    cancel_appointment(appointment, by=None)
    waitlist.offer_freed_slots()


def test_the_day_view_shows_freed_times_and_who_holds_them(client, front_desk, open_clinic, chair):
    offers_of_the_day(open_clinic, chair, ["Ann", "Bob", "Cy"])
    client.force_login(front_desk)
    page = client.get(reverse("staff:day", args=[datetime.date(2026, 12, 2)])).content.decode()
    assert "Freed times and waitlist offers" in page
    assert "14:00–14:45" in page and "Cancelled" in page
    assert "Ann Waits</a>, 14:00: holding until 08:30" in page
    assert "Bob Waits</a>, 14:00: holding until 08:30" in page and "Cy Waits" not in page
    waitlist.accept(SlotOffer.objects.get(patient__first_name="Ann"))
    page = client.get(reverse("staff:day", args=[datetime.date(2026, 12, 2)])).content.decode()
    assert "Ann Waits</a>, 14:00: accepted" in page and "Bob Waits</a>, 14:00: taken by someone else" in page
    assert "Booked from the waitlist" in page
    patient_page = client.get(reverse("staff:patient", args=[SlotOffer.objects.get(
        patient__first_name="Bob").patient.uuid])).content.decode()
    assert "taken by someone else" in patient_page


def test_the_day_views_queries_do_not_grow_with_offers(client, front_desk, open_clinic, chair,
                                                       django_assert_num_queries):
    offers_of_the_day(open_clinic, chair, ["Ann"])
    client.force_login(front_desk)
    url = reverse("staff:day", args=[datetime.date(2026, 12, 2)])
    client.get(url)
    with django_assert_num_queries(12 + AUDIT_QUERIES) as few:
        client.get(url)
    waitlist.decline(SlotOffer.objects.get())
    offers_of_the_day(open_clinic, chair, ["Bob", "Cy", "Di"])
    with django_assert_num_queries(len(few)):
        assert client.get(url).content.decode().count('data-testid="offer"') >= 3
