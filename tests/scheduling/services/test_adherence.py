"""scheduling/services/adherence.py: each figure of the adherence dashboard on small hand-built
data, in two clinics' own zones (New York and Sydney) and across the weeks their clocks change;
then every headline figure recomputed from the seeded demo's raw rows, independently of the
module, and compared."""

import datetime
import random
import statistics
from collections import defaultdict
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from patients.models import Assessment, MaintenancePlan, Patient, PatientFlag, TreatmentCourse
from patients.outcomes import course_outcome
from scheduling.models import Appointment, Chair, Clinic, Closure, OpeningHours, OutreachMessage
from scheduling.services import adherence
from scheduling.services.plans import flag_overdue_patients, refresh_plan
from tests.factories import (
    AppointmentFactory,
    AssessmentFactory,
    ChairFactory,
    ClinicFactory,
    ClosureFactory,
    MaintenancePhaseFactory,
    MaintenancePlanFactory,
    OpeningHoursFactory,
    OutreachMessageFactory,
    PatientFactory,
    PatientFlagFactory,
    ProtocolFactory,
    TreatmentCourseFactory,
)

UTC = datetime.UTC
# Friday 4 December 2026: 10:00 in New York, Saturday 02:00 in Sydney; both in the week of 30 November.
NOW = datetime.datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
MAINTENANCE, REINTRODUCTION, CONSULT = (Appointment.Kind.MAINTENANCE, Appointment.Kind.REINTRODUCTION,
                                        Appointment.Kind.CONSULT)
COMPLETED, NO_SHOW, BOOKED, CANCELLED = (Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW,
                                         Appointment.Status.BOOKED, Appointment.Status.CANCELLED)
OVERDUE, MISSED = PatientFlag.Kind.OVERDUE_MAINTENANCE, PatientFlag.Kind.MISSED_APPOINTMENTS
JUNE_1 = datetime.date(2026, 6, 1)


def d(month, day, year=2026):
    return datetime.date(year, month, day)


def utc(month, day, hour, minute=0):
    return datetime.datetime(2026, month, day, hour, minute, tzinfo=UTC)


def local(clinic, day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=clinic.tz)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def ny(db):
    clinic = ClinicFactory(name="Riverside TMS", time_zone="America/New_York")
    ChairFactory(clinic=clinic, name="Chair 1")
    return clinic


@pytest.fixture
def sydney(db):
    clinic = ClinicFactory(name="Harbour TMS", time_zone="Australia/Sydney")
    ChairFactory(clinic=clinic, name="Chair 1")
    return clinic


def visit(patient, when, *, kind=MAINTENANCE, status=COMPLETED, minutes=45, chair=None, **fields):
    chair = chair or patient.home_clinic.chairs.first()
    return AppointmentFactory(patient=patient, chair=chair, kind=kind, status=status,
                              starts_at=when, ends_at=when + datetime.timedelta(minutes=minutes), **fields)


def on_plan(clinic, *, started_on=JUNE_1, visits=(), **plan_fields):
    """A patient on a monthly plan (28 days, 7 grace days) with sessions completed on ``visits``
    (days, at 10:00 in the clinic, on a chair of their own); its due dates stored as the app stores them."""
    patient = PatientFactory(home_clinic=clinic)
    plan = MaintenancePlanFactory(patient=patient, started_on=started_on, grace_days=7, **plan_fields)
    MaintenancePhaseFactory(plan=plan, interval_days=28, visits=None)
    chair = ChairFactory(clinic=clinic, name=f"Chair of {patient.mrn}", active=False) if visits else None
    for day in visits:
        visit(patient, local(clinic, day, 10), plan=plan, chair=chair)
    refresh_plan(plan)
    return patient


def flagged(patient, raised_at, resolved_at=None, kind=OVERDUE):
    return PatientFlagFactory(patient=patient, kind=kind, raised_at=raised_at, resolved_at=resolved_at)


def week(rows, monday):
    return next(row for row in rows if row["monday"] == monday)


def counts(row):
    return row["patients"], row["off_schedule"]


# --- On schedule ---------------------------------------------------------------------------------


