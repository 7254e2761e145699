"""Read-side queries for the pages: each returns what one page shows, in a fixed number of
queries whatever the data size. Views call these rather than build querysets of their own."""

import datetime
from collections import Counter
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Case, Count, F, OuterRef, Prefetch, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from patients import charts
from patients.models import MaintenancePlan, OutreachAttempt, Patient, PatientFlag, TreatmentCourse
from patients.outcomes import course_outcome, plan_timeline

from .models import Appointment, OutreachMessage, Reminder
from .services import find_open_slots, motor_threshold
from .services.calendar import day_bounds, midnight, today_in
from .services.courses import authorisation_status
from .services.plans import latest_completed_acute
from .services.slots import without_patients_bookings

SUGGEST_WITHIN = datetime.timedelta(days=21)
WEEK = datetime.timedelta(days=7)


# --- Appointments and their place in a course -------------------------------------------------


def with_course_progress(queryset):
    """Annotate each appointment with how many treatment sessions of its course come before it:
    a subquery, not a join and a count, which would group the whole row (and compute every other
    subquery annotated on it again)."""
    earlier = (
        Appointment.objects.filter(course=OuterRef("course"), kind__in=Appointment.TREATMENT_KINDS,
                                   status__in=Appointment.USED, starts_at__lt=OuterRef("starts_at"))
        .order_by().values("course").annotate(n=Count("pk")).values("n")
    )
    return queryset.annotate(sessions_before=Coalesce(Subquery(earlier), Value(0)))


def mark_progress(appointment):
    """Session number (from ``with_course_progress``) and whether the motor threshold must be
    measured, and why (from ``motor_threshold.with_mt_status``)."""
    appointment.session_number = None
    if appointment.course_id is not None and appointment.kind in Appointment.TREATMENT_KINDS:
        appointment.session_number = appointment.sessions_before + 1
    appointment.mt_recheck_reasons = motor_threshold.recheck_reasons(appointment)
    appointment.mt_recheck_due = bool(appointment.mt_recheck_reasons)
    return appointment


# What a run sheet shows of each appointment besides its patient: the protocol and technician.
RUN_SHEET_RELATED = ("patient", "course__protocol", "plan__protocol", "chair", "technician")


def day_appointments(clinic, day, *, related=RUN_SHEET_RELATED):
    """The clinic's live appointments on its calendar day, with their course progress and
    whether the motor threshold must be measured at each; ``related`` are the rows read with
    each (the day view's grid needs fewer than the run sheet)."""
    start, end = day_bounds(clinic, day)
    appointments = list(motor_threshold.with_mt_status(with_course_progress(
        Appointment.objects.live().filter(clinic=clinic, starts_at__gte=start, starts_at__lt=end)
        .select_related(*related).order_by("starts_at")
    )))
    for appointment in appointments:
        appointment.clinic = clinic
        mark_progress(appointment)
    return appointments


class WeekVisit(NamedTuple):
    """One line of the week view: read as values, not as appointment, patient and chair rows."""

    uuid: object
    starts_at: datetime.datetime  # in the clinic's time
    patient_name: str
    chair_name: str


def week_appointments(clinic, monday):
    """{day: [WeekVisit]} for the seven calendar days from ``monday`` in the clinic's zone."""
    days = [monday + datetime.timedelta(days=n) for n in range(7)]
    by_day = {d: [] for d in days}
    appointments = (
        Appointment.objects.live()
        .filter(clinic=clinic, starts_at__gte=midnight(clinic, monday), starts_at__lt=midnight(clinic, monday + WEEK))
        .order_by("starts_at")
        .values_list("uuid", "starts_at", "patient__first_name", "patient__last_name", "chair__name")
    )
    for uuid, starts_at, first_name, last_name, chair_name in appointments:
        local = clinic.local(starts_at)
        by_day[local.date()].append(WeekVisit(uuid, local, f"{first_name} {last_name}", chair_name))
    return by_day


# The staff an appointment's page names.
PEOPLE = ("technician", "booked_by", "authorisation_override_by", "cancelled_by", "marked_no_show_by")


def appointment_page(appointments, uuid):
    """The appointment with everything its page shows, from ``appointments`` (those the user
    may see), or None."""
    queryset = motor_threshold.with_mt_status(with_course_progress(
        appointments.select_related("patient", "clinic", "chair", "course__protocol", "plan__protocol")
    ))
    appointment = queryset.filter(uuid=uuid).first()
    if appointment is None:
        return None
    _read_people(appointment)
    return mark_progress(appointment)


def _read_people(appointment):
    """The staff the page names, in one query of their own: as five more joins of the
    appointment's, they made PostgreSQL spend twice as long planning it as running it."""
    fields = [Appointment._meta.get_field(name) for name in PEOPLE]
    ids = {getattr(appointment, field.attname) for field in fields} - {None}
    people = get_user_model().objects.in_bulk(ids) if ids else {}
    for field in fields:
        field.set_cached_value(appointment, people.get(getattr(appointment, field.attname)))


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


