"""Charts drawn on the server as SVG with matplotlib: drawing only (the numbers they plot come
from ``patients.outcomes``).

Only matplotlib's object-oriented API is used (no pyplot): it keeps no global figure state,
so concurrent requests cannot draw into each other's charts. Each drawn element that a
reader (or a test) needs to find carries an SVG id (matplotlib's ``gid``).

Drawing one takes 50–150 ms, so each chart is kept by its data — the plain values it plots, as
a key — in this process's memory (``CHARTS_KEPT`` of them, least recently used out first): a
chart is drawn again only when its data changed. Nothing leaves the process (no patient's scores
in a shared cache). ``warm_up()``, called as a web process starts (tmsclinic/wsgi.py), imports
matplotlib and draws once, so that no request pays for that (about a second).
"""

import datetime
import functools
import io
import re

from django.utils.safestring import mark_safe

from .models import Assessment
from .outcomes import DAYS_PER_MONTH, survival_at

PHQ9_MAX = 27
# About 10–40 KB each: a few megabytes per process at most.
CHARTS_KEPT = 256
BAND_COLOURS = {
    Assessment.Band.MINIMAL: "#e3f1e1",
    Assessment.Band.MILD: "#f3f3d8",
    Assessment.Band.MODERATE: "#fbe8cc",
    Assessment.Band.MODERATELY_SEVERE: "#f8d7c6",
    Assessment.Band.SEVERE: "#f1c4c4",
}
SCORE_COLOUR, SESSION_COLOUR, RESPONSE_COLOUR, REMISSION_COLOUR = "#1f4e8c", "#555555", "#b35c00", "#1b7a3a"
GROUP_COLOURS = ("#1f4e8c", "#c0392b")


def phq9_bands():
    """(band, lowest total, highest total) for each PHQ-9 severity band, mildest first."""
    floors = sorted(Assessment.BAND_FLOORS)
    return [
        (band, floor, (floors[n + 1][0] - 1) if n + 1 < len(floors) else PHQ9_MAX)
        for n, (floor, band) in enumerate(floors)
    ]


@functools.cache
def _matplotlib():
    """matplotlib, imported on the first chart rather than when Django starts: it takes about
    half a second and may build a font cache, which every ``manage.py`` command would pay."""
    import matplotlib

    # Text stays <text> (small, searchable, read by screen readers) rather than glyph outlines,
    # and the ids matplotlib generates are the same on every render.
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "tmsclinic", "font.size": 9})
    return matplotlib


def warm_up():
    """Import matplotlib and draw one chart now, not in the first request that shows one."""
    _draw_mt(((datetime.date(2000, 1, 3), 50), (datetime.date(2000, 1, 10), 52)))


def _figure(**kwargs):
    _matplotlib()
    from matplotlib.figure import Figure

    return Figure(**kwargs)


# matplotlib styles what it draws with style="…" attributes and one <style> element, both of
# which the Content-Security-Policy refuses inline. Every property it writes there is also an
# SVG presentation attribute, which CSP allows: fill, stroke, font-size, text-anchor…
_STYLE_ATTRIBUTE = re.compile(r' style="([^"]*)"')
_DEFAULT_STYLE = re.compile(r'\s*<style type="text/css">\*\{([^}]*)\}</style>')


def _presentation_attributes(declarations):
    pairs = (declaration.split(":", 1) for declaration in declarations.split(";") if declaration.strip())
    return "".join(f' {name.strip()}="{value.strip()}"' for name, value in pairs)


def _without_inline_style(svg):
    """The same drawing with presentation attributes instead of CSS: the default style
    (``*{…}``) moves to the root element, where every element inherits it unless its own
    attribute says otherwise, as with the inline style it replaces."""
    default = _DEFAULT_STYLE.search(svg)
    if default:
        svg = svg[:default.start()] + svg[default.end():]
        svg = svg.replace("<svg ", f"<svg{_presentation_attributes(default.group(1))} ", 1)
    return _STYLE_ATTRIBUTE.sub(lambda match: _presentation_attributes(match.group(1)), svg)