def test_today_agrees_with_the_plans_overdue_after_and_leaves_out_paused_plans(frozen, ny):
    on_plan(ny, started_on=d(9, 1), visits=[d(9, 1), d(11, 20)])  # due 18 Dec: on schedule
    on_plan(ny, started_on=d(9, 1), visits=[d(10, 1)])  # due 29 Oct: 36 days overdue
    on_plan(ny, started_on=d(9, 1))  # due on its first day, 1 Sep: 94 days overdue
    on_plan(ny, started_on=d(9, 1), status=MaintenancePlan.Status.PAUSED)
    on_plan(ny, started_on=d(9, 1), status=MaintenancePlan.Status.ENDED, ended_on=d(11, 1))
    on_plan(ny, started_on=d(12, 10))  # starts next week
    discharged = on_plan(ny, started_on=d(9, 1))
    Patient.objects.filter(pk=discharged.pk).update(status=Patient.Status.DISCHARGED)
    assert flag_overdue_patients(NOW)["raised"] == 2

    today = adherence.on_schedule([ny], NOW, adherence.reporting_weeks([ny], NOW))["today"]

    assert (today["patients"], today["on_schedule"], today["overdue"]) == (3, 1, 2)
    assert today["share"] == pytest.approx(1 / 3)
    assert today["median_days_overdue"] == 65  # (36 + 94) / 2
    # The flag job's record of who fell off is the plans' own overdue_after.
    overdue_plans = MaintenancePlan.objects.filter(status=MaintenancePlan.Status.ACTIVE, overdue_after__lte=NOW,
                                                   patient__status=Patient.Status.ACTIVE)
    assert today["overdue"] == overdue_plans.count()
    assert today["median_days_overdue"] == statistics.median(plan.days_overdue for plan in overdue_plans)


def test_each_week_is_measured_at_its_end_on_the_clinics_calendar_across_the_clocks_going_back(frozen, ny):
    # New York leaves daylight time at 02:00 on Sunday 1 November: that week ends at 05:00 UTC.
    late_sunday = on_plan(ny)
    flagged(late_sunday, raised_at=utc(11, 2, 4, 30), resolved_at=utc(11, 10, 15))  # Sun 1 Nov 23:30 EST
    early_monday = on_plan(ny)
    flagged(early_monday, raised_at=utc(11, 2, 5, 30))  # Mon 2 Nov 00:30 EST, still open
    on_plan(ny, started_on=d(10, 28))
    on_plan(ny, ended_on=d(10, 15), status=MaintenancePlan.Status.ENDED)
    flagged(PatientFactory(home_clinic=ny), raised_at=utc(10, 1, 15))  # on no plan: not a maintenance patient
    paused = on_plan(ny, status=MaintenancePlan.Status.PAUSED)
    flagged(paused, raised_at=utc(10, 1, 15), resolved_at=utc(11, 1, 15))

    mondays = adherence.reporting_weeks([ny], NOW)
    result = adherence.on_schedule([ny], NOW, mondays)
    weekly = result["weekly"]

    assert (mondays[0], mondays[-1], len(weekly)) == (d(6, 8), d(11, 30), 26)
    assert counts(week(weekly, d(6, 8))) == (3, 0)
    assert counts(week(weekly, d(10, 5))) == (3, 0)  # the plan that ended on 15 October still ran on the 11th
    assert counts(week(weekly, d(10, 12))) == (2, 0)
    assert counts(week(weekly, d(10, 26))) == (3, 1)  # the late-Sunday flag only
    assert counts(week(weekly, d(11, 2))) == (3, 2)
    assert counts(week(weekly, d(11, 9))) == (3, 1)  # resolved on the 10th
    assert counts(week(weekly, d(11, 30))) == (3, 1)
    assert week(weekly, d(11, 30))["share"] == pytest.approx(2 / 3)
    # This week's point is today's figure.
    assert {key: result["today"][key] for key in week(weekly, d(11, 30)) if key != "monday"} == {
        key: value for key, value in week(weekly, d(11, 30)).items() if key != "monday"}


def test_sydney_weeks_end_at_its_own_midnight_across_the_clocks_going_forward(frozen, ny, sydney):
    # Sydney moves to daylight time (UTC+11) at 02:00 on Sunday 4 October: that week ends at 13:00 UTC.
    patient = on_plan(sydney)
    flagged(patient, raised_at=utc(10, 4, 12, 30), resolved_at=utc(10, 4, 13, 30))  # 23:30 Sun to 00:30 Mon
    on_plan(ny)

    weekly = adherence.on_schedule([sydney], NOW, adherence.reporting_weeks([sydney], NOW))["weekly"]
    assert counts(week(weekly, d(9, 28))) == (1, 1)
    assert counts(week(weekly, d(10, 5))) == (1, 0)
    both = adherence.on_schedule([ny, sydney], NOW, adherence.reporting_weeks([ny, sydney], NOW))["weekly"]
    assert counts(week(both, d(9, 28))) == (2, 1)
    assert week(both, d(9, 28))["share"] == 0.5


