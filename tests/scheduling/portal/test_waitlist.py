"""The portal's waitlist page, and the page an offer's link opens without a password: each answer
in plain words, nothing changed unless the patient took the time, never a 500."""

import datetime

import pytest
import time_machine
from django.core import signing
from django.urls import reverse

from patients.models import MaintenancePlan
from scheduling.models import Appointment, SlotOffer, WaitlistEntry
from scheduling.services import book_appointment, cancel_appointment, waitlist
from tests.factories import (
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    PatientFactory,
    ProtocolFactory,
    UserFactory,
    WaitlistEntryFactory,
)

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # Wednesday, 10:00 in New York
SLOT = datetime.datetime(2026, 12, 3, 19, 30, tzinfo=UTC)  # Thursday 3 December, 14:30 in New York


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "http://testserver"
    settings.TMS_WAITLIST_BATCH = 2
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def with_plan(clinic, name, **fields):
    patient = PatientFactory(home_clinic=clinic, first_name=name, email_consent=True,
                             user=UserFactory(username=f"{name.lower()}@patients.test"), **fields)
    plan = MaintenancePlanFactory(patient=patient, protocol=ProtocolFactory(chair_minutes=45))
    MaintenancePhaseFactory(plan=plan)
    MaintenancePlan.objects.filter(pk=plan.pk).update(next_due_on=datetime.date(2026, 12, 20))
    return patient


@pytest.fixture
def offers(open_clinic, chair):
    """Ann's and Bob's offers of Thursday 14:30, both out and holding."""
    ann, bob = with_plan(open_clinic, "Ann"), with_plan(open_clinic, "Bob")
    WaitlistEntryFactory(patient=ann, created_at=NOW - datetime.timedelta(days=3))
    WaitlistEntryFactory(patient=bob, created_at=NOW - datetime.timedelta(days=1))
    appointment = book_appointment(patient=PatientFactory(home_clinic=open_clinic), chair=chair, starts_at=SLOT,
                                   kind=Appointment.Kind.CONSULT, booked_by=None,
                                   duration=datetime.timedelta(minutes=45))
    cancel_appointment(appointment, by=None)
    waitlist.offer_freed_slots()
    return {o.patient.first_name: o for o in SlotOffer.objects.select_related("patient")}


def path(offer):
    return waitlist.link_for(offer).removeprefix("http://testserver")


