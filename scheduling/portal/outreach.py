"""The self-booking link in an outreach message: no password, a few offered times, one tap to
book (through the portal's rules and ``book_appointment``), or ask to be called back, or stop
these messages. The signed link is the key; every answer is in the patient's words."""

import datetime

import phonenumbers
from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from tmsclinic import audit
from tmsclinic.inputs import iso_moment

from ..models import Appointment
from ..services import outreach
from ..services.portal import Refusal, book_slot, bookable_times, by_day, maintenance_offer, please_call

SPREAD = datetime.timedelta(hours=3)


def offered_times(offer, patient, now):
    """A few times to choose from, soonest days first: on each day its first free time and
    one at least three hours later (a morning and an afternoon), else none more."""
    days = {}
    for moment in bookable_times(offer, patient, now):
        days.setdefault(offer.clinic.local(moment).date(), []).append(moment)
    chosen = []
    for times in days.values():
        later = [t for t in times if t >= times[0] + SPREAD]
        chosen.extend([times[0], *later[:1]])
        if len(chosen) >= settings.TMS_OUTREACH_OFFERED_TIMES:
            break
    return chosen[:settings.TMS_OUTREACH_OFFERED_TIMES]


def _refused(request, error):
    clinic = error.row.patient.home_clinic if error.row is not None else None
    call = please_call(clinic) if clinic else "please call your clinic"
    return render(request, "portal/come_back.html", {"problem": error.message, "clinic": clinic, "call": call},
                  status=410 if error.row is not None else 404)


def _next_visit(patient, now):
    return (Appointment.objects.to_come().filter(patient=patient, starts_at__gte=now)
            .select_related("clinic").order_by("starts_at").first())


@require_http_methods(["GET", "POST"])
def come_back(request, token):
    now = timezone.now()
    try:
        message = outreach.message_from_link(token, now)
    except outreach.LinkRefused as error:
        return _refused(request, error)
    patient = message.patient
    clinic = patient.home_clinic
    signed_in_as = getattr(request.user, "patient", None) if request.user.is_authenticated else None
    if signed_in_as is not None and signed_in_as.pk != patient.pk:
        return render(request, "portal/come_back.html", {
            "problem": "This link was sent to someone else, so it cannot be used while you are signed in. "
                       "To book your own visit, use Book in your portal.", "other_patient": True,
        }, status=403)
    audit.about(request, patient)
    if request.method == "GET":
        outreach.opened(message, now)
    notice, status = None, 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "book":
            moment = iso_moment(request.POST.get("slot", ""))
            try:
                if _next_visit(patient, now) is not None:  # the link used again, or booked by phone meanwhile
                    raise Refusal("You already have a visit booked (below): nothing was changed.")
                if moment is None or timezone.is_naive(moment):
                    raise Refusal("Please choose one of the times listed.")
                appointment = book_slot(patient=patient, kind=Appointment.Kind.MAINTENANCE, starts_at=moment,
                                        user=None, now=now)
            except Refusal as refusal:
                notice, status = str(refusal), 409
            else:
                outreach.booked_from_link(message, appointment)
                return redirect(request.path + "?done=booked")
        elif action == "callback":
            outreach.ask_for_call(message, now)
            return redirect(request.path + "?done=callback")
        elif action == "stop":
            outreach.opt_out(patient, now)
            return redirect(request.path + "?done=stopped")
        else:
            notice, status = "Please choose one of the buttons on this page.", 400
    context = {"patient": patient, "clinic": clinic, "call": please_call(clinic), "notice": notice,
               "done": request.GET.get("done"), "days": [], "reason": None, "booked": None}
    message.refresh_from_db(fields=["appointment"])
    upcoming = _next_visit(patient, now)
    if upcoming is not None:
        context["booked"] = upcoming
        context["booked_start"] = upcoming.clinic.local(upcoming.starts_at)
        context["booked_here"] = message.appointment_id == upcoming.pk
    else:
        try:
            offer = maintenance_offer(patient, now)
        except Refusal as refusal:
            context["reason"] = str(refusal)
        else:
            context["offer"] = offer
            context["days"] = by_day(clinic, offered_times(offer, patient, now))
    context["opted_out"] = patient.outreach_opt_out_at is not None
    return render(request, "portal/come_back.html", context, status=status)


# --- STOP replies, from the SMS provider's inbound webhook ----------------------------------------


@csrf_exempt  # called by the SMS provider, authenticated by the shared token instead
@require_POST
def sms_inbound(request):
    """The SMS provider posts each reply here (From, Body), with TMS_SMS_INBOUND_TOKEN in the
    X-TMS-Token header or the ``token`` query parameter. A STOP reply withdraws SMS consent and
    stops outreach; anything else is ignored. Off (404) while the token is not set."""
    expected = settings.TMS_SMS_INBOUND_TOKEN
    given = request.headers.get("X-TMS-Token") or request.GET.get("token", "")
    if not expected:
        raise Http404("Inbound SMS is not configured.")
    if not constant_time_compare(given, expected):
        return HttpResponseForbidden("Wrong token.", content_type="text/plain")
    body, sender = request.POST.get("Body", ""), request.POST.get("From", "")
    if not outreach.is_stop(body):
        return HttpResponse("", content_type="text/plain")
    try:
        number = phonenumbers.parse(sender, None)
    except phonenumbers.NumberParseException:
        return HttpResponseBadRequest("From is not a phone number in international form.", content_type="text/plain")
    outreach.stop_by_sms(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return HttpResponse("", content_type="text/plain")
