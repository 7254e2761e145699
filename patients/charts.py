"""The patient page's PHQ-9 and motor-threshold charts and the outcomes report's survival chart,
drawn as inline SVG in plain Python (tmsclinic/svgchart.py, shared with the adherence
dashboard): drawing only, the numbers they plot come from ``patients.outcomes``. A chart takes
about a millisecond to draw and nothing to import (benchmarks/bench_charts.py).

Each drawn element that a reader (or a test) needs to find carries an SVG id. Dates are the
clinic's calendar dates, one unit of the x axis a day, whatever the clocks did that day.
"""

import bisect
import datetime
import math

from tmsclinic import svgchart
from tmsclinic.svgchart import element, join, number

from .models import Assessment
from .outcomes import DAYS_PER_MONTH

PHQ9_MAX = 27
PHQ9_TICKS = (0, 5, 10, 15, 20, 27)
BAND_COLOURS = {
    Assessment.Band.MINIMAL: "#e3f1e1",
    Assessment.Band.MILD: "#f3f3d8",
    Assessment.Band.MODERATE: "#fbe8cc",
    Assessment.Band.MODERATELY_SEVERE: "#f8d7c6",
    Assessment.Band.SEVERE: "#f1c4c4",
}
SCORE_COLOUR, SESSION_COLOUR, RESPONSE_COLOUR, REMISSION_COLOUR = "#1f4e8c", "#555555", "#b35c00", "#1b7a3a"
GROUP_COLOURS = ("#1f4e8c", "#c0392b", "#1b7a3a", "#6f42c1")
COURSE_COLOUR, GUIDE_COLOUR, AXIS_COLOUR, TEXT_COLOUR = "#8c8c8c", "#bbbbbb", "#555555", "#212529"
FONT_SIZE, SMALL_FONT_SIZE = 12, 11
# The root's presentation attributes, inherited by every element that does not say otherwise.
ROOT = {"font_family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "font_size": FONT_SIZE,
        "fill": TEXT_COLOUR}
TICK = {"stroke": AXIS_COLOUR, "stroke_width": 1}
DAY = datetime.timedelta(days=1)


def phq9_bands():
    """(band, lowest total, highest total) for each PHQ-9 severity band, mildest first."""
    floors = sorted(Assessment.BAND_FLOORS)
    return [
        (band, floor, (floors[n + 1][0] - 1) if n + 1 < len(floors) else PHQ9_MAX)
        for n, (floor, band) in enumerate(floors)
    ]


def band_edges(low, high):
    """The band's extent on the PHQ-9 axis: half a point either side, so that each whole score
    sits inside its own band."""
    return max(low - 0.5, 0), min(high + 0.5, PHQ9_MAX)


def phq9_band_rects(x_from, x_to, y):
    """One rectangle per severity band across the plot, ids ``phq9-band-<band>``."""
    return join(
        element("rect", id=f"phq9-band-{band}", x=x_from, y=y(band_edges(low, high)[1]), width=x_to - x_from,
                height=y(band_edges(low, high)[0]) - y(band_edges(low, high)[1]), fill=BAND_COLOURS[band])
        for band, low, high in phq9_bands())


def plot_box(left, top, right, bottom, *, id):
    """The plot's outline, drawn over what it holds: the data's extent on both axes."""
    return element("rect", id=id, x=left, y=top, width=right - left, height=bottom - top, fill="none",
                   stroke=AXIS_COLOUR, stroke_width=1)


def score_line(scores, x, y, *, id, width=2, radius=3.5):
    """The PHQ-9 totals as a line with a dot on each, in one group ``id``."""
    xy = [(x(day), y(total)) for day, total in scores]
    return element("g", join([
        element("polyline", points=svgchart.points(xy), fill="none", stroke=SCORE_COLOUR, stroke_width=width,
                stroke_linejoin="round"),
        *(element("circle", cx=px, cy=py, r=radius, fill=SCORE_COLOUR) for px, py in xy),
    ]), id=id)


def _vertical_label(text, x, y):
    return element("text", text, x=x, y=y, text_anchor="middle", transform=f"rotate(-90 {number(x)} {number(y)})")


def _triangle_down(cx, cy, size=6.0):
    return f"M{number(cx - size)},{number(cy - size * 0.8)}H{number(cx + size)}L{number(cx)},{number(cy + size)}Z"


