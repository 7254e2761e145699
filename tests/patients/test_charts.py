"""The server-drawn charts (patients/charts.py, patients/portal_chart.py): inline SVG that the
Content-Security-Policy accepts (no <style> element, no style attribute), accessible, escaped,
and drawing each point where it belongs — coordinates recomputed here from the plot's outline
and the data, independently of the drawing code."""

import datetime
import re
import sys
from types import SimpleNamespace
from xml.dom import minidom

import pytest

from patients import charts, portal_chart
from patients.models import Assessment
from patients.outcomes import kaplan_meier

DAY = datetime.date(2026, 10, 1)
CLINICAL_BANDS = [(0, 4), (5, 9), (10, 14), (15, 19), (20, 27)]  # ../shared/CLINICAL.md (Kroenke 2001)


def days(n):
    return datetime.timedelta(days=n)


def course(start, end, label="Acute course", baseline=20, latest=4, latest_on=None):
    outcome = {"baseline": SimpleNamespace(total=baseline), "latest": SimpleNamespace(total=latest),
               "response": latest <= baseline / 2, "remission": latest < 5}
    return {"start": start, "end": end, "label": label, "outcome": outcome, "latest_on": latest_on or end}


def group(key, label, durations, events):
    return {"key": key, "label": label, "durations": durations, "events": events,
            "steps": kaplan_meier(durations, events)}


def phq9(**overrides):
    data = {"scores": [(DAY, 20), (DAY + days(40), 4)], "sessions": [DAY], "courses": [], "maintenance_from": None,
            "until": DAY + days(50)}
    return charts.phq9_chart(**{**data, **overrides})


ALL_CHARTS = {
    "phq9": lambda: phq9(courses=[course(DAY, DAY + days(40))], maintenance_from=DAY + days(45)),
    "mt": lambda: charts.mt_chart([(DAY, 55), (DAY + days(7), 58)]),
    "survival": lambda: charts.survival_chart([group("all", "All", [30, 60, 90], [True, False, True])]),
    "portal": lambda: portal_chart.phq9_chart(scores=[(DAY, 20), (DAY + days(40), 4)],
                                              halfway=[(DAY, None, 10.0)], until=DAY + days(50)),
}


def parsed(svg):
    return minidom.parseString(str(svg)).documentElement  # noqa: S318 - our own drawing


def by_id(svg, element_id):
    found = [node for node in parsed(svg).getElementsByTagName("*") if node.getAttribute("id") == element_id]
    assert len(found) == 1, f"{element_id}: {len(found)} elements"
    return found[0]


def number(node, name):
    return float(node.getAttribute(name))


def plot_area(svg, element_id):
    """(left, top, right, bottom) of the plot's outline as drawn."""
    box = by_id(svg, element_id)
    left, top = number(box, "x"), number(box, "y")
    return left, top, left + number(box, "width"), top + number(box, "height")


def circles(svg, element_id):
    """The centres of the circles in ``element_id``, as x, y, x, y…"""
    return flat((number(c, "cx"), number(c, "cy")) for c in by_id(svg, element_id).getElementsByTagName("circle"))


def flat(pairs):
    return [value for pair in pairs for value in pair]


@pytest.fixture(params=ALL_CHARTS)
def svg(request):
    return ALL_CHARTS[request.param]()


def test_a_chart_carries_no_inline_style(svg):
    assert "<style" not in svg
    assert " style=" not in svg
    assert "<script" not in svg and not re.search(r"\son\w+=", svg)


def test_it_is_well_formed_and_styled_with_presentation_attributes(svg):
    root = parsed(svg)  # also proves no attribute is doubled
    assert root.tagName == "svg" and root.getAttribute("font-size") and root.getAttribute("fill")
    assert re.search(r'<text [^>]*font-size="\d+"', svg) or root.getAttribute("font-size")
    assert charts.SCORE_COLOUR in svg or charts.GROUP_COLOURS[0] in svg


def test_it_is_an_image_with_a_name_and_a_description(svg):
    root = parsed(svg)
    name = root.getAttribute("data-testid").removesuffix("-chart")
    assert root.getAttribute("role") == "img"
    assert root.getAttribute("aria-labelledby") == f"{name}-title"
    assert root.getAttribute("aria-describedby") == f"{name}-desc"
    assert root.firstChild.tagName == "title" and root.firstChild.getAttribute("id") == f"{name}-title"
    assert root.firstChild.firstChild.data.strip()
    assert root.childNodes[1].tagName == "desc" and root.childNodes[1].firstChild.data.strip()
    assert re.fullmatch(r"0 0 \d+ \d+", root.getAttribute("viewBox"))


