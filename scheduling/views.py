"""The staff's working day: day and week views, booking, the appointment and patient pages."""

import datetime
import math
import uuid as uuid_module

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, F, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from patients.models import MaintenancePlan, Patient, TreatmentCourse
from tmsclinic.roles import CLINIC_ADMIN, CLINICIAN, FRONT_DESK, TECHNICIAN, roles_of, staff_required

from . import outcomes, services
from .forms import BookingForm, CancelForm, RescheduleForm, SessionRecordForm, StartCourseForm
from .models import Appointment, Chair, Clinic, Reminder
from .services import AppointmentStateError, SlotUnavailable

BOOKERS = (FRONT_DESK, CLINICIAN, CLINIC_ADMIN)
SESSION_RUNNERS = (TECHNICIAN, CLINICIAN, CLINIC_ADMIN)
CHECKERS_IN = (FRONT_DESK, TECHNICIAN, CLINICIAN, CLINIC_ADMIN)


def _chosen_clinic(request, clinics):
    """The clinic asked for in ?clinic=, else the one this session last looked at."""
    wanted = request.GET.get("clinic") or request.session.get("clinic_id")
    by_id = {str(clinic.pk): clinic for clinic in clinics}
    clinic = by_id.get(str(wanted)) or (clinics[0] if clinics else None)
    if clinic is not None and request.session.get("clinic_id") != clinic.pk:
        request.session["clinic_id"] = clinic.pk
    return clinic


def _midnight(clinic, day):
    return datetime.datetime.combine(day, datetime.time(0), tzinfo=clinic.tz)


# --- Day view --------------------------------------------------------------------------------


class DayGrid:
    """Chairs as columns and time steps as rows, in the clinic's wall-clock time."""

    def __init__(self, *, clinic, day, chairs, appointments, intervals, step):
        self.clinic, self.day, self.chairs, self.step = clinic, day, chairs, step
        local_times = [clinic.local(moment) for pair in intervals for moment in pair]
        local_times += [clinic.local(a.starts_at) for a in appointments]
        local_times += [clinic.local(a.ends_at) for a in appointments]
        self.is_open = bool(intervals)
        if not local_times:
            self.rows, self.cells, self.items = [], [], []
            return
        first = min(t.replace(tzinfo=None) for t in local_times)
        last = max(t.replace(tzinfo=None) for t in local_times)
        self.origin = first.replace(minute=first.minute - first.minute % step, second=0, microsecond=0)
        count = math.ceil((last - self.origin) / datetime.timedelta(minutes=step))
        self.rows = [(n + 2, self.origin + datetime.timedelta(minutes=step * n)) for n in range(count)]
        column = {chair.pk: n + 2 for n, chair in enumerate(chairs)}
        self.items = []
        covered = set()
        for appointment in appointments:
            if appointment.chair_id not in column:
                continue
            top = self._row(appointment.starts_at)
            bottom = max(top + 1, math.ceil(self._offset(appointment.ends_at)) + 2)
            self.items.append((appointment, column[appointment.chair_id], top, bottom - top))
            covered.update((appointment.chair_id, row) for row in range(top, bottom))
        self.cells = []
        now = timezone.now()
        for row, wall_clock in self.rows:
            moment = wall_clock.replace(tzinfo=clinic.tz)
            # Free time in the past, or outside opening hours, cannot be booked.
            if moment < now or not any(opens <= moment < closes for opens, closes in intervals):
                continue
            for chair in chairs:
                if (chair.pk, row) not in covered:
                    self.cells.append((chair, column[chair.pk], row, moment))

    def _offset(self, moment):
        local = self.clinic.local(moment).replace(tzinfo=None)
        return (local - self.origin) / datetime.timedelta(minutes=self.step)

    def _row(self, moment):
        return int(self._offset(moment)) + 2


def with_course_progress(queryset):
    """Annotate each appointment with how many treatment sessions of its course come before it."""
    earlier = Count(
        "course__appointments",
        filter=Q(
            course__appointments__kind__in=services.TREATMENT_KINDS,
            course__appointments__status__in=services.USED_STATUSES,
            course__appointments__starts_at__lt=F("starts_at"),
        ),
    )
    return queryset.annotate(sessions_before=earlier)


def _mark_progress(appointment):
    """Session number, motor-threshold re-check prompt and authorisation countdown."""
    course = appointment.course
    appointment.session_number = None
    appointment.mt_recheck_due = False
    if course is None or appointment.kind not in services.TREATMENT_KINDS:
        return appointment
    appointment.session_number = appointment.sessions_before + 1
    appointment.mt_recheck_due = appointment.session_number % settings.TMS_MT_RECHECK_EVERY == 0
    return appointment