def _star(cx, cy, outer=7.5, inner=3.0):
    corners = [(cx + (outer if n % 2 == 0 else inner) * math.sin(n * math.pi / 5),
                cy - (outer if n % 2 == 0 else inner) * math.cos(n * math.pi / 5)) for n in range(10)]
    return "M" + "L".join(f"{number(px)},{number(py)}" for px, py in corners) + "Z"


# Legend swatches: (kind, colour) drawn in a 24 × 12 box.
def _swatch(kind, colour, x, y):
    middle = y - 4
    if kind == "line":
        return join([element("line", x1=x, x2=x + 24, y1=middle, y2=middle, stroke=colour, stroke_width=2),
                     element("circle", cx=x + 12, cy=middle, r=3.5, fill=colour)])
    if kind == "plain":
        return element("line", x1=x, x2=x + 24, y1=middle, y2=middle, stroke=colour, stroke_width=2)
    if kind == "dashed":
        return element("line", x1=x, x2=x + 24, y1=middle, y2=middle, stroke=colour, stroke_width=1.5,
                       stroke_dasharray="5 3")
    if kind == "rug":
        return element("line", x1=x + 12, x2=x + 12, y1=middle - 6, y2=middle + 6, stroke=colour, stroke_width=1)
    if kind == "triangle":
        return element("path", d=_triangle_down(x + 12, middle), fill=colour)
    return element("path", d=_star(x + 12, middle), fill=colour)


def legend(entries, *, width, y, font_size=SMALL_FONT_SIZE):
    """(kind, colour, words) entries side by side, centred, on as many rows as they need. Text
    widths are estimated (0.6 em a character), generously enough for any sans-serif font."""
    sizes = [30 + len(words) * font_size * 0.6 + 18 for _, _, words in entries]
    rows, row = [], []
    for entry, size in zip(entries, sizes, strict=True):
        if row and sum(s for _, s in row) + size > width - 20:
            rows.append(row)
            row = []
        row.append((entry, size))
    if row:
        rows.append(row)
    drawn = []
    for n, row in enumerate(rows):
        x = (width - sum(size for _, size in row)) / 2
        for (kind, colour, words), size in row:
            baseline = y + n * (font_size + 8)
            drawn += [_swatch(kind, colour, x, baseline),
                      element("text", words, x=x + 30, y=baseline, font_size=font_size)]
            x += size
    return element("g", join(drawn), id="legend")


def _date_text(day):
    return f"{day.day} {day:%B %Y}"


