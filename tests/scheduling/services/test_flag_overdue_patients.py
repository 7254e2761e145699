"""The reason the app exists: nobody on maintenance slips away unnoticed."""

import datetime
import threading

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.urls import reverse

from patients.models import MaintenancePlan, Patient, PatientFlag, PlanTemplate
from patients.services import resolve_flag
from scheduling.models import Appointment, JobMark
from scheduling.services import complete_appointment, plans
from scheduling.services.plans import end_plan, flag_overdue_patients, pause_plan, start_plan
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    ClinicFactory,
    PatientFactory,
    ProtocolFactory,
)

UTC = datetime.UTC
OVERDUE = PatientFlag.Kind.OVERDUE_MAINTENANCE
MISSED = PatientFlag.Kind.MISSED_APPOINTMENTS


def travel(moment):
    return time_machine.travel(moment, tick=False)


def local(clinic, day, hour=0, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)


@pytest.fixture
def weekly(db):
    template = PlanTemplate.objects.create(name="Test weekly", grace_days=7)
    template.phases.create(order=0, interval_days=7, visits=None)
    return template


def plan_for(clinic, template, started_on, **kwargs):
    patient = PatientFactory(home_clinic=clinic)
    return start_plan(patient=patient, protocol=ProtocolFactory(), template=template, started_on=started_on, **kwargs)


def open_flags(kind=OVERDUE):
    return PatientFlag.objects.filter(kind=kind, resolved_at__isnull=True)


@pytest.mark.parametrize(
    ("zone", "due", "first_overdue_utc"),
    [
        # Due Monday 1 March, 7 grace days: overdue from Tuesday 9 March 00:00 local.
        ("America/New_York", datetime.date(2027, 3, 1), datetime.datetime(2027, 3, 9, 5, 0, tzinfo=UTC)),
        # Across New York's spring change (14 March 2027): midnight is 04:00 UTC, not 05:00.
        ("America/New_York", datetime.date(2027, 3, 8), datetime.datetime(2027, 3, 16, 4, 0, tzinfo=UTC)),
        # London's spring change (28 March 2027): midnight on the 29th is 23:00 UTC on the 28th.
        ("Europe/London", datetime.date(2027, 3, 21), datetime.datetime(2027, 3, 28, 23, 0, tzinfo=UTC)),
        # London's autumn change (31 October 2027): back to GMT.
        ("Europe/London", datetime.date(2027, 10, 25), datetime.datetime(2027, 11, 2, 0, 0, tzinfo=UTC)),
    ],
)
def test_a_flag_is_raised_at_the_first_moment_past_grace_in_the_clinics_zone(weekly, zone, due, first_overdue_utc):
    clinic = ClinicFactory(time_zone=zone)
    with travel(datetime.datetime(2027, 1, 1, tzinfo=UTC)):
        plan = plan_for(clinic, weekly, started_on=due)
    assert plan.overdue_after == first_overdue_utc
    with travel(first_overdue_utc - datetime.timedelta(seconds=1)):
        assert flag_overdue_patients()["raised"] == 0
    with travel(first_overdue_utc):
        assert flag_overdue_patients()["raised"] == 1
    flag = open_flags().get()
    assert (flag.patient, flag.plan, flag.due_on) == (plan.patient, plan, due)


def test_running_twice_or_after_a_missed_week_raises_each_flag_once(weekly, clinic):
    plans = [plan_for(clinic, weekly, started_on=datetime.date(2027, 1, 4)) for _ in range(3)]
    with travel(datetime.datetime(2027, 1, 25, tzinfo=UTC)):  # runs were missed for a week and more
        assert flag_overdue_patients()["raised"] == 3
        assert flag_overdue_patients()["raised"] == 0
    assert sorted(open_flags().values_list("plan", flat=True)) == sorted(p.pk for p in plans)