def _svg(figure):
    buffer = io.StringIO()
    # No creation date in the file: the same data gives the same SVG.
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    # Inline in HTML: drop the XML declaration and DOCTYPE that precede the <svg> element.
    # Safe to mark: matplotlib escapes every text it writes into the SVG.
    return mark_safe(_without_inline_style(svg[svg.index("<svg"):]))  # noqa: S308


def phq9_chart(*, scores, sessions, courses, maintenance_from, until):
    """The PHQ-9 history as SVG.

    ``scores``: (day, total) oldest first; ``sessions``: days of completed treatment sessions;
    ``courses``: dicts with ``start``, ``end``, ``label``, and ``outcome`` from
    ``patients.outcomes.course_outcome`` plus ``latest_on`` (the day of its latest score);
    ``maintenance_from``: the day the maintenance plan started, or None; ``until``: the last
    day the chart shows (usually today).
    """
    plotted = tuple(
        (course["start"], course["end"], course["label"],
         course["outcome"]["baseline"].total if course["outcome"]["baseline"] is not None else None,
         course["latest_on"], course["outcome"]["latest"].total if course["outcome"]["latest"] else None,
         bool(course["outcome"]["response"]), bool(course["outcome"]["remission"]))
        for course in courses)
    return _draw_phq9(tuple(scores), tuple(sessions), plotted, maintenance_from, until)


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _draw_phq9(scores, sessions, courses, maintenance_from, until):
    """``courses``: (start, end, label, baseline total, day of the latest score, latest total,
    response, remission) each."""
    # Fixed margins rather than a layout engine, which would draw the figure twice: room on
    # the right for the band names and below for the dates and the legend.
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.transforms import blended_transform_factory

    figure = _figure(figsize=(7.2, 3.3))
    figure.subplots_adjust(left=0.08, right=0.8, top=0.97, bottom=0.28)
    axes = figure.add_subplot()
    days = [day for day, _ in scores]
    first = min([*days, *sessions, *(course[0] for course in courses)])
    last = max(until, maintenance_from or until)
    axes.set_xlim(first - datetime.timedelta(days=3), last + datetime.timedelta(days=3))
    axes.set_ylim(0, PHQ9_MAX)
    axes.set_ylabel("PHQ-9 total")
    axes.set_yticks([0, 5, 10, 15, 20, 27])

    label_at_right = blended_transform_factory(axes.transAxes, axes.transData)
    for band, low, high in phq9_bands():
        # Half a point either side, so that each whole score sits inside its own band.
        axes.axhspan(max(low - 0.5, 0), min(high + 0.5, PHQ9_MAX), color=BAND_COLOURS[band], zorder=0,
                     gid=f"phq9-band-{band}")
        axes.text(1.01, (low + high) / 2, band.label, transform=label_at_right, va="center", fontsize=8,
                  gid=f"phq9-band-label-{band}")

    for n, (start, end, label, baseline, latest_on, latest, response, remission) in enumerate(courses):
        axes.axvspan(start, end, color="#8c8c8c", alpha=0.12, zorder=1, gid=f"phq9-course-{n}")
        axes.text(start, 26, f" {label}", fontsize=8, va="top", gid=f"phq9-course-label-{n}")
        outcome = {"response": response, "remission": remission}
        if baseline is not None:
            axes.hlines(baseline / 2, start, end, colors=RESPONSE_COLOUR,
                        linestyles="dashed", linewidth=0.8, zorder=2, gid=f"phq9-response-threshold-{n}",
                        label="Half the course's baseline")
        latest_point = (latest_on, latest) if latest is not None else None
        reached = [name for name in ("response", "remission") if outcome[name]]
        if reached:
            axes.annotate(" and ".join(reached).capitalize(), latest_point, xytext=(8, 8), textcoords="offset points",
                          fontsize=8, zorder=7, gid=f"phq9-outcome-label-{n}")
        if outcome["response"]:
            axes.plot(*latest_point, marker="v", markersize=11, color=RESPONSE_COLOUR, linestyle="none", zorder=4,
                      label="Response (≥ 50% drop)", gid=f"phq9-response-{n}")
        if outcome["remission"]:
            axes.plot(*latest_point, marker="*", markersize=13, color=REMISSION_COLOUR, linestyle="none", zorder=5,
                      label="Remission (< 5)", gid=f"phq9-remission-{n}")

    if maintenance_from is not None:
        axes.axvline(maintenance_from, color=SESSION_COLOUR, linestyle="dotted", zorder=2, gid="phq9-maintenance")
        axes.text(maintenance_from, 26, " Maintenance", fontsize=8, va="top", gid="phq9-maintenance-label")

    if sessions:
        # A rug along the bottom edge: one tick per completed session.
        axes.vlines(sessions, 0, 0.05, transform=axes.get_xaxis_transform(), colors=SESSION_COLOUR,
                    linewidth=0.8, zorder=3, label="Session", gid="phq9-sessions")
    axes.plot(days, [total for _, total in scores], marker="o", color=SCORE_COLOUR, zorder=6, label="PHQ-9",
              gid="phq9-scores")
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    # Each course draws its own markers: one legend entry per kind.
    handles, labels = axes.get_legend_handles_labels()
    legend = dict(zip(labels, handles, strict=True))
    figure.legend(legend.values(), legend.keys(), loc="lower center", ncols=3, frameon=False, fontsize=8)
    return _svg(figure)


