"""Drawing charts as inline SVG in plain Python, for every chart of the app: the patient page's
PHQ-9 and motor-threshold charts, the outcomes report's survival curves, the portal's PHQ-9
chart (patients/charts.py, patients/portal_chart.py) and the adherence dashboard
(scheduling/staff/dashboard.py).

A chart is text built with Django's ``format_html``: every value written into the drawing is
escaped, so a course label or a clinic's name cannot break out of it. No ``style`` attribute
and no ``<style>`` element, which the Content-Security-Policy refuses inline: drawings are
styled with SVG presentation attributes (``fill``, ``stroke``…) or classes of a static
stylesheet. Drawing one costs a few hundred string operations, well under a millisecond per
element kind, and importing this module costs nothing more than Django's own.

Imports no app: both ``patients`` and ``scheduling`` use it.
"""

import calendar
import datetime
import html

from django.utils.html import format_html
from django.utils.safestring import SafeString


def number(value):
    """A coordinate or length as SVG text: at most one decimal, no trailing ``.0``."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _escaped(value):
    # Numbers need no escaping; text is escaped as Django's escape() does it (html.escape), by
    # the standard library directly: a chart escapes thousands of values.
    if isinstance(value, float):
        return number(value)
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, SafeString) else html.escape(str(value))


def attributes(**values):
    """`` a="…" b="…"``, each value escaped. Names with ``_`` are written with ``-``
    (``stroke_width`` → ``stroke-width``), a trailing ``_`` is dropped (``class_``), and values
    that are None are left out. Floats are written by ``number``."""
    return SafeString("".join(f' {name.rstrip("_").replace("_", "-")}="{_escaped(value)}"'
                              for name, value in values.items() if value is not None))


def element(tag, content=None, /, **values):
    """``<tag a="…"/>``, or ``<tag a="…">content</tag>`` when ``content`` is given (escaped
    unless it is already safe), with ``attributes(**values)``."""
    if content is None:
        return SafeString(f"<{tag}{attributes(**values)}/>")
    return SafeString(f"<{tag}{attributes(**values)}>{_escaped(content)}</{tag}>")


def join(parts):
    """Drawn parts one after the other: those built by ``element`` as they are, any other text
    escaped; empty ones left out."""
    return SafeString("".join(_escaped(part) for part in parts if part))


def frame(*, name, title, description, width, height, body, display_width=None, **values):
    """The chart's ``<svg>`` element: an image (``role="img"``) named by its ``<title>`` and
    described by its ``<desc>``, drawn in a ``width`` × ``height`` box of user units and shown
    ``display_width`` pixels wide (``width`` unless said; a stylesheet may shrink it to fit).
    ``name`` prefixes the ids of the title and description and names the chart for tests."""
    display_width = display_width or width
    return format_html(
        '<svg{} viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-labelledby="{}-title" '
        'aria-describedby="{}-desc" data-testid="{}-chart"><title id="{}-title">{}</title>'
        '<desc id="{}-desc">{}</desc>{}</svg>',
        attributes(**values), number(width), number(height), number(display_width),
        number(height * display_width / width), name, name, name, name, title, name, description, body)


class Scale:
    """A linear map from data (numbers, or dates: one unit a calendar day) onto a drawing's
    coordinates: ``lowest`` goes to ``start`` and ``highest`` to ``end``."""

    def __init__(self, lowest, highest, start, end):
        self.lowest, self.highest = _ordinal(lowest), _ordinal(highest)
        self.start, self.end = start, end
        span = self.highest - self.lowest
        self.factor = (end - start) / span if span else 0.0

    def __call__(self, value):
        return self.start + (_ordinal(value) - self.lowest) * self.factor

    def contains(self, value):
        return self.lowest <= _ordinal(value) <= self.highest


def _ordinal(value):
    # A calendar date, not a moment: a day across a DST change is still one day wide.
    return value.toordinal() if isinstance(value, datetime.date) else value


def points(pairs):
    """SVG ``points`` / path coordinates: ``x,y x,y …``."""
    return " ".join(f"{number(x)},{number(y)}" for x, y in pairs)


def y_ticks(ticks, *, scale, left, right, label_x, line=None, text=None):
    """A line from ``left`` to ``right`` (a tick mark, or a grid line across the plot) and a
    label ending at ``label_x`` for each (value, label) of ``ticks``; ``line`` and ``text`` are
    the attributes of each line and label (presentation attributes or a class)."""
    return join(
        join([element("line", x1=left, x2=right, y1=scale(value), y2=scale(value), **(line or {})),
              element("text", label, x=label_x, y=scale(value), dy=4, text_anchor="end", **(text or {}))])
        for value, label in ticks)


def x_ticks(ticks, *, scale, label_y, top=None, bottom=None, line=None, text=None):
    """A label centred under each (value, label) of ``ticks`` at ``label_y``, and a tick mark
    from ``top`` to ``bottom`` when ``line`` (its attributes) is given."""
    return join(
        join([element("line", x1=scale(value), x2=scale(value), y1=top, y2=bottom, **line) if line else "",
              element("text", label, x=scale(value), y=label_y, text_anchor="middle", **(text or {}))])
        for value, label in ticks)


# Steps between date ticks, shortest first: (days, months); one of the two is 0.
_DATE_STEPS = ((1, 0), (2, 0), (3, 0), (7, 0), (14, 0), (0, 1), (0, 2), (0, 3), (0, 6), (0, 12), (0, 24), (0, 60))
_DAYS_PER_MONTH = 365.25 / 12


def _next_month(day):
    return datetime.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _day_ticks(first, last, days):
    # Steps of a week or more fall on Mondays.
    start = first + datetime.timedelta(days=-first.weekday() % 7) if days >= 7 else first
    return [start + datetime.timedelta(days=days * n) for n in range((last - start).days // days + 1)]


def _month_ticks(first, last, months):
    # First days of months, every ``months``-th of the year counting from January.
    ticks = []
    day = first if first.day == 1 else _next_month(first)
    while day <= last:
        if (day.year * 12 + day.month - 1) % months == 0:
            ticks.append(day)
        day = _next_month(day)
    return ticks


def date_ticks(first, last, *, most=7, year_on_first=True):
    """(day, label) for the date ticks from ``first`` to ``last``: at most ``most`` of them, on
    whole days, Mondays or first days of months. Labels are short: a day "4 Dec", a month "Dec",
    January its year ("2027"); with ``year_on_first`` the first tick carries its year too, so
    that every date on the axis can be read."""
    span = (last - first).days
    for days, months in _DATE_STEPS:
        if span / (days or months * _DAYS_PER_MONTH) > 2 * most:
            continue  # far too many: not worth listing
        ticks = _day_ticks(first, last, days) if days else _month_ticks(first, last, months)
        if len(ticks) <= most:
            break
    labels = []
    for n, day in enumerate(ticks):
        new_year = n > 0 and day.year != ticks[n - 1].year
        if days:
            label = f"{day.day} {calendar.month_abbr[day.month]}"
            if (n == 0 and year_on_first) or new_year:
                label += f" {day.year}"
        elif day.month == 1:
            label = str(day.year)
        elif (n == 0 and year_on_first) or new_year:
            label = f"{calendar.month_abbr[day.month]} {day.year}"
        else:
            label = calendar.month_abbr[day.month]
        labels.append((day, label))
    return labels
