"""The slot finder (issue 13, part 3): the next free times for one patient across a clinic's
chairs and days, checked against a plain recomputation from the rows; the kind a new booking
defaults to; the Book page's chairs of one clinic and its confirmation step; and moving an
appointment to a time of the finder after confirming."""

import datetime
from html import unescape

import pytest
from django.urls import reverse

from patients.models import MaintenancePlan, TreatmentCourse
from scheduling import services
from scheduling.models import Appointment, OpeningHours
from tests.conftest import NOW
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    ClosureFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    PatientFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
)

pytestmark = pytest.mark.usefixtures("frozen")
TODAY = datetime.date(2026, 12, 2)  # 08:00 in New York at the frozen moment
STEP = datetime.timedelta(minutes=15)


def at(clinic, day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)


@pytest.fixture
def short_days(clinic):
    """Open 09:00-11:00 on weekdays only: few slots, so the edges show."""
    for weekday in range(5):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(9), closes_at=datetime.time(11))
    return clinic


def recomputed(clinic, duration, patient, days, *, moving=None):
    """Every free (chair, start) by brute force from the rows: each step of each opening
    interval, each active chair, no live appointment on it and none of the patient's then."""
    chairs = sorted(clinic.chairs.filter(active=True), key=lambda c: c.name)
    live = list(Appointment.objects.exclude(status="cancelled"))
    closed = {c.starts_on + datetime.timedelta(n) for c in clinic.closures.all()
              for n in range((c.ends_on - c.starts_on).days + 1)}
    free = []
    for n in range(days):
        day = TODAY + datetime.timedelta(n)
        if day in closed:
            continue
        for hours in OpeningHours.objects.filter(clinic=clinic, weekday=day.weekday()):
            start = at(clinic, day, hours.opens_at.hour, hours.opens_at.minute)
            closes = at(clinic, day, hours.closes_at.hour, hours.closes_at.minute)
            while start + duration <= closes:
                end = start + duration
                if start >= NOW:
                    for chair in chairs:
                        overlaps = [a for a in live if a.starts_at < end and start < a.ends_at and a != moving]
                        if any(a.chair_id == chair.pk for a in overlaps if not (moving and a.pk == moving.pk)):
                            continue
                        if any(a.patient_id == patient.pk for a in overlaps):
                            continue
                        free.append((chair.name, start))
                start += STEP
    return free


def test_the_finder_offers_the_soonest_times_across_chairs_and_days(short_days, patient):
    chair_a, chair_b = ChairFactory(clinic=short_days, name="Chair A"), ChairFactory(clinic=short_days, name="Chair B")
    other = PatientFactory(home_clinic=short_days)
    # Both chairs taken at 09:00 today; the patient is booked elsewhere at 10:30 today.
    AppointmentFactory(patient=other, chair=chair_a, starts_at=at(short_days, TODAY, 9))
    AppointmentFactory(patient=PatientFactory(home_clinic=short_days), chair=chair_b,
                       starts_at=at(short_days, TODAY, 9))
    elsewhere = ClinicFactory(name="Uptown", time_zone="America/New_York")
    AppointmentFactory(patient=patient, chair=ChairFactory(clinic=elsewhere), starts_at=at(elsewhere, TODAY, 10, 30))
    ClosureFactory(clinic=short_days, starts_on=TODAY + datetime.timedelta(1), ends_on=TODAY + datetime.timedelta(1))
    duration = datetime.timedelta(minutes=45)

    slots = services.free_slots(clinic=short_days, duration=duration, patient=patient, per_day=4, limit=12, days=7)

    # One slot per start time, the first free chair by name, the soonest first, four a day.
    expected, seen, per_day = [], set(), {}
    for name, start in sorted(recomputed(short_days, duration, patient, 7), key=lambda pair: (pair[1], pair[0])):
        day = short_days.local(start).date()
        if start in seen or per_day.get(day, 0) == 4:
            continue
        seen.add(start)
        per_day[day] = per_day.get(day, 0) + 1
        expected.append((name, start))
    assert [(slot.chair.name, slot.starts_at) for slot in slots] == expected[:12]
    days = {short_days.local(slot.starts_at).date() for slot in slots}
    assert TODAY + datetime.timedelta(1) not in days  # closed
    assert all(short_days.local(s.starts_at).date().weekday() < 5 for s in slots)
    # Today: 09:45 (both chairs free after the 09:00 bookings), not 10:00 or 10:15 (the patient's
    # other booking at 10:30).
    today = [short_days.local(s.starts_at).strftime("%H:%M") for s in slots if s.starts_at.date() == TODAY]
    assert today == ["09:45"] and len(days) > 1


