"""The patient's waitlist page (a wish for a sooner or better time), and the page an offer's
link opens without a password: the freed time, Accept or No thanks. The rules are
services.waitlist's.

An offer's link carries a signed key; opened while signed in as another patient it answers
404, like the reminder link. Every answer that is not a booking says why in plain words, and
changes nothing.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from tmsclinic import audit
from tmsclinic.roles import patient_required, refuse_another_patient

from ..models import Appointment, SlotOffer
from ..services import waitlist
from ..services.portal import please_call
from ..staff.forms import WaitlistWishForm


def _booked_visits(patient, now):
    return list(Appointment.objects.filter(patient=patient, clinic=patient.home_clinic_id,
                                           status=Appointment.Status.BOOKED, starts_at__gt=now)
                .select_related("clinic").order_by("starts_at")[:10])


@patient_required
@require_http_methods(["GET", "POST"])
def waitlist_page(request):
    patient = request.patient
    clinic = patient.home_clinic
    now = timezone.now()
    entry = waitlist.waiting_entry(patient, clinic)
    form = None
    if entry is None:
        visits = _booked_visits(patient, now)
        initial = {"earlier_than": request.GET.get("earlier_than", "")}
        form = WaitlistWishForm(request.POST if request.method == "POST" else None, appointments=visits,
                                clinic=clinic, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                waitlist.add_wish(
                    patient=patient, clinic=clinic, by=request.user, via=Appointment.Via.PORTAL,
                    earlier_than=data.get("earlier_than"), weekdays=data["weekdays"],
                    earliest_time=data["earliest_time"], latest_time=data["latest_time"],
                    from_date=data["from_date"], until_date=data["until_date"], note=data["note"])
            except waitlist.WaitlistRefusal as refusal:
                form.add_error(None, f"{refusal} For another time, {please_call(clinic)}.")
            else:
                messages.success(request, "You are on the waitlist. We will tell you if a time that suits comes free.")
                return redirect("portal:waitlist")
    elif request.method == "POST":
        messages.info(request, "You are already on the waitlist.")
        return redirect("portal:waitlist")
    with timezone.override(clinic.tz):
        return render(request, "portal/waitlist.html", {
            "clinic": clinic, "entry": entry, "wish": waitlist.describe(entry) if entry else None, "form": form,
            "offers": waitlist.recent_offers(patient, limit=5),
            "opted_out": patient.outreach_opt_out_at is not None,
        }, status=400 if form is not None and form.is_bound else 200)


@patient_required
@require_POST
def waitlist_withdraw(request):
    entry = waitlist.waiting_entry(request.patient, request.patient.home_clinic)
    if entry is not None and waitlist.withdraw(entry):
        messages.success(request, "You are off the waitlist. You will not be offered freed times.")
    else:
        messages.info(request, "You were not on the waitlist.")
    return redirect("portal:waitlist")


# --- The offer's link (no password) ----------------------------------------------------------

ANSWERS = {
    waitlist.BOOKED: (200, "booked"),
    waitlist.TAKEN: (409, "taken"),
    waitlist.EXPIRED: (409, "expired"),
    waitlist.CLOSED: (409, "closed"),
    waitlist.WISH_CLOSED: (409, "wish-closed"),
    waitlist.SAME_DAY: (409, "same-day"),
}


def _state(offer, now):
    """What the page says of the offer now: open, or why it cannot be taken."""
    if waitlist.answerable(offer, now):
        return "open"
    return {
        SlotOffer.Status.ACCEPTED: "booked",
        SlotOffer.Status.DECLINED: "declined",
        SlotOffer.Status.GONE: "taken",
        SlotOffer.Status.OPEN: "expired",
        SlotOffer.Status.EXPIRED: "expired",
    }.get(offer.status, "closed")


@require_http_methods(["GET", "POST"])
def offer(request, token):
    found = waitlist.offer_from_link(token)
    if found is None:
        return render(request, "portal/offer.html", {"state": "invalid"}, status=404)
    refuse_another_patient(request, found.patient_id)
    audit.about(request, found.patient)
    status, notice = 200, None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "accept":
            outcome, _ = waitlist.accept(found, user=request.user)
            status, notice = ANSWERS[outcome]
            if outcome == waitlist.BOOKED:
                return redirect(f"{request.path}?done=booked")
        elif action == "decline":
            if waitlist.decline(found):
                return redirect(f"{request.path}?done=declined")
            status, notice = 409, "closed"
        else:
            status, notice = 400, "unknown"
        found = waitlist.offer_from_link(token)
    clinic = found.clinic
    with timezone.override(clinic.tz):
        return render(request, "portal/offer.html", {
            "offer": found, "clinic": clinic, "local_start": clinic.local(found.starts_at),
            "local_until": clinic.local(found.expires_at) if found.expires_at else None,
            "state": _state(found, timezone.now()), "notice": notice, "done": request.GET.get("done"),
            "call": please_call(clinic),
        }, status=status)
