"""Charts are kept by their data (patients/charts.py, portal_chart.py): the same data is drawn
once; any change in what a chart plots draws it again — a kept chart never shows old scores."""

import datetime
from types import SimpleNamespace

import pytest

from patients import charts, portal_chart

DAY = datetime.date(2026, 10, 1)


def course(**changes):
    fields = {"start": DAY, "end": DAY + datetime.timedelta(days=60), "label": "Acute course", "baseline": 20,
              "latest_on": DAY + datetime.timedelta(days=58), "latest": 4, "response": True, "remission": True}
    fields.update(changes)
    return {"start": fields["start"], "end": fields["end"], "label": fields["label"],
            "latest_on": fields["latest_on"],
            "outcome": {"baseline": SimpleNamespace(total=fields["baseline"]),
                        "latest": SimpleNamespace(total=fields["latest"]),
                        "response": fields["response"], "remission": fields["remission"]}}


def phq9(**changes):
    arguments = {"scores": [(DAY, 20), (DAY + datetime.timedelta(days=58), 4)], "sessions": [DAY],
                 "courses": [course()], "maintenance_from": None, "until": DAY + datetime.timedelta(days=90)}
    arguments.update(changes)
    return charts.phq9_chart(**arguments)


def test_the_same_data_is_drawn_once():
    charts._draw_phq9.cache_clear()
    first = phq9()
    again = phq9(scores=[(DAY, 20), (DAY + datetime.timedelta(days=58), 4)])  # equal, not the same list
    assert again is first
    assert charts._draw_phq9.cache_info().misses == 1


@pytest.mark.parametrize("changes", [
    {"scores": [(DAY, 20), (DAY + datetime.timedelta(days=58), 5)]},
    {"sessions": [DAY, DAY + datetime.timedelta(days=1)]},
    {"maintenance_from": DAY + datetime.timedelta(days=70)},
    {"until": DAY + datetime.timedelta(days=91)},
    *({"courses": [course(**{field: value})]} for field, value in [
        ("start", DAY - datetime.timedelta(days=1)), ("end", DAY + datetime.timedelta(days=61)),
        ("label", "Reintroduction course"), ("baseline", 22), ("latest_on", DAY + datetime.timedelta(days=57)),
        ("latest", 6), ("response", False), ("remission", False)]),
], ids=lambda changes: next(iter(changes)) + (f"-{len(str(changes))}" if "courses" in changes else ""))
def test_any_change_in_what_the_phq9_chart_plots_draws_it_again(changes):
    assert phq9(**changes) != phq9()


def test_the_mt_survival_and_portal_charts_are_kept_by_their_data_too():
    measurements = [(DAY, 50), (DAY + datetime.timedelta(days=7), 52)]
    assert charts.mt_chart(measurements) is charts.mt_chart(list(measurements))
    assert charts.mt_chart([(DAY, 50), (DAY + datetime.timedelta(days=7), 53)]) != charts.mt_chart(measurements)

    group = {"key": "all", "label": "All", "durations": [30, 60, 90], "events": [True, False, True],
             "steps": [(0, 1.0, 0), (30, 2 / 3, 1), (90, 1 / 3, 1)]}
    assert charts.survival_chart([group]) is charts.survival_chart([dict(group)])
    assert charts.survival_chart([{**group, "events": [True, True, True]}]) != charts.survival_chart([group])

    scores, until = [(DAY, 20), (DAY + datetime.timedelta(days=30), 9)], DAY + datetime.timedelta(days=40)
    halfway = [(DAY, None, 10.0)]
    kept = portal_chart.phq9_chart(scores=scores, halfway=halfway, until=until)
    assert portal_chart.phq9_chart(scores=list(scores), halfway=list(halfway), until=until) is kept
    assert portal_chart.phq9_chart(scores=scores, halfway=[(DAY, None, 11.0)], until=until) != kept
