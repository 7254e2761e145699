"""The day and the week: chairs as columns in the clinic's wall-clock time."""

import datetime
import math
import uuid
from urllib.parse import quote

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from tmsclinic.inputs import in_range, shifted
from tmsclinic.roles import BOOK, SEE_PATIENTS, may, staff_required

from .. import selectors
from ..models import Appointment, Chair, Clinic
from ..services import ClinicCalendar, check_in_opens_at, waitlist

# The kind in a word, for appointments too short for the full name.
SHORT_KIND = {
    Appointment.Kind.MAPPING: "Mapping", Appointment.Kind.ACUTE: "Acute", Appointment.Kind.MAINTENANCE: "Maint.",
    Appointment.Kind.REINTRODUCTION: "Reintro.", Appointment.Kind.CONSULT: "Consult",
}
# Stands for an appointment's uuid in a URL reversed once for many.
ANY_UUID = uuid.UUID(int=0)
# An appointment over at most this many rows is drawn on one line.
COMPACT_ROWS = 2


def appointment_links():
    """A function from an appointment's uuid to its page: the URL map's path reversed once, for
    the hundreds of cards and lines a day or week shows, with each one's own uuid put in."""
    link, placeholder = reverse("staff:appointment", kwargs={"uuid": ANY_UUID}), str(ANY_UUID)
    return lambda uuid: link.replace(placeholder, str(uuid))


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
    """Chairs as columns and time steps as rows, in the clinic's wall-clock time. Each item is
    (appointment, column, first row, rows spanned, compact); ``now`` is the row and the share
    of it that the current time has reached, on the clinic's today."""

    def __init__(self, *, clinic, day, chairs, appointments, intervals, step):
        self.clinic, self.day, self.chairs, self.step = clinic, day, chairs, step
        self.now = None
        local_times = [clinic.local(moment) for pair in intervals for moment in pair]
        local_times += [clinic.local(a.starts_at) for a in appointments]
        local_times += [clinic.local(a.ends_at) for a in appointments]
        self.is_open = bool(intervals)
        if not local_times:
            self.rows, self.cells, self.items, self.columns = [], [], [], []
            return
        first = min(t.replace(tzinfo=None) for t in local_times)
        last = max(t.replace(tzinfo=None) for t in local_times)
        self.origin = first.replace(minute=first.minute - first.minute % step, second=0, microsecond=0)
        count = math.ceil((last - self.origin) / datetime.timedelta(minutes=step))
        self.rows = [(n + 2, self.origin + datetime.timedelta(minutes=step * n)) for n in range(count)]
        column = {chair.pk: n + 2 for n, chair in enumerate(chairs)}
        link = appointment_links()
        self.items = []
        covered = set()
        for appointment in appointments:
            if appointment.chair_id not in column:
                continue
            top = self._row(appointment.starts_at)
            bottom = max(top + 1, math.ceil(self._offset(appointment.ends_at)) + 2)
            appointment.short_kind = SHORT_KIND.get(appointment.kind, appointment.get_kind_display())
            # The MT badge asks for a measurement still to come, not of a session already over.
            appointment.mt_badge = appointment.mt_recheck_due and appointment.status in Appointment.TO_COME
            appointment.check_in_open = (appointment.status == Appointment.Status.BOOKED
                                         and check_in_opens_at(appointment) <= timezone.now())
            appointment.link = link(appointment.uuid)
            appointment.starts = f"{clinic.local(appointment.starts_at):%H:%M}"
            appointment.hours = f"{appointment.starts}–{clinic.local(appointment.ends_at):%H:%M}"
            self.items.append((appointment, column[appointment.chair_id], top, bottom - top,
                               bottom - top <= COMPACT_ROWS))
            covered.update((appointment.chair_id, row) for row in range(top, bottom))
        self.cells = []
        now = timezone.now()
        if day == clinic.today():
            offset = self._offset(now)
            if 0 <= offset < len(self.rows):
                self.now = (int(offset) + 2, round(offset % 1, 3), clinic.local(now))
        for row, wall_clock in self.rows:
            moment = wall_clock.replace(tzinfo=clinic.tz)
            # Free time in the past, or outside opening hours, cannot be booked.
            if moment < now or not any(opens <= moment < closes for opens, closes in intervals):
                continue
            for chair in chairs:
                if (chair.pk, row) not in covered:
                    self.cells.append((chair, column[chair.pk], row, moment))
        # Chair by chair, top to bottom: the order of reading and of the keyboard.
        self.columns = []
        for chair in chairs:
            entries = [(row, 0, None, moment) for c, _, row, moment in self.cells if c.pk == chair.pk]
            entries += [(item[2], 1, item, None) for item in self.items if item[0].chair_id == chair.pk]
            self.columns.append((chair, column[chair.pk], [(item, moment, row) for row, _, item, moment in
                                                          sorted(entries, key=lambda entry: entry[:2])]))

    def draw_free_cells(self, *, bookable):
        """Each free cell's HTML, drawn here rather than by the template: a day of 8 chairs has
        hundreds of them (most of the page), each the same but for its chair and time. Where the
        user may book, a link to the booking form for that chair and time. Free cells one after
        another in a column become one entry: the template loops over appointments and runs."""
        book = reverse("staff:book")
        for n, (chair, column, entries) in enumerate(self.columns):
            name = escape(chair.name)
            drawn = []
            for item, moment, row in entries:
                if item is not None:
                    drawn.append((item, None, row))
                    continue
                if not bookable:
                    html = f'<div class="day-grid-free dg-c{column} dg-r{row}"></div>'
                else:
                    local = self.clinic.local(moment)
                    query = f"?chair={chair.pk}&amp;starts_at={quote(local.isoformat())}"
                    html = (f'<a class="day-grid-free dg-c{column} dg-r{row}" data-column="{column}" '
                            f'data-row="{row}"\n     href="{book}{query}"\n'
                            f'     hx-get="{book}{query}" hx-target="#side-panel"\n'
                            f'     aria-label="Book {name} at {local:%H:%M}">'
                            '<span aria-hidden="true">+</span></a>')
                if drawn and drawn[-1][0] is None:
                    drawn[-1] = (None, drawn[-1][1] + "\n  " + html, drawn[-1][2])
                else:
                    drawn.append((None, html, row))
            # Chair names are escaped above; the rest are numbers and times.
            self.columns[n] = (chair, column, [(item, None if item else mark_safe(html), row)  # noqa: S308
                                               for item, html, row in drawn])

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
        appointments = selectors.day_appointments(clinic, day, related=("patient", "course"))
        calendar = ClinicCalendar(clinic, day, day)
        grid = DayGrid(clinic=clinic, day=day, chairs=chairs, appointments=appointments,
                       intervals=calendar.open_intervals(day), step=settings.TMS_SLOT_STEP_MINUTES)
        grid.draw_free_cells(bookable=may(request.user, BOOK))
        context.update(
            day=day, grid=grid, closed_because=calendar.closures.get(day),
            previous_day=shifted(day, -1), next_day=shifted(day, 1),
            freed=waitlist.freed_on_day(clinic, day),
        )
    return render(request, "staff/day.html", context)


