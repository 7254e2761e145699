"""The server-drawn charts are inline SVG that the Content-Security-Policy accepts: no <style>
element and no style attribute, with what they said kept as presentation attributes."""

import datetime
import re
from xml.dom import minidom

import pytest

from patients import charts

DAY = datetime.date(2026, 10, 1)


@pytest.fixture(params=["phq9", "survival"])
def svg(request):
    if request.param == "phq9":
        return charts.phq9_chart(scores=[(DAY, 20), (DAY + datetime.timedelta(days=40), 4)], sessions=[DAY],
                                 courses=[], maintenance_from=None, until=DAY + datetime.timedelta(days=50))
    return charts.survival_chart([{"key": "all", "label": "All", "durations": [30, 60, 90],
                                   "events": [True, False, True],
                                   "steps": [(0, 1.0, 0), (30, 2 / 3, 1), (90, 1 / 3, 1)]}])


def test_a_chart_carries_no_inline_style(svg):
    assert "<style" not in svg
    assert " style=" not in svg


def test_its_styling_is_kept_as_presentation_attributes(svg):
    document = minidom.parseString(svg)  # noqa: S318 - our own drawing; also proves no attribute is doubled
    root = document.documentElement
    assert (root.getAttribute("stroke-linejoin"), root.getAttribute("stroke-linecap")) == ("round", "butt")
    assert re.search(r'<path [^>]*fill="#ffffff"', svg)  # the background
    assert re.search(r'<text [^>]*font-size="9px"', svg)
    assert charts.SCORE_COLOUR in svg or charts.GROUP_COLOURS[0] in svg
