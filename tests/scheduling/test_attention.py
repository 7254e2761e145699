import datetime
import itertools
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import reverse

from patients.models import OutreachAttempt, PatientFlag
from scheduling.services import find_open_slots
from scheduling.services.plans import flag_overdue_patients, refresh_plan
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    PatientFactory,
    PatientFlagFactory,
    ProtocolFactory,
    UserFactory,
)
from tmsclinic.context_processors import roles as navigation_context

UTC = datetime.UTC
TODAY = datetime.date(2026, 12, 2)  # a Wednesday
NOW = datetime.datetime(2026, 12, 2, 13, 0, tzinfo=UTC)  # 08:00 in New York
SAFETY = PatientFlag.Kind.SAFETY
OVERDUE = PatientFlag.Kind.OVERDUE_MAINTENANCE
MISSED = PatientFlag.Kind.MISSED_APPOINTMENTS
WORSENING = PatientFlag.Kind.WORSENING_SYMPTOMS
WORKLIST = reverse("staff:attention")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def protocol(db):
    return ProtocolFactory(name="iTBS maintenance", chair_minutes=45)


def on_plan(patient, protocol, *, due_days_ago, interval_days=28):
    """An active plan with no visit yet, first due ``due_days_ago`` days before today."""
    plan = MaintenancePlanFactory(patient=patient, protocol=protocol,
                                  started_on=TODAY - datetime.timedelta(days=due_days_ago), grace_days=7)
    MaintenancePhaseFactory(plan=plan, interval_days=interval_days, visits=None)
    return refresh_plan(plan)


def overdue_patient(clinic, protocol, days, **patient_fields):
    patient = PatientFactory(home_clinic=clinic, **patient_fields)
    plan = on_plan(patient, protocol, due_days_ago=days)
    return PatientFlagFactory(patient=patient, kind=OVERDUE, plan=plan, due_on=plan.next_due_on)


def rows(response):
    return [flag.pk for flag in response.context["page"]]


def messages_of(response):
    return [message.message for message in get_messages(response.wsgi_request)]


def at(clinic, day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)


# --- The list ---------------------------------------------------------------------------------


def test_safety_comes_first_then_the_longest_overdue(client, technician, open_clinic, protocol):
    ten = overdue_patient(open_clinic, protocol, 10)
    thirty = overdue_patient(open_clinic, protocol, 30)
    not_yet_due = PatientFactory(home_clinic=open_clinic)
    on_plan(not_yet_due, protocol, due_days_ago=-5)
    worsening = PatientFlagFactory(patient=not_yet_due, kind=WORSENING)
    missed = PatientFlagFactory(patient__home_clinic=open_clinic, kind=MISSED,
                                raised_at=NOW - datetime.timedelta(days=40))
    safety = PatientFlagFactory(patient__home_clinic=open_clinic, kind=SAFETY)
    client.force_login(technician)
    assert rows(client.get(WORKLIST)) == [safety.pk, thirty.pk, ten.pk, worsening.pk, missed.pk]


def test_resolved_and_snoozed_flags_are_not_listed(client, technician, open_clinic):
    shown = PatientFlagFactory(patient__home_clinic=open_clinic)
    snooze_over = PatientFlagFactory(patient__home_clinic=open_clinic, snoozed_until=TODAY)
    PatientFlagFactory(patient__home_clinic=open_clinic, snoozed_until=TODAY + datetime.timedelta(days=1))
    PatientFlagFactory(patient__home_clinic=open_clinic, resolved_at=NOW)
    client.force_login(technician)
    assert sorted(rows(client.get(WORKLIST))) == sorted([shown.pk, snooze_over.pk])


def test_a_snooze_ends_when_its_day_begins_in_the_patients_clinic(client, technician, open_clinic):
    tomorrow = TODAY + datetime.timedelta(days=1)
    tokyo = PatientFlagFactory(patient__home_clinic=ClinicFactory(time_zone="Asia/Tokyo"), snoozed_until=tomorrow)
    PatientFlagFactory(patient__home_clinic=open_clinic, snoozed_until=tomorrow)
    client.force_login(technician)
    assert rows(client.get(WORKLIST)) == []  # 22:00 on the 2nd in Tokyo
    with time_machine.travel(datetime.datetime(2026, 12, 2, 15, 30, tzinfo=UTC), tick=False):
        response = client.get(WORKLIST)  # 00:30 on the 3rd in Tokyo, 10:30 on the 2nd in New York
    assert rows(response) == [tokyo.pk]
    assert response.context["attention_counts"]["total"] == 1