def test_the_phq9_scores_are_drawn_where_they_belong():
    # Across the US change to summer time (8 March 2026): one day is one day's width.
    scores = [(datetime.date(2026, 3, 7), 21), (datetime.date(2026, 3, 8), 14), (datetime.date(2026, 3, 9), 9),
              (datetime.date(2026, 4, 20), 3)]
    until = datetime.date(2026, 5, 1)
    svg = phq9(scores=scores, sessions=[datetime.date(2026, 3, 2)], until=until)
    left, top, right, bottom = plot_area(svg, "phq9-plot")
    # The axis shows three days either side of the first session and of the last day.
    first, last = datetime.date(2026, 2, 27), datetime.date(2026, 5, 4)
    expected = [(left + (right - left) * (day - first).days / (last - first).days, bottom - (bottom - top) * total / 27)
                for day, total in scores]
    assert circles(svg, "phq9-scores") == pytest.approx(flat(expected), abs=0.06)
    x1, _, x2, _, x3, *_ = circles(svg, "phq9-scores")
    assert x2 - x1 == pytest.approx(x3 - x2, abs=0.11)


def test_the_severity_bands_are_the_clinical_ones():
    svg = phq9()
    left, top, right, bottom = plot_area(svg, "phq9-plot")
    for band, (low, high) in zip(Assessment.Band, sorted(CLINICAL_BANDS), strict=True):
        rect = by_id(svg, f"phq9-band-{band}")
        # Half a point either side of the band's whole scores, within 0–27.
        lower, upper = max(low - 0.5, 0), min(high + 0.5, 27)
        assert number(rect, "y") == pytest.approx(bottom - (bottom - top) * upper / 27, abs=0.06)
        assert number(rect, "y") + number(rect, "height") == pytest.approx(bottom - (bottom - top) * lower / 27,
                                                                            abs=0.11)
        assert (number(rect, "x"), number(rect, "x") + number(rect, "width")) == pytest.approx((left, right))
        assert rect.getAttribute("fill") == charts.BAND_COLOURS[band]
        assert by_id(svg, f"phq9-band-label-{band}").firstChild.data == band.label


def test_courses_maintenance_and_outcomes_are_marked():
    acute = course(DAY, DAY + days(40), baseline=20, latest=4)
    svg = phq9(courses=[acute], maintenance_from=DAY + days(45))
    left, top, right, bottom = plot_area(svg, "phq9-plot")
    first, last = DAY - days(3), DAY + days(53)

    def x(day):
        return left + (right - left) * (day - first).days / (last - first).days

    shaded = by_id(svg, "phq9-course-0")
    assert (number(shaded, "x"), number(shaded, "width")) == pytest.approx((x(DAY), x(DAY + days(40)) - x(DAY)),
                                                                           abs=0.11)
    assert by_id(svg, "phq9-course-label-0").firstChild.data == "Acute course"
    half = by_id(svg, "phq9-response-threshold-0")
    assert number(half, "y1") == number(half, "y2") == pytest.approx(bottom - (bottom - top) * 10 / 27, abs=0.06)
    assert half.getAttribute("stroke-dasharray")
    maintenance = by_id(svg, "phq9-maintenance")
    assert number(maintenance, "x1") == number(maintenance, "x2") == pytest.approx(x(DAY + days(45)), abs=0.06)
    assert by_id(svg, "phq9-outcome-label-0").firstChild.data == "Response and remission"
    assert by_id(svg, "phq9-response-0").getAttribute("d") and by_id(svg, "phq9-remission-0").getAttribute("d")
    legend = [text.firstChild.data for text in by_id(svg, "legend").getElementsByTagName("text")]
    assert legend == ["PHQ-9", "Session", "Half the course's baseline", "Response (≥ 50% drop)", "Remission (< 5)"]


def test_without_a_course_or_a_session_there_is_no_marker_for_them():
    svg = phq9(sessions=[], scores=[(DAY, 12)])
    for absent in ("phq9-sessions", "phq9-course-0", "phq9-response", "phq9-remission", "phq9-maintenance"):
        assert f'id="{absent}' not in svg
    legend = [text.firstChild.data for text in by_id(svg, "legend").getElementsByTagName("text")]
    assert legend == ["PHQ-9"]
    assert len(circles(svg, "phq9-scores")) == 2  # one point: x and y


def test_the_date_axis_is_readable():
    svg = phq9(scores=[(datetime.date(2026, 1, 10), 20), (datetime.date(2026, 12, 1), 5)], sessions=[],
               until=datetime.date(2026, 12, 4))
    left, _, right, bottom = plot_area(svg, "phq9-plot")
    labels = [(number(t, "x"), t.firstChild.data) for t in parsed(svg).getElementsByTagName("text")
              if number(t, "y") == pytest.approx(bottom + 18)]
    assert [label for _, label in labels] == ["Mar 2026", "May", "Jul", "Sep", "Nov"]
    first = datetime.date(2026, 1, 7)
    span = (datetime.date(2026, 12, 7) - first).days
    assert [x for x, _ in labels] == pytest.approx(
        [left + (right - left) * (datetime.date(2026, month, 1) - first).days / span for month in (3, 5, 7, 9, 11)],
        abs=0.06)