def _render_day(request, day):
    clinics = list(Clinic.objects.all())
    clinic = _chosen_clinic(request, clinics)
    context = {"clinics": clinics, "clinic": clinic, "day": day, "grid": None}
    if clinic is not None:
        day = day or clinic.today()
        chairs = list(Chair.objects.filter(clinic=clinic, active=True))
        appointments = [
            _mark_progress(a)
            for a in with_course_progress(
                Appointment.objects.live()
                .filter(clinic=clinic, starts_at__gte=_midnight(clinic, day),
                        starts_at__lt=_midnight(clinic, day + datetime.timedelta(days=1)))
                .select_related("patient", "course")
                .order_by("starts_at")
            )
        ]
        calendar = services.ClinicCalendar(clinic, day, day)
        grid = DayGrid(clinic=clinic, day=day, chairs=chairs, appointments=appointments,
                       intervals=calendar.open_intervals(day), step=settings.TMS_SLOT_STEP_MINUTES)
        context.update(
            day=day, grid=grid, closed_because=calendar.closures.get(day),
            previous_day=day - datetime.timedelta(days=1), next_day=day + datetime.timedelta(days=1),
            can_book=bool(roles_of(request.user) & set(BOOKERS)),
        )
    return render(request, "staff/day.html", context)


@staff_required
def today(request):
    return _render_day(request, None)


@staff_required
def day(request, day):
    return _render_day(request, day)


@staff_required
def week(request, day):
    clinics = list(Clinic.objects.all())
    clinic = _chosen_clinic(request, clinics)
    if clinic is None:
        return redirect("staff:today")
    monday = day - datetime.timedelta(days=day.weekday())
    days = [monday + datetime.timedelta(days=n) for n in range(7)]
    by_day = {d: [] for d in days}
    appointments = (
        Appointment.objects.live()
        .filter(clinic=clinic, starts_at__gte=_midnight(clinic, monday),
                starts_at__lt=_midnight(clinic, monday + datetime.timedelta(days=7)))
        .select_related("patient", "chair")
        .order_by("starts_at")
    )
    for appointment in appointments:
        by_day[clinic.local(appointment.starts_at).date()].append(appointment)
    return render(request, "staff/week.html", {
        "clinics": clinics, "clinic": clinic, "days": [(d, by_day[d]) for d in days], "monday": monday,
        "previous_week": monday - datetime.timedelta(days=7), "next_week": monday + datetime.timedelta(days=7),
    })


# --- Booking ---------------------------------------------------------------------------------


def _active_course(patient, kind):
    if kind not in (Appointment.Kind.ACUTE, Appointment.Kind.REINTRODUCTION, Appointment.Kind.MAPPING):
        return None
    return patient.courses.filter(status=TreatmentCourse.Status.ACTIVE).order_by("-start_date").first()


def _active_plan(patient, kind):
    if kind != Appointment.Kind.MAINTENANCE:
        return None
    return patient.maintenance_plans.filter(status=MaintenancePlan.Status.ACTIVE).first()


def _when(clinic, moment):
    local = clinic.local(moment)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


def _initial_booking(query):
    """Prefill the booking form from a clicked empty slot or a patient page link."""
    initial = {}
    chair_id = query.get("chair", "")
    chair = (
        Chair.objects.filter(pk=chair_id, active=True).select_related("clinic").first() if chair_id.isdigit() else None
    )
    if chair is not None:
        initial["chair"] = chair
    try:
        moment = datetime.datetime.fromisoformat(query.get("starts_at", ""))
    except ValueError:
        moment = None
    if moment is not None:
        if timezone.is_aware(moment) and chair is not None:
            moment = chair.clinic.local(moment)
        initial["starts_at"] = moment.replace(tzinfo=None)
    try:
        patient = Patient.objects.filter(uuid=uuid_module.UUID(query.get("patient", ""))).first()
    except ValueError:
        patient = None
    if patient is not None:
        initial["patient"] = patient
    if query.get("kind") in Appointment.Kind.values:
        initial["kind"] = query["kind"]
    return initial