@time_machine.travel(datetime.datetime(2026, 12, 6, 14, 0, tzinfo=UTC), tick=False)
def test_two_clinics_on_different_dates_each_count_their_own_today(ny, sydney):
    # Sunday 6 December, 09:00 in New York, is already Monday the 7th, 01:00, in Sydney.
    now = utc(12, 6, 14)
    on_plan(ny, started_on=d(12, 7))
    on_plan(sydney, started_on=d(12, 7))
    on_plan(ny, started_on=d(11, 1))
    overdue = on_plan(sydney, started_on=d(11, 1))
    flagged(overdue, raised_at=utc(12, 6, 13, 30))  # 00:30 on Monday in Sydney

    both = adherence.reporting_weeks([ny, sydney], now)
    assert (adherence.reporting_weeks([ny], now)[-1], both[-1]) == (d(11, 30), d(12, 7))
    result = adherence.on_schedule([ny, sydney], now, both)
    # Today: New York's plan that starts tomorrow is not counted yet; Sydney's, starting today, is.
    assert (result["today"]["patients"], result["today"]["overdue"]) == (3, 1)
    # The week of 7 December has begun in Sydney only; the week before was New York's this morning.
    assert counts(week(result["weekly"], d(12, 7))) == (2, 1)
    assert counts(week(result["weekly"], d(11, 30))) == (2, 0)
    assert adherence.on_schedule([ny], now, both)["weekly"][-1] == {
        "monday": d(12, 7), "patients": 0, "on_schedule": 0, "off_schedule": 0, "share": None}


# --- From a flag to the next visit -------------------------------------------------------------------


def test_time_from_a_flag_to_the_next_completed_visit_in_clinic_days(frozen, ny, sydney):
    back_late = PatientFactory(home_clinic=ny)
    flagged(back_late, raised_at=utc(11, 2, 14))
    visit(back_late, local(ny, d(11, 9), 23, 0))  # 04:00 UTC on the 10th, still the 9th in New York: 7 days
    missed = PatientFactory(home_clinic=ny)
    flagged(missed, raised_at=utc(10, 1, 15), kind=MISSED)
    visit(missed, utc(10, 3, 15), kind=CONSULT)  # not a return to the schedule
    visit(missed, utc(10, 5, 15), status=NO_SHOW)
    visit(missed, utc(10, 20, 15), kind=REINTRODUCTION)  # 19 days
    not_back = PatientFactory(home_clinic=ny)
    visit(not_back, utc(11, 19, 15))  # before the flag
    flagged(not_back, raised_at=utc(11, 20, 15))
    visit(not_back, utc(12, 9, 15), status=BOOKED)
    old = PatientFactory(home_clinic=ny)
    flagged(old, raised_at=utc(6, 1, 15), resolved_at=utc(6, 3, 15))  # before the 26 weeks (from 8 June)
    visit(old, utc(6, 2, 15))
    flagged(PatientFactory(home_clinic=ny), raised_at=utc(11, 2, 14), kind=PatientFlag.Kind.SAFETY)
    elsewhere = PatientFactory(home_clinic=sydney)
    flagged(elsewhere, raised_at=utc(11, 2, 14))
    visit(elsewhere, utc(11, 3, 1))

    rows = {row["kind"]: row for row in adherence.flag_returns([ny], NOW, adherence.reporting_weeks([ny], NOW))}

    assert rows[OVERDUE] == {"kind": OVERDUE, "label": "Overdue maintenance", "flags": 2, "back": 1,
                                  "not_back": 1, "share_back": 0.5, "median_days": 7}
    assert (rows[MISSED]["flags"], rows[MISSED]["back"], rows[MISSED]["median_days"]) == (1, 1, 19)
    assert (rows["all"]["flags"], rows["all"]["back"], rows["all"]["not_back"], rows["all"]["median_days"]) == (
        3, 2, 1, 13)
    both = adherence.flag_returns([ny, sydney], NOW, adherence.reporting_weeks([ny, sydney], NOW))
    assert (both[-1]["flags"], both[-1]["back"]) == (4, 3)


# --- Outreach ----------------------------------------------------------------------------------------


def sent(flag, when, *, channel="email", step_day=None, status="sent"):
    return OutreachMessageFactory(flag=flag, channel=channel, step_day=step_day, status=status,
                                  scheduled_for=when, sent_at=when if status == "sent" else None)


