"""The delivery log on the patient page, and the admin's "Resend" action, which re-arms only
what the sending rules still allow."""

import datetime

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse

from patients.models import MaintenancePlan, Patient
from scheduling.models import Appointment, Reminder
from scheduling.services import reminders
from tests.conftest import AUDIT_QUERIES
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    MaintenancePlanFactory,
    PatientFactory,
    ReminderFactory,
)

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in New York
NIGHT = datetime.datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # Wednesday 22:00 in New York: quiet hours
SENT, FAILED, SKIPPED, PENDING = (Reminder.Status.SENT, Reminder.Status.FAILED, Reminder.Status.SKIPPED,
                                  Reminder.Status.PENDING)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def patient(clinic):
    return PatientFactory(home_clinic=clinic, email_consent=True, sms_consent=True, phone="+12125550147")


def session(patient, starts_at, chair=None, **kwargs):
    chair = chair or ChairFactory(clinic=patient.home_clinic)
    return AppointmentFactory(patient=patient, chair=chair, starts_at=starts_at, **kwargs)


def reminder(appointment, **kwargs):
    kwargs.setdefault("kind", Reminder.Kind.HOURS_BEFORE)
    kwargs.setdefault("scheduled_for", appointment.starts_at - datetime.timedelta(hours=2))
    return ReminderFactory(appointment=appointment, **kwargs)


def nudge(plan, **kwargs):
    kwargs.setdefault("scheduled_for", NOW - datetime.timedelta(days=1))
    return ReminderFactory(appointment=None, plan=plan, due_on=plan.next_due_on, kind=Reminder.Kind.MAINTENANCE_DUE,
                           **kwargs)


# --- The delivery log -------------------------------------------------------------------------


def log_rows(client, patient, query=""):
    page = client.get(reverse("staff:patient", args=[patient.uuid]) + query).content.decode()
    table = page.split('data-testid="delivery-log"', 1)[1].split("</table>", 1)[0]
    return [row.split("</tr>", 1)[0] for row in table.split("<tr data-testid=")[1:]]


