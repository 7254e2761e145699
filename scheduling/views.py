import datetime

from django.shortcuts import render

from tmsclinic.roles import staff_required

from .models import Appointment, Chair, Clinic


def _chosen_clinic(request, clinics):
    """The clinic asked for in ?clinic=, else the one this session last looked at."""
    wanted = request.GET.get("clinic") or request.session.get("clinic_id")
    by_id = {str(clinic.pk): clinic for clinic in clinics}
    clinic = by_id.get(str(wanted)) or (clinics[0] if clinics else None)
    if clinic is not None and request.session.get("clinic_id") != clinic.pk:
        request.session["clinic_id"] = clinic.pk
    return clinic

@staff_required
def today(request):
    """Today's appointments per chair, in the clinic's own time."""
    clinics = list(Clinic.objects.all())
    clinic = _chosen_clinic(request, clinics)
    columns, day = [], None
    if clinic is not None:
        day = clinic.today()
        start = datetime.datetime.combine(day, datetime.time(0), tzinfo=clinic.tz)
        end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(0), tzinfo=clinic.tz)
        chairs = list(Chair.objects.filter(clinic=clinic, active=True))
        appointments = (
            Appointment.objects.filter(clinic=clinic, starts_at__gte=start, starts_at__lt=end)
            .live()
            .select_related("patient")
            .order_by("starts_at")
        )
        by_chair = {chair.pk: [] for chair in chairs}
        for appointment in appointments:
            by_chair.setdefault(appointment.chair_id, []).append(appointment)
        columns = [(chair, by_chair[chair.pk]) for chair in chairs]
    return render(
        request,
        "staff/today.html",
        {"clinics": clinics, "clinic": clinic, "day": day, "columns": columns},
    )