def test_a_paused_plan_is_not_flagged_until_its_pause_is_over(weekly, clinic):
    plan = plan_for(clinic, weekly, started_on=datetime.date(2027, 1, 4))
    with travel(datetime.datetime(2027, 1, 5, tzinfo=UTC)):
        pause_plan(plan, until=datetime.date(2027, 2, 1))
    plan.refresh_from_db()
    assert plan.next_due_on == datetime.date(2027, 2, 1)
    with travel(datetime.datetime(2027, 2, 8, 12, tzinfo=UTC)):  # within the grace after the pause
        assert flag_overdue_patients()["raised"] == 0
        assert MaintenancePlan.objects.get().status == MaintenancePlan.Status.ACTIVE
    with travel(datetime.datetime(2027, 2, 9, 12, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1


def test_a_pause_without_an_end_is_never_overdue(weekly, clinic):
    plan = plan_for(clinic, weekly, started_on=datetime.date(2027, 1, 4))
    pause_plan(plan, until=None)
    with travel(datetime.datetime(2028, 1, 1, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 0


def complete(plan, chair, moment, by):
    appointment = AppointmentFactory(patient=plan.patient, chair=chair, plan=plan, kind="maintenance",
                                     starts_at=moment, status="checked_in")
    with travel(moment + datetime.timedelta(minutes=30)):  # once it has happened
        return complete_appointment(appointment, by=by, pulses_delivered=600, intensity_percent_mt=120,
                                    motor_threshold=60)


def test_a_cluster_visit_counts_only_when_all_its_sessions_are_done(db, clinic, technician):
    cluster = PlanTemplate.objects.create(name="Test cluster", grace_days=7)
    cluster.phases.create(order=0, interval_days=28, sessions_per_visit=5)
    chair = ChairFactory(clinic=clinic)
    plan = plan_for(clinic, cluster, started_on=datetime.date(2027, 1, 4))
    days = [datetime.date(2027, 1, 4) + datetime.timedelta(days=n) for n in range(5)]
    for day in days[:3]:
        complete(plan, chair, local(clinic, day, 9), technician)
    plan.refresh_from_db()
    assert plan.next_due_on == datetime.date(2027, 1, 4)  # half a cluster is not a visit
    for day in days[3:]:
        complete(plan, chair, local(clinic, day, 9), technician)
    plan.refresh_from_db()
    assert plan.next_due_on == datetime.date(2027, 2, 1)  # 28 days after the cluster began


def test_completing_the_visit_resolves_the_flag_as_the_system(weekly, clinic, technician):
    chair = ChairFactory(clinic=clinic)
    plan = plan_for(clinic, weekly, started_on=datetime.date(2027, 1, 4))
    with travel(datetime.datetime(2027, 1, 20, tzinfo=UTC)):
        flag_overdue_patients()
        complete(plan, chair, local(clinic, datetime.date(2027, 1, 20), 9), technician)
    flag = PatientFlag.objects.get(kind=OVERDUE)
    assert flag.resolved_at is not None and flag.resolved_by is None
    assert "resolved by the system" in flag.resolution_note
    plan.refresh_from_db()
    assert plan.next_due_on == datetime.date(2027, 1, 27)


def test_the_job_resolves_flags_of_plans_no_longer_overdue(weekly, clinic):
    plan = plan_for(clinic, weekly, started_on=datetime.date(2027, 1, 4))
    with travel(datetime.datetime(2027, 1, 20, tzinfo=UTC)):
        flag_overdue_patients()
    MaintenancePlan.objects.filter(pk=plan.pk).update(status=MaintenancePlan.Status.ENDED, overdue_after=None)
    with travel(datetime.datetime(2027, 1, 21, tzinfo=UTC)):
        assert flag_overdue_patients()["resolved"] == 1
    assert not open_flags().exists()


def test_a_new_plan_overdue_when_the_old_plans_flag_closes_is_flagged_in_the_same_run(weekly, clinic):
    """The job closes flags before it raises any: the patient is not left unflagged for an hour
    because the flag of a plan that has just ended still looked open."""
    old = plan_for(clinic, weekly, started_on=datetime.date(2027, 1, 4))
    with travel(datetime.datetime(2027, 1, 20, tzinfo=UTC)):
        flag_overdue_patients()
    # Straight to the database, as an import or admin could: the old plan ends, a new one is overdue.
    MaintenancePlan.objects.filter(pk=old.pk).update(status=MaintenancePlan.Status.ENDED, overdue_after=None)
    new = MaintenancePlan.objects.create(
        patient=old.patient, protocol=old.protocol, started_on=datetime.date(2027, 1, 25),
        next_due_on=datetime.date(2027, 1, 25), overdue_after=datetime.datetime(2027, 2, 2, 5, tzinfo=UTC))
    with travel(datetime.datetime(2027, 2, 3, tzinfo=UTC)):
        assert flag_overdue_patients() == {"raised": 1, "resolved": 1}
    assert PatientFlag.objects.get(plan=old).resolved_at is not None
    assert open_flags().get().plan_id == new.pk


def test_the_job_turns_off_jit_compilation_for_its_own_transaction_only(on_postgres, transactional_db):
    """Its statements take milliseconds; compiling one took longer than running it."""
    def jit():
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            return cursor.fetchone()[0]

    before = jit()
    with transaction.atomic():
        plans._one_run_at_a_time()
        assert jit() == "off"
    assert jit() == before


def test_a_flag_staff_resolved_is_not_raised_again_for_the_same_due_date(weekly, clinic, clinician):
    plan = plan_for(clinic, weekly, started_on=datetime.date(2027, 1, 4))
    with travel(datetime.datetime(2027, 1, 20, tzinfo=UTC)):
        flag_overdue_patients()
        resolve_flag(open_flags().get(), by=clinician, note="Called: in hospital, will book next week")
        assert flag_overdue_patients()["raised"] == 0
    MaintenancePlan.objects.filter(pk=plan.pk).update(next_due_on=datetime.date(2027, 2, 1))
    with travel(datetime.datetime(2027, 2, 20, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1  # a new missed visit is a new flag


def test_discharged_patients_are_not_flagged(weekly, clinic):
    plan = plan_for(clinic, weekly, started_on=datetime.date(2027, 1, 4))
    Patient.objects.filter(pk=plan.patient_id).update(status=Patient.Status.DISCHARGED)
    with travel(datetime.datetime(2027, 2, 1, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 0


def no_show(patient, chair, moment, recorded_after=datetime.timedelta(hours=1)):
    """A no-show recorded some time after the session's start, as mark_no_shows would."""
    appointment = AppointmentFactory(patient=patient, chair=chair, starts_at=moment, status=Appointment.Status.NO_SHOW)
    Appointment.objects.filter(pk=appointment.pk).update(updated_at=moment + recorded_after)
    return appointment


def test_two_no_shows_within_sixty_days_raise_a_missed_appointments_flag(clinic):
    chair = ChairFactory(clinic=clinic)
    patient = PatientFactory(home_clinic=clinic)
    no_show(patient, chair, datetime.datetime(2027, 1, 4, 14, tzinfo=UTC))
    AppointmentFactory(patient=patient, chair=chair, starts_at=datetime.datetime(2027, 1, 11, 14, tzinfo=UTC),
                       status="completed")
    with travel(datetime.datetime(2027, 1, 20, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 0
    no_show(patient, chair, datetime.datetime(2027, 2, 1, 14, tzinfo=UTC))
    with travel(datetime.datetime(2027, 2, 2, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1
        assert flag_overdue_patients()["raised"] == 0
    assert open_flags(MISSED).get().patient == patient


def test_two_no_shows_in_a_row_count_even_months_apart(clinic, clinician):
    chair = ChairFactory(clinic=clinic)
    patient = PatientFactory(home_clinic=clinic)
    no_show(patient, chair, datetime.datetime(2027, 1, 4, 14, tzinfo=UTC))
    no_show(patient, chair, datetime.datetime(2027, 4, 5, 14, tzinfo=UTC))
    with travel(datetime.datetime(2027, 4, 6, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1
        resolve_flag(open_flags(MISSED).get(), by=clinician, note="Spoke to patient")
    with travel(datetime.datetime(2027, 4, 7, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 0  # the same no-shows do not count twice


@pytest.mark.parametrize(
    ("between", "flagged"),
    [
        ("completed", False),  # a session attended in between: not in a row, and 91 days apart
        ("cancelled", True),  # a cancelled session is neither attended nor missed
        (None, True),
    ],
)
def test_an_attended_session_breaks_a_row_of_no_shows(clinic, between, flagged):
    chair = ChairFactory(clinic=clinic)
    patient = PatientFactory(home_clinic=clinic)
    no_show(patient, chair, datetime.datetime(2027, 1, 4, 14, tzinfo=UTC))
    if between:
        AppointmentFactory(patient=patient, chair=chair, starts_at=datetime.datetime(2027, 2, 1, 14, tzinfo=UTC),
                           status=between)
    AppointmentFactory(patient=patient, chair=chair, starts_at=datetime.datetime(2027, 4, 12, 14, tzinfo=UTC))
    no_show(patient, chair, datetime.datetime(2027, 4, 5, 14, tzinfo=UTC))
    with travel(datetime.datetime(2027, 4, 6, tzinfo=UTC)):  # the booked session on the 12th is still to come
        assert flag_overdue_patients()["raised"] == int(flagged)


def test_two_no_shows_in_a_row_after_an_earlier_flag_raise_a_new_one(clinic, clinician):
    chair = ChairFactory(clinic=clinic)
    patient = PatientFactory(home_clinic=clinic)
    for day in (datetime.date(2027, 1, 4), datetime.date(2027, 1, 11)):
        no_show(patient, chair, local(clinic, day, 14))
    with travel(datetime.datetime(2027, 1, 12, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1
        resolve_flag(open_flags(MISSED).get(), by=clinician, note="Spoke to patient")
    no_show(patient, chair, local(clinic, datetime.date(2027, 5, 3), 14))
    with travel(datetime.datetime(2027, 5, 4, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 0  # one new no-show since the flag
    no_show(patient, chair, local(clinic, datetime.date(2027, 8, 2), 14))
    with travel(datetime.datetime(2027, 8, 3, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1
    assert PatientFlag.objects.filter(kind=MISSED, patient=patient).count() == 2


def test_a_no_show_recorded_days_later_is_still_seen(clinic):
    chair = ChairFactory(clinic=clinic)
    patient = PatientFactory(home_clinic=clinic)
    no_show(patient, chair, datetime.datetime(2027, 1, 11, 14, tzinfo=UTC))
    with travel(datetime.datetime(2027, 1, 12, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 0
    # The front desk finds on the 20th that the session of the 4th never happened.
    no_show(patient, chair, datetime.datetime(2027, 1, 4, 14, tzinfo=UTC), recorded_after=datetime.timedelta(days=16))
    with travel(datetime.datetime(2027, 1, 20, 1, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1


def test_a_no_show_committed_just_after_a_run_read_the_table_is_seen_by_the_next(clinic):
    chair = ChairFactory(clinic=clinic)
    patient = PatientFactory(home_clinic=clinic)
    no_show(patient, chair, datetime.datetime(2027, 1, 4, 14, tzinfo=UTC))
    with travel(datetime.datetime(2027, 1, 11, 16, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 0
    # Recorded at 15:45, in a transaction that committed after the 16:00 run had looked.
    no_show(patient, chair, datetime.datetime(2027, 1, 11, 14, tzinfo=UTC),
            recorded_after=datetime.timedelta(hours=1, minutes=45))
    with travel(datetime.datetime(2027, 1, 11, 17, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1


@pytest.mark.parametrize("mark", ["kept", "lost"])
def test_missed_runs_and_a_lost_mark_catch_up(clinic, mark):
    chair = ChairFactory(clinic=clinic)
    patient = PatientFactory(home_clinic=clinic)
    with travel(datetime.datetime(2027, 1, 1, tzinfo=UTC)):
        flag_overdue_patients()
    no_show(patient, chair, datetime.datetime(2027, 1, 4, 14, tzinfo=UTC))
    no_show(patient, chair, datetime.datetime(2027, 1, 11, 14, tzinfo=UTC))
    if mark == "lost":
        JobMark.objects.all().delete()
    with travel(datetime.datetime(2027, 1, 25, tzinfo=UTC)):  # no run for over three weeks
        assert flag_overdue_patients()["raised"] == 1
    assert JobMark.objects.get().reached == datetime.datetime(2027, 1, 25, tzinfo=UTC)


def test_the_query_count_does_not_depend_on_how_many_plans_are_overdue(weekly, clinic, django_assert_num_queries):
    def add_overdue(count):
        patients = Patient.objects.bulk_create(
            PatientFactory.build(home_clinic=clinic) for _ in range(count)
        )
        protocol = ProtocolFactory()
        MaintenancePlan.objects.bulk_create(
            MaintenancePlan(patient=p, protocol=protocol, started_on=datetime.date(2027, 1, 4),
                            next_due_on=datetime.date(2027, 1, 4),
                            overdue_after=datetime.datetime(2027, 1, 12, 5, tzinfo=UTC))
            for p in patients
        )

    add_overdue(10)
    # Four statements, reading and moving the no-shows mark, and the savepoint around them; on
    # PostgreSQL the lock that serialises runs.
    statements = 8 + (connection.vendor == "postgresql")
    with travel(datetime.datetime(2027, 2, 1, tzinfo=UTC)), django_assert_num_queries(statements) as few:
        assert flag_overdue_patients()["raised"] == 10
    add_overdue(1000)
    with travel(datetime.datetime(2027, 2, 1, tzinfo=UTC)), django_assert_num_queries(len(few)):
        assert flag_overdue_patients()["raised"] == 1000


def test_two_runs_at_once_raise_each_flag_once(on_postgres, transactional_db):
    template = PlanTemplate.objects.create(name="Concurrent weekly", grace_days=7)
    template.phases.create(order=0, interval_days=7)
    clinic = ClinicFactory()
    for _ in range(40):
        plan_for(clinic, template, started_on=datetime.date(2027, 1, 4))
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            with travel(datetime.datetime(2027, 2, 1, tzinfo=UTC)):
                results.append(plans.flag_overdue_patients()["raised"])
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(results) == 40
    assert PatientFlag.objects.filter(kind=OVERDUE).count() == 40


@pytest.mark.parametrize(
    ("zone", "moment", "ended"),
    [
        # Auckland is 13 hours ahead in February: 1 February is over there at 11:00 UTC.
        ("Pacific/Auckland", datetime.datetime(2027, 2, 1, 10, 59, tzinfo=UTC), False),
        ("Pacific/Auckland", datetime.datetime(2027, 2, 1, 11, 0, tzinfo=UTC), True),
        # Los Angeles is 8 hours behind: at 02:00 UTC on the 2nd it is still the 1st there.
        ("America/Los_Angeles", datetime.datetime(2027, 2, 2, 2, 0, tzinfo=UTC), False),
        ("America/Los_Angeles", datetime.datetime(2027, 2, 2, 8, 0, tzinfo=UTC), True),
    ],
)
def test_a_pause_ends_when_its_last_day_is_over_in_the_clinics_zone(db, weekly, zone, moment, ended):
    clinic = ClinicFactory(time_zone=zone)
    plan = plan_for(clinic, weekly, started_on=datetime.date(2027, 1, 4))
    with travel(datetime.datetime(2027, 1, 5, tzinfo=UTC)):
        pause_plan(plan, until=datetime.date(2027, 2, 1))
    with travel(moment):
        flag_overdue_patients()
    plan.refresh_from_db()
    assert plan.status == (MaintenancePlan.Status.ACTIVE if ended else MaintenancePlan.Status.PAUSED)


def test_no_shows_while_a_flag_was_open_count_once_it_is_resolved(clinic, clinician):
    chair = ChairFactory(clinic=clinic)
    patient = PatientFactory(home_clinic=clinic)
    for day in (4, 11):
        no_show(patient, chair, datetime.datetime(2027, 1, day, 14, tzinfo=UTC))
    with travel(datetime.datetime(2027, 1, 12, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1
    for day in (18, 25):
        no_show(patient, chair, datetime.datetime(2027, 1, day, 14, tzinfo=UTC))
    with travel(datetime.datetime(2027, 1, 26, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 0  # the first flag is still open
    with travel(datetime.datetime(2027, 1, 27, 9, tzinfo=UTC)):
        resolve_flag(open_flags(MISSED).get(), by=clinician, note="Left a voicemail")
    # The patient never comes again: the two no-shows since the first flag raise a second.
    with travel(datetime.datetime(2027, 1, 27, 12, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1
    assert open_flags(MISSED).get().raised_at == datetime.datetime(2027, 1, 27, 12, tzinfo=UTC)


def test_deleting_an_attended_session_in_admin_makes_the_next_run_look_again(client, superuser, clinic):
    chair = ChairFactory(clinic=clinic)
    patient = PatientFactory(home_clinic=clinic)
    no_show(patient, chair, datetime.datetime(2027, 1, 4, 14, tzinfo=UTC))
    attended = AppointmentFactory(patient=patient, chair=chair, status=Appointment.Status.COMPLETED,
                                  starts_at=datetime.datetime(2027, 1, 20, 14, tzinfo=UTC))
    no_show(patient, chair, datetime.datetime(2027, 4, 12, 14, tzinfo=UTC))  # 98 days on: neither rule
    with travel(datetime.datetime(2027, 4, 13, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 0
    client.force_login(superuser)  # the session of the 20th was entered in error
    client.post(reverse("admin:scheduling_appointment_delete", args=[attended.pk]), {"post": "yes"})
    assert not Appointment.objects.filter(pk=attended.pk).exists()
    with travel(datetime.datetime(2027, 4, 13, 1, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1  # two no-shows in a row now


def test_a_plan_ended_while_the_job_ends_its_pause_stays_ended(weekly, clinic, monkeypatch):
    plan = plan_for(clinic, weekly, started_on=datetime.date(2027, 1, 4))
    with travel(datetime.datetime(2027, 1, 5, tzinfo=UTC)):
        pause_plan(plan, until=datetime.date(2027, 2, 1))
    real_local = type(clinic).local

    def local_while_a_clinician_ends_the_plan(self, moment):
        # Between the job's read and its update, the plan is ended on the staff page.
        fresh = MaintenancePlan.objects.select_related("patient__home_clinic").get(pk=plan.pk)
        if fresh.status != MaintenancePlan.Status.ENDED:
            end_plan(fresh, reason="Moved away")
        return real_local(self, moment)

    monkeypatch.setattr(type(clinic), "local", local_while_a_clinician_ends_the_plan)
    with travel(datetime.datetime(2027, 2, 3, 12, tzinfo=UTC)):
        flag_overdue_patients()
    plan.refresh_from_db()
    assert (plan.status, plan.end_reason) == (MaintenancePlan.Status.ENDED, "Moved away")


@pytest.mark.parametrize(
    ("stop", "note"),
    [
        (lambda plan: pause_plan(plan, until=None), "The maintenance plan was paused: resolved by the system."),
        (lambda plan: end_plan(plan, reason="Moved away"), "The maintenance plan was ended: resolved by the system."),
    ],
)
def test_pausing_or_ending_a_plan_resolves_its_overdue_flag_saying_why(weekly, clinic, stop, note):
    plan = plan_for(clinic, weekly, started_on=datetime.date(2027, 1, 4))
    with travel(datetime.datetime(2027, 2, 1, tzinfo=UTC)):
        assert flag_overdue_patients()["raised"] == 1
        stop(plan)
    flag = PatientFlag.objects.get(kind=OVERDUE)
    assert flag.resolved_at is not None and flag.resolution_note == note