# Rows to a page of the patient page's lists; a page number past this is read as this.
PATIENT_PAGE_ROWS = 20
LAST_PAGE_NUMBER = 10_000


class ListPage:
    """One page of a list, read with one query per source and no count: ``rows(start, stop)``
    gives the list's rows from ``start`` to ``stop`` in order. There is a next page when one row
    more than the page holds comes back."""

    def __init__(self, rows, number, per_page=PATIENT_PAGE_ROWS):
        self.number = min(max(number, 1), LAST_PAGE_NUMBER)
        start = (self.number - 1) * per_page
        found = rows(start, start + per_page + 1)
        self.object_list = found[:per_page]
        self.has_previous = self.number > 1
        self.has_next = len(found) > per_page
        self.previous_page_number = self.number - 1
        self.next_page_number = self.number + 1

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self):
        return len(self.object_list)

    def has_other_pages(self):
        return self.has_previous or self.has_next


def upcoming_appointments(patient, *, now, page):
    """A page of the patient's live appointments to come, soonest first."""
    booked = (Appointment.objects.filter(patient=patient).live().filter(starts_at__gte=now)
              .select_related("clinic", "chair").order_by("starts_at", "pk"))
    return ListPage(lambda start, stop: list(booked[start:stop]), page)


def past_appointments(patient, *, now, page):
    """A page of the patient's appointments before now (any status), latest first."""
    held = (Appointment.objects.filter(patient=patient, starts_at__lt=now)
            .select_related("clinic", "chair").order_by("-starts_at", "-pk"))
    return ListPage(lambda start, stop: list(held[start:stop]), page)


def _deliveries_first(reminders, now):
    """What has been sent, failed, skipped or fallen due, newest first; then what is still to
    send, soonest first (so a plan's far-off nudges never hide this week's deliveries)."""
    to_send = Q(status=Reminder.Status.PENDING, scheduled_for__gt=now)
    return reminders.annotate(
        still_to_send=Case(When(to_send, then=Value(1)), default=Value(0)),
        delivered_at=Case(When(~to_send, then=F("scheduled_for"))),
    ).order_by("still_to_send", F("delivered_at").desc(nulls_last=True), "scheduled_for", "pk")


def _delivery_order(reminder):
    if reminder.still_to_send:
        return (1, reminder.scheduled_for.timestamp(), reminder.pk)
    return (0, -reminder.scheduled_for.timestamp(), -reminder.pk)


def delivery_log(patient, *, now, page):
    """A page of the patient's reminders (``_deliveries_first``), each with the clinic whose time
    it keeps: one indexed query per way a reminder belongs to the patient (through an
    appointment or a plan), merged; one query with an OR across both joins would read the whole
    ledger."""
    about_appointments = _deliveries_first(
        Reminder.objects.filter(appointment__patient=patient).select_related("appointment__clinic"), now)
    about_plans = _deliveries_first(Reminder.objects.filter(plan__patient=patient), now)

    def rows(start, stop):
        merged = sorted([*about_appointments[:stop], *about_plans[:stop]], key=_delivery_order)[start:stop]
        return [(r, r.appointment.clinic if r.appointment_id else patient.home_clinic) for r in merged]

    return ListPage(rows, page)


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
        # The home clinic by a subquery, not a join: only a snoozed flag asks it (a join made
        # PostgreSQL read the row of every patient behind the clinic wall).
        home_there = Patient.objects.filter(home_clinic__in=clinic_ids).order_by().values("pk")
        condition |= Q(snoozed_until__lte=today, patient_id__in=home_there)
    return condition


def open_flag_counts(user):
    """How many open flags the worklist shows the user (their clinics' patients), and how many
    of them are safety flags: one query, grouped by clinic zone and snooze day so each snooze
    ends in its clinic's time."""
    now = timezone.now()
    # The zone by a subquery, not a join: read only for the flags behind the wall, where a join
    # made PostgreSQL start from the wall's patients and read each one's row. Unordered: the
    # patients' default order (by name) made each lookup a sort over a join with every clinic.
    zone = Subquery(Patient.objects.filter(pk=OuterRef("patient_id")).order_by()
                    .values("home_clinic__time_zone")[:1])
    rows = (
        PatientFlag.objects.open().visible_to(user).annotate(zone=zone)
        .values_list("zone", "snoozed_until")
        .annotate(flags=Count("pk"), safety=Count("pk", filter=Q(kind=PatientFlag.Kind.SAFETY)))
        .order_by()
    )
    counts = {"total": 0, "safety": 0}
    for time_zone, snoozed_until, flags, safety in rows:
        if snoozed_until is None or snoozed_until <= today_in(time_zone, now):
            counts["total"] += flags
            counts["safety"] += safety
    return counts


