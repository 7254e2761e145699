"""The PHQ-9 chart as a patient sees it in the portal: the same scores and bands as the staff
chart (patients/charts.py, whose drawing helpers it uses), drawn smaller so that its text stays
readable on a phone (at 390 px wide the drawing is shown 1.19 times its size: its 13-unit text
is 15 px or more), with no staff words inside the drawing. What each line and colour
means is said in the patient's words by ``legend()``, as HTML under the chart.
"""

from patients import charts
from patients.models import Assessment
from patients.outcomes import course_outcome
from tmsclinic import svgchart
from tmsclinic.svgchart import element, join

FONT_SIZE = 13
# Drawn in a 300 × 210 box (its text 13 units: 15.5 px on a phone's 358 px column) and shown
# 400 px wide where there is room (its text then 17 px).
WIDTH, HEIGHT, DISPLAY_WIDTH = 300, 210, 400

# What each band means, in the patient's words. The numbers come from the bands themselves.
BAND_WORDS = {
    Assessment.Band.MINIMAL: "minimal — below 5 is remission-level",
    Assessment.Band.MILD: "mild",
    Assessment.Band.MODERATE: "moderate",
    Assessment.Band.MODERATELY_SEVERE: "moderately severe",
    Assessment.Band.SEVERE: "severe",
}
SCORE_WORDS = "Your score (lower is better)"
HALFWAY_WORDS = ("Half your score when a treatment course began: a score at or below it means the "
                 "treatment is working well")


def legend(has_halfway):
    """The chart's key: (kind, colour, words) for the score line, the halfway line when drawn,
    and each band, mildest first."""
    rows = [("line", charts.SCORE_COLOUR, SCORE_WORDS)]
    if has_halfway:
        rows.append(("dashed", charts.RESPONSE_COLOUR, HALFWAY_WORDS))
    rows += [("band", charts.BAND_COLOURS[band], f"{low}–{high}: {BAND_WORDS[band]}")
             for band, low, high in charts.phq9_bands()]
    return rows


def halfway_lines(courses, assessments, zone):
    """(start, end, half the baseline) for each course with a baseline score; ``courses`` as
    the patient's ``TreatmentCourse`` rows, ``assessments`` oldest first."""
    lines = []
    for course in courses:
        baseline = course_outcome(course, assessments, zone=zone)["baseline"]
        if baseline is not None and baseline.total > 0:
            lines.append((course.start_date, course.ended_on, baseline.total / 2))
    return lines


def phq9_chart(*, scores, halfway, until):
    """The portal's PHQ-9 chart as SVG. ``scores``: (day, total) oldest first; ``halfway``:
    (start, end or None, value) per course, from ``halfway_lines``; ``until``: the last day."""
    left, top, right, bottom = 30, 8, WIDTH - 8, HEIGHT - 26
    first = min([*(day for day, _ in scores), *(start for start, _, _ in halfway)])
    shown_from, shown_to = first - 3 * charts.DAY, until + 3 * charts.DAY
    x = svgchart.Scale(shown_from, shown_to, left, right)
    y = svgchart.Scale(0, charts.PHQ9_MAX, bottom, top)
    lines = [element("line", id=f"phq9-halfway-{n}", x1=x(start), x2=x(end or until), y1=y(value), y2=y(value),
                     stroke=charts.RESPONSE_COLOUR, stroke_width=2, stroke_dasharray="6 4")
             for n, (start, end, value) in enumerate(halfway)]
    body = join([
        charts.phq9_band_rects(left, right, y), *lines,
        charts.score_line(scores, x, y, id="phq9-scores", width=2.5, radius=4),
        charts.plot_box(left, top, right, bottom, id="phq9-plot"),
        svgchart.y_ticks([(value, value) for value in charts.PHQ9_TICKS], scale=y, left=left - 3, right=left,
                         label_x=left - 5, line=charts.TICK),
        # No year in the ticks: the dated list under the chart gives the years.
        svgchart.x_ticks(svgchart.date_ticks(shown_from, shown_to, most=4, year_on_first=False), scale=x,
                         top=bottom, bottom=bottom + 3, label_y=bottom + 18, line=charts.TICK),
    ])
    latest_day, latest = scores[-1]
    return svgchart.frame(
        name="phq9", title="Your PHQ-9 scores over time", width=WIDTH, height=HEIGHT, display_width=DISPLAY_WIDTH,
        body=body, description=f"{len(scores)} check-in{'s' if len(scores) != 1 else ''}, the latest "
                               f"{latest} on {latest_day.day} {latest_day:%B %Y}. Lower is better.",
        **{**charts.ROOT, "font_size": FONT_SIZE})
