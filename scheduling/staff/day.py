"""The day and the week: chairs as columns in the clinic's wall-clock time."""

import datetime
import math

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone

from tmsclinic.roles import SEE_PATIENTS, staff_required

from .. import selectors
from ..models import Chair, Clinic
from ..services import ClinicCalendar


def _chosen_clinic(request, clinics):
    """The clinic asked for in ?clinic=, else the one this session last looked at, else the
    user's home clinic. A clinic that is not one of the user's is not found."""
    by_id = {str(clinic.pk): clinic for clinic in clinics}
    asked = request.GET.get("clinic")
    if asked and asked not in by_id:
        raise Http404("No such clinic among yours.")
    wanted = asked or request.session.get("clinic_id")
    clinic = by_id.get(str(wanted)) or (clinics[0] if clinics else None)
    if clinic is not None and request.session.get("clinic_id") != clinic.pk:
        request.session["clinic_id"] = clinic.pk
    return clinic



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



def _render_day(request, day):
    clinics = list(Clinic.objects.visible_to(request.user))
    clinic = _chosen_clinic(request, clinics)
    context = {"clinics": clinics, "clinic": clinic, "day": day, "grid": None}
    if clinic is not None:
        day = day or clinic.today()
        chairs = list(Chair.objects.filter(clinic=clinic, active=True))
        appointments = selectors.day_appointments(clinic, day)
        calendar = ClinicCalendar(clinic, day, day)
        grid = DayGrid(clinic=clinic, day=day, chairs=chairs, appointments=appointments,
                       intervals=calendar.open_intervals(day), step=settings.TMS_SLOT_STEP_MINUTES)
        context.update(
            day=day, grid=grid, closed_because=calendar.closures.get(day),
            previous_day=day - datetime.timedelta(days=1), next_day=day + datetime.timedelta(days=1),
        )
    return render(request, "staff/day.html", context)


@staff_required(SEE_PATIENTS)
def today(request):
    return _render_day(request, None)


@staff_required(SEE_PATIENTS)
def day(request, day):
    return _render_day(request, day)


@staff_required(SEE_PATIENTS)
def week(request, day):
    clinics = list(Clinic.objects.visible_to(request.user))
    clinic = _chosen_clinic(request, clinics)
    if clinic is None:
        return redirect("staff:today")
    monday = day - datetime.timedelta(days=day.weekday())
    by_day = selectors.week_appointments(clinic, monday)
    return render(request, "staff/week.html", {
        "clinics": clinics, "clinic": clinic, "days": list(by_day.items()), "monday": monday,
        "previous_week": monday - datetime.timedelta(days=7), "next_week": monday + datetime.timedelta(days=7),
    })
