"""Self-booking in the portal: the slot list, booking one, and an appointment's page to cancel
or move it. The rules (window, notice, how many, one a day) are services.portal's."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from tmsclinic.inputs import iso_moment
from tmsclinic.roles import patient_required

from ..models import Appointment
from ..services.calendar import long_day
from ..services.portal import (
    BOOKABLE_KINDS,
    Refusal,
    book_slot,
    bookable_times,
    by_day,
    cancel,
    limit_reached,
    may_change,
    offer_for,
    please_call,
    reschedule,
    too_late,
    upcoming_for,
    window_text,
)

# --- Views -----------------------------------------------------------------------------------


def _posted_time(request):
    """The chosen start from the form, or Refusal: the value is whatever the browser sent."""
    moment = iso_moment(request.POST.get("slot", ""))
    if moment is None or timezone.is_naive(moment):
        raise Refusal("Please choose one of the times listed.")
    return moment


def _kind(request, source):
    kind = source.get("kind") or Appointment.Kind.MAINTENANCE
    return kind if kind in BOOKABLE_KINDS else Appointment.Kind.MAINTENANCE


def _slot_page(request, *, offer_or_reason, moving=None, kind):
    patient = request.patient
    clinic = patient.home_clinic
    context = {"clinic": clinic, "moving": moving, "kind": kind, "days": [], "drawn_days": [], "reason": None,
               "offer": None, "can_reintroduce": patient.may_book_reintroduction}
    if isinstance(offer_or_reason, Refusal):
        context["reason"] = str(offer_or_reason)
    else:
        offer = offer_or_reason
        now = timezone.now()
        context["offer"] = offer
        context["window"] = window_text(offer)
        upcoming = upcoming_for(patient, now, moving)
        context["reason"] = limit_reached(offer, upcoming)
        times = bookable_times(offer, patient, now, moving, upcoming)
        context["days"] = by_day(clinic, times)
        context["drawn_days"] = [_day_of_times(day, local_times, moving) for day, local_times in context["days"]]
        if moving is not None:
            context["moving_start"] = clinic.local(moving.starts_at)
    # Template filters show aware times in the current zone: make it the clinic's.
    with timezone.override(clinic.tz):
        return render(request, "portal/book.html", context)


def _day_of_times(day, local_times, moving):
    """(day, its name, how many times, the times' buttons): hundreds of buttons a page, drawn
    here rather than by the template, each carrying its time (only dates and times: nothing
    to escape)."""
    name = long_day(day)
    verb = "Move to" if moving else "Book"
    buttons = "\n    ".join(
        f'<button type="submit" name="slot" value="{local.isoformat()}" class="btn btn-outline-primary" '
        f'aria-label="{verb} {name} at {local:%H:%M}">{local:%H:%M}</button>' for local in local_times)
    return day, name, len(local_times), mark_safe(buttons)  # noqa: S308


@patient_required
def book(request):
    kind = _kind(request, request.GET)
    try:
        offer = offer_for(request.patient, kind)
    except Refusal as refusal:
        offer = refusal
    return _slot_page(request, offer_or_reason=offer, kind=kind)


@patient_required
def book_slot_view(request):
    kind = _kind(request, request.POST)
    if request.method != "POST":
        return redirect(f"{reverse('portal:book')}?kind={kind}")
    try:
        appointment = book_slot(patient=request.patient, kind=kind, starts_at=_posted_time(request),
                                user=request.user)
    except Refusal as refusal:
        messages.error(request, str(refusal))
        return redirect(f"{reverse('portal:book')}?kind={kind}")
    local = appointment.clinic.local(appointment.starts_at)
    messages.success(request, f"Booked: {long_day(local)} at {local:%H:%M}.")
    return redirect("portal:appointment", uuid=appointment.uuid)


def _own_appointment(request, uuid):
    return get_object_or_404(
        Appointment.objects.select_related("clinic"), uuid=uuid, patient=request.patient
    )


@patient_required
def appointment_detail(request, uuid):
    appointment = _own_appointment(request, uuid)
    now = timezone.now()
    clinic = appointment.clinic
    with timezone.override(clinic.tz):
        return render(request, "portal/book_appointment.html", {
            "appointment": appointment,
            "clinic": clinic,
            "local_start": clinic.local(appointment.starts_at),
            "upcoming": appointment.status in Appointment.TO_COME and appointment.ends_at > now,
            "may_change": may_change(appointment, now),
            "may_move": may_change(appointment, now) and appointment.kind in BOOKABLE_KINDS,
            "notice_hours": settings.TMS_CANCEL_NOTICE_HOURS,
        })


def _refuse_change(request, appointment, what):
    """The appointment page with the reason, when it can no longer be changed online."""
    messages.error(request, too_late(appointment) if appointment.status == Appointment.Status.BOOKED
                   else f"This appointment cannot be {what}.")
    return redirect("portal:appointment", uuid=appointment.uuid)


@patient_required
@require_http_methods(["GET", "POST"])
def cancel_view(request, uuid):
    """GET asks "Cancel your appointment on …?"; only the POST from that page cancels."""
    appointment = _own_appointment(request, uuid)
    if request.method == "GET":
        if not may_change(appointment, timezone.now()):
            return _refuse_change(request, appointment, "cancelled")
        with timezone.override(appointment.clinic.tz):
            return render(request, "portal/cancel_confirm.html", {
                "appointment": appointment, "clinic": appointment.clinic,
                "local_start": appointment.clinic.local(appointment.starts_at),
            })
    try:
        cancel(patient=request.patient, appointment=appointment, user=request.user)
    except Refusal as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, "Your appointment is cancelled. The clinic has been told.")
    return redirect("portal:appointment", uuid=appointment.uuid)


def _chosen_time(request, appointment, offer):
    """The time asked for in ``?slot=``, if it is one the patient may move to now; else None
    with a message (the list is shown again)."""
    moment = iso_moment(request.GET.get("slot", ""))
    if (moment is not None and timezone.is_aware(moment) and not isinstance(offer, Refusal)
            and moment in bookable_times(offer, request.patient, timezone.now(), appointment)):
        return moment
    messages.error(request, "Sorry, that time is not free any more. Please choose one of the times listed.")
    return None


@patient_required
@require_http_methods(["GET", "POST"])
def reschedule_view(request, uuid):
    """GET lists the times; GET with ``?slot=`` asks "Move it to …?"; only the POST from that
    page moves the appointment."""
    appointment = _own_appointment(request, uuid)
    if appointment.kind not in BOOKABLE_KINDS:
        messages.error(request, f"This appointment can only be moved by the clinic: {please_call(appointment.clinic)}.")
        return redirect("portal:appointment", uuid=appointment.uuid)
    if not may_change(appointment, timezone.now()):
        return _refuse_change(request, appointment, "moved")
    if request.method == "POST":
        try:
            new = reschedule(patient=request.patient, appointment=appointment, starts_at=_posted_time(request),
                             user=request.user)
        except Refusal as refusal:
            messages.error(request, str(refusal))
            return redirect("portal:reschedule", uuid=appointment.uuid)
        local = new.clinic.local(new.starts_at)
        messages.success(request, f"Moved to {long_day(local)} at {local:%H:%M}.")
        return redirect("portal:appointment", uuid=new.uuid)
    try:
        offer = offer_for(request.patient, appointment.kind)
    except Refusal as refusal:
        offer = refusal
    if "slot" in request.GET:
        chosen = _chosen_time(request, appointment, offer)
        if chosen is not None:
            clinic = appointment.clinic
            with timezone.override(clinic.tz):
                return render(request, "portal/reschedule_confirm.html", {
                    "appointment": appointment, "clinic": clinic, "chosen": chosen.isoformat(),
                    "from_local": clinic.local(appointment.starts_at), "to_local": clinic.local(chosen),
                })
        return redirect("portal:reschedule", uuid=appointment.uuid)
    return _slot_page(request, offer_or_reason=offer, moving=appointment, kind=appointment.kind)
