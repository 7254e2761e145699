"""The patient portal: accounts (invitation, login by e-mail, password reset), home, the PHQ-9
check-in, calendar files and contact preferences; and what a patient can do from the link in a
reminder without logging in. Self-booking lives in scheduling/portal_booking.py.

Everything a signed-in patient sees is looked up through ``request.patient`` (set by
``patient_required``): another patient's identifiers find nothing, so they answer 404. The
links that work without a login (reminder, calendar feed, set-password) carry an unguessable
key; opened while signed in as a different patient they answer 404 too.
"""

import datetime
import logging
import secrets

import icalendar
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ObjectDoesNotExist
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from patients.models import Assessment, MaintenancePlan, Patient
from patients.services import record_assessment
from tmsclinic.roles import CLINIC_ADMIN, CLINICIAN, FRONT_DESK, patient_required, staff_required

from . import outcomes, services
from .models import Appointment
from .portal_forms import PortalLoginForm, PortalPasswordResetForm, PortalPHQ9Form, PreferencesForm
from .reminders import appointment_from_link

log = logging.getLogger(__name__)

LIVE = (Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN)
INVITERS = (FRONT_DESK, CLINICIAN, CLINIC_ADMIN)
# The calendar feed reaches this far back, so recent sessions (and cancellations) stay visible.
FEED_DAYS_BACK = 90


class InviteRefused(Exception):
    """The patient cannot be invited; the message says why, in staff words."""


def _refuse_another_patient(request, owner_pk):
    """A key-bearing link opened while signed in as a different patient is a 404."""
    patient = getattr(request.user, "patient", None) if request.user.is_authenticated else None
    if patient is not None and patient.pk != owner_pk:
        raise Http404("Not found.")


# --- Accounts --------------------------------------------------------------------------------


def portal_account_for(patient):
    """The patient's portal user, created (username = e-mail, no usable password) and linked
    if they have none yet. Raises InviteRefused when the patient cannot have one."""
    if patient.status == Patient.Status.DISCHARGED:
        raise InviteRefused("This patient is discharged: discharged patients cannot use the portal.")
    email = patient.email.strip().lower()
    if not email:
        raise InviteRefused("Add the patient's e-mail address first: the invitation is sent by e-mail.")
    User = get_user_model()
    with transaction.atomic():
        patient = Patient.objects.select_for_update(of=("self",)).select_related("user").get(pk=patient.pk)
        user = patient.user
        holder = User.objects.filter(username__iexact=email).exclude(pk=getattr(user, "pk", None)).first()
        if holder is not None:
            raise InviteRefused(f"Another account already uses {email}: ask a clinic admin to sort it out.")
        if user is None:
            user = User(username=email, email=email)
            user.set_unusable_password()
            user.save()
            patient.user = user
            patient.save(update_fields=["user", "updated_at"])
        elif user.username != email:
            user.username = user.email = email
            user.save(update_fields=["username", "email"])
    return user


def open_portal_account(patient, *, password):
    """A portal account with a known password and no invitation: for seed_demo and scripts."""
    user = portal_account_for(patient)
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


def set_password_link(user):
    path = reverse("portal:set-password", kwargs={
        "uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user),
    })
    return settings.SITE_URL.rstrip("/") + path