def test_who_came_back_after_each_step_and_channel_before_the_next_message(frozen, ny, sydney):
    ladder = PatientFactory(home_clinic=ny)
    flag = flagged(ladder, raised_at=utc(11, 2, 14))
    sent(flag, utc(11, 2, 15), channel="email", step_day=0)
    sent(flag, utc(11, 5, 15), channel="sms", step_day=3)
    sent(flag, utc(11, 6, 15), channel="email", step_day=4, status="failed")  # not sent: bounds nothing
    visit(ladder, utc(11, 7, 15))  # after the day-3 SMS, before the day-7 call
    sent(flag, utc(11, 9, 15), channel="call", step_day=7)
    by_hand = PatientFactory(home_clinic=ny)
    flag = flagged(by_hand, raised_at=utc(11, 19, 14), kind=MISSED)
    sent(flag, utc(11, 20, 15), channel="email")
    visit(by_hand, utc(11, 25, 15), kind=CONSULT)
    visit(by_hand, utc(11, 27, 15))
    silent = PatientFactory(home_clinic=ny)
    flag = flagged(silent, raised_at=utc(11, 10, 14))
    sent(flag, utc(11, 10, 15), channel="sms", step_day=0)
    sent(flag, utc(11, 13, 15), channel="email", step_day=3, status="pending")
    long_ago = PatientFactory(home_clinic=ny)
    sent(flagged(long_ago, raised_at=utc(5, 1, 14), resolved_at=utc(5, 3, 14)), utc(5, 1, 15), step_day=0)
    visit(long_ago, utc(5, 2, 15))
    other = PatientFactory(home_clinic=sydney)
    sent(flagged(other, raised_at=utc(11, 2, 14)), utc(11, 2, 15), step_day=0)
    visit(other, utc(11, 3, 15))

    result = adherence.outreach_returns([ny], NOW, adherence.reporting_weeks([ny], NOW))

    assert [(row["label"], row["sent"], row["back"]) for row in result["by_step"]] == [
        ("Day 0", 2, 0), ("Day 3", 1, 1), ("Day 7", 1, 0), ("Sent by hand", 1, 1)]
    assert [(row["channel"], row["sent"], row["back"], row["share_back"]) for row in result["by_channel"]] == [
        ("email", 2, 1, 0.5), ("sms", 2, 1, 0.5), ("call", 1, 0, 0.0)]
    both = adherence.outreach_returns([ny, sydney], NOW, adherence.reporting_weeks([ny, sydney], NOW))
    assert both["by_step"][0] == {"step_day": 0, "label": "Day 0", "sent": 3, "back": 1, "share_back": 1 / 3}


# --- No-shows ------------------------------------------------------------------------------------


def test_no_show_rate_by_the_week_each_appointment_was_due_in_its_clinic(frozen, ny, sydney):
    patient = PatientFactory(home_clinic=ny)
    visit(patient, utc(11, 2, 4, 30), kind=Appointment.Kind.ACUTE, status=NO_SHOW)  # Sun 1 Nov 23:30 EST
    visit(patient, utc(10, 27, 15), kind=Appointment.Kind.ACUTE)
    visit(patient, utc(11, 2, 5, 30))  # Mon 2 Nov 00:30 EST
    visit(patient, utc(10, 28, 15), status=CANCELLED)
    visit(patient, utc(12, 9, 15), status=BOOKED)
    down_under = PatientFactory(home_clinic=sydney)
    visit(down_under, utc(10, 4, 12, 30), status=NO_SHOW)  # Sun 4 Oct 23:30 AEDT

    weeks = adherence.no_show_rates([ny], NOW, adherence.reporting_weeks([ny], NOW))
    assert [(w["completed"], w["no_shows"], w["rate"]) for w in (week(weeks, d(10, 26)), week(weeks, d(11, 2)))] == [
        (1, 1, 0.5), (1, 0, 0.0)]
    assert sum(w["completed"] + w["no_shows"] for w in weeks) == 3
    assert week(weeks, d(9, 28))["rate"] is None
    both = adherence.no_show_rates([ny, sydney], NOW, adherence.reporting_weeks([ny, sydney], NOW))
    assert (week(both, d(9, 28))["no_shows"], week(both, d(10, 5))["no_shows"]) == (1, 0)


# --- Chair utilisation ----------------------------------------------------------------------------


