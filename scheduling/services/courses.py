"""Acute and reintroduction courses: their treatment days, booking a whole series, and how
many of its sessions a course has used and has left."""

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q

from patients.models import AuthorisationChange, TreatmentCourse

from ..models import Appointment, Chair
from .booking import SlotUnavailable, book_appointment, cancel_appointment, open_slots
from .calendar import ClinicCalendar, day_bounds
from .plans import last_session_on

# Kinds of appointment that belong to the patient's course in progress when staff book them.
COURSE_KINDS = (Appointment.Kind.ACUTE, Appointment.Kind.REINTRODUCTION, Appointment.Kind.MAPPING)


def sessions_used(course):
    """Treatment sessions booked or given on a course: what its authorisation counts."""
    return Appointment.objects.counted_against(course).count()


def authorisation_counts(course):
    """{used, booked} of a course's treatment sessions: used is completed, booked is booked or
    checked in (a session counts as used only once it has been given)."""
    return course.appointments.aggregate(
        used=Count("pk", filter=Q(kind__in=Appointment.TREATMENT_KINDS, status=Appointment.Status.COMPLETED)),
        booked=Count("pk", filter=Q(kind__in=Appointment.TREATMENT_KINDS, status__in=Appointment.TO_COME)),
    )


def authorisation_status(course, counts=None):
    """What the authorisation badge says — "18 used · 12 booked · 6 to book" of ``of``
    authorised, until a date — or None for a course with no authorisation recorded. ``counts``
    ({used, booked}) saves the query when the caller has them."""
    if course is None or (course.authorised_sessions is None and course.authorised_until is None):
        return None
    counts = counts or authorisation_counts(course)
    of = course.authorised_sessions
    to_book = None if of is None else of - counts["used"] - counts["booked"]
    return {
        "used": counts["used"], "booked": counts["booked"], "to_book": to_book, "of": of,
        "from": course.authorised_from, "until": course.authorised_until,
        "warn": to_book is not None and to_book <= settings.TMS_AUTH_WARN_AT,
    }


class AuthorisationRefused(ValidationError):
    """The authorisation cannot be changed so; the message says why."""


def change_authorisation(course, *, number, sessions, valid_from, until, note, by):
    """Record the course's authorisation as the payer gave or extended it; the previous values
    stay in its history (AuthorisationChange). Fewer sessions than already given, or a window
    that ends before it starts, are refused."""
    if valid_from and until and until < valid_from:
        raise AuthorisationRefused("The authorisation cannot end before it starts.")
    with transaction.atomic():
        current = TreatmentCourse.objects.select_for_update().get(pk=course.pk)
        used = authorisation_counts(current)["used"]
        if sessions is not None and sessions < used:
            raise AuthorisationRefused(f"{used} sessions of this course have already been given; "
                                       f"an authorisation for {sessions} cannot cover them.")
        current.prior_auth_number, current.authorised_sessions = number, sessions
        current.authorised_from, current.authorised_until = valid_from, until
        current.save(update_fields=["prior_auth_number", "authorised_sessions", "authorised_from",
                                    "authorised_until"])
        _remember_authorisation(current, note=note, by=by)
    return current


def _remember_authorisation(course, *, note, by):
    AuthorisationChange.objects.create(
        course=course, prior_auth_number=course.prior_auth_number, authorised_sessions=course.authorised_sessions,
        authorised_from=course.authorised_from, authorised_until=course.authorised_until, note=note, changed_by=by)


class CourseRefused(ValidationError):
    """The course cannot be ended so; the message says why."""


ENDINGS = (TreatmentCourse.Status.COMPLETED, TreatmentCourse.Status.DISCONTINUED)


def leftover_bookings(course):
    """The course's sessions still booked: what ending it offers to cancel."""
    return Appointment.objects.filter(course=course, status=Appointment.Status.BOOKED).order_by("starts_at")