@staff_required(SEE_PATIENTS)
def today(request):
    return _render_day(request, None)


@staff_required(SEE_PATIENTS)
def day(request, day):
    return _render_day(request, day)


@staff_required(SEE_PATIENTS)
def run_sheet(request, day):
    """The day's run sheet to print: one page per chair (or per technician), its sessions in
    order with the patient, the protocol and whether the motor threshold must be measured."""
    clinics = list(Clinic.objects.visible_to(request.user))
    clinic = _chosen_clinic(request, clinics)
    if clinic is None:
        return redirect("staff:today")
    by_technician = request.GET.get("by") == "technician"
    pages = {}
    if not by_technician:  # every chair in service gets its page, an empty one says so
        pages = {chair.name: [] for chair in Chair.objects.filter(clinic=clinic, active=True)}
    for appointment in selectors.day_appointments(clinic, day):
        source = appointment.course or appointment.plan
        appointment.protocol = source.protocol if source is not None else None
        if by_technician:
            key = appointment.technician.get_full_name() or appointment.technician.username \
                if appointment.technician else "No technician assigned"
        else:
            key = appointment.chair.name
        pages.setdefault(key, []).append(appointment)
    return render(request, "staff/run_sheet.html", {
        "clinic": clinic, "day": day, "by_technician": by_technician, "pages": list(pages.items()),
    })


@staff_required(SEE_PATIENTS)
def week(request, day):
    clinics = list(Clinic.objects.visible_to(request.user))
    clinic = _chosen_clinic(request, clinics)
    if clinic is None:
        return redirect("staff:today")
    monday = day - datetime.timedelta(days=day.weekday())
    by_day = selectors.week_appointments(clinic, monday)
    link = appointment_links()
    # Each day with whether its own page may be linked (not past the years the URLs accept).
    days = [(date, in_range(date), [(link(visit.uuid), f"{visit.starts_at:%H:%M}", visit) for visit in visits])
            for date, visits in by_day.items()]
    return render(request, "staff/week.html", {
        "clinics": clinics, "clinic": clinic, "days": days, "monday": monday,
        "previous_week": shifted(monday, -7), "next_week": shifted(monday, 7),
    })
