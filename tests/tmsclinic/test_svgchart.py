"""tmsclinic/svgchart.py, the SVG drawing shared by every chart: escaping, numbers, scales over
dates, and date ticks a reader can follow."""

import datetime

import pytest
from django.utils.safestring import SafeString, mark_safe

from tmsclinic import svgchart

D = datetime.date


@pytest.mark.parametrize(("value", "text"), [(3, "3"), (3.0, "3"), (2.25, "2.2"), (2.26, "2.3"), (-0.04, "0"),
                                             (-12.5, "-12.5"), (1e-9, "0")])
def test_numbers_are_written_short(value, text):
    assert svgchart.number(value) == text


def test_an_element_escapes_its_text_and_attributes_unless_already_safe():
    drawn = svgchart.element("text", '<b>"A" & B</b>', x=1.5, data_label="x\" onload=\"alert(1)", font_size=12,
                             class_="tick", title=None)
    assert isinstance(drawn, SafeString)
    assert drawn == ('<text x="1.5" data-label="x&quot; onload=&quot;alert(1)" font-size="12" class="tick">'
                     "&lt;b&gt;&quot;A&quot; &amp; B&lt;/b&gt;</text>")
    assert svgchart.element("g", mark_safe("<circle/>")) == "<g><circle/></g>"  # noqa: S308
    assert svgchart.element("line", x1=0, x2=2) == '<line x1="0" x2="2"/>'


def test_join_keeps_drawn_parts_and_escapes_anything_else():
    assert svgchart.join([svgchart.element("circle"), "", None, "<i>"]) == "<circle/>&lt;i&gt;"


def test_the_frame_names_and_describes_the_image():
    svg = svgchart.frame(name="n", title="A & <B>", description="What it shows", width=300, height=200,
                         display_width=400, body=svgchart.element("g"), class_="chart")
    assert svg == ('<svg class="chart" viewBox="0 0 300 200" width="400" height="266.7" role="img" '
                   'aria-labelledby="n-title" aria-describedby="n-desc" data-testid="n-chart">'
                   '<title id="n-title">A &amp; &lt;B&gt;</title><desc id="n-desc">What it shows</desc><g/></svg>')


def test_a_scale_maps_numbers_and_calendar_days_linearly():
    scale = svgchart.Scale(0, 10, 100, 0)
    assert (scale(0), scale(2.5), scale(10)) == (100, 75, 0)
    # Across the changes of the clocks in the US (8 March, 1 November 2026) and Europe (29
    # March, 25 October): a day is a day.
    days = svgchart.Scale(D(2026, 3, 1), D(2026, 11, 30), 0, 274)
    assert [days(D(2026, 3, d)) for d in (7, 8, 9)] == [6, 7, 8]
    assert days(D(2026, 10, 25)) - days(D(2026, 10, 24)) == days(D(2026, 11, 2)) - days(D(2026, 11, 1)) == 1
    assert days(D(2026, 11, 30)) == 274


def test_date_ticks_over_a_year_are_months_with_the_year_said():
    ticks = svgchart.date_ticks(D(2025, 12, 20), D(2026, 12, 10), most=7)
    assert ticks == [(D(2026, 1, 1), "2026"), (D(2026, 3, 1), "Mar"), (D(2026, 5, 1), "May"), (D(2026, 7, 1), "Jul"),
                     (D(2026, 9, 1), "Sep"), (D(2026, 11, 1), "Nov")]
    assert svgchart.date_ticks(D(2026, 2, 10), D(2026, 12, 10), most=7)[0] == (D(2026, 3, 1), "Mar 2026")
    assert svgchart.date_ticks(D(2026, 2, 10), D(2026, 12, 10), most=4, year_on_first=False) == [
        (D(2026, 4, 1), "Apr"), (D(2026, 7, 1), "Jul"), (D(2026, 10, 1), "Oct")]


def test_date_ticks_over_weeks_fall_on_mondays_and_say_a_new_year():
    ticks = svgchart.date_ticks(D(2026, 12, 1), D(2027, 2, 1), most=7)
    assert [day.weekday() for day, _ in ticks] == [0] * len(ticks)
    assert [label for _, label in ticks] == ["7 Dec 2026", "21 Dec", "4 Jan 2027", "18 Jan", "1 Feb"]


@pytest.mark.parametrize(("first", "last", "most"), [
    (D(2026, 10, 1), D(2026, 10, 1), 4), (D(2026, 10, 1), D(2026, 10, 9), 4), (D(2026, 1, 1), D(2026, 3, 31), 5),
    (D(2019, 6, 30), D(2026, 12, 4), 6), (D(2026, 2, 27), D(2026, 3, 2), 8)])
def test_date_ticks_are_few_within_the_span_and_in_order(first, last, most):
    ticks = svgchart.date_ticks(first, last, most=most)
    days = [day for day, _ in ticks]
    assert 1 <= len(ticks) <= most
    assert days == sorted(set(days)) and first <= days[0] and days[-1] <= last