@staff_required(*BOOKERS)
@require_http_methods(["GET", "POST"])
def book(request):
    initial = _initial_booking(request.GET)
    form = BookingForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        override = data["override_authorisation"] and CLINICIAN in roles_of(request.user)
        try:
            appointment = services.book_appointment(
                patient=data["patient"], chair=data["chair"], starts_at=data["starts_at"], kind=data["kind"],
                booked_by=request.user, course=_active_course(data["patient"], data["kind"]),
                plan=_active_plan(data["patient"], data["kind"]),
                authorisation_override_by=request.user if override else None,
                authorisation_override_note=data["override_note"],
            )
        except SlotUnavailable as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, f"Booked {appointment.patient.full_name} on {appointment.chair.name}, "
                                      f"{_when(appointment.clinic, appointment.starts_at)}.")
            target = reverse("staff:appointment", args=[appointment.uuid])
            return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    selected = form.cleaned_data.get("patient") if form.is_bound and hasattr(form, "cleaned_data") else None
    template = "staff/_booking_form.html" if request.htmx else "staff/book.html"
    return render(request, template, {"form": form, "selected_patient": selected or initial.get("patient")})


# --- The appointment page --------------------------------------------------------------------


def _appointment_for(uuid):
    queryset = with_course_progress(
        Appointment.objects.select_related("patient", "clinic", "chair", "course__protocol", "plan__protocol",
                                           "technician", "booked_by", "authorisation_override_by")
    )
    return _mark_progress(get_object_or_404(queryset, uuid=uuid))


def _authorisation(course):
    """(left, warn) for a course with an authorised session count, else None."""
    if course is None or course.authorised_sessions is None:
        return None
    left = course.authorised_sessions - services.sessions_used(course)
    return {"left": left, "warn": left <= settings.TMS_AUTH_WARN_AT, "of": course.authorised_sessions}


def _last_motor_threshold(appointment):
    record = (
        Appointment.objects.filter(patient=appointment.patient, status=Appointment.Status.COMPLETED,
                                   session_record__motor_threshold__isnull=False)
        .order_by("-starts_at")
        .values_list("session_record__motor_threshold", flat=True)
        .first()
    )
    return record or (appointment.course.motor_threshold if appointment.course else None)


def _session_record_initial(appointment):
    protocol = (appointment.course or appointment.plan).protocol if (appointment.course or appointment.plan) else None
    initial = {"motor_threshold": _last_motor_threshold(appointment)}
    if protocol is not None:
        initial.update(pulses_delivered=protocol.pulses_per_session,
                       intensity_percent_mt=protocol.intensity_percent_mt, coil_position=protocol.target)
    return initial


def _proposed_slots(appointment, limit=8):
    clinic = appointment.clinic
    start = max(timezone.now(), appointment.starts_at - datetime.timedelta(days=1))
    slots = services.open_slots(
        clinic=clinic, duration=appointment.ends_at - appointment.starts_at, start=start,
        end=start + datetime.timedelta(days=14), chairs=[appointment.chair],
    )
    return [s for s in slots if s.starts_at != appointment.starts_at][:limit]


@staff_required
def appointment(request, uuid):
    current = _appointment_for(uuid)
    return _render_appointment(request, current)


def _render_appointment(request, current, **forms):
    held = roles_of(request.user)
    context = {
        "appointment": current,
        "authorisation": _authorisation(current.course),
        "can_book": bool(held & set(BOOKERS)),
        "can_run": bool(held & set(SESSION_RUNNERS)),
        "can_check_in": bool(held & set(CHECKERS_IN)),
        "has_started": current.starts_at <= timezone.now(),
        "record": getattr(current, "session_record", None) if current.status == Appointment.Status.COMPLETED else None,
        "cancel_form": forms.get("cancel_form") or CancelForm(),
        "record_form": forms.get("record_form") or SessionRecordForm(initial=_session_record_initial(current)),
        "proposed": _proposed_slots(current) if current.status == Appointment.Status.BOOKED else [],
        "reschedule_error": forms.get("reschedule_error"),
    }
    return render(request, "staff/appointment.html", context, status=400 if forms else 200)


ACTIONS = {
    "check-in": CHECKERS_IN,
    "complete": SESSION_RUNNERS,
    "no-show": CHECKERS_IN,
    "cancel": BOOKERS,
    "reschedule": BOOKERS,
}