def test_the_patient_page_lists_every_reminder_newest_first_in_its_clinics_time(client, front_desk, clinic,
                                                                                 patient):
    london = ClinicFactory(name="Thames TMS", time_zone="Europe/London")
    here = session(patient, datetime.datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    there = session(patient, datetime.datetime(2026, 11, 20, 10, 0, tzinfo=UTC), chair=ChairFactory(clinic=london))
    sent = reminder(here, status=SENT, attempts=1, sent_at=datetime.datetime(2026, 12, 1, 13, 1, tzinfo=UTC))
    failed = reminder(there, channel=Reminder.Channel.SMS, status=FAILED, attempts=5,
                      last_error="The number is not a mobile phone.")
    skipped = reminder(there, kind=Reminder.Kind.DAY_BEFORE, status=SKIPPED, last_error="Booked after it was due.",
                       scheduled_for=datetime.datetime(2026, 11, 19, 17, 0, tzinfo=UTC))
    plan = MaintenancePlanFactory(patient=patient, next_due_on=datetime.date(2026, 12, 20))
    # Waiting to retry: its last error is not a verdict yet, so it is not shown.
    retrying = nudge(plan, status=PENDING, attempts=1, last_error="Connection reset",
                     scheduled_for=datetime.datetime(2026, 12, 15, 15, 0, tzinfo=UTC))
    reminder(session(PatientFactory(home_clinic=clinic), NOW), status=SENT)  # someone else's

    client.force_login(front_desk)
    rows = log_rows(client, patient)

    # Deliveries newest first; what is still to send comes after them, soonest first.
    assert [row.split('"', 2)[1] for row in rows] == [
        f"reminder-{r.pk}" for r in (sent, failed, skipped, retrying)
    ]
    assert "Hours before" in rows[0] and "E-mail" in rows[0] and "Tue 1 Dec 2026 08:00 EST" in rows[0]
    assert "Tue 1 Dec 2026 08:01 EST" in rows[0] and ">Sent<" in rows[0] and "<td>1</td>" in rows[0]
    # The London session's reminders are in London time.
    assert "SMS" in rows[1] and "Fri 20 Nov 2026 08:00 GMT" in rows[1] and ">Failed<" in rows[1]
    assert "The number is not a mobile phone." in rows[1] and "<td>5</td>" in rows[1]
    assert "Day before" in rows[2] and "Thu 19 Nov 2026 17:00 GMT" in rows[2] and "Booked after it was due." in rows[2]
    assert "Maintenance due soon" in rows[3] and "Tue 15 Dec 2026 10:00 EST" in rows[3] and ">Pending<" in rows[3]
    assert "Connection reset" not in rows[3]


def test_a_patient_never_reminded_sees_an_empty_log(client, front_desk, patient):
    client.force_login(front_desk)
    page = client.get(reverse("staff:patient", args=[patient.uuid])).content.decode()
    assert "No reminders yet." in page


def test_the_log_shows_20_deliveries_a_page_with_a_fixed_number_of_queries(client, front_desk, patient,
                                                                          django_assert_num_queries):
    url = reverse("staff:patient", args=[patient.uuid])
    plan = MaintenancePlanFactory(patient=patient, next_due_on=datetime.date(2026, 12, 20))
    nudge(plan, status=SENT)
    reminder(session(patient, NOW + datetime.timedelta(days=1)))
    client.force_login(front_desk)
    client.get(url)
    with django_assert_num_queries(16 + AUDIT_QUERIES) as few:  # with the waitlist card's two
        client.get(url)

    for day in range(30):
        appointment = session(patient, NOW - datetime.timedelta(days=day + 2))
        reminder(appointment, status=SENT)
        reminder(appointment, kind=Reminder.Kind.DAY_BEFORE, status=SENT)
    with django_assert_num_queries(len(few)):
        rows = log_rows(client, patient)
    assert len(rows) == 20
    # Newest first: the plan's nudge (sent yesterday), then the latest sessions' reminders.
    assert "Maintenance due soon" in rows[0] and ">Sent<" in rows[0]
    assert all(">Sent<" in row for row in rows) and "Mon 30 Nov 2026 08:00 EST" in rows[1]
    # 62 in all: the fourth page has the last two, tomorrow's pending reminder last of all.
    with django_assert_num_queries(len(few)):
        last = log_rows(client, patient, "?reminders=4")
    assert len(last) == 2 and ">Pending<" in last[1] and ">Sent<" in last[0]


# --- Resend from admin ------------------------------------------------------------------------


def resend(client, *rows):
    response = client.post(reverse("admin:scheduling_reminder_changelist"),
                           {"action": "resend", "_selected_action": [r.pk for r in rows]}, follow=True)
    assert response.status_code == 200
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def tomorrow(patient):
    return session(patient, NOW + datetime.timedelta(days=1))


def test_a_failed_reminder_is_re_armed_to_go_out_now_with_a_fresh_budget(admin_client, tomorrow):
    failed = reminder(tomorrow, status=FAILED, attempts=5, last_error="550 mailbox unavailable",
                      scheduled_for=NOW - datetime.timedelta(hours=1))

    assert resend(admin_client, failed) == ["1 reminder re-armed."]

    failed.refresh_from_db()
    assert (failed.status, failed.scheduled_for, failed.last_error, failed.attempts) == (PENDING, NOW, "", 0)
    # ...and the worker sends it, once.
    reminders.send_due()
    reminders.send_due()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [tomorrow.patient.email]
    failed.refresh_from_db()
    assert failed.status == SENT


def test_resending_asks_a_worker_to_send_at_once(admin_client, tomorrow, django_capture_on_commit_callbacks):
    failed = reminder(tomorrow, status=FAILED)
    with django_capture_on_commit_callbacks() as callbacks:
        resend(admin_client, failed)
    assert len(callbacks) == 1


def test_an_sms_resent_in_quiet_hours_waits_for_the_morning(client, superuser, frozen, patient):
    frozen.move_to(NIGHT)
    client.force_login(superuser)
    morning_session = session(patient, datetime.datetime(2026, 12, 3, 15, 0, tzinfo=UTC))  # 10:00 in New York
    early_session = session(patient, datetime.datetime(2026, 12, 3, 12, 30, tzinfo=UTC))  # 07:30
    later = reminder(morning_session, channel=Reminder.Channel.SMS, status=FAILED)
    too_late = reminder(early_session, channel=Reminder.Channel.SMS, status=SKIPPED)
    e_mail = reminder(early_session, kind=Reminder.Kind.DAY_BEFORE, status=FAILED)

    messages = resend(client, later, too_late, e_mail)

    assert messages == ["2 reminders re-armed.", "1 not resent: SMS quiet hours last until the session begins."]
    later.refresh_from_db()
    e_mail.refresh_from_db()
    too_late.refresh_from_db()
    assert later.status == PENDING and later.scheduled_for == datetime.datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
    assert e_mail.status == PENDING and e_mail.scheduled_for == NIGHT  # e-mail has no quiet hours
    assert too_late.status == SKIPPED


def test_it_resends_only_failed_or_skipped_reminders(admin_client, tomorrow):
    rows = [reminder(tomorrow, status=SENT, sent_at=NOW, attempts=1),
            reminder(tomorrow, kind=Reminder.Kind.DAY_BEFORE, status=PENDING)]

    assert resend(admin_client, *rows) == ["2 not resent: Only failed or skipped reminders can be resent."]
    assert [r.status for r in Reminder.objects.order_by("pk")] == [SENT, PENDING]


@pytest.mark.parametrize(("change", "why"), [
    ({"status": Appointment.Status.CANCELLED}, "The appointment is cancelled."),
    ({"status": Appointment.Status.NO_SHOW}, "The appointment is no-show."),
    ({"starts_at": NOW - datetime.timedelta(minutes=5)}, "The session had already begun."),
])
def test_it_refuses_a_reminder_for_a_session_that_will_not_happen_or_has_begun(admin_client, tomorrow, change,
                                                                                why):
    failed = reminder(tomorrow, status=FAILED, last_error="timeout")
    Appointment.objects.filter(pk=tomorrow.pk).update(**change)

    assert resend(admin_client, failed) == [f"1 not resent: {why}"]
    failed.refresh_from_db()
    assert (failed.status, failed.last_error) == (FAILED, "timeout")


@pytest.mark.parametrize("change", [
    {"email_consent": False},
    {"email": ""},
    {"status": Patient.Status.DISCHARGED},
])
def test_it_refuses_when_the_patient_can_no_longer_be_contacted_that_way(admin_client, tomorrow, patient, change):
    failed = reminder(tomorrow, status=FAILED)
    Patient.objects.filter(pk=patient.pk).update(**change)

    [message] = resend(admin_client, failed)
    assert message.startswith("1 not resent: The patient")
    failed.refresh_from_db()
    assert failed.status == FAILED


def test_a_plans_nudge_is_resent_only_while_the_plan_is_active_and_due_that_day(admin_client, patient):
    plan = MaintenancePlanFactory(patient=patient, next_due_on=datetime.date(2026, 12, 6))
    still_due = nudge(plan, status=FAILED)
    moved = nudge(plan, status=FAILED, channel=Reminder.Channel.SMS)

    assert resend(admin_client, still_due) == ["1 reminder re-armed."]

    MaintenancePlan.objects.filter(pk=plan.pk).update(next_due_on=datetime.date(2026, 12, 13))
    assert resend(admin_client, moved) == ["1 not resent: The plan changed since."]
    MaintenancePlan.objects.filter(pk=plan.pk).update(next_due_on=datetime.date(2026, 12, 6),
                                                      status=MaintenancePlan.Status.ENDED)
    assert resend(admin_client, moved) == ["1 not resent: The plan changed since."]


def test_a_day_before_reminder_is_not_resent_once_the_hours_before_one_went_out(admin_client, patient):
    soon = session(patient, NOW + datetime.timedelta(hours=1))
    reminder(soon, status=SENT, scheduled_for=NOW - datetime.timedelta(hours=1), sent_at=NOW)
    day_before = reminder(soon, kind=Reminder.Kind.DAY_BEFORE, status=FAILED,
                          scheduled_for=NOW - datetime.timedelta(hours=20))

    [message] = resend(admin_client, day_before)
    assert message.startswith("1 not resent: The hours-before reminder was due too")


def test_it_reports_each_refusal_with_its_reason_alongside_what_it_re_armed(admin_client, tomorrow, patient):
    cancelled = session(patient, NOW + datetime.timedelta(days=2), status=Appointment.Status.CANCELLED)
    rows = [reminder(tomorrow, status=FAILED), reminder(tomorrow, kind=Reminder.Kind.DAY_BEFORE, status=SKIPPED),
            reminder(cancelled, status=SKIPPED), reminder(cancelled, kind=Reminder.Kind.DAY_BEFORE, status=SKIPPED),
            reminder(session(patient, NOW + datetime.timedelta(days=3)), status=SENT)]

    assert resend(admin_client, *rows) == [
        "2 reminders re-armed.",
        "1 not resent: Only failed or skipped reminders can be resent.",
        "2 not resent: The appointment is cancelled.",
    ]


def test_a_reminder_changed_while_staff_chose_it_is_left_alone(admin_client, tomorrow, monkeypatch):
    failed = reminder(tomorrow, status=FAILED)
    real_why_not = reminders._why_not

    def sent_meanwhile(row, now, superseded=()):
        Reminder.objects.filter(pk=row.pk).update(status=SENT)
        return real_why_not(row, now, superseded)

    monkeypatch.setattr(reminders, "_why_not", sent_meanwhile)
    assert resend(admin_client, failed) == ["1 not resent: It changed while you were choosing it; look again."]
    failed.refresh_from_db()
    assert failed.status == SENT


def test_only_staff_allowed_to_change_reminders_may_resend(client, tomorrow, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_reminder"))
    failed = reminder(tomorrow, status=FAILED)
    client.force_login(viewer)

    response = client.post(reverse("admin:scheduling_reminder_changelist"),
                           {"action": "resend", "_selected_action": [failed.pk]})
    assert response.status_code == 200  # the changelist again, with "No action selected"
    failed.refresh_from_db()
    assert failed.status == FAILED