def test_it_filters_by_home_clinic_and_kind(client, technician, open_clinic):
    other = ClinicFactory(name="Lakeside TMS")
    here_safety = PatientFlagFactory(patient__home_clinic=open_clinic, kind=SAFETY)
    here_missed = PatientFlagFactory(patient__home_clinic=open_clinic, kind=MISSED)
    there_safety = PatientFlagFactory(patient__home_clinic=other, kind=SAFETY)
    client.force_login(technician)
    assert rows(client.get(WORKLIST, {"clinic": other.pk})) == [there_safety.pk]
    assert sorted(rows(client.get(WORKLIST, {"kind": SAFETY}))) == sorted([here_safety.pk, there_safety.pk])
    assert rows(client.get(WORKLIST, {"clinic": open_clinic.pk, "kind": MISSED})) == [here_missed.pk]


@pytest.mark.parametrize("query", [{"clinic": "abc"}, {"clinic": "99999"}, {"kind": "bogus"}, {"page": "x"},
                                   {"clinic": "1\x00"}])
def test_bad_filter_values_are_ignored(client, technician, open_clinic, query):
    flags = [PatientFlagFactory(patient__home_clinic=open_clinic, kind=kind) for kind in (SAFETY, MISSED)]
    client.force_login(technician)
    response = client.get(WORKLIST, query)
    assert response.status_code == 200
    assert rows(response) == [flag.pk for flag in flags]


def test_a_row_shows_everything_needed_to_act(client, front_desk, open_clinic, chair, protocol):
    flag = overdue_patient(open_clinic, protocol, 30, first_name="Ada", last_name="Lovelace", phone="+12125550123",
                           email="ada@patients.test", preferred_channel="sms", sms_consent=True,
                           email_consent=False)
    flag.detail = "Missed the December visit"
    flag.save()
    patient = flag.patient
    plan = patient.maintenance_plans.get()
    plan.template = None
    plan.save()
    AppointmentFactory(patient=patient, chair=chair, status="completed",
                       starts_at=at(open_clinic, datetime.date(2026, 8, 14), 9))
    AppointmentFactory(patient=patient, chair=chair, status="completed",
                       starts_at=at(open_clinic, datetime.date(2026, 9, 20), 9))
    AppointmentFactory(patient=patient, chair=chair, status="cancelled",
                       starts_at=at(open_clinic, datetime.date(2026, 12, 3), 10))
    later = AppointmentFactory(patient=patient, chair=chair, starts_at=at(open_clinic, datetime.date(2026, 12, 9), 17))
    AppointmentFactory(patient=patient, chair=chair, starts_at=at(open_clinic, datetime.date(2026, 12, 15), 9))
    OutreachAttempt.objects.create(flag=flag, channel="phone", outcome="no_answer", at=NOW - datetime.timedelta(days=2))
    OutreachAttempt.objects.create(flag=flag, channel="sms", outcome="sent", note="Asked her to call back",
                                   by=front_desk, at=NOW - datetime.timedelta(days=1))
    client.force_login(front_desk)
    page = client.get(WORKLIST).content.decode()
    assert f'href="{reverse("staff:patient", args=[patient.uuid])}">Ada Lovelace</a>' in page
    assert "Overdue maintenance" in page and "Missed the December visit" in page
    assert "Own schedule" in page and "iTBS maintenance" in page
    assert "20 Sep 2026" in page and "14 Aug 2026" not in page  # the last completed session
    assert "2 Nov 2026" in page  # due
    assert "<strong>30</strong>" in page  # days overdue
    # The next live booking, in the clinic's time (22:00 UTC is 17:00 in New York).
    assert f'href="{reverse("staff:appointment", args=[later.uuid])}">Wed 9 Dec 2026 17:00</a>' in page
    assert "Prefers SMS" in page and "+12125550123 · SMS consented" in page
    assert "ada@patients.test · e-mail not consented" in page
    assert "SMS: Message sent" in page and "Asked her to call back" in page and "by frontdesk" in page
    assert "Phone: No answer" not in page  # only the latest attempt


