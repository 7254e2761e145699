"""Booking with the slot finder, and the appointment page with its actions (check in, complete, no-show, cancel,
reschedule)."""

import datetime

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from patients.models import Patient
from patients.selectors import walled
from tmsclinic import audit
from tmsclinic.roles import BOOK, CLINICAL_WRITE, RUN_SESSIONS, SEE_PATIENTS, may, staff_required

from .. import selectors, services
from ..models import Appointment, Chair, Clinic
from ..services import AppointmentStateError, SlotUnavailable, billing, motor_threshold
from ..services.calendar import after, clock_on_day, short_when
from .forms import BookingForm, CancelForm, CptCodeForm, RescheduleForm, SessionRecordForm, booking_initial


def _next_page(request, query):
    """Where to go once booked, when the page that sent here asked (?next=): a staff page of
    this site only, never another host."""
    wanted = query.get("next", "")
    if wanted.startswith("/staff/") and url_has_allowed_host_and_scheme(
            wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return wanted
    return None


def _booking_clinic(query, clinics, initial):
    """The clinic whose chairs the booking form offers: asked for (?clinic=), the clicked chair's,
    the patient's home clinic, else the user's home clinic."""
    by_id = {str(clinic.pk): clinic for clinic in clinics}
    if query.get("clinic") in by_id:
        return by_id[query["clinic"]]
    if "chair" in initial:
        return initial["chair"].clinic
    patient = initial.get("patient")
    if patient is not None and str(patient.home_clinic_id) in by_id:
        return by_id[str(patient.home_clinic_id)]
    return clinics[0] if clinics else None


def _from_day(query):
    try:
        return datetime.date.fromisoformat(query.get("from", ""))
    except ValueError:
        return None


def _free_times(clinic, patient, kind, *, from_day=None, moving=None):
    """The slot finder's times and the day to look from for later ones."""
    if clinic is None or patient is None and moving is None:
        return {"slots": [], "later": None}
    duration = moving.ends_at - moving.starts_at if moving is not None else services.duration_for(patient, kind)
    slots = services.free_slots(clinic=clinic, duration=duration, patient=patient, from_day=from_day, moving=moving)
    later = clinic.local(slots[-1].starts_at).date() + datetime.timedelta(days=1) if slots else None
    return {"slots": slots, "later": later, "minutes": round(duration.total_seconds() / 60)}


@staff_required(BOOK)
@require_http_methods(["GET", "POST"])
def book(request):
    """Book an appointment: the form (prefilled by a clicked cell, a slot of the finder or a
    patient link), and the next free times for the chosen patient across the clinic's chairs."""
    patients = walled(request, Patient.objects.active().select_related("home_clinic"))
    clinics = list(Clinic.objects.visible_to(request.user))
    query = request.POST if request.method == "POST" else request.GET
    initial = booking_initial(query, patients=patients,
                              chairs=Chair.objects.filter(active=True, clinic__in=clinics))
    clinic = _booking_clinic(query, clinics, initial)
    chairs = Chair.objects.filter(active=True, clinic=clinic)
    patient = initial.get("patient")
    initial.setdefault("kind", services.likely_kind(patient))
    form = BookingForm(request.POST if request.method == "POST" else None, initial=initial, patients=patients,
                       chairs=chairs)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        override = data["override_authorisation"] and may(request.user, CLINICAL_WRITE)
        try:
            appointment = services.book_appointment(
                patient=data["patient"], chair=data["chair"], starts_at=data["starts_at"], kind=data["kind"],
                booked_by=request.user, course=services.active_course_for(data["patient"], data["kind"]),
                plan=services.active_plan_for(data["patient"], data["kind"]),
                authorisation_override_by=request.user if override else None,
                authorisation_override_note=data["override_note"],
            )
        except SlotUnavailable as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, f"Booked {appointment.patient.full_name} on {appointment.chair.name}, "
                                      f"{short_when(appointment.clinic, appointment.starts_at)}.")
            target = _next_page(request, query) or reverse("staff:appointment", args=[appointment.uuid])
            return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    if form.is_bound and hasattr(form, "cleaned_data"):
        patient = form.cleaned_data.get("patient") or patient
    kind = form["kind"].value()
    context = {
        "form": form, "selected_patient": patient, "clinic": clinic, "clinics": clinics, "kind": kind,
        "kind_label": Appointment.Kind(kind).label if kind in Appointment.Kind.values else "",
        "next": _next_page(request, query),
        # A time chosen from the finder (or a clicked cell) is confirmed before it is booked.
        "confirming": request.method == "GET" and {"patient", "chair", "starts_at"} <= initial.keys(),
        **_free_times(clinic, patient, kind, from_day=_from_day(query)),
    }
    if request.htmx and request.GET.get("part") == "times":
        return render(request, "staff/_free_times.html", context)
    template = "staff/_booking_form.html" if request.htmx else "staff/book.html"
    return render(request, template, context)


def _appointment_for(request, uuid):
    """The appointment the URL names, behind the clinic wall, named in the audit trail."""
    appointment = selectors.appointment_page(walled(request, Appointment.objects), uuid)
    if appointment is None:
        raise Http404("No such appointment.")
    audit.about(request, appointment.patient)
    return appointment