def test_chair_utilisation_counts_open_real_minutes_chairs_in_service_and_chair_time_used(ny, sydney):
    now = utc(11, 3, 15)  # Tuesday 3 November in New York: the 28 days from 7 October
    ChairFactory(clinic=ny, name="Chair 2")
    ChairFactory(clinic=ny, name="Chair 3", active=False)
    for weekday in range(5):
        OpeningHoursFactory(clinic=ny, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(12))
    # Open overnight on Sundays: on 1 November, 00:00 to 04:00 lasts five real hours.
    OpeningHoursFactory(clinic=ny, weekday=6, opens_at=datetime.time(0), closes_at=datetime.time(4))
    ClosureFactory(clinic=ny, starts_on=d(10, 26), ends_on=d(10, 27), reason="Staff training")
    patient, other = PatientFactory(home_clinic=ny), PatientFactory(home_clinic=ny)
    visit(patient, local(ny, d(11, 2), 9), minutes=45)
    visit(patient, local(ny, d(11, 2), 10), minutes=30, status=BOOKED)
    visit(patient, local(ny, d(11, 2), 11), minutes=45, status=NO_SHOW)
    visit(other, local(ny, d(11, 2), 9), minutes=45, status=CANCELLED)
    visit(other, local(ny, d(11, 1), 23, 30), minutes=60)  # 23:30 on Sunday: Sunday's, though it ends Monday
    visit(other, local(ny, d(10, 6), 10), minutes=45)  # before the 28 days
    OpeningHoursFactory(clinic=sydney, weekday=0, opens_at=datetime.time(9), closes_at=datetime.time(10))

    days = {row["day"]: row for row in adherence.chair_utilisation([ny], now)}

    assert (min(days), max(days), len(days)) == (d(10, 7), d(11, 3), 28)
    assert days[d(11, 2)] == {"day": d(11, 2), "booked_minutes": 75, "open_minutes": 480, "share": 75 / 480}
    assert (days[d(11, 1)]["open_minutes"], days[d(11, 1)]["booked_minutes"]) == (600, 60)
    assert (days[d(10, 26)]["open_minutes"], days[d(10, 27)]["open_minutes"], days[d(10, 28)]["open_minutes"]) == (
        0, 0, 480)
    assert days[d(10, 31)]["share"] is None  # closed on Saturdays
    both = {row["day"]: row for row in adherence.chair_utilisation([ny, sydney], now)}
    assert both[d(11, 2)]["open_minutes"] == 480 + 60


# --- Response and remission ------------------------------------------------------------------------


def score(patient, taken_at, total):
    items = [min(3, max(0, total - 3 * n)) for n in range(8)]
    return AssessmentFactory(patient=patient, taken_at=taken_at, **{f"item_{n + 1}": v for n, v in enumerate(items)})


def test_response_and_remission_by_protocol_as_course_outcome_reckons_them(frozen, ny, sydney):
    ten_hz, itbs = ProtocolFactory(name="10 Hz rTMS"), ProtocolFactory(name="iTBS", pattern="itbs")

    def course(clinic, protocol, scores, **fields):
        patient = PatientFactory(home_clinic=clinic)
        fields = {"kind": TreatmentCourse.Kind.ACUTE, "status": TreatmentCourse.Status.COMPLETED,
                  "start_date": d(9, 1), "ended_on": d(10, 20), **fields}
        made = TreatmentCourseFactory(patient=patient, protocol=protocol, **fields)
        for taken_at, total in scores:
            score(patient, taken_at, total)
        return made

    course(ny, ten_hz, [(utc(8, 30, 15), 20), (utc(10, 15, 15), 4)])  # response and remission
    course(ny, ten_hz, [(utc(8, 30, 15), 20), (utc(10, 15, 15), 12)])  # neither
    course(ny, ten_hz, [])  # no scores: not evaluable
    # 23:30 on the course's last day in New York (03:30 UTC the next day) still belongs to it.
    late = course(ny, itbs, [(utc(8, 30, 15), 10), (utc(10, 21, 3, 30), 5)])  # response (half), not remission
    course(ny, itbs, [(utc(8, 30, 15), 20), (utc(10, 15, 15), 2)], status=TreatmentCourse.Status.ACTIVE)
    course(ny, itbs, [(utc(8, 30, 15), 20), (utc(10, 15, 15), 2)], kind=TreatmentCourse.Kind.REINTRODUCTION)
    course(sydney, itbs, [(utc(8, 30, 15), 20), (utc(10, 15, 15), 2)])

    rows = {row["protocol"]: row for row in adherence.response_by_protocol([ny])}

    assert list(rows) == ["10 Hz rTMS", "iTBS", "All protocols"]
    assert {key: rows["10 Hz rTMS"][key] for key in ("courses", "evaluable", "response", "remission")} == {
        "courses": 3, "evaluable": 2, "response": 1, "remission": 1}
    assert (rows["iTBS"]["response"], rows["iTBS"]["remission"], rows["iTBS"]["response_share"]) == (1, 0, 1.0)
    assert course_outcome(late, list(late.patient.assessments.all()))["response"]
    assert (rows["All protocols"]["courses"], rows["All protocols"]["response_share"]) == (4, 2 / 3)
    assert adherence.response_by_protocol([sydney])[-1]["remission"] == 1


