"""What the app accepts from outside, in one place, so that nothing a user types gives a 500.

- Dates and moments lie between 1900 and 2200: past the ends of Python's calendar (years 1 and
  9999) a day before or after overflows, and no clinic schedules there. Forms use
  ``SaneDateField`` / ``SaneDateTimeField`` (or the model field's ``validate_date_in_range``),
  the staff URLs the ``isodate`` converter, and values parsed by hand ``iso_moment``.
- Single-line text (names, the clinic's name, reasons, numbers typed as text) refuses control
  characters and line breaks: ``validate_one_line`` on the model fields and ``OneLineField`` on
  plain forms. Free text (notes, details, side effects) keeps its line breaks and is at most
  ``FREE_TEXT_MAX_LENGTH`` characters in any form.
- Text from data put in an e-mail header goes through ``one_line``: a header never carries a line
  break, so legacy data cannot break or forge a message (Django would refuse it with
  ``BadHeaderError``).
"""

import datetime
import unicodedata

from django import forms
from django.core.exceptions import ValidationError

FIRST_YEAR = 1900
LAST_YEAR = 2200
DATE_OUT_OF_RANGE = f"Enter a date between {FIRST_YEAR} and {LAST_YEAR}."
NOT_ONE_LINE = "Remove the line break or control character: this field takes one line of text."
FREE_TEXT_MAX_LENGTH = 5000

# Control characters (Cc: NUL, tab, CR, LF, escape, ...) and the Unicode line and paragraph
# separators, which mail and many screens take for line breaks.
_BREAKING = frozenset({"Cc", "Zl", "Zp"})


def in_range(value):
    """Whether a date or datetime lies in the years the app accepts."""
    return FIRST_YEAR <= value.year <= LAST_YEAR


def shifted(day, days):
    """The day ``days`` after ``day`` (before, when negative), or None past the years the app
    accepts: the day and week views link no further than their URLs go."""
    moved = day + datetime.timedelta(days=days)
    return moved if in_range(moved) else None


def validate_date_in_range(value):
    if value is not None and not in_range(value):
        raise ValidationError(DATE_OUT_OF_RANGE, code="date_out_of_range")


def validate_one_line(value):
    if value and any(unicodedata.category(character) in _BREAKING for character in value):
        raise ValidationError(NOT_ONE_LINE, code="not_one_line")


def one_line(text):
    """``text`` as one line for an e-mail header: every line break or control character
    becomes a space, and runs of spaces one."""
    return " ".join(
        "".join(" " if unicodedata.category(character) in _BREAKING else character for character in text).split()
    )


def iso_moment(text):
    """A datetime written in ISO 8601 (naive or with an offset) by a browser or a link, or None
    when it is not one or lies outside the years the app accepts."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if in_range(moment) else None


class SaneDateField(forms.DateField):
    default_validators = [validate_date_in_range]


class SaneDateTimeField(forms.DateTimeField):
    default_validators = [validate_date_in_range]


class OneLineField(forms.CharField):
    default_validators = [validate_one_line]


class IsoDateConverter:
    """``<isodate:day>`` in URLs: a day in the years the app accepts, else the URL matches
    nothing (a 404)."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value):
        day = datetime.date.fromisoformat(value)
        if not in_range(day):
            raise ValueError(DATE_OUT_OF_RANGE)
        return day

    def to_url(self, value):
        return value.isoformat()