def _session_record_initial(appointment):
    source = appointment.course or appointment.plan
    if source is None:
        return {}
    protocol = source.protocol
    return {"pulses_delivered": protocol.pulses_per_session, "intensity_percent_mt": protocol.intensity_percent_mt,
            "coil_position": protocol.target}


def _session_record_form(appointment, data=None):
    """The completion form, told the protocol, whether MT must be measured and the last one."""
    source = appointment.course or appointment.plan
    return SessionRecordForm(
        data, initial=None if data else _session_record_initial(appointment),
        protocol=source.protocol if source else None, recheck_reasons=appointment.mt_recheck_reasons,
        last_measurement=motor_threshold.last_measurement(appointment.patient, before=appointment.starts_at))


@staff_required(SEE_PATIENTS)
def appointment(request, uuid):
    return _render_appointment(request, _appointment_for(request, uuid))


def _render_appointment(request, current, **forms):
    # Session records and motor thresholds are clinical: read only for those who run sessions.
    runs_sessions = may(request.user, RUN_SESSIONS)
    completed = current.status == Appointment.Status.COMPLETED
    opens_at = services.check_in_opens_at(current)
    context = {
        "appointment": current,
        "authorisation": services.authorisation_status(current.course),
        "has_started": current.starts_at <= timezone.now(),
        "check_in_opens": clock_on_day(current.clinic, opens_at) if opens_at > timezone.now() else None,
        "record": getattr(current, "session_record", None) if completed and runs_sessions else None,
        "cancel_form": forms.get("cancel_form") or CancelForm(),
        "record_form": forms.get("record_form") or (
            _session_record_form(current) if runs_sessions else None),
        "reschedule": _reschedule_context(request, current),
        "reschedule_error": forms.get("reschedule_error"),
        "cpt_form": forms.get("cpt_form") or _cpt_form(request, current),
    }
    return render(request, "staff/appointment.html", context, status=400 if forms else 200)


def _reschedule_context(request, appointment):
    """The slot finder for moving a booked appointment, and the time chosen from it awaiting
    confirmation (?move_to=<chair>@<moment>)."""
    if appointment.status != Appointment.Status.BOOKED or not may(request.user, BOOK):
        return None
    context = _free_times(appointment.clinic, appointment.patient, appointment.kind,
                          from_day=_from_day(request.GET), moving=appointment)
    form = RescheduleForm({"slot": request.GET["move_to"]}, clinic=appointment.clinic) \
        if "move_to" in request.GET else None
    if form is not None and form.is_valid():
        chair, starts_at = form.cleaned_data["slot"]
        context["move_to"] = {"chair": chair, "starts_at": starts_at, "slot": request.GET["move_to"],
                              "ends_at": after(starts_at, appointment.ends_at - appointment.starts_at)}
    return context


def _cpt_form(request, appointment):
    """A clinician's form to change a completed session's billing code, or None."""
    record = getattr(appointment, "session_record", None)
    if record is None or not may(request.user, CLINICAL_WRITE):
        return None
    return CptCodeForm(initial={"code": record.cpt_code})


# What each action asks for; the page shows a button only to whoever holds it.
ACTIONS = {
    "check-in": SEE_PATIENTS,
    "complete": RUN_SESSIONS,
    "no-show": SEE_PATIENTS,
    "cancel": BOOK,
    "reschedule": BOOK,
    "billing-code": CLINICAL_WRITE,
}


@staff_required(SEE_PATIENTS)
@require_POST
def appointment_action(request, uuid, action):
    if action not in ACTIONS:
        raise Http404("No such action")
    if not may(request.user, ACTIONS[action]):
        messages.error(request, "Your role cannot do that.")
        return redirect("staff:appointment", uuid=uuid)
    current = _appointment_for(request, uuid)
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
            form = _session_record_form(current, request.POST)
            if not form.is_valid():
                return _render_appointment(request, current, record_form=form)
            record = {name: value for name, value in form.cleaned_data.items() if name != "confirm_off_protocol"}
            services.complete_appointment(current, by=request.user, **record)
            messages.success(request, "Session completed and recorded.")
        elif action == "billing-code":
            record = getattr(current, "session_record", None)
            form = CptCodeForm(request.POST)
            if record is None:
                raise AppointmentStateError("This session has no record yet, so no billing code.")
            if not form.is_valid():
                return _render_appointment(request, current, cpt_form=form)
            billing.change_cpt(record, code=form.cleaned_data["code"], reason=form.cleaned_data["reason"],
                               by=request.user)
            messages.success(request, f"The billing code is now {form.cleaned_data['code']}.")
        elif action == "reschedule":
            form = RescheduleForm(request.POST, clinic=current.clinic)
            if not form.is_valid():
                return _render_appointment(request, current, reschedule_error=form.errors["slot"][0])
            chair, starts_at = form.cleaned_data["slot"]
            moved = services.reschedule_appointment(current, chair=chair, starts_at=starts_at, by=request.user)
            messages.success(request, f"Moved to {short_when(moved.clinic, moved.starts_at)}.")
            return redirect("staff:appointment", uuid=moved.uuid)
    except (AppointmentStateError, SlotUnavailable, billing.CodeRefused) as refusal:
        messages.error(request, refusal.message)
    return redirect("staff:appointment", uuid=uuid)
