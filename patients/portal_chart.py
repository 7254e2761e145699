"""The PHQ-9 chart as a patient sees it in the portal: the same scores and bands as the staff
chart (patients/charts.py, whose drawing helpers it uses), drawn smaller so that its text stays
readable on a phone (at 390 px wide the figure is shown at least 1.2 times its size: 12-point
text is 14 px or more), with no staff words inside the drawing. What each line and colour
means is said in the patient's words by ``legend()``, as HTML under the chart.
"""

import datetime
import functools

from patients import charts
from patients.models import Assessment
from patients.outcomes import course_outcome

FONT_SIZE = 12
WIDTH_INCHES, HEIGHT_INCHES = 4.2, 2.9

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
    (start, end or None, value) per course, from ``halfway_lines``; ``until``: the last day.
    Kept by its data, as the staff charts are (patients/charts.py)."""
    return _draw(tuple(scores), tuple(tuple(line) for line in halfway), until)


@functools.lru_cache(maxsize=charts.CHARTS_KEPT)
def _draw(scores, halfway, until):
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    figure = charts._figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES))
    figure.subplots_adjust(left=0.12, right=0.97, top=0.96, bottom=0.14)
    axes = figure.add_subplot()
    days = [day for day, _ in scores]
    first = min([*days, *(start for start, _, _ in halfway)])
    axes.set_xlim(first - datetime.timedelta(days=3), until + datetime.timedelta(days=3))
    axes.set_ylim(0, charts.PHQ9_MAX)
    axes.set_yticks([0, 5, 10, 15, 20, 27])
    axes.tick_params(labelsize=FONT_SIZE)
    for band, low, high in charts.phq9_bands():
        axes.axhspan(max(low - 0.5, 0), min(high + 0.5, charts.PHQ9_MAX), color=charts.BAND_COLOURS[band],
                     zorder=0, gid=f"phq9-band-{band}")
    for n, (start, end, value) in enumerate(halfway):
        axes.hlines(value, start, end or until, colors=charts.RESPONSE_COLOUR, linestyles="dashed", linewidth=1.5,
                    zorder=2, gid=f"phq9-halfway-{n}")
    axes.plot(days, [total for _, total in scores], marker="o", color=charts.SCORE_COLOUR, linewidth=2, zorder=6,
              gid="phq9-scores")
    locator = AutoDateLocator(maxticks=4)
    axes.xaxis.set_major_locator(locator)
    # No offset text ("2026-Dec") in the corner: the dated list under the chart gives the years.
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=False))
    return charts._svg(figure)