def test_moving_leaves_out_the_appointments_own_time_and_prefers_its_chair(short_days, patient):
    chair_a, chair_b = ChairFactory(clinic=short_days, name="Chair A"), ChairFactory(clinic=short_days, name="Chair B")
    moving = AppointmentFactory(patient=patient, chair=chair_b, starts_at=at(short_days, TODAY, 9),
                                ends_at=at(short_days, TODAY, 9, 45))
    slots = services.free_slots(clinic=short_days, duration=datetime.timedelta(minutes=45), patient=patient,
                                moving=moving, per_day=20, days=1)
    # Its own booking holds neither the patient nor its chair: from 09:15 its own chair comes
    # first; its own time (09:00 on Chair B) is not offered, 09:00 on Chair A is.
    starts = [(s.chair.name, short_days.local(s.starts_at).strftime("%H:%M")) for s in slots]
    assert starts[:4] == [("Chair A", "09:00"), ("Chair B", "09:15"), ("Chair B", "09:30"), ("Chair B", "09:45")]
    assert chair_a.pk != chair_b.pk


def test_the_finder_reads_a_constant_number_of_queries(short_days, patient, django_assert_num_queries):
    for n in range(3):
        ChairFactory(clinic=short_days, name=f"Chair {n}")
    for n in range(5):
        AppointmentFactory(patient=PatientFactory(home_clinic=short_days), chair=short_days.chairs.first(),
                           starts_at=at(short_days, TODAY + datetime.timedelta(n), 9))
    with django_assert_num_queries(5):  # chairs, patient's bookings, the chairs' bookings, hours, closures
        services.free_slots(clinic=short_days, duration=datetime.timedelta(minutes=45), patient=patient)


@pytest.mark.parametrize(("state", "kind"), [
    ("new", "consult"), ("acute", "acute"), ("reintroduction", "reintroduction"), ("plan", "maintenance"),
    ("plan and completed course", "maintenance"),
])
def test_a_new_booking_defaults_to_the_patients_state(patient, state, kind):
    if state in ("acute", "reintroduction"):
        TreatmentCourseFactory(patient=patient, kind=state)
    if state.startswith("plan"):
        MaintenancePlanFactory(patient=patient, status=MaintenancePlan.Status.ACTIVE)
    if state.endswith("completed course"):
        TreatmentCourseFactory(patient=patient, status=TreatmentCourse.Status.COMPLETED)
    assert services.likely_kind(patient) == kind


# --- The Book page ---------------------------------------------------------------------------------


@pytest.fixture
def two_clinics(open_clinic, front_desk):
    from scheduling.models import ClinicMembership

    uptown = ClinicFactory(name="Uptown TMS", time_zone="America/New_York")
    for weekday in range(7):
        OpeningHoursFactory(clinic=uptown, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(18))
    ChairFactory(clinic=open_clinic, name="Chair A")
    ChairFactory(clinic=uptown, name="Uptown chair")
    ClinicMembership.objects.get_or_create(user=front_desk, clinic=uptown)
    return open_clinic, uptown


def test_the_book_page_offers_the_patients_clinics_chairs_and_a_consult_for_a_new_patient(
        client, front_desk, two_clinics, patient):
    riverside, uptown = two_clinics
    client.force_login(front_desk)
    response = client.get(reverse("staff:book"), {"patient": patient.uuid})
    form = response.context["form"]
    assert [chair.name for chair in form.fields["chair"].queryset] == ["Chair A"]
    assert form["kind"].value() == "consult"
    page = response.content.decode()
    assert "book at Uptown TMS" in page
    slots = response.context["slots"]
    assert slots and {slot.chair.name for slot in slots} == {"Chair A"}
    assert response.context["minutes"] == 30  # a consultation's chair time
    uptown_page = client.get(reverse("staff:book"), {"patient": patient.uuid, "clinic": uptown.pk})
    assert [chair.name for chair in uptown_page.context["form"].fields["chair"].queryset] == ["Uptown chair"]


def test_a_chair_of_another_clinic_is_refused_with_a_message(client, front_desk, two_clinics, patient):
    riverside, uptown = two_clinics
    client.force_login(front_desk)
    response = client.post(reverse("staff:book"), {
        "patient": patient.pk, "clinic": riverside.pk, "chair": uptown.chairs.get().pk,
        "starts_at": "2026-12-03T10:00", "kind": "consult",
    })
    assert response.status_code == 200
    assert "Choose one of this clinic's chairs in service." in unescape(response.content.decode())
    assert not Appointment.objects.exists()