# --- Cost ----------------------------------------------------------------------------------------


def test_the_whole_dashboard_costs_the_same_queries_for_many_patients_as_for_few(
        frozen, ny, sydney, django_assert_num_queries):
    def add(count):
        first = Patient.objects.count()
        for n in range(first, first + count):
            for clinic in (ny, sydney):
                patient = on_plan(clinic, visits=[d(9, 1)])
                flag = flagged(patient, raised_at=utc(10, 1, 15) + datetime.timedelta(hours=n))
                sent(flag, utc(10, 1, 16) + datetime.timedelta(hours=n), step_day=0)
                visit(patient, utc(10, 20, 15) + datetime.timedelta(hours=n))
                TreatmentCourseFactory(patient=patient, status=TreatmentCourse.Status.COMPLETED)
                score(patient, utc(8, 30, 15), 20)

    add(1)
    # plans, overdue flags, flags with their returns, messages, no-shows, hours, closures, chairs,
    # booked minutes, courses, scores
    with django_assert_num_queries(11):
        adherence.dashboard(clinics=[ny, sydney], now=NOW)
    add(10)
    with django_assert_num_queries(11):
        figures = adherence.dashboard(clinics=[ny, sydney], now=NOW)
    assert figures["returns"][-1]["back"] == 22


# --- The seeded demo, recomputed from its raw rows -------------------------------------------------
#
# Everything below reads rows with .values() and counts them with plain loops, one figure at a
# time, without the module's helpers: if both agree on a demo with history, each figure says
# what its definition says.

SEEDED_AT = datetime.datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def add_history(rng):
    """What the demo lacks for the trend: past overdue and missed flags (resolved at the patient's
    next completed visit, or left open) and the outreach messages their cadences sent."""
    plans = list(MaintenancePlan.objects.filter(status="active").values_list("patient_id", flat=True))
    visits = defaultdict(list)
    for patient_id, starts_at in Appointment.objects.filter(status=COMPLETED, kind=MAINTENANCE).order_by(
            "starts_at").values_list("patient_id", "starts_at"):
        visits[patient_id].append(starts_at)
    for patient_id in plans:
        if rng.random() < 0.5:
            continue
        kind = OVERDUE if rng.random() < 0.8 else MISSED
        raised_at = SEEDED_AT - datetime.timedelta(days=rng.randint(10, 200), hours=rng.randint(0, 23))
        later = [moment for moment in visits[patient_id] if moment > raised_at]
        # Back at the next visit; else resolved by staff (open flags are the seed's, as the job raised them).
        resolved_at = later[0] if later else raised_at + datetime.timedelta(days=3)
        flag = PatientFlag.objects.create(patient_id=patient_id, kind=kind, raised_at=raised_at,
                                          resolved_at=resolved_at)
        for step_day, channel in ((0, "sms"), (3, "email"), (7, "call")):
            moment = raised_at + datetime.timedelta(days=step_day, hours=1)
            if (resolved_at and moment >= resolved_at) or moment > SEEDED_AT:
                break
            OutreachMessage.objects.create(flag=flag, patient_id=patient_id, channel=channel, step_day=step_day,
                                           scheduled_for=moment, sent_at=moment, status="sent")
        if rng.random() < 0.2:
            moment = raised_at + datetime.timedelta(days=2)
            if moment <= SEEDED_AT:
                OutreachMessage.objects.create(flag=flag, patient_id=patient_id, channel="email", step_day=None,
                                               scheduled_for=moment, sent_at=moment, status="sent")


def clinic_rows():
    return {row["pk"]: {**row, "tz": ZoneInfo(row["time_zone"])} for row in Clinic.objects.values("pk", "time_zone")}


def local_date(moment, tz):
    return moment.astimezone(tz).date()