def phq9_chart(*, scores, sessions, courses, maintenance_from, until):
    """The PHQ-9 history as SVG.

    ``scores``: (day, total) oldest first; ``sessions``: days of completed treatment sessions;
    ``courses``: dicts with ``start``, ``end``, ``label``, and ``outcome`` from
    ``patients.outcomes.course_outcome`` plus ``latest_on`` (the day of its latest score);
    ``maintenance_from``: the day the maintenance plan started, or None; ``until``: the last
    day the chart shows (usually today).
    """
    width, height = 720, 330
    left, top, right, bottom = 52, 12, 590, 250
    first = min([*(day for day, _ in scores), *sessions, *(course["start"] for course in courses)])
    last = max(until, maintenance_from or until)
    x = svgchart.Scale(first - 3 * DAY, last + 3 * DAY, left, right)
    y = svgchart.Scale(0, PHQ9_MAX, bottom, top)
    parts = [phq9_band_rects(left, right, y)]
    parts += [element("text", band.label, id=f"phq9-band-label-{band}", x=right + 8, y=y((low + high) / 2), dy=4,
                      font_size=SMALL_FONT_SIZE) for band, low, high in phq9_bands()]
    kinds = {}
    for n, course in enumerate(courses):
        parts += [element("rect", id=f"phq9-course-{n}", x=x(course["start"]), y=top,
                          width=x(course["end"]) - x(course["start"]), height=bottom - top, fill=COURSE_COLOUR,
                          fill_opacity=0.12),
                  element("text", course["label"], id=f"phq9-course-label-{n}", x=x(course["start"]) + 3, y=y(26) + 8,
                          font_size=SMALL_FONT_SIZE)]
        outcome = course["outcome"]
        if outcome["baseline"] is not None:
            kinds["dashed"] = (RESPONSE_COLOUR, "Half the course's baseline")
            half = y(outcome["baseline"].total / 2)
            parts.append(element("line", id=f"phq9-response-threshold-{n}", x1=x(course["start"]),
                                 x2=x(course["end"]), y1=half, y2=half, stroke=RESPONSE_COLOUR, stroke_width=1,
                                 stroke_dasharray="5 3"))
        reached = [name for name in ("response", "remission") if outcome[name]]
        if reached:
            px, py = x(course["latest_on"]), y(outcome["latest"].total)
            parts.append(element("text", " and ".join(reached).capitalize(), id=f"phq9-outcome-label-{n}",
                                 x=px + 9, y=py - 9, font_size=SMALL_FONT_SIZE))
        if outcome["response"]:
            kinds["triangle"] = (RESPONSE_COLOUR, "Response (≥ 50% drop)")
            parts.append(element("path", id=f"phq9-response-{n}", d=_triangle_down(px, py), fill=RESPONSE_COLOUR))
        if outcome["remission"]:
            kinds["star"] = (REMISSION_COLOUR, "Remission (< 5)")
            parts.append(element("path", id=f"phq9-remission-{n}", d=_star(px, py), fill=REMISSION_COLOUR))
    if maintenance_from is not None:
        parts += [element("line", id="phq9-maintenance", x1=x(maintenance_from), x2=x(maintenance_from), y1=top,
                          y2=bottom, stroke=SESSION_COLOUR, stroke_width=1.2, stroke_dasharray="2 2"),
                  element("text", "Maintenance", id="phq9-maintenance-label", x=x(maintenance_from) + 3,
                          y=y(26) + 8, font_size=SMALL_FONT_SIZE)]
    if sessions:
        # A rug along the bottom edge: one tick per completed session.
        rug_top = bottom - (bottom - top) * 0.05
        parts.append(element("g", join(element("path", d=f"M{number(x(day))},{bottom}V{number(rug_top)}")
                                       for day in sessions),
                             id="phq9-sessions", stroke=SESSION_COLOUR, stroke_width=0.8))
    parts += [
        score_line(scores, x, y, id="phq9-scores"),
        plot_box(left, top, right, bottom, id="phq9-plot"),
        svgchart.y_ticks([(value, value) for value in PHQ9_TICKS], scale=y, left=left - 4, right=left,
                         label_x=left - 7, line=TICK),
        _vertical_label("PHQ-9 total", 14, (top + bottom) / 2),
        svgchart.x_ticks(svgchart.date_ticks(first - 3 * DAY, last + 3 * DAY, most=8), scale=x,
                         top=bottom, bottom=bottom + 4, label_y=bottom + 18, line=TICK),
    ]
    entries = [("line", SCORE_COLOUR, "PHQ-9")]
    if sessions:
        entries.append(("rug", SESSION_COLOUR, "Session"))
    entries += [(kind, colour, words) for kind, (colour, words) in kinds.items()]
    parts.append(legend(entries, width=width, y=height - 30))
    latest_day, latest = scores[-1]
    return svgchart.frame(
        name="phq9", title="PHQ-9 totals over time", width=width, height=height, body=join(parts),
        description=f"{len(scores)} PHQ-9 total{'s' if len(scores) != 1 else ''} from {_date_text(scores[0][0])} "
                    f"to {_date_text(latest_day)}, the latest {latest} ({Assessment.band_for(latest).label}), "
                    f"drawn over the severity bands with {len(courses)} treatment course"
                    f"{'s' if len(courses) != 1 else ''} and {len(sessions)} completed session"
                    f"{'s' if len(sessions) != 1 else ''}.", **ROOT)


def nice_step(span, most):
    """The least of 1, 2, 5, 10, 20, 50… that cuts ``span`` into at most ``most`` steps."""
    step = 1
    while span / step > most:
        step *= 2.5 if str(step)[0] == "2" else 2
    return int(step)


def mt_chart(measurements):
    """Measured motor thresholds as SVG: ``measurements`` are (day, % of machine output), oldest
    first."""
    width, height = 720, 240
    left, top, right, bottom = 52, 10, 692, 206
    days = [day for day, _ in measurements]
    values = [value for _, value in measurements]
    x = svgchart.Scale(min(days) - 3 * DAY, max(days) + 3 * DAY, left, right)
    lowest, highest = max(0, min(values) - 10), min(100, max(values) + 10)
    y = svgchart.Scale(lowest, highest, bottom, top)
    step = nice_step(highest - lowest, 6)
    ticks = range(math.ceil(lowest / step) * step, math.floor(highest) + 1, step)
    xy = [(x(day), y(value)) for day, value in measurements]
    line = element("g", join([
        element("polyline", points=svgchart.points(xy), fill="none", stroke=SCORE_COLOUR, stroke_width=2),
        *(element("circle", cx=px, cy=py, r=3.5, fill=SCORE_COLOUR) for px, py in xy),
    ]), id="mt-measurements")
    body = join([
        line, plot_box(left, top, right, bottom, id="mt-plot"),
        svgchart.y_ticks([(value, value) for value in ticks], scale=y, left=left - 4, right=left, label_x=left - 7,
                         line=TICK),
        _vertical_label("MT, % output", 14, (top + bottom) / 2),
        svgchart.x_ticks(svgchart.date_ticks(min(days) - 3 * DAY, max(days) + 3 * DAY, most=8), scale=x,
                         top=bottom, bottom=bottom + 4, label_y=bottom + 18, line=TICK),
    ])
    return svgchart.frame(
        name="mt", title="Measured motor thresholds over time", width=width, height=height, body=body,
        description=f"{len(values)} measurement{'s' if len(values) != 1 else ''} from {_date_text(days[0])} to "
                    f"{_date_text(days[-1])}, between {min(values)}% and {max(values)}% of machine output; the "
                    f"latest {values[-1]}%.", **ROOT)


