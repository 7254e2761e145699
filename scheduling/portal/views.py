"""The patient portal's own pages: home, the PHQ-9 check-in, contact preferences and the
calendar link; and what a patient can do from the link in a reminder without logging in.
Accounts are in accounts.py, self-booking in booking.py, calendar files in ical.py.

Everything a signed-in patient sees is looked up through ``request.patient`` (set by
``patient_required``): another patient's identifiers find nothing, so they answer 404. The
links that work without a login (reminder, calendar feed, set-password) carry an unguessable
key; opened while signed in as a different patient they answer 404 too.
"""

import datetime
import secrets

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from patients import portal_chart
from patients.forms import PHQ9_QUESTION
from patients.models import Assessment, MaintenancePlan, Patient
from patients.services import record_assessment
from tmsclinic import audit
from tmsclinic.roles import patient_required, refuse_another_patient

from .. import selectors
from ..models import Appointment
from ..services.portal import (
    cancel_from_link,
    confirm_from_link,
    link_actions_open,
    link_cancel_cutoff,
    next_check_in,
)
from ..services.reminders import appointment_from_link
from .forms import PortalPHQ9Form, PreferencesForm

# --- Home ------------------------------------------------------------------------------------


def _plan_in_words(plan, clinic, upcoming, today):
    """What the patient's maintenance plan asks of them next, in plain words, or None."""
    if plan is None:
        return None
    if plan.status == MaintenancePlan.Status.PAUSED:
        if plan.paused_until:
            return f"Your maintenance plan is paused until {plan.paused_until:%-d %B}."
        return "Your maintenance plan is paused. The clinic will tell you when it starts again."
    if plan.next_due_on is None:
        return "Your maintenance plan has no more sessions to book."
    booked = next((a for a in upcoming if a.kind == Appointment.Kind.MAINTENANCE), None)
    if booked is not None:
        return f"Your next maintenance session is booked for {clinic.local(booked.starts_at):%-d %B at %H:%M}."
    due = plan.next_due_on
    opens = due - datetime.timedelta(days=settings.TMS_PORTAL_BOOK_DAYS_BEFORE)
    closes = due + datetime.timedelta(days=plan.grace_days)
    if today > closes:
        if (today - due).days > settings.TMS_PORTAL_LAPSED_CALL_DAYS:
            return (f"Your maintenance session was due on {due:%-d %B}. As it has been a while, please call the "
                    "clinic: your clinician may want to see you before you book.")
        last = today + datetime.timedelta(days=settings.TMS_PORTAL_LAPSED_BOOK_DAYS)
        return (f"Your maintenance session was due on {due:%-d %B}. Book it as soon as you can — "
                f"between today and {last:%-d %B}.")
    return (f"Your next maintenance session is due around {due:%-d %B} — "
            f"book between {opens:%-d %B} and {closes:%-d %B}.")


@patient_required
@require_GET
def home(request):
    patient = Patient.objects.select_related("home_clinic").get(pk=request.patient.pk)
    clinic = patient.home_clinic
    upcoming, past = selectors.patient_appointments(patient, now=timezone.now(), limit=10)
    plan = patient.maintenance_plans.live().first()
    courses = list(patient.courses.order_by("start_date"))
    assessments = list(patient.assessments.order_by("taken_at"))
    chart = legend = None
    if assessments:
        halfway = portal_chart.halfway_lines(courses, assessments, clinic.time_zone)
        chart = portal_chart.phq9_chart(
            scores=[(clinic.local(a.taken_at).date(), a.total) for a in assessments],
            halfway=halfway, until=clinic.today(),
        )
        legend = portal_chart.legend(bool(halfway))
    return render(request, "portal/home.html", {
        "patient": patient,
        "clinic": clinic,
        "upcoming": [(a, a.clinic.local(a.starts_at)) for a in upcoming],
        "past": [(a, a.clinic.local(a.starts_at)) for a in past],
        "plan_words": _plan_in_words(plan, clinic, upcoming, clinic.today()),
        "phq9_chart": chart,
        "phq9_legend": legend,
        "assessments": assessments,
    })


