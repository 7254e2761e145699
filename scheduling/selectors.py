"""Read-side queries for the pages: each returns what one page shows, in a fixed number of
queries whatever the data size. Views call these rather than build querysets of their own."""

import datetime

from django.db.models import Case, Count, F, OuterRef, Prefetch, Q, Subquery, Value, When
from django.utils import timezone

from patients import charts
from patients.models import MaintenancePlan, OutreachAttempt, PatientFlag, TreatmentCourse
from patients.outcomes import course_outcome, plan_timeline

from .models import Appointment, Reminder
from .services import find_open_slots, motor_threshold, open_slots
from .services.calendar import day_bounds, midnight, today_in
from .services.courses import authorisation_status
from .services.plans import latest_completed_acute

SUGGEST_WITHIN = datetime.timedelta(days=21)
WEEK = datetime.timedelta(days=7)


# --- Appointments and their place in a course -------------------------------------------------


def with_course_progress(queryset):
    """Annotate each appointment with how many treatment sessions of its course come before it."""
    earlier = Count(
        "course__appointments",
        filter=Q(
            course__appointments__kind__in=Appointment.TREATMENT_KINDS,
            course__appointments__status__in=Appointment.USED,
            course__appointments__starts_at__lt=F("starts_at"),
        ),
    )
    return queryset.annotate(sessions_before=earlier)


def mark_progress(appointment):
    """Session number (from ``with_course_progress``) and whether the motor threshold must be
    measured, and why (from ``motor_threshold.with_mt_status``)."""
    appointment.session_number = None
    if appointment.course_id is not None and appointment.kind in Appointment.TREATMENT_KINDS:
        appointment.session_number = appointment.sessions_before + 1
    appointment.mt_recheck_reasons = motor_threshold.recheck_reasons(appointment)
    appointment.mt_recheck_due = bool(appointment.mt_recheck_reasons)
    return appointment


def day_appointments(clinic, day):
    """The clinic's live appointments on its calendar day, with their course progress and
    whether the motor threshold must be measured at each."""
    start, end = day_bounds(clinic, day)
    appointments = motor_threshold.with_mt_status(with_course_progress(
        Appointment.objects.live().filter(clinic=clinic, starts_at__gte=start, starts_at__lt=end)
        .select_related("patient", "course", "clinic").order_by("starts_at")
    ))
    return [mark_progress(a) for a in appointments]


def week_appointments(clinic, monday):
    """{day: [appointments]} for the seven calendar days from ``monday`` in the clinic's zone."""
    days = [monday + datetime.timedelta(days=n) for n in range(7)]
    by_day = {d: [] for d in days}
    appointments = (
        Appointment.objects.live()
        .filter(clinic=clinic, starts_at__gte=midnight(clinic, monday), starts_at__lt=midnight(clinic, monday + WEEK))
        .select_related("patient", "chair").order_by("starts_at")
    )
    for appointment in appointments:
        by_day[clinic.local(appointment.starts_at).date()].append(appointment)
    return by_day


def appointment_page(appointments, uuid):
    """The appointment with everything its page shows, from ``appointments`` (those the user
    may see), or None."""
    queryset = motor_threshold.with_mt_status(with_course_progress(
        appointments.select_related("patient", "clinic", "chair", "course__protocol", "plan__protocol",
                                    "technician", "booked_by", "authorisation_override_by", "cancelled_by",
                                    "marked_no_show_by")
    ))
    appointment = queryset.filter(uuid=uuid).first()
    return appointment and mark_progress(appointment)


def proposed_slots(appointment, limit=8):
    """Times the appointment could move to on its chair, from a day before to two weeks on."""
    start = max(timezone.now(), appointment.starts_at - datetime.timedelta(days=1))
    slots = open_slots(
        clinic=appointment.clinic, duration=appointment.ends_at - appointment.starts_at, start=start,
        end=start + datetime.timedelta(days=14), chairs=[appointment.chair],
    )
    return [s for s in slots if s.starts_at != appointment.starts_at][:limit]