def test_text_in_a_chart_is_escaped():
    label = 'Course <script>alert("x")</script> & co'
    svg = phq9(courses=[course(DAY, DAY + days(40), label=label)])
    assert "<script>" not in svg
    assert by_id(svg, "phq9-course-label-0").firstChild.data == label
    survival = charts.survival_chart([group("a", "<b>A</b> & B", [30], [True])])
    assert "<b>" not in survival
    assert "<b>A</b> & B (n = 1)" in [t.firstChild.data for t in parsed(survival).getElementsByTagName("text")]


def test_the_motor_thresholds_are_drawn_where_they_belong():
    measurements = [(DAY, 50), (DAY + days(10), 62), (DAY + days(30), 58)]
    svg = charts.mt_chart(measurements)
    left, top, right, bottom = plot_area(svg, "mt-plot")
    # Three days either side; ten points of output above and below.
    first, span, lowest, highest = DAY - days(3), 36, 40, 72

    def y(value):
        return bottom - (bottom - top) * (value - lowest) / (highest - lowest)

    assert circles(svg, "mt-measurements") == pytest.approx(flat(
        (left + (right - left) * (day - first).days / span, y(value)) for day, value in measurements), abs=0.06)
    assert len(circles(svg, "mt-measurements")) == 6
    assert charts.mt_chart([(DAY, 55)]).count("<circle") == 1  # one measurement: a point, no error


def test_the_survival_curve_steps_down_at_each_relapse_and_ticks_the_censored():
    durations, events = [30, 60, 60, 90, 120], [True, False, True, True, False]
    svg = charts.survival_chart([group("on-schedule", "On schedule", durations, events),
                                 group("lapsed", "Lapsed", [], [])])
    left, top, right, bottom = plot_area(svg, "km-plot")
    month = 365.25 / 12

    def x(days_):
        return left + (right - left) * (days_ / month) / 12.5

    def y(share):
        return bottom - (bottom - top) * share / 1.02

    # Kaplan–Meier by hand: 5 at risk, one relapse at 30 (4/5); at 60 one of 4 (3/5), the
    # censored one still at risk; at 90 one of 2 (3/10).
    corners = [(x(0), y(1)), (x(30), y(1)), (x(30), y(0.8)), (x(60), y(0.8)), (x(60), y(0.6)), (x(90), y(0.6)),
               (x(90), y(0.3)), (x(120), y(0.3))]
    path = by_id(svg, "km-on-schedule").getAttribute("d")
    drawn, at = [], None
    for command, value in re.findall(r"([MHV])([-\d.,]+)", path):
        if command == "M":
            at = tuple(float(v) for v in value.split(","))
        else:
            at = (float(value), at[1]) if command == "H" else (at[0], float(value))
        drawn.append(at)
    assert flat(drawn) == pytest.approx(flat(corners), abs=0.06)
    ticks = re.findall(r"M([\d.]+),([\d.]+)v10", by_id(svg, "km-censored-on-schedule").getAttribute("d"))
    assert flat((float(tx), float(ty) + 5) for tx, ty in ticks) == pytest.approx(
        flat([(x(60), y(0.6)), (x(120), y(0.3))]), abs=0.11)
    assert 'id="km-lapsed"' not in svg  # a group with no one is not drawn


def test_a_survival_chart_without_patients_still_draws_its_axes():
    svg = charts.survival_chart([group("on-schedule", "On schedule", [], []), group("lapsed", "Lapsed", [], [])])
    assert 'id="km-plot"' in svg and "No patient to draw." in svg and "km-on-schedule" not in svg


def test_patients_ending_on_the_same_day_share_one_tick():
    svg = charts.survival_chart([group("all", "All", [100] * 50 + [200] * 50, [False] * 100)])
    assert by_id(svg, "km-censored-all").getAttribute("d").count("M") == 2


def test_the_portal_chart_draws_the_same_scores_bands_and_halfway_line():
    scores = [(DAY, 18), (DAY + days(20), 8)]
    svg = portal_chart.phq9_chart(scores=scores, halfway=[(DAY - days(2), DAY + days(25), 9.0)], until=DAY + days(30))
    left, top, right, bottom = plot_area(svg, "phq9-plot")
    first, span = DAY - days(5), 38

    def x(day):
        return left + (right - left) * (day - first).days / span

    assert circles(svg, "phq9-scores") == pytest.approx(
        flat((x(day), bottom - (bottom - top) * total / 27) for day, total in scores), abs=0.06)
    halfway = by_id(svg, "phq9-halfway-0")
    assert (number(halfway, "x1"), number(halfway, "x2")) == pytest.approx((x(DAY - days(2)), x(DAY + days(25))),
                                                                          abs=0.06)
    for band in Assessment.Band:
        assert by_id(svg, f"phq9-band-{band}").getAttribute("fill") == charts.BAND_COLOURS[band]
    assert "phq9-band-label" not in svg  # the key under the chart names them, in the patient's words


def test_drawing_imports_no_plotting_library(svg):
    # The first chart of a new web worker pays no import of matplotlib or numpy (issue 15).
    assert not {"matplotlib", "numpy"} & set(sys.modules)