def test_days_overdue_are_counted_on_the_clinics_calendar(client, technician, open_clinic, protocol):
    overdue_patient(open_clinic, protocol, 30)
    with time_machine.travel(datetime.datetime(2026, 12, 3, 4, 30, tzinfo=UTC), tick=False):  # 23:30 in New York
        client.force_login(technician)
        assert "<strong>30</strong>" in client.get(WORKLIST).content.decode()


def test_an_empty_worklist_says_so(client, technician, db):
    client.force_login(technician)
    assert "No patient needs attention." in client.get(WORKLIST).content.decode()


def test_the_worklist_makes_as_many_queries_for_thirty_flags_as_for_two(client, front_desk, open_clinic, chair,
                                                                       protocol, django_assert_num_queries):
    numbers = itertools.count()

    def add(count):
        for n in itertools.islice(numbers, count):
            flag = overdue_patient(open_clinic, protocol, 10 + n)
            AppointmentFactory(patient=flag.patient, chair=chair, status="completed",
                               starts_at=NOW - datetime.timedelta(days=60, hours=n))
            AppointmentFactory(patient=flag.patient, chair=chair, starts_at=NOW + datetime.timedelta(days=3, hours=n))
            OutreachAttempt.objects.create(flag=flag, channel="phone", outcome="voicemail", by=front_desk)
            PatientFlagFactory(patient=flag.patient, kind=SAFETY)

    add(1)
    client.force_login(front_desk)
    # session, user, roles, clinics, count, flags, plans, outreach, navigation count
    with django_assert_num_queries(9):
        assert len(rows(client.get(WORKLIST))) == 2
    add(14)
    with django_assert_num_queries(9):
        assert len(rows(client.get(WORKLIST))) == 30


def test_actions_follow_the_role(client, technician, front_desk, clinician, open_clinic, protocol):
    overdue = overdue_patient(open_clinic, protocol, 10)
    worsening = PatientFlagFactory(patient=overdue.patient, kind=WORSENING)
    PatientFlagFactory(patient=overdue.patient, kind=SAFETY)
    reintroduce = reverse("staff:start-course", args=[overdue.patient.uuid]) + "?kind=reintroduction"

    client.force_login(technician)
    page = client.get(WORKLIST).content.decode()
    assert page.count('data-testid="flag"') == 3
    assert "Book next session" not in page and "Log outreach" not in page and "<summary>Resolve" not in page

    client.force_login(front_desk)
    page = client.get(WORKLIST).content.decode()
    assert page.count("Book next session") == 3 and page.count("Log outreach") == 3
    assert page.count("<summary>Snooze") == 2  # not the safety flag
    assert page.count("<summary>Resolve") == 1  # only the overdue flag: the others are clinical
    assert reintroduce not in page

    client.force_login(clinician)
    page = client.get(WORKLIST).content.decode()
    assert page.count("<summary>Resolve") == 3
    assert page.count(reintroduce) == 1
    assert f'action="{reverse("staff:attention-resolve", args=[worsening.pk])}"' in page


def test_every_staff_role_sees_the_worklist_and_a_portal_account_does_not(client, technician, patient):
    client.force_login(technician)
    assert client.get(WORKLIST).status_code == 200
    client.force_login(UserFactory(username="portal"))
    assert client.get(WORKLIST).status_code == 403


# --- Book the next session --------------------------------------------------------------------