@staff_required
@require_POST
def appointment_action(request, uuid, action):
    if action not in ACTIONS:
        raise Http404("No such action")
    if not roles_of(request.user) & set(ACTIONS[action]):
        messages.error(request, "Your role cannot do that.")
        return redirect("staff:appointment", uuid=uuid)
    current = _appointment_for(uuid)
    try:
        if action == "check-in":
            services.check_in(current, by=request.user)
            messages.success(request, f"{current.patient.full_name} is checked in.")
        elif action == "no-show":
            services.mark_no_show(current, by=request.user)
            messages.success(request, "Marked as a no-show.")
        elif action == "cancel":
            form = CancelForm(request.POST)
            if not form.is_valid():
                return _render_appointment(request, current, cancel_form=form)
            services.cancel_appointment(current, by=request.user, reason=form.cleaned_data["reason"])
            messages.success(request, "The appointment is cancelled.")
        elif action == "complete":
            form = SessionRecordForm(request.POST)
            if not form.is_valid():
                return _render_appointment(request, current, record_form=form)
            services.complete_appointment(current, by=request.user, **form.cleaned_data)
            messages.success(request, "Session completed and recorded.")
        elif action == "reschedule":
            form = RescheduleForm(request.POST)
            if not form.is_valid():
                return _render_appointment(request, current, reschedule_error=form.errors["slot"][0])
            chair, starts_at = form.cleaned_data["slot"]
            moved = services.reschedule_appointment(current, chair=chair, starts_at=starts_at, by=request.user)
            messages.success(request, f"Moved to {_when(moved.clinic, moved.starts_at)}.")
            return redirect("staff:appointment", uuid=moved.uuid)
    except (AppointmentStateError, SlotUnavailable) as refusal:
        messages.error(request, refusal.message)
    return redirect("staff:appointment", uuid=uuid)


# --- The patient page ------------------------------------------------------------------------


def _course_summary(course):
    counts = course.appointments.aggregate(
        completed=Count("pk", filter=Q(kind__in=services.TREATMENT_KINDS, status=Appointment.Status.COMPLETED)),
        used=Count("pk", filter=Q(kind__in=services.TREATMENT_KINDS, status__in=services.USED_STATUSES)),
    )
    return {
        "course": course,
        "completed": counts["completed"],
        "unbooked": max(0, course.planned_sessions - counts["used"]),
        "authorisation": None if course.authorised_sessions is None else {
            "left": course.authorised_sessions - counts["used"],
            "warn": course.authorised_sessions - counts["used"] <= settings.TMS_AUTH_WARN_AT,
            "of": course.authorised_sessions,
        },
    }


@staff_required
def patient(request, uuid):
    person = get_object_or_404(Patient.objects.select_related("home_clinic", "primary_clinician"), uuid=uuid)
    # Every course, newest first: the outcomes need them all, and the one in progress is among them.
    courses = list(person.courses.select_related("protocol").order_by("-start_date"))
    course = next((c for c in courses if c.status == TreatmentCourse.Status.ACTIVE), None)
    now = timezone.now()
    base = Appointment.objects.filter(patient=person).select_related("clinic", "chair")
    upcoming = list(base.live().filter(starts_at__gte=now).order_by("starts_at")[:20])
    past = list(base.filter(starts_at__lt=now).order_by("-starts_at")[:20])
    # The delivery log, newest first: one indexed query per way a reminder belongs to the
    # patient (through an appointment or a plan); one query with an OR across both joins
    # would read the whole ledger.
    newest = ("-scheduled_for", "-pk")
    about_appointments = Reminder.objects.filter(appointment__patient=person).select_related("appointment__clinic")
    about_plans = Reminder.objects.filter(plan__patient=person)
    deliveries = sorted([*about_appointments.order_by(*newest)[:20], *about_plans.order_by(*newest)[:20]],
                        key=lambda reminder: (reminder.scheduled_for, reminder.pk), reverse=True)[:20]
    held = roles_of(request.user)
    return render(request, "staff/patient.html", {
        "patient": person,
        "summary": _course_summary(course) if course else None,
        "upcoming": upcoming,
        "past": past,
        # Each reminder in its clinic's time: the appointment's clinic, or for a plan's
        # reminder the patient's home clinic.
        "deliveries": [(r, r.appointment.clinic if r.appointment_id else person.home_clinic) for r in deliveries],
        "can_book": bool(held & set(BOOKERS)),
        "can_start_course": CLINICIAN in held,
        "can_manage_plans": CLINICIAN in held,
        **outcomes.patient_outcomes(person, courses),
    })


@staff_required(CLINICIAN)
@require_http_methods(["GET", "POST"])
def start_course(request, uuid):
    person = get_object_or_404(Patient.objects.select_related("home_clinic"), uuid=uuid)
    form = StartCourseForm(request.POST if request.method == "POST" else None, clinic=person.home_clinic)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        booking = services.start_course(
            patient=person, protocol=data["protocol"], template=data["template"], kind=data["kind"],
            start_date=data["start_date"], chair=data["chair"], time_of_day=data["time_of_day"], by=request.user,
            authorised_sessions=data["authorised_sessions"], prior_auth_number=data["prior_auth_number"],
            motor_threshold=data["motor_threshold"],
        )
        return render(request, "staff/course_booked.html", {"patient": person, "booking": booking})
    return render(request, "staff/start_course.html", {"patient": person, "form": form})