def mt_chart(measurements):
    """Measured motor thresholds as SVG: ``measurements`` are (day, % of machine output), oldest
    first."""
    return _draw_mt(tuple((day, value) for day, value in measurements))


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _draw_mt(measurements):
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    figure = _figure(figsize=(7.2, 2.4))
    figure.subplots_adjust(left=0.08, right=0.97, top=0.95, bottom=0.2)
    axes = figure.add_subplot()
    days = [day for day, _ in measurements]
    values = [value for _, value in measurements]
    axes.set_xlim(min(days) - datetime.timedelta(days=3), max(days) + datetime.timedelta(days=3))
    axes.set_ylim(max(0, min(values) - 10), min(100, max(values) + 10))
    axes.set_ylabel("MT, % output")
    axes.plot(days, values, marker="o", color=SCORE_COLOUR, gid="mt-measurements")
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return _svg(figure)


def survival_chart(groups):
    """Relapse-free survival by group as SVG. ``groups``: dicts with ``key``, ``label``,
    ``durations`` (days), ``events`` and ``steps`` (from ``patients.outcomes.kaplan_meier``)."""
    return _draw_survival(tuple(
        (group["key"], group["label"], tuple(group["durations"]), tuple(group["events"]),
         tuple(tuple(step) for step in group["steps"]))
        for group in groups))


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _draw_survival(plotted):
    groups = [dict(zip(("key", "label", "durations", "events", "steps"), group, strict=True)) for group in plotted]
    from matplotlib.ticker import PercentFormatter

    figure = _figure(figsize=(7, 3.4))
    figure.subplots_adjust(left=0.1, right=0.97, top=0.96, bottom=0.24)
    axes = figure.add_subplot()
    longest = max((max(group["durations"], default=0) for group in groups), default=0) / DAYS_PER_MONTH
    for colour, group in zip(GROUP_COLOURS, groups, strict=False):
        if not group["durations"]:
            continue
        end = max(group["durations"]) / DAYS_PER_MONTH
        times = [time / DAYS_PER_MONTH for time, _, _ in group["steps"]] + [end]
        survival = [value for _, value, _ in group["steps"]]
        axes.step(times, [*survival, survival[-1]], where="post", color=colour,
                  label=f"{group['label']} (n = {len(group['durations'])})", gid=f"km-{group['key']}")
        censored = [time for time, event in zip(group["durations"], group["events"], strict=True) if not event]
        axes.plot([time / DAYS_PER_MONTH for time in censored],
                  [survival_at(group["steps"], time) for time in censored],
                  marker="|", markersize=8, color=colour, linestyle="none", gid=f"km-censored-{group['key']}")
    for months in (3, 6, 12):
        axes.axvline(months, color="#bbbbbb", linewidth=0.6, zorder=0)
    axes.set_xlim(0, max(12.5, longest + 0.5))
    axes.set_ylim(0, 1.02)
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    axes.set_xlabel("Months since the maintenance plan started")
    axes.set_ylabel("Relapse-free")
    figure.legend(loc="lower center", ncols=2, frameon=False, fontsize=8)
    return _svg(figure)