def test_book_opens_the_booking_form_on_the_first_open_slot(client, front_desk, open_clinic, chair, protocol):
    second_chair = ChairFactory(clinic=open_clinic, name="Chair 2")
    AppointmentFactory(chair=chair, starts_at=at(open_clinic, TODAY, 8))  # someone else
    flag = overdue_patient(open_clinic, protocol, 10)
    client.force_login(front_desk)
    response = client.get(reverse("staff:attention-book", args=[flag.pk]))

    first = find_open_slots(clinic=open_clinic, protocol=protocol, start=NOW, end=NOW + datetime.timedelta(days=1))[0]
    assert (first.chair, first.starts_at) == (second_chair, at(open_clinic, TODAY, 8))
    location = urlsplit(response["Location"])
    assert response.status_code == 302 and location.path == reverse("staff:book")
    assert parse_qs(location.query) == {
        "patient": [str(flag.patient.uuid)], "chair": [str(second_chair.pk)],
        "starts_at": ["2026-12-02T08:00:00-05:00"], "kind": ["maintenance"],
    }
    form = client.get(response["Location"]).context["form"]
    assert form.initial == {"patient": flag.patient, "chair": second_chair,
                            "starts_at": datetime.datetime(2026, 12, 2, 8, 0), "kind": "maintenance"}


def test_book_suggests_the_due_date_for_a_patient_not_yet_due(client, clinician, open_clinic, chair, protocol):
    patient = PatientFactory(home_clinic=open_clinic)
    on_plan(patient, protocol, due_days_ago=-5)
    flag = PatientFlagFactory(patient=patient, kind=WORSENING)
    client.force_login(clinician)
    query = parse_qs(urlsplit(client.get(reverse("staff:attention-book", args=[flag.pk]))["Location"]).query)
    assert query["starts_at"] == [at(open_clinic, TODAY + datetime.timedelta(days=5), 8).isoformat()]


def test_book_skips_times_the_patient_is_already_booked(client, front_desk, open_clinic, chair, protocol):
    flag = overdue_patient(open_clinic, protocol, 10)
    AppointmentFactory(patient=flag.patient, chair=ChairFactory(clinic=open_clinic), kind="consult",
                       starts_at=at(open_clinic, TODAY, 8), ends_at=at(open_clinic, TODAY, 8, 30))
    client.force_login(front_desk)
    query = parse_qs(urlsplit(client.get(reverse("staff:attention-book", args=[flag.pk]))["Location"]).query)
    assert query["starts_at"] == [at(open_clinic, TODAY, 8, 30).isoformat()]


def test_book_says_so_when_no_chair_is_free_within_three_weeks(client, front_desk, clinic, chair, protocol):
    flag = overdue_patient(clinic, protocol, 10)  # the clinic has no opening hours
    client.force_login(front_desk)
    response = client.get(reverse("staff:attention-book", args=[flag.pk]) + f"?kind={OVERDUE}")
    assert response["Location"] == f"{WORKLIST}?kind={OVERDUE}"
    assert messages_of(response) == [
        f"No chair is free for {flag.patient.full_name} at Riverside TMS in the 21 days from the due date."
    ]


def test_book_needs_an_active_plan_an_open_flag_and_a_booking_role(client, front_desk, technician, open_clinic,
                                                                  chair, protocol):
    no_plan = PatientFlagFactory(patient__home_clinic=open_clinic, kind=SAFETY)
    resolved = overdue_patient(open_clinic, protocol, 10)
    resolved.resolved_at = NOW
    resolved.save()
    client.force_login(technician)
    assert client.get(reverse("staff:attention-book", args=[no_plan.pk])).status_code == 403
    client.force_login(front_desk)
    response = client.get(reverse("staff:attention-book", args=[no_plan.pk]), follow=True)
    assert response.redirect_chain == [(WORKLIST, 302)]
    assert messages_of(response) == [
        f"{no_plan.patient.full_name} has no active maintenance plan to book a session of."
    ]
    response = client.get(reverse("staff:attention-book", args=[resolved.pk]))
    assert messages_of(response) == [
        f"The flag “Overdue maintenance” for {resolved.patient.full_name} is already resolved."
    ]
    assert client.get(reverse("staff:attention-book", args=[99999])).status_code == 404


# --- Outreach ---------------------------------------------------------------------------------


