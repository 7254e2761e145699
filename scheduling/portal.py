"""What a patient can do from the link in a reminder, without logging in: see when and where,
confirm, or cancel up to the notice cutoff. The signed link is the only key."""

import datetime

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from . import services
from .models import Appointment
from .reminders import appointment_from_link

LIVE = (Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN)


@require_http_methods(["GET", "POST"])
def reminder_link(request, token):
    appointment = appointment_from_link(token)
    if appointment is None:
        raise Http404("This link has expired or is not valid. Please call the clinic.")
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