def end_course(course, *, outcome, reason, by, cancel_leftover):
    """A clinician completes a course, or discontinues it saying why. It ends on the day of its
    last session given (in the clinic's calendar; today if none was), and, if asked, its
    sessions still booked are cancelled as the front desk would cancel them (reminders stopped).
    Returns the course and how many bookings were cancelled."""
    reason = " ".join(reason.split())
    if outcome not in ENDINGS:
        raise CourseRefused("A course ends completed or discontinued.")
    if outcome == TreatmentCourse.Status.DISCONTINUED and not reason:
        raise CourseRefused("Say why the course is discontinued.")
    with transaction.atomic():
        current = TreatmentCourse.objects.select_for_update().select_related("patient__home_clinic").get(pk=course.pk)
        if current.status != TreatmentCourse.Status.ACTIVE:
            raise CourseRefused(f"This course is already {current.get_status_display().lower()}.")
        if Appointment.objects.filter(course=current, status=Appointment.Status.CHECKED_IN).exists():
            raise CourseRefused("A session of this course is under way (checked in): complete it first.")
        clinic = current.patient.home_clinic
        last = last_session_on(current, clinic)
        if outcome == TreatmentCourse.Status.COMPLETED and last is None:
            raise CourseRefused("No session of this course has been given, so it cannot be completed: "
                                "discontinue it instead, saying why.")
        current.status, current.end_reason = outcome, reason
        current.ended_on = last or clinic.today()
        current.save(update_fields=["status", "end_reason", "ended_on"])
        cancelled = 0
        if cancel_leftover:
            why = f"Course {current.get_status_display().lower()}"
            for appointment in leftover_bookings(current):
                cancel_appointment(appointment, by=by, reason=why)
                cancelled += 1
    return current, cancelled


def active_course_for(patient, kind):
    """The course a session of ``kind`` booked by staff belongs to: the patient's newest active
    course for course kinds, else None."""
    if kind not in COURSE_KINDS:
        return None
    return patient.courses.filter(status=TreatmentCourse.Status.ACTIVE).order_by("-start_date").first()


@dataclass
class Unplaced:
    """A session of a new course that could not be booked: staff must place it by hand. It was
    wanted on ``day``, or, when ``week`` is set, some day of the course's week starting then."""

    day: datetime.date
    reason: str
    week: bool = False


@dataclass
class Moved:
    """A session of a new course booked, but not on the chair or at the time asked for."""

    appointment: Appointment
    reason: str


@dataclass
class CourseBooking:
    course: TreatmentCourse
    appointments: list
    unplaced: list
    moved: list = field(default_factory=list)


def _spread(days, count):
    """Pick ``count`` of a week's open ``days`` spread evenly: 3 of Mon–Fri are Mon, Wed, Fri."""
    if count >= len(days):
        return list(days)
    return [days[round((k + 0.5) * len(days) / count - 0.5)] for k in range(count)]


def course_days(*, clinic, template, first_day, last_possible_day=None, calendar=None):
    """The treatment days of a course from ``first_day``: week by week, the template's number
    of days out of that week's open weekdays (Monday to Friday that the clinic is open).
    ``calendar``, a ClinicCalendar covering the course, saves its two queries."""
    weeks = template.days_per_week
    last_possible_day = last_possible_day or first_day + datetime.timedelta(weeks=len(weeks) + 1)
    calendar = calendar or ClinicCalendar(clinic, first_day, last_possible_day)
    days, missing = [], []
    for week, wanted in enumerate(weeks):
        week_start = first_day + datetime.timedelta(weeks=week)
        week_days = [week_start + datetime.timedelta(days=d) for d in range(7)]
        open_days = [d for d in week_days if d.weekday() < 5 and calendar.open_intervals(d)]
        days.extend(_spread(open_days, wanted))
        missing.extend([week_start] * max(0, wanted - len(open_days)))
    return days, missing


def _nearest_slot(*, chair, wanted, duration, not_before=None):
    """The free slot that day closest to ``wanted`` (the preferred chair first on a tie),
    starting no earlier than ``not_before`` when given."""
    clinic = chair.clinic
    day_start, day_end = day_bounds(clinic, clinic.local(wanted).date())
    chairs = list(Chair.objects.filter(clinic=clinic, active=True))
    slots = open_slots(clinic=clinic, duration=duration, start=not_before or day_start, end=day_end, chairs=chairs)
    if not slots:
        return None
    return min(slots, key=lambda s: (abs(s.starts_at - wanted), s.chair.pk != chair.pk, s.starts_at))