def test_logging_an_outreach_attempt(client, front_desk, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic, kind=MISSED)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-outreach", args=[flag.pk]) + f"?kind={MISSED}",
                           {"channel": "phone", "outcome": "voicemail", "note": "Left a message at home"})
    assert response["Location"] == f"{WORKLIST}?kind={MISSED}"
    attempt = OutreachAttempt.objects.get()
    assert (attempt.flag, attempt.channel, attempt.outcome, attempt.note, attempt.by) == (
        flag, "phone", "voicemail", "Left a message at home", front_desk)
    assert "Phone: Left a message" in client.get(WORKLIST).content.decode()


@pytest.mark.parametrize("data", [{}, {"channel": "fax", "outcome": "sent"}, {"channel": "phone", "outcome": "maybe"}])
def test_a_bad_outreach_attempt_is_refused_with_a_message(client, front_desk, open_clinic, data):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-outreach", args=[flag.pk]), data)
    assert response.status_code == 302 and messages_of(response)
    assert not OutreachAttempt.objects.exists()


def test_outreach_is_refused_on_a_resolved_flag_and_to_technicians(client, front_desk, technician, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic, resolved_at=NOW)
    data = {"channel": "phone", "outcome": "reached"}
    client.force_login(technician)
    assert client.post(reverse("staff:attention-outreach", args=[flag.pk]), data).status_code == 403
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-outreach", args=[flag.pk]), data)
    assert "is already resolved" in messages_of(response)[0]
    assert client.get(reverse("staff:attention-outreach", args=[flag.pk])).status_code == 405
    assert not OutreachAttempt.objects.exists()


# --- Snooze -----------------------------------------------------------------------------------


def test_snoozing_hides_the_flag_until_that_day(client, front_desk, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-snooze", args=[flag.pk]), {"until": "2026-12-09"})
    flag.refresh_from_db()
    assert flag.snoozed_until == datetime.date(2026, 12, 9)
    assert messages_of(response) == [f"{flag.patient.full_name} is off the worklist until Wed 9 Dec."]
    assert rows(client.get(WORKLIST)) == []
    with time_machine.travel(datetime.datetime(2026, 12, 9, 13, 0, tzinfo=UTC), tick=False):
        client.force_login(front_desk)  # staff sessions last a working day
        assert rows(client.get(WORKLIST)) == [flag.pk]


@pytest.mark.parametrize(("until", "error"), [
    ("2026-12-02", "Choose a day after today."),
    ("2026-11-30", "Choose a day after today."),
    ("2027-03-03", "A flag can be hidden for at most 90 days."),
    ("next week", "Enter the date as YYYY-MM-DD."),
    ("", "Choose the day the flag comes back."),
])
def test_a_bad_snooze_date_is_refused(client, front_desk, open_clinic, until, error):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-snooze", args=[flag.pk]), {"until": until})
    assert messages_of(response) == [error]
    flag.refresh_from_db()
    assert flag.snoozed_until is None


def test_the_longest_snooze_is_ninety_days(client, front_desk, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic)
    client.force_login(front_desk)
    client.post(reverse("staff:attention-snooze", args=[flag.pk]), {"until": "2027-03-02"})
    flag.refresh_from_db()
    assert flag.snoozed_until == datetime.date(2027, 3, 2)


def test_a_safety_flag_or_a_resolved_one_cannot_be_snoozed(client, clinician, technician, open_clinic):
    safety = PatientFlagFactory(patient__home_clinic=open_clinic, kind=SAFETY)
    resolved = PatientFlagFactory(patient__home_clinic=open_clinic, resolved_at=NOW)
    data = {"until": "2026-12-09"}
    client.force_login(technician)
    assert client.post(reverse("staff:attention-snooze", args=[resolved.pk]), data).status_code == 403
    client.force_login(clinician)
    response = client.post(reverse("staff:attention-snooze", args=[safety.pk]), data, follow=True)
    assert messages_of(response) == ["A safety flag needs a clinician's review today; it cannot be snoozed."]
    assert "is already resolved" in messages_of(client.post(reverse("staff:attention-snooze", args=[resolved.pk]),
                                                             data))[0]
    assert not PatientFlag.objects.filter(snoozed_until__isnull=False).exists()


# --- Resolve ----------------------------------------------------------------------------------


def test_resolving_with_a_note(client, front_desk, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic, kind=MISSED)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-resolve", args=[flag.pk]), {"note": "Moved away; discharged"})
    flag.refresh_from_db()
    assert (flag.resolved_at, flag.resolved_by, flag.resolution_note) == (NOW, front_desk, "Moved away; discharged")
    assert messages_of(response) == [f"Resolved “Missed appointments” for {flag.patient.full_name}."]
    assert rows(client.get(WORKLIST)) == []


def test_resolving_needs_a_note(client, front_desk, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic)
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-resolve", args=[flag.pk]), {"note": "  "})
    assert messages_of(response) == ["Say why the flag is resolved."]
    flag.refresh_from_db()
    assert flag.resolved_at is None


def test_a_resolved_flag_stays_as_it_was_resolved(client, front_desk, clinician, open_clinic):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic, resolved_at=NOW - datetime.timedelta(days=1),
                              resolved_by=clinician, resolution_note="Booked by phone")
    client.force_login(front_desk)
    response = client.post(reverse("staff:attention-resolve", args=[flag.pk]), {"note": "Again"})
    assert "is already resolved" in messages_of(response)[0]
    flag.refresh_from_db()
    assert (flag.resolved_by, flag.resolution_note) == (clinician, "Booked by phone")