# Flags that a booked visit answers: while one is to come, the patient waits under "Booked —
# awaiting visit" (the flag itself closes when the visit is done).
ANSWERED_BY_A_VISIT = (PatientFlag.Kind.OVERDUE_MAINTENANCE, PatientFlag.Kind.MISSED_APPOINTMENTS)


def open_flags(clinics, now):
    """Open, awake flags with everything a row shows, in a fixed number of queries: the last
    session and next booking as subqueries, the live plan and latest outreach prefetched.
    Those still to act on come first (safety first, then the longest overdue); then those a
    booked treatment visit answers (``awaiting_visit``), soonest visit first."""
    patient_sessions = Appointment.objects.filter(patient=OuterRef("patient"))
    last_session = patient_sessions.filter(status=Appointment.Status.COMPLETED).order_by("-starts_at")
    next_booking = patient_sessions.to_come().filter(starts_at__gte=now).order_by("starts_at")
    next_visit = next_booking.filter(kind__in=Appointment.TREATMENT_KINDS)
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
            next_visit_at=Subquery(next_visit.values("starts_at")[:1]),
            overdue_after=Subquery(active_plan.values("overdue_after")[:1]),
            safety_first=Case(When(kind=PatientFlag.Kind.SAFETY, then=Value(0)), default=Value(1)),
        )
        .annotate(
            awaiting_visit=Case(When(kind__in=ANSWERED_BY_A_VISIT, next_visit_at__isnull=False, then=Value(True)),
                                default=Value(False)),
            awaiting_visit_at=Case(When(kind__in=ANSWERED_BY_A_VISIT, then=F("next_visit_at"))),
        )
        # The longest overdue first; a plan not yet due, or no plan, after every overdue one.
        .order_by("awaiting_visit", "safety_first", F("awaiting_visit_at").asc(nulls_first=True),
                  F("overdue_after").asc(nulls_last=True), "raised_at", "pk")
        .prefetch_related(
            Prefetch("patient__maintenance_plans", queryset=live_plans, to_attr="live_plans"),
            Prefetch("outreach", queryset=OutreachAttempt.objects.select_related("by")[:1], to_attr="latest_outreach"),
            # The cadence's latest step: a call task to make, a message sent or waiting.
            Prefetch("messages", queryset=OutreachMessage.objects.order_by("-scheduled_for", "-pk")[:1],
                     to_attr="latest_message"),
        )
    )


# The patient's usual time is read from this many of their latest completed treatment sessions.
USUAL_FROM_SESSIONS = 12


def usual_time(patient, clinic):
    """(weekday, local time) the patient most often came on, from their latest completed
    maintenance or acute sessions in the clinic's time, or None without any. The weekday is
    the commonest; the time the commonest on that weekday; a tie goes to the latest visit."""
    visits = [clinic.local(moment) for moment in Appointment.objects.filter(
        patient=patient, status=Appointment.Status.COMPLETED, kind__in=Appointment.TREATMENT_KINDS,
    ).order_by("-starts_at").values_list("starts_at", flat=True)[:USUAL_FROM_SESSIONS]]
    if not visits:
        return None
    weekdays = Counter(visit.weekday() for visit in visits)
    # Counter.most_common keeps first-seen order among equals: the visits are latest first.
    weekday = weekdays.most_common(1)[0][0]
    times = Counter(visit.time() for visit in visits if visit.weekday() == weekday)
    return weekday, times.most_common(1)[0][0]


def _minutes_apart(a, b):
    return abs((a.hour * 60 + a.minute) - (b.hour * 60 + b.minute))


def suggested_slot(plan, usual):
    """A free slot for the plan's protocol at the patient's home clinic, at a time the patient
    is not already booked, no sooner than ``TMS_SUGGEST_LEAD_MINUTES`` from now nor before the
    due date, within ``SUGGEST_WITHIN``: on the first of the patient's usual weekday that has a
    free chair, as near their usual time as can be (``usual``, from ``usual_time``, read once by
    the caller, which shows it too); else the first free slot."""
    clinic = plan.patient.home_clinic
    start = timezone.now() + datetime.timedelta(minutes=settings.TMS_SUGGEST_LEAD_MINUTES)
    if plan.next_due_on is not None:
        start = max(start, midnight(clinic, plan.next_due_on))
    end = start + SUGGEST_WITHIN
    slots = without_patients_bookings(find_open_slots(clinic=clinic, protocol=plan.protocol, start=start, end=end),
                                      plan.patient, start, end)
    if not slots:
        return None
    if usual is not None:
        weekday, at = usual
        on_weekday = [(clinic.local(slot.starts_at), slot) for slot in slots]
        on_weekday = [(local, slot) for local, slot in on_weekday if local.weekday() == weekday]
        if on_weekday:
            first_day = on_weekday[0][0].date()
            same_day = [(local, slot) for local, slot in on_weekday if local.date() == first_day]
            return min(same_day, key=lambda pair: (_minutes_apart(pair[0].time(), at), pair[0]))[1]
    return slots[0]
