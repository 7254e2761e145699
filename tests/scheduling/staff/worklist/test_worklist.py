"""The "Needs attention" worklist: safety first, then the longest overdue, each row with what is
needed to act; filters; a fixed number of queries; and the count in the navigation."""

import datetime
import itertools

import pytest
import time_machine
from django.test import RequestFactory
from django.urls import reverse

from patients.models import OutreachAttempt
from scheduling.services.plans import flag_overdue_patients
from scheduling.staff.worklist import PAGE_SIZE
from tests.conftest import AUDIT_QUERIES
from tests.factories import (
    AppointmentFactory,
    ClinicFactory,
    OutreachMessageFactory,
    PatientFactory,
    PatientFlagFactory,
    UserFactory,
    staff_user,
)
from tests.scheduling.staff.worklist.helpers import (
    MISSED,
    NOW,
    SAFETY,
    TODAY,
    UTC,
    WORKLIST,
    WORSENING,
    at,
    on_plan,
    overdue_patient,
    rows,
)
from tmsclinic.context_processors import roles as navigation_context
from tmsclinic.roles import CLINICIAN

pytestmark = pytest.mark.usefixtures("frozen")
BOOK_NEXT = 'Book next<span class="visually-hidden"> session</span>'


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


def test_patients_booked_for_their_visit_wait_below_soonest_visit_first(client, technician, open_clinic, chair,
                                                                      protocol):
    later, sooner, unbooked = (overdue_patient(open_clinic, protocol, days) for days in (40, 20, 10))
    AppointmentFactory(patient=later.patient, chair=chair, kind="maintenance", starts_at=at(open_clinic, TODAY, 15))
    AppointmentFactory(patient=sooner.patient, chair=chair, kind="maintenance", starts_at=at(open_clinic, TODAY, 9))
    AppointmentFactory(patient=unbooked.patient, chair=chair, kind="maintenance", status="cancelled",
                       starts_at=at(open_clinic, TODAY, 11))
    client.force_login(technician)
    response = client.get(WORKLIST)
    assert rows(response) == [unbooked.pk, sooner.pk, later.pk]
    assert [f.pk for f in response.context["to_act_on"]] == [unbooked.pk]
    assert [f.pk for f in response.context["awaiting_visit"]] == [sooner.pk, later.pk]
    page = response.content.decode()
    assert page.index('id="to-act-on"') < page.index('id="awaiting-visit"')
    assert 'data-testid="awaiting">Booked Wed 2 Dec 09:00<' in page  # the clinic's time, to the technician too


def test_a_booking_does_not_move_a_flag_it_does_not_answer(client, technician, open_clinic, chair, protocol):
    booked, unbooked = PatientFactory(home_clinic=open_clinic), PatientFactory(home_clinic=open_clinic)
    on_plan(booked, protocol, due_days_ago=40)
    on_plan(unbooked, protocol, due_days_ago=20)
    longer = PatientFlagFactory(patient=booked, kind=WORSENING)
    shorter = PatientFlagFactory(patient=unbooked, kind=WORSENING)
    AppointmentFactory(patient=booked, chair=chair, kind="maintenance", starts_at=at(open_clinic, TODAY, 15))
    client.force_login(technician)
    response = client.get(WORKLIST)
    # Worsening symptoms want a clinician, booked or not: still the longest overdue first.
    assert rows(response) == [longer.pk, shorter.pk]
    assert response.context["awaiting_visit"] == []


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
    # Without clinical access, safety and worsening flags are one kind: "clinical review".
    both = sorted([here_safety.pk, there_safety.pk])
    assert sorted(rows(client.get(WORKLIST, {"kind": "clinical_review"}))) == both
    asked_for_safety = client.get(WORKLIST, {"kind": SAFETY})
    assert asked_for_safety.context["filters"].errors and len(rows(asked_for_safety)) == 3  # ignored, said so
    assert rows(client.get(WORKLIST, {"clinic": open_clinic.pk, "kind": MISSED})) == [here_missed.pk]
    client.force_login(staff_user(role=CLINICIAN, username="doc"))
    assert sorted(rows(client.get(WORKLIST, {"kind": SAFETY}))) == both


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
    # The front desk sees the kind, not the clinical detail; a clinician sees both.
    assert "Overdue maintenance" in page and "Missed the December visit" not in page
    assert "Own schedule" in page and "iTBS maintenance" in page
    assert "20 Sep 2026" in page and "14 Aug 2026" not in page  # the last completed session
    assert "2 Nov 2026" in page  # due
    assert "<strong>30</strong>" in page  # days overdue
    # The next live booking, in the clinic's time (22:00 UTC is 17:00 in New York).
    assert f'href="{reverse("staff:appointment", args=[later.uuid])}">Wed 9 Dec 2026 17:00</a>' in page
    # Phone and e-mail are links that call and write; the preferred channel is marked.
    consented = '<span aria-hidden="true">✓</span><span class="visually-hidden">consented</span>'
    not_consented = '<span aria-hidden="true">✗</span><span class="visually-hidden">not consented</span>'
    assert (f'SMS {consented} <a href="tel:+12125550123" data-testid="phone">+12125550123</a> '
            '<span class="badge text-bg-light">preferred</span>') in page
    assert (f'e-mail {not_consented} <a href="mailto:ada@patients.test" data-testid="email">ada@patients.test</a>'
            '</div>') in page
    assert page.count(">preferred<") == 1
    assert "SMS: Message sent" in page and "Asked her to call back" in page and "by frontdesk" in page
    assert "Phone: No answer" not in page  # only the latest attempt
    client.force_login(staff_user(role=CLINICIAN, username="doc"))
    assert "Missed the December visit" in client.get(WORKLIST).content.decode()


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
            OutreachMessageFactory(flag=flag, channel="call", status="sent", sent_at=NOW, step_day=7)
            PatientFlagFactory(patient=flag.patient, kind=SAFETY)

    add(1)
    client.force_login(front_desk)
    # session, user, roles, clinics (twice: the filter's choices and the wall), count, flags, plans, outreach,
    # the cadence's latest message, message templates, navigation count
    with django_assert_num_queries(12 + AUDIT_QUERIES):
        assert len(rows(client.get(WORKLIST))) == 2
    add(14)
    # 30 flags fill a page (issue 15: PAGE_SIZE went from 50 to 20, to keep the page under 150 KB).
    assert PAGE_SIZE < 30
    with django_assert_num_queries(12 + AUDIT_QUERIES):
        assert len(rows(client.get(WORKLIST))) == PAGE_SIZE