@pytest.mark.parametrize("kind", [SAFETY, WORSENING])
def test_only_a_clinician_resolves_a_clinical_flag(client, front_desk, clinician, technician, open_clinic, kind):
    flag = PatientFlagFactory(patient__home_clinic=open_clinic, kind=kind)
    url = reverse("staff:attention-resolve", args=[flag.pk])
    client.force_login(technician)
    assert client.post(url, {"note": "Seen"}).status_code == 403
    client.force_login(front_desk)
    assert messages_of(client.post(url, {"note": "Seen"})) == [
        f"Only a clinician can resolve a flag “{flag.get_kind_display()}”."
    ]
    flag.refresh_from_db()
    assert flag.resolved_at is None
    client.force_login(clinician)
    client.post(url, {"note": "Reviewed in clinic today; safety plan in place"})
    flag.refresh_from_db()
    assert flag.resolved_by == clinician


# --- Navigation -------------------------------------------------------------------------------


def test_the_navigation_counts_open_awake_flags_and_safety_apart(client, technician, open_clinic, protocol):
    overdue_patient(open_clinic, protocol, 10)
    PatientFlagFactory(patient__home_clinic=open_clinic, kind=SAFETY)
    PatientFlagFactory(patient__home_clinic=open_clinic, kind=MISSED)
    PatientFlagFactory(patient__home_clinic=open_clinic, kind=SAFETY, resolved_at=NOW)
    PatientFlagFactory(patient__home_clinic=open_clinic, snoozed_until=TODAY + datetime.timedelta(days=3))
    client.force_login(technician)
    page = client.get(reverse("staff:today")).content.decode()
    assert f'href="{WORKLIST}">Needs attention' in page
    assert 'data-testid="attention-count">3<' in page
    assert 'text-bg-danger" data-testid="safety-count">1<' in page


def test_the_navigation_shows_no_badge_when_nothing_is_open(client, technician, db):
    client.force_login(technician)
    page = client.get(reverse("staff:today")).content.decode()
    assert "Needs attention" in page and "attention-count" not in page and "safety-count" not in page


def test_the_navigation_count_runs_when_flag_job_raised_flags(client, technician, open_clinic, protocol):
    patient = PatientFactory(home_clinic=open_clinic)
    on_plan(patient, protocol, due_days_ago=20)
    flag_overdue_patients()
    client.force_login(technician)
    assert 'data-testid="attention-count">1<' in client.get(reverse("staff:today")).content.decode()


def test_no_count_is_made_for_anyone_but_staff(db, django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    with django_assert_num_queries(0):
        assert "attention_counts" not in navigation_context(request)
    request.user = UserFactory(username="portal")
    with django_assert_num_queries(1):  # the roles, not the count
        assert "attention_counts" not in navigation_context(request)
