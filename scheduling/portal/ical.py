"""Calendar files: a patient's private feed (a link with a key, no login) and one appointment
as a download. When and where only, nothing clinical; times every common reader agrees on."""

import datetime

import icalendar
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from patients.models import Patient
from tmsclinic import audit
from tmsclinic.roles import patient_required, refuse_another_patient

from ..models import Appointment

# The calendar feed reaches this far back, so recent sessions (and cancellations) stay visible.
FEED_DAYS_BACK = 90


def _event(appointment, stamp):
    """One appointment as a VEVENT: when and where, nothing clinical. The UID stays the same
    for the appointment's life and SEQUENCE grows with each change, so calendars update it."""
    clinic = appointment.clinic
    event = icalendar.Event()
    event.add("uid", f"{appointment.uuid}@tmsclinic")
    event.add("summary", f"TMS session at {clinic.name}")
    # In UTC: every reader agrees on it. A VTIMEZONE (icalendar writes RDATE lists) is read an
    # hour wrong near the clock changes by Mozilla's ical.js and by vobject.
    event.add("dtstart", appointment.starts_at.astimezone(datetime.UTC))
    event.add("dtend", appointment.ends_at.astimezone(datetime.UTC))
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
    patient = Patient.objects.active().filter(calendar_token=token).first()
    if patient is None:
        raise Http404("This calendar link is not valid.")
    refuse_another_patient(request, patient.pk)
    audit.about(request, patient, action="export")
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