def patient_appointments(patient, *, now, limit):
    """(upcoming live appointments soonest first, past ones latest first), ``limit`` each."""
    base = Appointment.objects.filter(patient=patient).select_related("clinic", "chair")
    upcoming = list(base.live().filter(starts_at__gte=now).order_by("starts_at")[:limit])
    past = list(base.filter(starts_at__lt=now).order_by("-starts_at")[:limit])
    return upcoming, past


# --- The patient page ------------------------------------------------------------------------


def course_summary(course):
    """Sessions completed, still to book, and the authorisation (used, booked, to book, its
    history), for the course in progress."""
    counts = course.appointments.aggregate(
        used=Count("pk", filter=Q(kind__in=Appointment.TREATMENT_KINDS, status=Appointment.Status.COMPLETED)),
        booked=Count("pk", filter=Q(kind__in=Appointment.TREATMENT_KINDS, status__in=Appointment.TO_COME)),
    )
    return {
        "course": course,
        "completed": counts["used"],
        "unbooked": max(0, course.planned_sessions - counts["used"] - counts["booked"]),
        "authorisation": authorisation_status(course, counts=counts),
        "authorisation_history": list(course.authorisation_changes.select_related("changed_by")[:20]),
    }


def delivery_log(patient, limit=20):
    """The patient's latest reminders, newest first, each with the clinic whose time it keeps:
    one indexed query per way a reminder belongs to the patient (through an appointment or a
    plan); one query with an OR across both joins would read the whole ledger."""
    newest = ("-scheduled_for", "-pk")
    about_appointments = Reminder.objects.filter(appointment__patient=patient).select_related("appointment__clinic")
    about_plans = Reminder.objects.filter(plan__patient=patient)
    rows = sorted([*about_appointments.order_by(*newest)[:limit], *about_plans.order_by(*newest)[:limit]],
                  key=lambda reminder: (reminder.scheduled_for, reminder.pk), reverse=True)[:limit]
    return [(r, r.appointment.clinic if r.appointment_id else patient.home_clinic) for r in rows]


def patient_outcomes(person, courses, *, clinical=True):
    """The patient page's outcomes: each course's response and remission, the maintenance
    plan's timeline and the PHQ-9 chart. ``courses`` are the patient's, newest first. Three
    queries (four with a plan, for its phases) however long the history. Without ``clinical``
    (a role that may not read PHQ-9s) no score is read: only the plan's timeline."""
    clinic = person.home_clinic
    today = clinic.today()
    assessments = list(person.assessments.order_by("taken_at")) if clinical else []
    sessions = [
        (clinic.local(starts_at).date(), course_id, plan_id)
        for starts_at, course_id, plan_id in Appointment.objects.filter(
            patient=person, status=Appointment.Status.COMPLETED, kind__in=Appointment.TREATMENT_KINDS,
        ).order_by("starts_at").values_list("starts_at", "course_id", "plan_id")
    ]
    plan = person.maintenance_plans.select_related("template").prefetch_related("phases").first()

    course_rows = []
    for course in courses if clinical else ():
        outcome = course_outcome(course, assessments, zone=clinic.time_zone)
        course_days = [day for day, course_id, _ in sessions if course_id == course.pk]
        if course.ended_on:
            end = course.ended_on
        elif course.status == TreatmentCourse.Status.ACTIVE:
            end = today
        else:
            end = course_days[-1] if course_days else course.start_date
        latest_on = clinic.local(outcome["latest"].taken_at).date() if outcome["latest"] else None
        course_rows.append({"course": course, "outcome": outcome, "start": course.start_date, "end": end,
                            "latest_on": latest_on, "label": f"{course.get_kind_display()} course"})

    chart = None
    if assessments:
        chart = charts.phq9_chart(
            scores=[(clinic.local(a.taken_at).date(), a.total) for a in assessments],
            sessions=[day for day, _, _ in sessions],
            courses=list(reversed(course_rows)),
            maintenance_from=plan.started_on if plan else None,
            until=today,
        )
    return {
        "assessments": assessments,
        "phq9_chart": chart,
        "course_outcomes": course_rows,
        "timeline": plan_timeline(plan, [day for day, _, plan_id in sessions if plan_id == plan.pk]) if plan else None,
        "can_start_plan": (plan is None or plan.status == MaintenancePlan.Status.ENDED)
        and latest_completed_acute(courses) is not None,
    }