def test_a_time_of_the_finder_is_confirmed_before_it_is_booked(client, front_desk, two_clinics, patient):
    riverside, _ = two_clinics
    course = TreatmentCourseFactory(patient=patient, protocol=ProtocolFactory(chair_minutes=45))
    client.force_login(front_desk)
    first = client.get(reverse("staff:book"), {"patient": patient.uuid})
    assert first.context["form"]["kind"].value() == "acute" and first.context["minutes"] == 45
    slot = first.context["slots"][0]
    confirm = client.get(reverse("staff:book"), {
        "patient": patient.uuid, "clinic": riverside.pk, "kind": "acute", "chair": slot.chair.pk,
        "starts_at": slot.starts_at.isoformat()})
    text = confirm.content.decode()
    assert confirm.context["confirming"] and 'data-testid="confirm-booking"' in text
    assert f"acute session on Chair A at {riverside.local(slot.starts_at):%A %-d %B, %H:%M} (45 min)" in text
    assert not Appointment.objects.exists()  # nothing is booked until the Book button
    client.post(reverse("staff:book"), {
        "patient": patient.pk, "clinic": riverside.pk, "chair": slot.chair.pk, "kind": "acute",
        "starts_at": riverside.local(slot.starts_at).strftime("%Y-%m-%dT%H:%M")})
    booked = Appointment.objects.get()
    assert (booked.starts_at, booked.course, booked.ends_at - booked.starts_at) == (
        slot.starts_at, course, datetime.timedelta(minutes=45))


def test_a_bad_from_day_or_slot_is_ignored_not_a_500(client, front_desk, two_clinics, patient):
    client.force_login(front_desk)
    for query in ({"patient": patient.uuid, "from": "32/13/2026"}, {"patient": "12x", "starts_at": "soon"},
                  {"patient": patient.uuid, "clinic": "999999"}):
        assert client.get(reverse("staff:book"), query).status_code == 200
    appointment = AppointmentFactory(patient=patient, chair=two_clinics[0].chairs.get(),
                                     starts_at=at(two_clinics[0], TODAY, 10))
    url = reverse("staff:appointment", args=[appointment.uuid])
    uptown_chair = two_clinics[1].chairs.get()
    for move_to in ("nonsense", f"{uptown_chair.pk}@{at(two_clinics[0], TODAY, 15).isoformat()}"):
        response = client.get(url, {"move_to": move_to, "from": "yesterday"})
        assert response.status_code == 200 and "move_to" not in response.context["reschedule"]
    response = client.post(reverse("staff:appointment-action", args=[appointment.uuid, "reschedule"]),
                           {"slot": f"{uptown_chair.pk}@{at(two_clinics[0], TODAY, 15).isoformat()}"})
    assert response.status_code == 400
    assert "Choose one of the proposed times." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.chair.clinic == two_clinics[0]


def test_moving_offers_other_chairs_and_days(client, front_desk, two_clinics, patient):
    riverside, _ = two_clinics
    ChairFactory(clinic=riverside, name="Chair B")
    appointment = AppointmentFactory(patient=patient, chair=riverside.chairs.get(name="Chair A"),
                                     starts_at=at(riverside, TODAY, 10))
    client.force_login(front_desk)
    reschedule = client.get(reverse("staff:appointment", args=[appointment.uuid])).context["reschedule"]
    assert {slot.chair.name for slot in reschedule["slots"]} == {"Chair A"}  # Chair A preferred when free
    later = client.get(reverse("staff:appointment", args=[appointment.uuid]),
                       {"from": reschedule["later"].isoformat()}).context["reschedule"]
    assert min(riverside.local(s.starts_at).date() for s in later["slots"]) >= reschedule["later"] > TODAY


@pytest.mark.parametrize(("next_page", "lands_on"), [
    ("/staff/attention/?kind=overdue_maintenance", "/staff/attention/?kind=overdue_maintenance"),
    ("https://evil.example/staff/", None), ("//evil.example/staff/", None), ("/admin/", None),
])
def test_booking_goes_back_to_the_page_that_asked_on_this_site_only(client, front_desk, two_clinics, patient,
                                                                    next_page, lands_on):
    riverside, _ = two_clinics
    client.force_login(front_desk)
    form = client.get(reverse("staff:book"), {"patient": patient.uuid, "next": next_page})
    assert (f'name="next" value="{next_page}"' in unescape(form.content.decode())) == (lands_on is not None)
    response = client.post(reverse("staff:book"), {
        "patient": patient.pk, "clinic": riverside.pk, "chair": riverside.chairs.get().pk, "kind": "consult",
        "starts_at": "2026-12-03T10:00", "next": next_page})
    booked = Appointment.objects.get()
    assert response["Location"] == (lands_on or reverse("staff:appointment", args=[booked.uuid]))