def survival_at(steps, times, time):
    """The estimate at ``time`` from ``kaplan_meier`` steps whose times are ``times``: as
    ``patients.outcomes.survival_at``, by bisection (a chart asks it for each censored day)."""
    return steps[bisect.bisect_right(times, time) - 1][1]


def survival_chart(groups):
    """Relapse-free survival by group as SVG. ``groups``: dicts with ``key``, ``label``,
    ``durations`` (days), ``events`` and ``steps`` (from ``patients.outcomes.kaplan_meier``)."""
    width, height = 700, 340
    left, top, right, bottom = 60, 10, 686, 262
    longest = max((max(group["durations"], default=0) for group in groups), default=0) / DAYS_PER_MONTH
    x = svgchart.Scale(0, max(12.5, longest + 0.5), left, right)
    y = svgchart.Scale(0, 1.02, bottom, top)
    parts = [element("line", x1=x(months), x2=x(months), y1=top, y2=bottom, stroke=GUIDE_COLOUR, stroke_width=0.6)
             for months in (3, 6, 12)]
    entries, said = [], []
    for colour, group in zip(GROUP_COLOURS, groups, strict=False):
        if not group["durations"]:
            continue
        steps = group["steps"]
        path = [f"M{number(x(0))},{number(y(steps[0][1]))}"]
        for time, survival, _ in steps[1:]:
            path.append(f"H{number(x(time / DAYS_PER_MONTH))}V{number(y(survival))}")
        path.append(f"H{number(x(max(group['durations']) / DAYS_PER_MONTH))}")
        parts.append(element("path", id=f"km-{group['key']}", d="".join(path), fill="none", stroke=colour,
                             stroke_width=1.8))
        # A tick where each patient's follow-up ends without relapse, on the curve; those ending
        # on the same day share one tick.
        times = [time for time, _, _ in steps]
        censored = sorted({time for time, event in zip(group["durations"], group["events"], strict=True)
                           if not event})
        ticks = "".join(f"M{number(x(time / DAYS_PER_MONTH))},{number(y(survival_at(steps, times, time)) - 5)}v10"
                        for time in censored)
        if ticks:
            parts.append(element("path", id=f"km-censored-{group['key']}", d=ticks, stroke=colour, stroke_width=1))
        entries.append(("plain", colour, f"{group['label']} (n = {len(group['durations'])})"))
        said.append(f"{group['label']}: {len(group['durations'])} patients, "
                    f"{round(steps[-1][1] * 100)}% relapse-free at the end of follow-up")
    month_step = 3 if x.highest <= 24 else 6 if x.highest <= 48 else 12
    parts += [
        plot_box(left, top, right, bottom, id="km-plot"),
        svgchart.y_ticks([(n / 5, f"{n * 20}%") for n in range(6)], scale=y, left=left - 4, right=left,
                         label_x=left - 7, line=TICK),
        svgchart.x_ticks([(months, months) for months in range(0, int(x.highest) + 1, month_step)], scale=x,
                         top=bottom, bottom=bottom + 4, label_y=bottom + 18, line=TICK),
        element("text", "Months since the maintenance plan started", x=(left + right) / 2, y=bottom + 38,
                text_anchor="middle"),
        _vertical_label("Relapse-free", 14, (top + bottom) / 2),
        legend(entries, width=width, y=height - 16),
    ]
    return svgchart.frame(
        name="km", title="Relapse-free survival by group (Kaplan–Meier)", width=width, height=height,
        body=join(parts), description="; ".join(said) + "." if said else "No patient to draw.", **ROOT)
