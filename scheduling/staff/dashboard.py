"""The adherence dashboard (issue 14, part 4): each clinic's aggregate figures — maintenance
patients on schedule, overdue, back after a flag and after each outreach message, no-shows,
chair utilisation, acute response and remission — with a CSV of every table
(``?format=csv&table=<name>``) and charts drawn here as inline SVG with tmsclinic/svgchart.py,
as the patient charts are (no script, no inline style: the Content-Security-Policy allows SVG
presentation attributes and classes from static/css/adherence.css). No patient's name or record
is shown: a clinic admin, who reads no chart, may open it. The numbers, and how each is
counted, are in scheduling/services/adherence.py.
"""

import csv
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify

from tmsclinic import audit, svgchart
from tmsclinic.exports import Echo, spreadsheet_safe
from tmsclinic.roles import READ_ADHERENCE, staff_required
from tmsclinic.svgchart import element

from ..models import Clinic
from ..services import adherence


class AdherenceFilterForm(forms.Form):
    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), required=False, empty_label="All your clinics",
                                    widget=forms.Select(attrs={"class": "form-select"}),
                                    error_messages={"invalid_choice": "That is not one of your clinics."})

    def __init__(self, *args, clinics, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics


# --- Charts -------------------------------------------------------------------------------------

WIDTH, HEIGHT = 720, 250
LEFT, RIGHT, TOP, BOTTOM = 56, 14, 14, 42
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


def percent(value):
    return "—" if value is None else f"{value * 100:.0f}%"


def short_date(day):
    return f"{day.day} {day:%b}"


def _y_scale(top):
    return svgchart.Scale(0, top, TOP + PLOT_HEIGHT, TOP)


# The top of a percentage scale, each a whole number of percent in five steps.
TOPS = (0.05, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)


def scale_top(values, at_least):
    """The least top of the scale that holds every value and ``at_least``."""
    highest = max([at_least, *(value for value in values if value is not None)])
    return next((top for top in TOPS if top >= highest), highest)


def _frame(name, title, description, top, body):
    """The chart's <svg>: its accessible name and description, the percentage grid, and ``body``."""
    grid = svgchart.y_ticks([(top * n / 5, percent(top * n / 5)) for n in range(6)], scale=_y_scale(top), left=LEFT,
                            right=WIDTH - RIGHT, label_x=LEFT - 6, line={"class_": "adh-grid"},
                            text={"class_": "adh-tick"})
    return svgchart.frame(name=name, title=title, description=description, width=WIDTH, height=HEIGHT,
                          body=svgchart.join([grid, body]), class_="adh-chart")


def _x_labels(labels, x_of, every):
    return svgchart.x_ticks([(n, label) for n, label in enumerate(labels) if n % every == 0], scale=x_of,
                            label_y=HEIGHT - BOTTOM + 16, text={"class_": "adh-tick"})


def line_chart(*, name, title, description, points, at_least=1.0):
    """A weekly share as a line: ``points`` are (label, share or None, what a point says on hover).
    A missing share breaks the line. The scale reaches ``at_least``, or the highest point."""
    top = scale_top([value for _, value, _ in points], at_least)
    x_of = svgchart.Scale(0, max(len(points), 2) - 1, LEFT, LEFT + PLOT_WIDTH)
    y_of = _y_scale(top)
    segments, current = [], []
    for n, (_, value, _) in enumerate(points):
        if value is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append((x_of(n), y_of(value)))
    if current:
        segments.append(current)
    body = [element("polyline", class_="adh-line", points=svgchart.points(segment)) for segment in segments]
    dots = [element("circle", element("title", hover), class_="adh-dot", cx=x_of(n), cy=y_of(value), r=3.5)
            for n, (_, value, hover) in enumerate(points) if value is not None]
    labels = _x_labels([label for label, _, _ in points], x_of, 4)
    return _frame(name, title, description, top, svgchart.join([*body, *dots, labels]))


def bar_chart(*, name, title, description, bars):
    """A daily share as bars: ``bars`` are (label, share or None, hover text). The scale reaches
    100%, or further when a bar does."""
    top = scale_top([value for _, value, _ in bars], 1.0)
    y_of = _y_scale(top)
    slot = PLOT_WIDTH / max(len(bars), 1)
    # Bar n fills the middle 70% of the n-th slot; its label is at the slot's middle.
    x_of = svgchart.Scale(0, 1, LEFT + slot * 0.5, LEFT + slot * 1.5)
    rects = [element("rect", element("title", hover), class_="adh-bar", x=LEFT + slot * n + slot * 0.15,
                     y=y_of(value), width=slot * 0.7, height=TOP + PLOT_HEIGHT - y_of(value))
             for n, (_, value, hover) in enumerate(bars) if value is not None]
    labels = _x_labels([label for label, _, _ in bars], x_of, 7)
    return _frame(name, title, description, top, svgchart.join([*rects, labels]))


def _charts(figures, scope):
    weeks = figures["on_schedule"]
    return {
        "on_schedule": line_chart(
            name="on-schedule", title=f"Maintenance patients on schedule, weekly: {scope}",
            description="Share of maintenance patients without an open overdue flag at the end of each of the "
                        "last 26 weeks (this week: now). The table beside gives every value.",
            points=[(short_date(w["monday"]), w["share"],
                     f"Week of {short_date(w['monday'])}: {percent(w['share'])} ({w['on_schedule']} of "
                     f"{w['patients']})") for w in weeks]),
        "no_shows": line_chart(
            name="no-shows", title=f"No-show rate, weekly: {scope}",
            description="No-shows out of completed sessions and no-shows, each of the last 26 weeks. The table "
                        "beside gives every value.",
            points=[(short_date(w["monday"]), w["rate"],
                     f"Week of {short_date(w['monday'])}: {percent(w['rate'])} ({w['no_shows']} of "
                     f"{w['no_shows'] + w['completed']})") for w in figures["no_shows"]], at_least=0.1),
        "utilisation": bar_chart(
            name="utilisation", title=f"Chair utilisation by day: {scope}",
            description="Booked or used chair minutes out of open chair minutes, each of the last 28 days; no bar "
                        "on a closed day. The table beside gives every value.",
            bars=[(short_date(d["day"]), d["share"],
                   f"{d['day']:%a} {short_date(d['day'])}: {percent(d['share'])} ({d['booked_minutes']} of "
                   f"{d['open_minutes']} minutes)") for d in figures["utilisation"]]),
    }


# --- Tables as CSV ------------------------------------------------------------------------------


def _ratio(value):
    return "" if value is None else round(value, 4)


def _blank(value):
    return "" if value is None else value


def _weeks(clinics, now):
    return adherence.reporting_weeks(clinics, now)


def _on_schedule_rows(clinics, now):
    return [[w["monday"], w["patients"], w["on_schedule"], w["off_schedule"], _ratio(w["share"])]
            for w in adherence.on_schedule(clinics, now, _weeks(clinics, now))["weekly"]]


def _overdue_rows(clinics, now):
    today = adherence.on_schedule(clinics, now, _weeks(clinics, now))["today"]
    return [[today["patients"], today["on_schedule"], today["overdue"], _ratio(today["share"]),
             _blank(today["median_days_overdue"])]]


def _flag_to_visit_rows(clinics, now):
    return [[r["kind"], r["flags"], r["back"], r["not_back"], _ratio(r["share_back"]), _blank(r["median_days"])]
            for r in adherence.flag_returns(clinics, now, _weeks(clinics, now))]


def _outreach_step_rows(clinics, now):
    return [["by_hand" if r["step_day"] is None else r["step_day"], r["sent"], r["back"], _ratio(r["share_back"])]
            for r in adherence.outreach_returns(clinics, now, _weeks(clinics, now))["by_step"]]


def _outreach_channel_rows(clinics, now):
    return [[r["channel"], r["sent"], r["back"], _ratio(r["share_back"])]
            for r in adherence.outreach_returns(clinics, now, _weeks(clinics, now))["by_channel"]]


def _no_show_rows(clinics, now):
    return [[w["monday"], w["completed"], w["no_shows"], _ratio(w["rate"])]
            for w in adherence.no_show_rates(clinics, now, _weeks(clinics, now))]


def _utilisation_rows(clinics, now):
    return [[d["day"], d["booked_minutes"], d["open_minutes"], _ratio(d["share"])]
            for d in adherence.chair_utilisation(clinics, now)]


def _response_rows(clinics, now):
    # Protocol names are typed in admin: a spreadsheet must not read one as a formula.
    return [[spreadsheet_safe(r["protocol"]), r["courses"], r["evaluable"], r["response"], r["remission"],
             _ratio(r["response_share"]), _ratio(r["remission_share"])]
            for r in adherence.response_by_protocol(clinics)]


# Each table's CSV: ?format=csv&table=<name> gives (columns, rows of the clinics at a moment).
TABLES = {
    "on-schedule": (["week_of", "maintenance_patients", "on_schedule", "off_schedule", "share_on_schedule"],
                    _on_schedule_rows),
    "overdue": (["maintenance_patients", "on_schedule", "overdue", "share_on_schedule", "median_days_overdue"],
                _overdue_rows),
    "flag-to-visit": (["flag_kind", "flags", "came_back", "not_back_yet", "share_came_back", "median_days_to_visit"],
                      _flag_to_visit_rows),
    "outreach-steps": (["step_day", "sent", "came_back", "share_came_back"], _outreach_step_rows),
    "outreach-channels": (["channel", "sent", "came_back", "share_came_back"], _outreach_channel_rows),
    "no-shows": (["week_of", "completed", "no_shows", "no_show_rate"], _no_show_rows),
    "utilisation": (["day", "booked_minutes", "open_minutes", "utilisation"], _utilisation_rows),
    "response": (["protocol", "completed_acute_courses", "with_baseline_and_later_score", "response", "remission",
                  "response_rate", "remission_rate"], _response_rows),
}


def _csv(request, name, clinic, clinics, now):
    columns, rows = TABLES[name]
    audit.about(request, None, action="export")
    writer = csv.writer(Echo())
    today = clinic.today() if clinic else timezone.localdate()
    filename = f"adherence-{name}-{slugify(clinic.name) if clinic else 'all-clinics'}-{today:%Y-%m-%d}.csv"
    lines = [writer.writerow(columns), *(writer.writerow(row) for row in (rows(clinics, now) if clinics else []))]
    return StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- The page -----------------------------------------------------------------------------------


def _shared_for(seconds):
    """How long the page's figures are shared, in words ("5 minutes"); None when they are not."""
    if not seconds:
        return None
    count, unit = (seconds // 60, "minute") if seconds % 60 == 0 else (seconds, "second")
    return f"{count} {unit}{'' if count == 1 else 's'}"


@staff_required(READ_ADHERENCE)
def adherence_dashboard(request):
    visible = Clinic.objects.visible_to(request.user)
    form = AdherenceFilterForm(request.GET, clinics=visible)
    form.is_valid()  # an invalid filter shows its error and is ignored, as on the outcomes report
    clinic = form.cleaned_data.get("clinic")
    clinics = [clinic] if clinic else list(visible)
    now = timezone.now()
    if request.GET.get("format") == "csv":
        name = request.GET.get("table", "")
        if name not in TABLES:
            return HttpResponse(f"There is no table “{name[:40]}” to download here; the dashboard's tables are: "
                                f"{', '.join(TABLES)}.", status=400, content_type="text/plain; charset=utf-8")
        if form.errors:
            return HttpResponse(f"{form.errors['clinic'][0]} Choose one of yours, or none for all of them.",
                                status=400, content_type="text/plain; charset=utf-8")
        return _csv(request, name, clinic, clinics, now)
    figures, computed_at = adherence.shared_dashboard(clinics=clinics, now=now)
    scope = clinic.name if clinic else "all your clinics"
    query = {"clinic": clinic.pk} if clinic else {}
    return render(request, "staff/adherence.html", {
        "form": form, "clinic": clinic, "clinics": clinics, "scope": scope, "figures": figures,
        "charts": _charts(figures, scope) if figures else None,
        "today": clinic.today() if clinic else None,
        "computed_minutes_ago": int((now - computed_at).total_seconds() // 60),
        "shared_for": _shared_for(settings.TMS_ADHERENCE_MAX_AGE_SECONDS),
        "csv": {name.replace("-", "_"): "?" + urlencode({**query, "format": "csv", "table": name})
                for name in TABLES},
    })
