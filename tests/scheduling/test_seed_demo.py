"""seed_demo: every stage of care, within the clinic's rules, the same for the same seed and day;
the reminders booking would write, sent by the worker when they fall due."""

import datetime
import json
import os
import subprocess
import sys
import uuid
from collections import defaultdict
from io import StringIO

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from patients.models import (
    ITEM_FIELDS,
    Assessment,
    MaintenancePhase,
    MaintenancePlan,
    OutreachAttempt,
    Patient,
    PatientFlag,
    TreatmentCourse,
)
from scheduling import sms
from scheduling.management.commands.seed_demo import GO_LIVE_DAYS, REMINDED_PAST_SESSIONS, demo_portal_logins
from scheduling.models import (
    Appointment,
    BookedAt,
    Chair,
    Clinic,
    ClinicMembership,
    OpeningHours,
    OutreachMessage,
    Reminder,
    SessionRecord,
)
from scheduling.services import reminders, sessions_used
from scheduling.services.plans import flag_overdue_patients, refresh_plan
from tmsclinic import roles

# A Wednesday: both clinics are open, with part of their day behind them and part to come.
NOW = datetime.datetime(2026, 3, 11, 15, 0, tzinfo=datetime.UTC)
MIDSUMMER = datetime.datetime(2026, 7, 15, 14, 20, tzinfo=datetime.UTC)
PATIENTS = 80


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def seed_demo(patients=PATIENTS, **options):
    out = StringIO()
    call_command("seed_demo", patients=patients, stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def seeded(db, frozen_now):
    return seed_demo()


def clear_patients():
    Appointment.objects.all().delete()  # appointments protect their patients
    Patient.objects.all().delete()


def fingerprint():
    return {
        "patients": list(Patient.objects.order_by("mrn").values_list(
            "mrn", "uuid", "first_name", "last_name", "date_of_birth", "phone", "home_clinic__name",
            "status", "primary_clinician__username", "email_consent_at", "sms_consent_at",
        )),
        "courses": list(TreatmentCourse.objects.order_by("patient__mrn").values_list(
            "patient__mrn", "protocol__name", "start_date", "status", "motor_threshold", "prior_auth_number",
        )),
        "plans": list(MaintenancePlan.objects.order_by("patient__mrn").values_list(
            "patient__mrn", "started_on", "next_due_on", "overdue_after",
        )),
        "appointments": list(Appointment.objects.order_by("uuid").values_list(
            "uuid", "patient__mrn", "chair__name", "kind", "status", "starts_at", "ends_at",
        )),
        "session_records": list(SessionRecord.objects.order_by("appointment__uuid").values_list(
            "appointment__uuid", "motor_threshold", "side_effects",
        )),
        "assessments": list(Assessment.objects.order_by("patient__mrn", "taken_at").values_list(
            "patient__mrn", "taken_at", *ITEM_FIELDS,
        )),
        "reminders": list(Reminder.objects.order_by("appointment__uuid", "kind").values_list(
            "appointment__uuid", "kind", "channel", "status", "scheduled_for", "sent_at",
        )),
    }


REMINDER_FIELDS = ("appointment_id", "kind", "channel", "status", "scheduled_for", "last_error", "attempts",
                   "claimed_at", "sent_at")


def reminder_rows(reminders_of):
    return sorted(reminders_of.values_list(*REMINDER_FIELDS))


def test_it_seeds_every_stage_of_care(seeded):
    assert TreatmentCourse.objects.filter(status=TreatmentCourse.Status.ACTIVE).exists()
    active_plans = MaintenancePlan.objects.filter(status=MaintenancePlan.Status.ACTIVE)
    assert active_plans.filter(overdue_after__gt=NOW).exists()
    assert active_plans.filter(overdue_after__lte=NOW).exists()
    discharged = Patient.objects.filter(status=Patient.Status.DISCHARGED)
    assert discharged.exists()
    assert not MaintenancePlan.objects.filter(patient__in=discharged).exists()
    assert set(TreatmentCourse.objects.filter(patient__in=discharged).values_list("status", flat=True)) == {
        TreatmentCourse.Status.COMPLETED
    }
    for stage in ("acute course in progress", "maintenance on time", "maintenance overdue", "discharged"):
        assert stage in seeded


def test_overdue_patients_are_flagged_and_no_one_else(seeded):
    flagged = set(
        PatientFlag.objects.filter(kind=PatientFlag.Kind.OVERDUE_MAINTENANCE, resolved_at=None)
        .values_list("patient", flat=True)
    )
    overdue = set(
        MaintenancePlan.objects.filter(status=MaintenancePlan.Status.ACTIVE, overdue_after__lte=NOW)
        .values_list("patient", flat=True)
    )
    assert flagged == overdue


def test_courses_in_progress_have_sessions_to_come(seeded):
    for course in TreatmentCourse.objects.filter(status=TreatmentCourse.Status.ACTIVE):
        assert course.appointments.filter(status=Appointment.Status.BOOKED, starts_at__gt=NOW).exists()


def test_appointment_statuses_follow_the_clock(seeded):
    completed = Appointment.objects.filter(status=Appointment.Status.COMPLETED)
    assert completed.exists()
    assert not completed.filter(ends_at__gt=NOW).exists()
    assert not completed.filter(session_record__isnull=True).exists()
    assert not Appointment.objects.filter(status=Appointment.Status.BOOKED, starts_at__lte=NOW).exists()
    assert not Appointment.objects.exclude(status=Appointment.Status.COMPLETED).filter(
        session_record__isnull=False
    ).exists()


def go_live(clinic):
    return clinic.local(NOW).date() - datetime.timedelta(days=GO_LIVE_DAYS)


def test_courses_open_with_a_mapping_visit_then_treatment_sessions(seeded):
    imported = 0
    for course in TreatmentCourse.objects.prefetch_related("appointments").select_related("patient__home_clinic"):
        if course.start_date < go_live(course.patient.home_clinic):
            # Brought over from the chain's old system: the course and its PHQ-9s, no appointments.
            assert not course.appointments.all()
            assert course.status == TreatmentCourse.Status.COMPLETED and course.ended_on > course.start_date
            imported += 1
            continue
        mapping, *sessions = sorted(course.appointments.all(), key=lambda appointment: appointment.starts_at)
        assert mapping.kind == Appointment.Kind.MAPPING
        assert mapping.clinic.local(mapping.starts_at).date() == course.start_date
        assert {session.kind for session in sessions} == {Appointment.Kind.ACUTE}
        assert sessions_used(course) <= course.planned_sessions == course.authorised_sessions
    assert 0 < imported < TreatmentCourse.objects.count()


def test_no_appointment_is_older_than_the_go_live(seeded):
    for clinic in Clinic.objects.all():
        first = clinic.appointments.order_by("starts_at").first()
        assert first is None or clinic.local(first.starts_at).date() >= go_live(clinic)


def test_stored_due_dates_are_what_the_app_would_compute(seeded):
    plans = list(MaintenancePlan.objects.select_related("patient__home_clinic", "template"))
    assert {plan.template.name for plan in plans} == {"Taper to monthly"}
    for plan in plans:
        stored = (plan.next_due_on, plan.overdue_after)
        assert (refresh_plan(plan).next_due_on, plan.overdue_after) == stored


def test_every_patient_has_a_phq9_history_with_stored_total_and_band(seeded):
    history = defaultdict(list)
    for assessment in Assessment.objects.order_by("taken_at"):
        assert assessment.total == sum(assessment.items)
        assert assessment.band == Assessment.band_for(assessment.total)
        assert assessment.taken_at <= NOW
        history[assessment.patient_id].append(assessment)
    assert set(history) == set(Patient.objects.values_list("pk", flat=True))
    assert all(scores[0].total >= 17 for scores in history.values())  # baseline 18–24, give or take one
    self_harm_answers = sum(a.endorses_self_harm for scores in history.values() for a in scores)
    assert self_harm_answers <= PATIENTS * 0.1


def test_discharged_patients_improved_over_their_course(seeded):
    for patient in Patient.objects.filter(status=Patient.Status.DISCHARGED):
        scores = list(patient.assessments.order_by("taken_at").values_list("total", flat=True))
        assert scores[-1] < scores[0] / 2


def test_every_role_has_a_user_who_can_log_in(seeded, client, settings):
    User = get_user_model()
    for username, role, admin_access in [
        ("frontdesk", roles.FRONT_DESK, False),
        ("technician", roles.TECHNICIAN, False),
        ("clinician", roles.CLINICIAN, False),
        ("clinicadmin", roles.CLINIC_ADMIN, True),
    ]:
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert user.is_staff is admin_access
        assert not user.is_superuser
        assert client.login(username=username, password=settings.DEMO_PASSWORD)
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert client.login(username="admin", password=settings.DEMO_PASSWORD)


def test_it_builds_two_clinics_in_different_time_zones(seeded):
    clinics = list(Clinic.objects.prefetch_related("chairs", "opening_hours", "closures"))
    assert len({clinic.time_zone for clinic in clinics}) == 2
    assert any(not chair.active for clinic in clinics for chair in clinic.chairs.all())
    weekdays_open = {hours.weekday for clinic in clinics for hours in clinic.opening_hours.all()}
    assert OpeningHours.Weekday.SATURDAY in weekdays_open
    assert all(clinic.closures.exists() for clinic in clinics)
    assert not Appointment.objects.filter(chair__active=False).exists()



def test_appointments_fall_within_opening_hours_on_open_days(seeded):
    for clinic in Clinic.objects.prefetch_related("opening_hours", "closures", "appointments"):
        periods = defaultdict(list)
        for hours in clinic.opening_hours.all():
            periods[hours.weekday].append((hours.opens_at, hours.closes_at))
        for appointment in clinic.appointments.all():
            starts, ends = clinic.local(appointment.starts_at), clinic.local(appointment.ends_at)
            assert not any(c.starts_on <= starts.date() <= c.ends_on for c in clinic.closures.all())
            assert any(
                opens <= starts.time() and ends.time() <= closes for opens, closes in periods[starts.weekday()]
            ), appointment


def test_no_live_appointments_overlap_on_a_chair_or_for_a_patient(seeded):
    live = list(
        Appointment.objects.live().order_by("starts_at").values("chair_id", "patient_id", "starts_at", "ends_at")
    )
    assert live
    for key in ("chair_id", "patient_id"):
        free_from = {}
        for appointment in live:
            holder = appointment[key]
            assert appointment["starts_at"] >= free_from.get(holder, appointment["starts_at"]), (key, appointment)
            free_from[holder] = max(appointment["ends_at"], free_from.get(holder, appointment["ends_at"]))


def test_after_a_seed_the_booked_pairs_are_those_of_the_appointments_and_still_kept(seeded):
    """The load turns BookedAt's triggers off and rebuilds it after: the pairs of the rows written,
    and the triggers are back for what comes next."""
    pairs = set(Appointment.objects.values_list("clinic_id", "patient_id"))
    assert len(pairs) > 10
    assert BookedAt.objects.count() == len(pairs)
    assert set(BookedAt.objects.values_list("clinic_id", "patient_id")) == pairs
    appointment = Appointment.objects.order_by("pk").first()
    others = Appointment.objects.filter(clinic_id=appointment.clinic_id, patient_id=appointment.patient_id)
    others.delete()
    assert not BookedAt.objects.filter(clinic_id=appointment.clinic_id, patient_id=appointment.patient_id).exists()


@pytest.mark.parametrize("holder", ["chair", "patient"])
def test_after_a_seed_the_database_still_refuses_a_double_booking(seeded, on_postgres, holder):
    """The bulk load takes the exclusion constraints off while it writes: they are back, and hold."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = 'scheduling_appointment'::regclass "
                       "AND contype = 'x' ORDER BY conname")
        assert [name for (name,) in cursor.fetchall()] == ["appt_no_chair_overlap", "appt_no_patient_overlap"]
    booked = Appointment.objects.live().order_by("pk").first()
    clash = Appointment.objects.get(pk=booked.pk)
    clash.pk, clash.uuid = None, uuid.uuid4()
    clash.starts_at += datetime.timedelta(minutes=5)  # overlapping, on the same chair and for the same patient
    if holder == "chair":  # another patient, same chair
        clash.patient = Patient.objects.exclude(pk=booked.patient_id).order_by("pk").first()
    else:  # same patient, another chair
        clash.chair = booked.clinic.chairs.exclude(pk=booked.chair_id).order_by("pk").first()
    with pytest.raises(IntegrityError, match=f"appt_no_{holder}_overlap"), transaction.atomic():
        Appointment.objects.bulk_create([clash])  # straight to the database, no clean()


def test_on_postgresql_the_seeded_tables_are_vacuumed_as_autovacuum_would(on_postgres):
    """Pages all-visible, so that an index answers alone (the flag job's active patients). VACUUM
    cannot run in a test's transaction: the command runs as it is run, in a process of its own
    on a database of its own."""
    import psycopg2
    from psycopg2 import sql

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    name = f"tms_seed_vacuum_{os.getpid()}"
    server = psycopg2.connect(**{**params, "dbname": "postgres"})
    server.autocommit = True
    with server.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = (f"postgres://{params.get('user', '')}@{params.get('host', '')}:{params.get('port', 5432)}/{name}")
        env = {**os.environ, "DATABASE_URL": url, "DEBUG": "true"}
        env.setdefault("SECRET_KEY", "test-only-not-secret")
        for command in (["migrate", "-v0"], ["seed_demo", "--patients", "40"]):
            subprocess.run([sys.executable, "manage.py", *command], env=env, cwd=settings.BASE_DIR,
                           capture_output=True, text=True, check=True, timeout=300)
        with psycopg2.connect(**{**params, "dbname": name}) as seeded_db, seeded_db.cursor() as cursor:
            cursor.execute("SELECT relname, relpages, relallvisible FROM pg_class "
                           "WHERE relname IN ('patients_patient', 'scheduling_appointment') ORDER BY relname")
            tables = cursor.fetchall()
        seeded_db.close()
    finally:
        with server.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        server.close()
    assert [name for name, _, _ in tables] == ["patients_patient", "scheduling_appointment"]
    for table, pages, visible in tables:
        assert pages > 0 and visible == pages, table


@pytest.mark.parametrize("moment", [NOW, MIDSUMMER], ids=["winter", "summer"])
def test_each_clinic_has_appointments_on_its_own_today(db, moment):
    with time_machine.travel(moment, tick=False):
        seed_demo()
        for clinic in Clinic.objects.all():
            today = clinic.today()
            midnight = datetime.datetime.combine(today, datetime.time(0), tzinfo=clinic.tz)
            tomorrow = midnight + datetime.timedelta(days=1)
            assert clinic.appointments.filter(starts_at__gte=midnight, starts_at__lt=tomorrow).exists(), clinic


def test_the_same_seed_on_the_same_day_gives_the_same_data(db, frozen_now):
    seed_demo(seed=7)
    first = fingerprint()
    clear_patients()
    seed_demo(seed=7)
    assert fingerprint() == first


def every_row():
    """Every column of every row seed_demo writes for its patients, keys and all, by key."""
    models = [Chair, Patient, TreatmentCourse, MaintenancePlan, MaintenancePhase, Appointment, SessionRecord,
              Assessment, Reminder, PatientFlag, OutreachMessage, OutreachAttempt]
    return {model.__name__: list(model.objects.order_by("pk").values_list()) for model in models}


def test_a_different_seed_gives_different_data(db, frozen_now):
    seed_demo(seed=1)
    first = fingerprint()
    clear_patients()
    seed_demo(seed=2)
    assert fingerprint()["appointments"] != first["appointments"]
    assert fingerprint()["patients"] != first["patients"]


def test_patients_have_valid_contact_details(seeded):
    patients = list(Patient.objects.all())
    assert len(patients) == PATIENTS
    assert all(patient.phone.is_valid() for patient in patients if patient.phone)
    assert any(patient.phone for patient in patients)
    assert any(patient.primary_clinician for patient in patients)


def test_if_empty_leaves_a_database_with_patients_alone(patient):
    out = seed_demo(if_empty=True)
    assert "left it as it was" in out
    assert list(Patient.objects.all()) == [patient]
    assert not Appointment.objects.exists()
    assert not get_user_model().objects.filter(username="frontdesk").exists()


def test_if_empty_seeds_an_empty_database(db, frozen_now):
    seed_demo(if_empty=True)
    assert Patient.objects.count() == PATIENTS


def test_without_if_empty_it_refuses_a_database_with_patients(patient):
    with pytest.raises(CommandError, match="already has patients"):
        seed_demo()
    assert list(Patient.objects.all()) == [patient]


# --- Reminders --------------------------------------------------------------------------------


def test_each_booked_session_to_come_has_the_reminders_booking_it_now_would_write(seeded):
    booked = Appointment.objects.filter(status=Appointment.Status.BOOKED).select_related("patient", "clinic")
    assert booked.exists()
    seeded_rows = reminder_rows(Reminder.objects.filter(appointment__in=booked))
    assert Reminder.objects.filter(appointment__in=booked).count() == 2 * booked.count()

    Reminder.objects.filter(appointment__in=booked).delete()
    for appointment in booked:
        reminders.arm(appointment, now=NOW)
    assert seeded_rows == reminder_rows(Reminder.objects.filter(appointment__in=booked))
    statuses = {row[REMINDER_FIELDS.index("status")] for row in seeded_rows}
    assert Reminder.Status.PENDING in statuses and Reminder.Status.SKIPPED in statuses


def test_sessions_that_have_begun_have_only_their_latest_reminders_as_the_worker_left_them(seeded):
    begun = Reminder.objects.exclude(appointment__status=Appointment.Status.BOOKED).select_related("appointment")
    assert begun.filter(status=Reminder.Status.SENT).exists()
    assert set(begun.values_list("status", flat=True)) <= {Reminder.Status.SENT, Reminder.Status.SKIPPED}
    for reminder in begun.filter(status=Reminder.Status.SENT):
        assert reminder.sent_at == reminder.scheduled_for < reminder.appointment.starts_at <= NOW
        assert reminder.attempts == 1
    reminded = defaultdict(set)
    for reminder in begun:
        reminded[reminder.appointment.patient_id].add(reminder.appointment)
    # Everyone with a session begun (those from before the go-live have none here).
    assert set(reminded) == set(Appointment.objects.filter(starts_at__lte=NOW).exclude(
        status=Appointment.Status.CANCELLED).values_list("patient_id", flat=True))
    for patient_id, appointments in reminded.items():
        latest = Appointment.objects.filter(patient=patient_id, starts_at__lte=NOW).exclude(
            status=Appointment.Status.CANCELLED).order_by("-starts_at")
        assert appointments == set(latest[:REMINDED_PAST_SESSIONS])


@pytest.fixture
def in_memory_backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TMS_SMS_BACKEND = "scheduling.sms.InMemoryBackend"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def test_the_worker_sends_the_seeded_reminders_as_they_fall_due(seeded, in_memory_backends):
    assert reminders.send_due(NOW)["sent"] == 0  # booking skips what is already due

    # A day or so later: when the first hours-before reminder after a day falls due, so that
    # whatever the random data, at least one such reminder is due for a session still to come.
    # A moment outside every clinic's quiet hours, so that no SMS due by then is held back.
    clinics = list(Clinic.objects.all())
    tomorrow = next(moment for moment in Reminder.objects.filter(
        status=Reminder.Status.PENDING, kind=Reminder.Kind.HOURS_BEFORE,
        scheduled_for__gt=NOW + datetime.timedelta(days=1),
    ).order_by("scheduled_for").values_list("scheduled_for", flat=True)
        if not any(reminders.in_quiet_hours(clinic, moment) for clinic in clinics))
    due = Reminder.objects.filter(status=Reminder.Status.PENDING, scheduled_for__lte=tomorrow)
    later = reminder_rows(Reminder.objects.filter(status=Reminder.Status.PENDING, scheduled_for__gt=tomorrow))
    # The last reminder before a session still to come goes out, by the channel it was armed for.
    expected = {
        (reminder.channel, reminder.appointment.patient.email if reminder.channel == Reminder.Channel.EMAIL
         else str(reminder.appointment.patient.phone))
        for reminder in due.filter(kind=Reminder.Kind.HOURS_BEFORE, appointment__starts_at__gt=tomorrow)
        .select_related("appointment__patient")
    }
    assert expected
    due_ids = set(due.values_list("pk", flat=True))

    with time_machine.travel(tomorrow, tick=False):
        counts = reminders.send_due()
    sent = Reminder.objects.filter(status=Reminder.Status.SENT, sent_at=tomorrow)
    assert set(sent.values_list("pk", flat=True)) <= due_ids
    assert counts["sent"] == sent.count() == len(mail.outbox) + len(sms.outbox)
    recipients = {(Reminder.Channel.EMAIL, message.to[0]) for message in mail.outbox} | {
        (Reminder.Channel.SMS, message["to"]) for message in sms.outbox
    }
    assert expected <= recipients
    assert not Reminder.objects.filter(pk__in=due_ids, status=Reminder.Status.PENDING).exists()
    assert reminder_rows(Reminder.objects.filter(status=Reminder.Status.PENDING, scheduled_for__gt=tomorrow)) == later

    with time_machine.travel(tomorrow, tick=False):
        assert reminders.send_due()["sent"] == 0


def test_some_maintenance_visits_were_missed_or_cancelled_and_then_made_up(seeded):
    missed = Appointment.objects.filter(status__in=(Appointment.Status.NO_SHOW, Appointment.Status.CANCELLED))
    assert set(missed.values_list("status", flat=True)) == {Appointment.Status.NO_SHOW, Appointment.Status.CANCELLED}
    assert set(missed.values_list("kind", flat=True)) == {Appointment.Kind.MAINTENANCE}
    assert not missed.filter(ends_at__gt=NOW).exists()
    assert not missed.filter(session_record__isnull=False).exists()
    assert not missed.filter(checked_in_at__isnull=False).exists()
    cancelled = missed.filter(status=Appointment.Status.CANCELLED)
    assert not cancelled.filter(cancel_reason="").exists()
    assert not cancelled.filter(cancelled_at__isnull=True).exists()


def missed_appointments_by_the_rule(now):
    """Who has two no-shows in a row, or two within the window, worked out in Python: a
    check on the flag job's SQL over realistic data."""
    window = now - datetime.timedelta(days=60)
    history = defaultdict(list)
    for patient, status, starts_at in (
        Appointment.objects.filter(status__in=(Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW),
                                   starts_at__lte=now)
        .order_by("starts_at").values_list("patient", "status", "starts_at")
    ):
        history[patient].append((status, starts_at))
    qualifying = set()
    for patient, sessions in history.items():
        in_a_row = [status for status, _ in sessions[-2:]] == [Appointment.Status.NO_SHOW] * 2
        recent = [starts_at for status, starts_at in sessions if status == Appointment.Status.NO_SHOW
                  and starts_at >= window]
        if in_a_row or len(recent) >= 2:
            qualifying.add(patient)
    return qualifying


def test_patients_who_missed_two_sessions_are_flagged_and_no_one_else(db, frozen_now):
    seed_demo(patients=300)
    flagged = set(PatientFlag.objects.filter(kind=PatientFlag.Kind.MISSED_APPOINTMENTS).values_list(
        "patient", flat=True))
    assert flagged == missed_appointments_by_the_rule(NOW)
    assert flagged


def test_missed_sessions_were_recorded_when_they_happened(seeded):
    for appointment in Appointment.objects.filter(status=Appointment.Status.NO_SHOW):
        assert appointment.ends_at < appointment.updated_at <= appointment.ends_at + datetime.timedelta(hours=1)
    for appointment in Appointment.objects.filter(status=Appointment.Status.CANCELLED):
        assert appointment.updated_at == appointment.cancelled_at < appointment.starts_at


def test_seeding_after_the_flag_job_ran_on_the_empty_database_still_flags_missed_visits(db):
    with time_machine.travel(NOW - datetime.timedelta(hours=3), tick=False):
        flag_overdue_patients()  # beat's hourly run, before anyone seeded
    with time_machine.travel(NOW, tick=False):
        seed_demo(patients=300)
    flagged = set(PatientFlag.objects.filter(kind=PatientFlag.Kind.MISSED_APPOINTMENTS).values_list(
        "patient", flat=True))
    assert flagged and flagged == missed_appointments_by_the_rule(NOW)


# --- The demo portal accounts ---------------------------------------------------------------


def test_seed_demo_opens_two_portal_accounts_that_work(client, db, capsys):
    call_command("seed_demo", patients=60, seed=3)
    out = capsys.readouterr().out
    logins = demo_portal_logins()
    assert sorted(stage for _, stage in logins) == ["maintenance on time", "maintenance overdue"]
    for email, _ in logins:
        assert email in out
        assert client.login(username=email, password=settings.DEMO_PASSWORD)
        assert client.get(reverse("portal:home")).status_code == 200
        client.logout()

    call_command("seed_demo", if_empty=True)
    again = capsys.readouterr().out
    assert all(email in again for email, _ in logins)  # make run prints them on every start


# --- A chain of clinics -----------------------------------------------------------------------


@pytest.fixture
def chain(db, frozen_now):
    return seed_demo(patients=240, clinics=12)


def test_a_chain_spans_five_time_zones_one_without_dst_and_one_in_the_south(chain):
    zones = set(Clinic.objects.values_list("time_zone", flat=True))
    assert Clinic.objects.count() == 12
    assert len(zones) >= 5 and {"America/Phoenix", "Australia/Sydney"} <= zones
    assert "12 clinics" in chain and "time zones" in chain


def test_every_clinic_has_four_to_eight_chairs_and_a_team_of_its_own(chain):
    for clinic in Clinic.objects.prefetch_related("chairs", "memberships__user__groups"):
        in_service = [chair for chair in clinic.chairs.all() if chair.active]
        assert 4 <= len(in_service) <= 8, clinic
        home_roles = {group.name for membership in clinic.memberships.all() if membership.is_home
                      for group in membership.user.groups.all()}
        assert {roles.FRONT_DESK, roles.TECHNICIAN, roles.CLINICIAN} <= home_roles, clinic


def test_records_name_staff_of_their_own_clinic(chain):
    members = set(ClinicMembership.objects.values_list("user_id", "clinic_id"))
    named = set(Appointment.objects.exclude(technician=None).values_list("technician_id", "clinic_id")) | set(
        Appointment.objects.exclude(booked_by=None).values_list("booked_by_id", "clinic_id"))
    assert named and named <= members
    clinicians = set(Assessment.objects.values_list("entered_by_id", "patient__home_clinic_id"))
    assert clinicians <= members


def test_the_demo_logins_work_at_the_first_two_clinics(chain):
    first_two = list(Clinic.objects.order_by("pk").values_list("pk", flat=True)[:2])
    for username in ("frontdesk", "technician", "clinician", "clinicadmin"):
        memberships = ClinicMembership.objects.filter(user__username=username)
        assert sorted(memberships.values_list("clinic_id", flat=True)) == first_two
        assert memberships.get(is_home=True).clinic_id == first_two[0]


def test_patients_are_shared_out_by_chairs(chain):
    clinics = list(Clinic.objects.order_by("pk"))
    chairs = {clinic.pk: clinic.chairs.filter(active=True).count() for clinic in clinics}
    # The first four patients of each clinic take the four stages in turn; the rest go by chairs.
    rest = 240 - 4 * len(clinics)
    rounds = rest / sum(chairs.values())
    for clinic in clinics:
        shared = clinic.patients.count() - 4
        assert int(rounds) * chairs[clinic.pk] <= shared <= (int(rounds) + 1) * chairs[clinic.pk], clinic


def test_about_one_clinic_for_every_800_patients_by_default(db, frozen_now):
    seed_demo(patients=2100)
    assert Clinic.objects.count() == 3  # 2 100 / 800, rounded


def test_it_refuses_fewer_than_one_clinic(db):
    with pytest.raises(CommandError, match="at least 1"):
        seed_demo(clinics=0)
    assert not Patient.objects.exists()


SAME_DATA = """
import json, django, time_machine
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests.scheduling.test_seed_demo import NOW, fingerprint, seed_demo
with time_machine.travel(NOW, tick=False):
    seed_demo(seed=7)
print(json.dumps(fingerprint(), default=str, sort_keys=True))
"""


EVERY_ROW = """
import json, sys, django, time_machine
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from scheduling.management.commands import seed_demo as command
from tests.scheduling.test_seed_demo import NOW, every_row, seed_demo
command.PATIENTS_PER_WRITE = 50  # many batches from each part, reaching the table interleaved
with time_machine.travel(NOW, tick=False):
    # Two clinics for 2 400 patients: chairs are added as the parts build (their keys dealt out too).
    out = seed_demo(patients=2400, clinics=2, seed=5, verbosity=2, in_processes=sys.argv[1] == "processes")
print(json.dumps({"out": out, "rows": every_row()}, default=str, sort_keys=True))
"""


def test_built_in_two_processes_or_in_one_the_rows_are_the_same_keys_and_all(tmp_path):
    """Each on a fresh SQLite database in a process of its own: the patients built by two forked
    processes at once, or their two parts one after the other in one, give the same rows."""
    seeded = {}
    for how in ("processes", "one"):
        env = {**os.environ, "TMS_VAR_DIR": str(tmp_path / how), "PYTHONHASHSEED": "random"}
        env.pop("DATABASE_URL", None)
        env.setdefault("SECRET_KEY", "test-only-not-secret")
        there = subprocess.run([sys.executable, "-c", EVERY_ROW, how], env=env, cwd=settings.BASE_DIR,
                               capture_output=True, text=True, check=True, timeout=300)
        seeded[how] = json.loads(there.stdout.splitlines()[-1])
    assert "patients built (2 processes)" in seeded["processes"]["out"]
    assert "patients built (2 parts, here)" in seeded["one"]["out"]
    rows = seeded["processes"]["rows"]
    assert all(rows.values()), {name: len(table) for name, table in rows.items()}
    assert seeded["one"]["rows"] == rows
    # What the command says of them too (stages, counts, chairs added), less the times and progress.
    said = {how: [line for line in seeded[how]["out"].splitlines()
                  if " s  " not in line and not line.endswith("patients built")] for how in seeded}
    assert said["one"] == said["processes"]
    assert "chairs were added" in seeded["one"]["out"]


def test_the_same_seed_gives_the_same_data_on_sqlite_in_another_process(db, frozen_now, tmp_path):
    """On PostgreSQL (CI's run), the same data on both backends; on SQLite, in another process
    with its own hash seed: nothing depends on set order."""
    seed_demo(seed=7)
    here = json.loads(json.dumps(fingerprint(), default=str, sort_keys=True))
    env = {**os.environ, "TMS_VAR_DIR": str(tmp_path), "PYTHONHASHSEED": "random"}
    env.pop("DATABASE_URL", None)
    env.setdefault("SECRET_KEY", "test-only-not-secret")
    there = subprocess.run([sys.executable, "-c", SAME_DATA], env=env, cwd=settings.BASE_DIR, capture_output=True,
                           text=True, check=True, timeout=300)
    assert json.loads(there.stdout.splitlines()[-1]) == here