def monday_start(day, tz):
    return datetime.datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def recompute(now):
    """Each headline figure, from raw rows."""
    clinics = clinic_rows()
    today = {pk: local_date(now, c["tz"]) for pk, c in clinics.items()}
    last_monday = max(day - datetime.timedelta(days=day.weekday()) for day in today.values())
    first_monday = last_monday - datetime.timedelta(weeks=25)
    window = {pk: monday_start(first_monday, c["tz"]) for pk, c in clinics.items()}
    patients = {row["pk"]: row for row in Patient.objects.values("pk", "home_clinic_id", "status")}
    home = {pk: row["home_clinic_id"] for pk, row in patients.items()}

    # On schedule now, and at the end of the week before last (a whole week in the past).
    def on_schedule_at(moment_of):
        maintained, off = set(), set()
        for plan in MaintenancePlan.objects.values("patient_id", "started_on", "ended_on", "status"):
            pid = plan["patient_id"]
            moment = moment_of(home[pid])
            day = local_date(moment, clinics[home[pid]]["tz"])
            if plan["status"] == "paused" or patients[pid]["status"] != "active":
                continue
            if plan["started_on"] <= day and (plan["ended_on"] is None or plan["ended_on"] > day):
                maintained.add(pid)
        for flag in PatientFlag.objects.filter(kind=OVERDUE).values("patient_id", "raised_at", "resolved_at"):
            moment = moment_of(home[flag["patient_id"]])
            if flag["raised_at"] <= moment and (flag["resolved_at"] is None or flag["resolved_at"] > moment):
                off.add(flag["patient_id"])
        return len(maintained), len(maintained & off), maintained & off

    now_figures = on_schedule_at(lambda clinic_id: now)
    week_before = last_monday - datetime.timedelta(weeks=1)
    end_of = {pk: monday_start(week_before + datetime.timedelta(weeks=1), c["tz"]) - datetime.timedelta(
        microseconds=1) for pk, c in clinics.items()}
    week_figures = on_schedule_at(lambda clinic_id: end_of[clinic_id])
    due = {}
    for plan in MaintenancePlan.objects.filter(status="active").values("patient_id", "next_due_on"):
        due[plan["patient_id"]] = plan["next_due_on"]
    days_overdue = [(today[home[pid]] - due[pid]).days for pid in now_figures[2]]

    # From a flag to the next visit.
    completed = defaultdict(list)
    for row in Appointment.objects.filter(status=COMPLETED, kind__in=[MAINTENANCE, REINTRODUCTION]).values(
            "patient_id", "starts_at"):
        if row["starts_at"] <= now:
            completed[row["patient_id"]].append(row["starts_at"])
    flags, back_days = 0, []
    for flag in PatientFlag.objects.filter(kind__in=[OVERDUE, MISSED]).values("patient_id", "raised_at"):
        clinic_id = home[flag["patient_id"]]
        if not window[clinic_id] <= flag["raised_at"] <= now:
            continue
        flags += 1
        after = [moment for moment in completed[flag["patient_id"]] if moment > flag["raised_at"]]
        if after:
            tz = clinics[clinic_id]["tz"]
            back_days.append((local_date(min(after), tz) - local_date(flag["raised_at"], tz)).days)

    # Outreach, by step and by channel.
    messages = list(OutreachMessage.objects.filter(status="sent").values(
        "flag_id", "flag__patient_id", "sent_at", "step_day", "channel"))
    by_flag = defaultdict(list)
    for message in messages:
        by_flag[message["flag_id"]].append(message["sent_at"])
    steps, channels = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    for message in messages:
        pid = message["flag__patient_id"]
        if not window[home[pid]] <= message["sent_at"] <= now:
            continue
        later = [moment for moment in by_flag[message["flag_id"]] if moment > message["sent_at"]]
        until = min(later) if later else None
        back = any(moment > message["sent_at"] and (until is None or moment < until) for moment in completed[pid])
        for tally in (steps[message["step_day"]], channels[message["channel"]]):
            tally[0] += 1
            tally[1] += back

    # No-shows over the 26 weeks.
    no_shows = attended = 0
    for row in Appointment.objects.values("clinic_id", "starts_at", "status"):
        if window[row["clinic_id"]] <= row["starts_at"] <= now:
            no_shows += row["status"] == NO_SHOW
            attended += row["status"] == COMPLETED

    # Utilisation yesterday (the latest whole day), summed over the clinics.
    latest = max(today.values())
    yesterday = latest - datetime.timedelta(days=1)
    booked = 0
    for row in Appointment.objects.filter(status__in=[BOOKED, "checked_in", COMPLETED]).values(
            "clinic_id", "starts_at", "ends_at"):
        if local_date(row["starts_at"], clinics[row["clinic_id"]]["tz"]) == yesterday:
            booked += (row["ends_at"] - row["starts_at"]).total_seconds() / 60
    chairs = defaultdict(int)
    for row in Chair.objects.filter(active=True).values("clinic_id"):
        chairs[row["clinic_id"]] += 1
    closed = {(row["clinic_id"], day) for row in Closure.objects.values("clinic_id", "starts_on", "ends_on")
              for day in [yesterday] if row["starts_on"] <= day <= row["ends_on"]}
    open_minutes = 0
    for row in OpeningHours.objects.filter(weekday=yesterday.weekday()).values("clinic_id", "opens_at", "closes_at"):
        if (row["clinic_id"], yesterday) in closed:
            continue
        tz = clinics[row["clinic_id"]]["tz"]
        opens = datetime.datetime.combine(yesterday, row["opens_at"], tzinfo=tz)
        closes = datetime.datetime.combine(yesterday, row["closes_at"], tzinfo=tz)
        open_minutes += (closes.astimezone(UTC) - opens.astimezone(UTC)).total_seconds() / 60 * chairs[row["clinic_id"]]

    # Response and remission over every completed acute course.
    scores = defaultdict(list)
    for row in Assessment.objects.values("patient_id", "taken_at", "total"):
        scores[row["patient_id"]].append(row)
    courses = responders = remitters = evaluable = 0
    for course in TreatmentCourse.objects.filter(kind="acute", status="completed").values(
            "patient_id", "start_date", "ended_on"):
        courses += 1
        tz = clinics[home[course["patient_id"]]]["tz"]
        end = min(course["ended_on"] or today[home[course["patient_id"]]], local_date(now, tz))
        dated = sorted((row["taken_at"], row["total"]) for row in scores[course["patient_id"]])
        before = [total for moment, total in dated if local_date(moment, tz) <= course["start_date"]]
        during = [total for moment, total in dated if course["start_date"] < local_date(moment, tz) <= end]
        if during and (before or len(during) > 1):
            baseline = before[-1] if before else during[0]
            evaluable += 1
            responders += baseline > 0 and during[-1] <= baseline / 2
            remitters += during[-1] < 5

    return {
        "today": now_figures[:2], "week_before": week_figures[:2], "week_before_monday": week_before,
        "median_days_overdue": statistics.median(days_overdue) if days_overdue else None,
        "flags": flags, "back": len(back_days), "median_days_back": statistics.median(back_days) if back_days else None,
        "steps": {day: tuple(tally) for day, tally in steps.items()},
        "channels": {channel: tuple(tally) for channel, tally in channels.items()},
        "no_shows": (attended, no_shows), "yesterday": (yesterday, round(booked), round(open_minutes)),
        "response": (courses, evaluable, responders, remitters),
    }