def invite_patient(patient):
    """Create or reuse the patient's portal account and e-mail them a one-time link to set
    their password; it expires after PASSWORD_RESET_TIMEOUT. Returns the user."""
    user = portal_account_for(patient)
    context = {
        "patient": patient, "clinic": patient.home_clinic, "link": set_password_link(user),
        "days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    send_mail(
        subject=render_to_string("portal/emails/invite_subject.txt", context).strip(),
        message=render_to_string("portal/emails/invite.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )
    return user


@staff_required(*INVITERS)
@require_POST
def invite(request, uuid):
    person = get_object_or_404(Patient.objects.select_related("home_clinic"), uuid=uuid)
    try:
        user = invite_patient(person)
    except InviteRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Portal invitation sent to {user.email}.")
    return redirect("staff:patient", uuid=person.uuid)


class LoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = PortalLoginForm
    next_page = reverse_lazy("portal:home")


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/password_reset.html"
    form_class = PortalPasswordResetForm
    email_template_name = "portal/emails/password_reset.txt"
    subject_template_name = "portal/emails/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password-reset-sent")


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """Both the invitation's and the password reset's link: set a password, once, then land
    on the portal home signed in. A used, expired or foreign link is a 404 page."""

    template_name = "portal/set_password.html"
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("portal:home")

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        if user is None:
            return None
        try:
            active = user.patient.status == Patient.Status.ACTIVE
        except ObjectDoesNotExist:
            active = False
        if not active:
            return None
        _refuse_another_patient(self.request, user.patient.pk)
        return user

    def dispatch(self, *args, **kwargs):
        response = super().dispatch(*args, **kwargs)
        if not self.validlink and response.status_code == 200:
            response.status_code = 404
        return response

    def form_valid(self, form):
        messages.success(self.request, "Your password is set. Welcome to your patient portal.")
        return super().form_valid(form)


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
        return (f"Your maintenance session was due on {due:%-d %B}. Please call the clinic to book it "
                "as soon as you can.")
    return (f"Your next maintenance session is due around {due:%-d %B} — "
            f"book between {opens:%-d %B} and {closes:%-d %B}.")


@patient_required
@require_GET
def home(request):
    patient = Patient.objects.select_related("home_clinic").get(pk=request.patient.pk)
    clinic = patient.home_clinic
    now = timezone.now()
    appointments = patient.appointments.select_related("clinic")
    upcoming = list(appointments.live().filter(starts_at__gte=now).order_by("starts_at")[:10])
    past = list(appointments.filter(starts_at__lt=now).order_by("-starts_at")[:10])
    plan = patient.maintenance_plans.filter(
        status__in=(MaintenancePlan.Status.ACTIVE, MaintenancePlan.Status.PAUSED)
    ).first()
    courses = list(patient.courses.select_related("protocol").order_by("-start_date"))
    chart = outcomes.patient_outcomes(patient, courses)
    return render(request, "portal/home.html", {
        "patient": patient,
        "clinic": clinic,
        "upcoming": [(a, a.clinic.local(a.starts_at)) for a in upcoming],
        "past": [(a, a.clinic.local(a.starts_at)) for a in past],
        "plan_words": _plan_in_words(plan, clinic, upcoming, clinic.today()),
        "phq9_chart": chart["phq9_chart"],
        "assessments": chart["assessments"],
    })


# --- PHQ-9 check-in --------------------------------------------------------------------------


def _next_check_in(patient):
    """When the patient may next send a PHQ-9 from the portal, or None if they may now."""
    last = patient.assessments.filter(source=Assessment.Source.PORTAL).order_by("-taken_at").first()
    if last is None:
        return None
    next_at = last.taken_at + datetime.timedelta(days=settings.TMS_PORTAL_PHQ9_EVERY_DAYS)
    return next_at if next_at > timezone.now() else None


@patient_required
@require_http_methods(["GET", "POST"])
def phq9(request):
    patient = request.patient
    next_at = _next_check_in(patient)
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
    return render(request, "portal/phq9.html", {"form": form, "question": outcomes.PHQ9_QUESTION},
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


# --- Calendar --------------------------------------------------------------------------------


def _event(appointment, stamp):
    """One appointment as a VEVENT: when and where, nothing clinical. The UID stays the same
    for the appointment's life and SEQUENCE grows with each change, so calendars update it."""
    clinic = appointment.clinic
    event = icalendar.Event()
    event.add("uid", f"{appointment.uuid}@tmsclinic")
    event.add("summary", f"TMS session at {clinic.name}")
    event.add("dtstart", clinic.local(appointment.starts_at))
    event.add("dtend", clinic.local(appointment.ends_at))
    event.add("dtstamp", stamp)
    event.add("last-modified", appointment.updated_at)
    event.add("sequence", int((appointment.updated_at - appointment.created_at).total_seconds()))
    if clinic.address:
        event.add("location", " ".join(clinic.address.split()))
    cancelled = appointment.status == Appointment.Status.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def calendar_file(appointments, *, name):
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//TMS Clinic//Patient portal//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    stamp = timezone.now()
    for appointment in appointments:
        calendar.add_component(_event(appointment, stamp))
    if appointments:
        days = [a.starts_at.date() for a in appointments]
        calendar.add_missing_timezones(first_date=min(days) - datetime.timedelta(days=366),
                                       last_date=max(days) + datetime.timedelta(days=366))
    return calendar.to_ical()


def _ics_response(content, filename=None):
    response = HttpResponse(content, content_type="text/calendar; charset=utf-8")
    if filename:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@never_cache
@require_GET
def calendar_feed(request, token):
    patient = Patient.objects.filter(calendar_token=token, status=Patient.Status.ACTIVE).first()
    if patient is None:
        raise Http404("This calendar link is not valid.")
    _refuse_another_patient(request, patient.pk)
    since = timezone.now() - datetime.timedelta(days=FEED_DAYS_BACK)
    appointments = list(
        patient.appointments.filter(starts_at__gte=since).select_related("clinic").order_by("starts_at")
    )
    return _ics_response(calendar_file(appointments, name="TMS sessions"))


@patient_required
@require_GET
def appointment_ics(request, uuid):
    appointment = get_object_or_404(request.patient.appointments.select_related("clinic"), uuid=uuid)
    day = appointment.clinic.local(appointment.starts_at).date()
    return _ics_response(calendar_file([appointment], name="TMS session"), filename=f"tms-session-{day}.ics")


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
    _refuse_another_patient(request, appointment.patient_id)
    clinic = appointment.clinic
    cutoff = appointment.starts_at - datetime.timedelta(hours=settings.TMS_CANCEL_NOTICE_HOURS)
    can_act = appointment.status in LIVE and appointment.starts_at > timezone.now()
    notice = None
    if request.method == "POST" and can_act:
        action = request.POST.get("action")
        if action == "confirm":
            Appointment.objects.filter(pk=appointment.pk, confirmed_at__isnull=True).update(confirmed_at=timezone.now())
            return redirect(request.path + "?done=confirmed")
        if action == "cancel":
            if timezone.now() > cutoff:
                notice = "too-late"
            else:
                try:
                    services.cancel_appointment(appointment, by=None, reason="Cancelled by the patient from a reminder")
                except services.AppointmentStateError:
                    notice = "not-live"
                else:
                    return redirect(request.path + "?done=cancelled")
    appointment.refresh_from_db()
    return render(request, "portal/reminder_link.html", {
        "appointment": appointment,
        "clinic": clinic,
        "local_start": clinic.local(appointment.starts_at),
        "can_act": appointment.status in LIVE and appointment.starts_at > timezone.now(),
        "can_cancel": timezone.now() <= cutoff,
        "notice_hours": settings.TMS_CANCEL_NOTICE_HOURS,
        "notice": notice,
        "done": request.GET.get("done"),
    }, status=409 if notice else 200)