# --- PHQ-9 check-in --------------------------------------------------------------------------


@patient_required
@require_http_methods(["GET", "POST"])
def phq9(request):
    patient = request.patient
    next_at = next_check_in(patient)
    if next_at is not None:
        clinic = patient.home_clinic
        return render(request, "portal/phq9_wait.html", {
            "next_on": clinic.local(next_at).date(), "clinic": clinic,
        }, status=409 if request.method == "POST" else 200)
    form = PortalPHQ9Form(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        assessment = record_assessment(
            patient=patient, items=form.items, source=Assessment.Source.PORTAL, by=request.user,
            difficulty=form.cleaned_data["difficulty"],
        )
        request.session["portal_phq9"] = assessment.pk
        return redirect("portal:phq9-done")
    return render(request, "portal/phq9.html", {"form": form, "question": PHQ9_QUESTION},
                  status=400 if form.is_bound else 200)


@patient_required
@require_GET
def phq9_done(request):
    assessment = (
        request.patient.assessments.filter(pk=request.session.get("portal_phq9"))
        .select_related("patient__home_clinic").first()
    )
    if assessment is None:
        return redirect("portal:home")
    return render(request, "portal/phq9_done.html", {
        "assessment": assessment, "clinic": assessment.patient.home_clinic,
    })


# --- Preferences -----------------------------------------------------------------------------


@patient_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    patient = request.patient
    form = PreferencesForm(request.POST if request.method == "POST" else None, instance=patient)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your preferences are saved.")
        return redirect("portal:preferences")
    feed_url = (
        request.build_absolute_uri(reverse("portal:calendar-feed", args=[patient.calendar_token]))
        if patient.calendar_token else None
    )
    return render(request, "portal/preferences.html", {
        "form": form, "patient": patient, "feed_url": feed_url,
        "webcal_url": feed_url and "webcal://" + feed_url.split("://", 1)[1],
    }, status=400 if form.is_bound else 200)


@patient_required
@require_POST
def calendar_token(request):
    """Make a new private feed link (the old one stops working) or turn the feed off."""
    patient = request.patient
    if request.POST.get("action") == "revoke":
        patient.calendar_token = None
        messages.success(request, "Your calendar link is turned off. Calendars that used it stop updating.")
    else:
        patient.calendar_token = secrets.token_urlsafe(32)
        messages.success(request, "Your new private calendar link is ready. Any older link no longer works.")
    patient.save(update_fields=["calendar_token", "updated_at"])
    return redirect("portal:preferences")


# --- The link in a reminder ------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def reminder_link(request, token):
    appointment = appointment_from_link(token)
    if appointment is None:
        raise Http404("This link has expired or is not valid. Please call the clinic.")
    refuse_another_patient(request, appointment.patient_id)
    audit.about(request, appointment.patient)
    clinic = appointment.clinic
    notice = None
    if request.method == "POST" and link_actions_open(appointment):
        action = request.POST.get("action")
        if action == "confirm":
            confirm_from_link(appointment)
            return redirect(request.path + "?done=confirmed")
        if action == "cancel":
            notice = cancel_from_link(appointment)
            if notice is None:
                return redirect(request.path + "?done=cancelled")
    appointment.refresh_from_db()
    return render(request, "portal/reminder_link.html", {
        "appointment": appointment,
        "clinic": clinic,
        "local_start": clinic.local(appointment.starts_at),
        "can_act": link_actions_open(appointment),
        "can_cancel": timezone.now() <= link_cancel_cutoff(appointment),
        "notice_hours": settings.TMS_CANCEL_NOTICE_HOURS,
        "notice": notice,
        "done": request.GET.get("done"),
        # "Cancel this appointment" asks first (?ask=cancel); only the POST from there cancels.
        "asking": request.GET.get("ask") if request.method == "GET" else None,
    }, status=409 if notice else 200)