# --- The worklist ----------------------------------------------------------------------------


def awake(clinics, now):
    """Flags not hidden by a snooze. A snooze ends as its day begins in the patient's home
    clinic, so "hide until Monday" shows the flag on Monday morning wherever the clinic is."""
    clinics_by_today = {}
    for clinic in clinics:
        clinics_by_today.setdefault(today_in(clinic.time_zone, now), []).append(clinic.pk)
    condition = Q(snoozed_until__isnull=True)
    for today, clinic_ids in clinics_by_today.items():
        condition |= Q(patient__home_clinic__in=clinic_ids, snoozed_until__lte=today)
    return condition


def open_flag_counts(user):
    """How many open flags the worklist shows the user (their clinics' patients), and how many
    of them are safety flags: one query, grouped by clinic zone and snooze day so each snooze
    ends in its clinic's time."""
    now = timezone.now()
    rows = (
        PatientFlag.objects.open().visible_to(user)
        .values_list("patient__home_clinic__time_zone", "snoozed_until")
        .annotate(flags=Count("pk"), safety=Count("pk", filter=Q(kind=PatientFlag.Kind.SAFETY)))
        .order_by()
    )
    counts = {"total": 0, "safety": 0}
    for time_zone, snoozed_until, flags, safety in rows:
        if snoozed_until is None or snoozed_until <= today_in(time_zone, now):
            counts["total"] += flags
            counts["safety"] += safety
    return counts


def open_flags(clinics, now):
    """Open, awake flags with everything a row shows, in a fixed number of queries: the last
    session and next booking as subqueries, the live plan and latest outreach prefetched."""
    patient_sessions = Appointment.objects.filter(patient=OuterRef("patient"))
    last_session = patient_sessions.filter(status=Appointment.Status.COMPLETED).order_by("-starts_at")
    next_booking = patient_sessions.to_come().filter(starts_at__gte=now).order_by("starts_at")
    active_plan = MaintenancePlan.objects.active().filter(patient=OuterRef("patient"))
    live_plans = MaintenancePlan.objects.live().select_related("template", "protocol")
    return (
        PatientFlag.objects.open()
        .filter(awake(clinics, now))
        .select_related("patient__home_clinic")
        .annotate(
            last_session_at=Subquery(last_session.values("starts_at")[:1]),
            next_booking_at=Subquery(next_booking.values("starts_at")[:1]),
            next_booking_uuid=Subquery(next_booking.values("uuid")[:1]),
            overdue_after=Subquery(active_plan.values("overdue_after")[:1]),
            safety_first=Case(When(kind=PatientFlag.Kind.SAFETY, then=Value(0)), default=Value(1)),
        )
        # The longest overdue first; a plan not yet due, or no plan, after every overdue one.
        .order_by("safety_first", F("overdue_after").asc(nulls_last=True), "raised_at", "pk")
        .prefetch_related(
            Prefetch("patient__maintenance_plans", queryset=live_plans, to_attr="live_plans"),
            Prefetch("outreach", queryset=OutreachAttempt.objects.select_related("by")[:1], to_attr="latest_outreach"),
        )
    )


def suggested_slot(plan):
    """The first free slot for the plan's protocol at the patient's home clinic, from the due
    date (or now, for a patient already overdue) within ``SUGGEST_WITHIN``, at a time the
    patient is not already booked."""
    clinic = plan.patient.home_clinic
    start = timezone.now()
    if plan.next_due_on is not None:
        start = max(start, midnight(clinic, plan.next_due_on))
    end = start + SUGGEST_WITHIN
    slots = find_open_slots(clinic=clinic, protocol=plan.protocol, start=start, end=end)
    busy = list(Appointment.objects.live().filter(patient=plan.patient).between(start, end)
                .values_list("starts_at", "ends_at"))
    return next(
        (slot for slot in slots if not any(a < slot.ends_at and slot.starts_at < b for a, b in busy)), None
    )