def test_the_link_shows_the_time_in_the_clinics_zone_and_books_it(client, offers):
    page = client.get(path(offers["Ann"]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Riverside TMS" in html and "Thursday 3 December 2026 at 14:30" in html
    assert "holding this time for you until 10:30" in html
    answer = client.post(path(offers["Ann"]), {"action": "accept"})
    assert answer.status_code == 302 and answer["Location"].endswith("?done=booked")
    assert "this time is booked for you" in client.get(answer["Location"]).content.decode()
    assert Appointment.objects.live().get(starts_at=SLOT).patient == offers["Ann"].patient
    again = client.post(path(offers["Ann"]), {"action": "accept"})
    assert again.status_code == 409 and Appointment.objects.live().filter(starts_at=SLOT).count() == 1


def test_the_others_link_says_the_time_has_gone_and_changes_nothing(client, offers):
    waitlist.accept(offers["Ann"])
    page = client.get(path(offers["Bob"]))
    assert "someone else took this time first" in page.content.decode()
    answer = client.post(path(offers["Bob"]), {"action": "accept"})
    assert answer.status_code == 409 and "someone else took this time first" in answer.content.decode()
    assert not Appointment.objects.live().filter(patient=offers["Bob"].patient).exists()


def test_a_time_booked_meanwhile_is_answered_in_plain_words(client, offers, chair):
    book_appointment(patient=PatientFactory(home_clinic=chair.clinic), chair=chair, starts_at=SLOT,
                     kind=Appointment.Kind.CONSULT, booked_by=None)
    answer = client.post(path(offers["Ann"]), {"action": "accept"})
    assert answer.status_code == 409 and "someone else took this time first" in answer.content.decode()


def test_no_thanks_then_a_second_answer(client, offers):
    answer = client.post(path(offers["Bob"]), {"action": "decline"})
    assert answer.status_code == 302
    assert "you said no thanks" in client.get(answer["Location"]).content.decode()
    assert client.post(path(offers["Bob"]), {"action": "accept"}).status_code == 409
    assert client.post(path(offers["Bob"]), {"action": "decline"}).status_code == 409
    assert SlotOffer.objects.get(pk=offers["Bob"].pk).status == SlotOffer.Status.DECLINED


def test_after_the_hold_the_link_says_so_and_books_nothing(client, offers, _setup):
    _setup.move_to(NOW + datetime.timedelta(minutes=30))
    assert "the time we held for you has run out" in client.get(path(offers["Ann"])).content.decode()
    answer = client.post(path(offers["Ann"]), {"action": "accept"})
    assert answer.status_code == 409 and "run out" in answer.content.decode()
    assert not Appointment.objects.live().filter(starts_at=SLOT).exists()


@pytest.mark.parametrize("token", ["nonsense", "a" * 300, signing.dumps("not-a-uuid", salt=waitlist.LINK_SALT),
                                   signing.dumps("00000000-0000-0000-0000-000000000000", salt="other")])
def test_a_forged_link_is_not_found_in_plain_words(client, offers, token):
    answer = client.get(reverse("portal:offer", args=[token]))
    assert answer.status_code == 404 and "This link has expired or is not valid" in answer.content.decode()
    assert client.post(reverse("portal:offer", args=[token]), {"action": "accept"}).status_code == 404


def test_a_link_signed_long_ago_has_expired(client, offers, _setup):
    link = path(offers["Ann"])
    _setup.move_to(NOW + waitlist.LINK_MAX_AGE + datetime.timedelta(minutes=1))
    assert client.get(link).status_code == 404


def test_another_patient_signed_in_cannot_open_it(client, offers):
    client.force_login(offers["Bob"].patient.user)
    assert client.get(path(offers["Ann"])).status_code == 404
    assert client.post(path(offers["Ann"]), {"action": "accept"}).status_code == 404
    assert client.get(path(offers["Bob"])).status_code == 200
    assert not Appointment.objects.live().filter(starts_at=SLOT).exists()


def test_an_unknown_action_changes_nothing(client, offers):
    answer = client.post(path(offers["Ann"]), {"action": "book-everything"})
    assert answer.status_code == 400 and "Please choose one of the buttons" in answer.content.decode()
    assert SlotOffer.objects.get(pk=offers["Ann"].pk).status == SlotOffer.Status.OPEN


# --- The waitlist page ---------------------------------------------------------------------------


@pytest.fixture
def ann(open_clinic):
    return with_plan(open_clinic, "Ann")


def test_the_page_needs_the_patients_login(client, ann):
    assert client.get(reverse("portal:waitlist")).status_code == 302
    client.force_login(UserFactory(username="not-a-patient"))
    assert client.get(reverse("portal:waitlist")).status_code == 404


def test_a_patient_adds_a_wish_and_withdraws_it(client, ann):
    client.force_login(ann.user)
    assert client.get(reverse("portal:waitlist")).status_code == 200
    answer = client.post(reverse("portal:waitlist"), {"weekdays": ["1", "3"], "earliest_time": "09:00"})
    assert answer.status_code == 302
    entry = WaitlistEntry.objects.get(patient=ann)
    assert (entry.weekdays, entry.earliest_time, entry.via) == ("13", datetime.time(9), "portal")
    page = client.get(reverse("portal:waitlist")).content.decode()
    assert "Tuesdays or Thursdays; starting from 09:00" in page
    client.post(reverse("portal:waitlist-withdraw"))
    assert WaitlistEntry.objects.get(patient=ann).status == WaitlistEntry.Status.WITHDRAWN


@pytest.mark.parametrize(("data", "words"), [
    ({"earliest_time": "15:00", "latest_time": "09:00"}, "The latest start must not be before the earliest"),
    ({"from_date": "2026-12-20", "until_date": "2026-12-10"}, "The last day must not be before the first"),
    ({"until_date": "2026-11-30"}, "That day has passed"),
    ({"weekdays": ["9"]}, "Select a valid choice"),
    ({"earliest_time": "25:99"}, "Enter a valid time"),
    ({"from_date": "0001-01-01"}, ""),
    ({"note": "two\nlines"}, ""),
])
def test_bad_input_gets_a_message_and_nothing_changes(client, ann, data, words):
    client.force_login(ann.user)
    answer = client.post(reverse("portal:waitlist"), data)
    assert answer.status_code == 400 and words in answer.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_a_wish_to_come_sooner_than_a_booked_visit_from_its_page(client, ann, chair):
    visit = book_appointment(patient=ann, chair=chair, starts_at=SLOT + datetime.timedelta(days=7),
                             kind=Appointment.Kind.MAINTENANCE, booked_by=None, plan=ann.maintenance_plans.get())
    client.force_login(ann.user)
    page = client.get(reverse("portal:appointment", args=[visit.uuid])).content.decode()
    link = f'{reverse("portal:waitlist")}?earlier_than={visit.uuid}'
    assert link in page and "Tell me if an earlier time frees up" in page
    assert f'value="{visit.uuid}" selected' in client.get(link).content.decode()
    client.post(reverse("portal:waitlist"), {"earlier_than": str(visit.uuid)})
    assert WaitlistEntry.objects.get(patient=ann).earlier_than == visit
    assert reverse("portal:waitlist") in client.get(reverse("portal:home")).content.decode()


def test_another_patients_visit_cannot_be_named(client, ann, chair, open_clinic):
    other = with_plan(open_clinic, "Other")
    theirs = book_appointment(patient=other, chair=chair, starts_at=SLOT, kind=Appointment.Kind.MAINTENANCE,
                              booked_by=None, plan=other.maintenance_plans.get())
    book_appointment(patient=ann, chair=chair, starts_at=SLOT + datetime.timedelta(days=2),
                     kind=Appointment.Kind.MAINTENANCE, booked_by=None, plan=ann.maintenance_plans.get())
    client.force_login(ann.user)
    answer = client.post(reverse("portal:waitlist"), {"earlier_than": str(theirs.uuid)})
    assert answer.status_code == 400 and "Select a valid choice" in answer.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_a_patient_with_nothing_to_book_is_told_to_call(client, open_clinic):
    patient = PatientFactory(home_clinic=open_clinic, user=UserFactory(username="nobody@patients.test"))
    client.force_login(patient.user)
    answer = client.post(reverse("portal:waitlist"), {})
    assert answer.status_code == 400 and "nothing to offer" in answer.content.decode()
    assert "please call the clinic" in answer.content.decode()