@pytest.mark.django_db
def test_the_headline_figures_match_an_independent_recomputation_over_the_seeded_demo():
    with time_machine.travel(SEEDED_AT, tick=False):
        call_command("seed_demo", patients=150, stdout=StringIO())
        add_history(random.Random(14))
        assert flag_overdue_patients(SEEDED_AT) == {"raised": 0, "resolved": 0}  # the job agrees with the flags
        expected = recompute(SEEDED_AT)
        figures = adherence.dashboard(clinics=Clinic.objects.all(), now=SEEDED_AT)

    today = figures["today"]
    assert (today["patients"], today["overdue"]) == expected["today"]
    assert today["overdue"] > 0 and today["patients"] > today["overdue"]
    assert today["median_days_overdue"] == expected["median_days_overdue"]
    assert counts(week(figures["on_schedule"], expected["week_before_monday"])) == expected["week_before"]
    off_in_the_past = sum(row["off_schedule"] for row in figures["on_schedule"][:-2])
    assert off_in_the_past > 0  # the history is worth comparing

    both = figures["returns"][-1]
    assert (both["flags"], both["back"], both["median_days"]) == (
        expected["flags"], expected["back"], expected["median_days_back"])
    assert 0 < both["back"] < both["flags"]

    assert {row["step_day"]: (row["sent"], row["back"]) for row in figures["outreach"]["by_step"]} == expected["steps"]
    assert {row["channel"]: (row["sent"], row["back"]) for row in figures["outreach"]["by_channel"]
            if row["sent"]} == expected["channels"]
    assert sum(back for _, back in expected["steps"].values()) > 0

    assert (sum(w["completed"] for w in figures["no_shows"]), sum(w["no_shows"] for w in figures["no_shows"])) == (
        expected["no_shows"])
    yesterday = next(row for row in figures["utilisation"] if row["day"] == expected["yesterday"][0])
    assert (yesterday["day"], yesterday["booked_minutes"], yesterday["open_minutes"]) == expected["yesterday"]
    assert yesterday["open_minutes"] > 0

    total = figures["response"][-1]
    assert (total["courses"], total["evaluable"], total["response"], total["remission"]) == expected["response"]
    assert total["response"] > 0