def _place_day(*, chair, wanted, sessions, gap, duration, book, moved):
    """Book ``sessions`` sessions on one day, each at least ``gap`` after the previous start:
    on ``chair`` at the wanted time when free, else the nearest free slot (noted in ``moved``
    with why). Returns the appointments and, for each session not placed, the reason."""
    placed = []
    not_before = None
    for _ in range(sessions):
        try:
            placed.append(book(chair, wanted))
        except SlotUnavailable as refusal:
            slot = _nearest_slot(chair=chair, wanted=wanted, duration=duration, not_before=not_before)
            try:
                if slot is None:
                    raise SlotUnavailable(f"{refusal.message} No other chair is free that day.") from refusal
                placed.append(book(slot.chair, slot.starts_at))
            except SlotUnavailable as no_slot:
                return placed, [no_slot.message] * (sessions - len(placed))
            moved.append(Moved(placed[-1], refusal.message))
        not_before = wanted = placed[-1].starts_at + gap
    return placed, []


def start_course(*, patient, protocol, template, start_date, chair, time_of_day, by,
                 kind=TreatmentCourse.Kind.ACUTE, authorised_sessions=None, prior_auth_number="",
                 motor_threshold=None, authorised_until=None):
    """Create a course and book its whole series as separate appointments.

    An acute course opens with a mapping visit (motor threshold) on the start date; treatment
    sessions follow from the next day, laid out by the template, on the same chair at the same
    time of day when free, else at the nearest free slot that day. Accelerated protocols book
    their sessions per day at least ``minutes_between_sessions`` apart. What cannot be placed
    is returned in ``unplaced`` and stays visible as unbooked sessions of the course.
    """
    clinic = chair.clinic
    duration = datetime.timedelta(minutes=protocol.chair_minutes)
    gap = max(datetime.timedelta(minutes=protocol.minutes_between_sessions), duration)
    acute = kind == TreatmentCourse.Kind.ACUTE
    session_kind = Appointment.Kind.ACUTE if acute else Appointment.Kind.REINTRODUCTION
    with transaction.atomic():
        course = TreatmentCourse.objects.create(
            patient=patient, protocol=protocol, kind=kind, start_date=start_date,
            planned_sessions=template.sessions_for(protocol), authorised_sessions=authorised_sessions,
            prior_auth_number=prior_auth_number, motor_threshold=motor_threshold, clinician=by,
            authorised_from=start_date if authorised_until else None, authorised_until=authorised_until,
        )
        if authorised_sessions is not None or prior_auth_number or authorised_until:
            _remember_authorisation(course, note="Given when the course was started", by=by)

        def booker(appointment_kind, minutes):
            def book(on_chair, starts_at):
                return book_appointment(patient=patient, chair=on_chair, starts_at=starts_at, kind=appointment_kind,
                                        booked_by=by, course=course, duration=minutes)
            return book

        appointments, unplaced, moved = [], [], []
        first_day = start_date
        if acute:
            mapping = datetime.timedelta(minutes=template.mapping_minutes)
            placed, reasons = _place_day(
                chair=chair, wanted=datetime.datetime.combine(start_date, time_of_day, tzinfo=clinic.tz),
                sessions=1, gap=mapping, duration=mapping, book=booker(Appointment.Kind.MAPPING, mapping), moved=moved,
            )
            appointments += placed
            unplaced += [Unplaced(start_date, f"Mapping visit: {reason}") for reason in reasons]
            first_day = start_date + datetime.timedelta(days=1)

        days, short_weeks = course_days(clinic=clinic, template=template, first_day=first_day)
        book = booker(session_kind, duration)
        for day in days:
            placed, reasons = _place_day(
                chair=chair, wanted=datetime.datetime.combine(day, time_of_day, tzinfo=clinic.tz),
                sessions=protocol.sessions_per_day, gap=gap, duration=duration, book=book, moved=moved,
            )
            appointments += placed
            unplaced += [Unplaced(day, reason) for reason in reasons]
        for week_start in short_weeks:
            unplaced += [Unplaced(week_start, "The clinic is not open on enough weekdays that week.", week=True)] * (
                protocol.sessions_per_day
            )
    return CourseBooking(course=course, appointments=appointments, unplaced=unplaced, moved=moved)