def test_actions_follow_the_role(client, technician, front_desk, clinician, open_clinic, protocol):
    overdue = overdue_patient(open_clinic, protocol, 10)
    worsening = PatientFlagFactory(patient=overdue.patient, kind=WORSENING)
    PatientFlagFactory(patient=overdue.patient, kind=SAFETY)
    reintroduce = reverse("staff:start-course", args=[overdue.patient.uuid]) + "?kind=reintroduction"

    client.force_login(technician)
    page = client.get(WORKLIST).content.decode()
    assert page.count('data-testid="flag"') == 3
    assert BOOK_NEXT not in page and "Follow up" not in page and 'aria-label="Resolve"' not in page

    client.force_login(front_desk)
    page = client.get(WORKLIST).content.decode()
    assert page.count(BOOK_NEXT) == 3 and page.count('<h3 class="h6">Log outreach</h3>') == 3
    assert page.count(f'Follow up<span class="visually-hidden"> {overdue.patient.full_name}</span>') == 3
    assert page.count('<h3 class="h6">Snooze</h3>') == 2  # not the safety flag
    assert page.count('<h3 class="h6">Resolve</h3>') == 1  # only the overdue flag: the others are clinical
    assert reintroduce not in page

    client.force_login(clinician)
    page = client.get(WORKLIST).content.decode()
    assert page.count('<h3 class="h6">Resolve</h3>') == 3
    assert page.count(reintroduce) == 1
    assert f'action="{reverse("staff:attention-resolve", args=[worsening.pk])}"' in page


def test_every_staff_role_sees_the_worklist_and_a_portal_account_does_not(client, technician, patient):
    client.force_login(technician)
    assert client.get(WORKLIST).status_code == 200
    client.force_login(UserFactory(username="portal"))
    assert client.get(WORKLIST).status_code == 403


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
    assert 'data-testid="safety-count"' not in page  # how many are safety flags is clinical
    client.force_login(staff_user(role=CLINICIAN, username="doc"))
    page = client.get(reverse("staff:today")).content.decode()
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


def test_a_long_worklist_comes_twenty_flags_a_page_each_under_150_kb(client, front_desk, open_clinic, protocol):
    flags = [overdue_patient(open_clinic, protocol, 10 + n) for n in range(25)]
    client.force_login(front_desk)
    first, second = client.get(WORKLIST), client.get(WORKLIST, {"page": 2})
    assert len(rows(first)) == 20 and len(rows(second)) == 5
    assert sorted(rows(first) + rows(second)) == sorted(flag.pk for flag in flags)
    assert max(len(first.content), len(second.content)) <= 150 * 1024


def test_each_rows_follow_up_forms_are_those_drawn_for_it(client, front_desk, open_clinic, chair, protocol):
    """The worklist draws each follow-up form once a page and gives every row its own ids
    (issue 15): the HTML is the same as drawing the row's form with the row's ids."""
    from crispy_forms.templatetags.crispy_forms_filters import as_crispy_form

    from scheduling.services import outreach
    from scheduling.staff.forms import OutreachForm, ResolveForm, SendMessageForm, SnoozeForm

    flags = [overdue_patient(open_clinic, protocol, 10 + n) for n in range(2)]
    flags[1].patient.preferred_channel = "email"
    flags[1].patient.save(update_fields=["preferred_channel"])
    client.force_login(front_desk)
    html = client.get(WORKLIST).content.decode()
    templates = list(outreach.templates_for_staff())
    for flag in flags:
        ids = f"flag{flag.pk}-%s"
        for form in (OutreachForm(auto_id=ids), SnoozeForm(auto_id=ids, today=open_clinic.today()),
                     ResolveForm(auto_id=ids),
                     SendMessageForm(auto_id=ids, templates=templates,
                                     initial={"channel": flag.patient.preferred_channel})):
            assert str(as_crispy_form(form)) in html, type(form).__name__
    assert "flagROW" not in html
