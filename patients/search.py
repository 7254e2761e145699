"""One patient search for the patient list, the booking form's picker and the navigation box.

``search(patients, text)`` narrows a queryset (already walled to the user's clinics) to the
patients ``text`` describes, best first, in one query. ``text`` may be:

- names in any order, whole or in part, with or without a comma: "Elena Okoro", "Okoro Elena",
  "Okoro, Elena", "ok el" (every word must be part of the first or last name);
- an MRN, exactly or its start;
- a date of birth as 1966-12-09, 12/09/1966 (month first, as in the US), 09.12.1966 (day
  first), 9 Dec 1966, 9 December 1966, Dec 9 1966 or December 9, 1966. A numeric date whose
  two first numbers could each be the month (12/09/1966, 09.12.1966) finds both readings.
  Years have four digits: "12/09/66" is not read as a date;
- a phone number in any formatting ("(212) 555-0123", "+1 212 555 0123", "212.555.0123"):
  read with ``phonenumbers`` in PHONENUMBER_DEFAULT_REGION and compared with the stored E.164
  form; seven or more digits also find the numbers that end with them;
- part of an e-mail address;
- names and a date of birth together, the date first or last ("Okoro 1966-12-09", "Elena Okoro
  9 Dec 1966", "12/09/1966 okoro"): the two identifiers a front desk checks, so both must match —
  every word part of a name, and the date (either reading of a numeric one) the date of birth.

Order: the exact MRN first, then whole matches (the full name in either order, every word a
whole first or last name, the date of birth, the whole phone number), then partial matches
(the start of an MRN, parts of names, the end of a phone number, e-mail), each group
alphabetical. On PostgreSQL a name with a typo ("Okorro") is also found, last, by pg_trgm word
similarity (migration 0013 creates the extension); SQLite has no such fallback, and otherwise
both backends find the same patients in the same order.
"""

import contextlib
import datetime
import re

import phonenumbers
from django.conf import settings
from django.db import connection
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.db.models.functions import Concat, Lower

ALPHABETICAL = ("last_name", "first_name", "pk")
EXACT_MRN, WHOLE, PARTIAL, SIMILAR = 0, 1, 2, 3
# pg_trgm's word similarity a typed word needs with a name to count as a typo of it.
TYPO_SIMILARITY = 0.6
MIN_PHONE_DIGITS = 7

_NUMERIC_DATE = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4})$")
_WORDED_DATE_FORMATS = ("%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y")
_PHONE_CHARACTERS = re.compile(r"^\+?[\d\s().\-/]+$")


def dates_in(text):
    """The dates of birth ``text`` may mean, as a set (empty when it is not a date)."""
    text = text.strip()
    try:
        return {datetime.date.fromisoformat(text)} if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else _other_dates(text)
    except ValueError:
        return set()


def _other_dates(text):
    numeric = _NUMERIC_DATE.match(text)
    if numeric:
        first, separator, second, year = numeric.groups()
        # Slashes are month first (US), dots and dashes day first; when both readings are dates, both.
        readings = [(int(first), int(second)), (int(second), int(first))]
        if separator != "/":
            readings.reverse()
        found = set()
        for month, day in readings:
            with contextlib.suppress(ValueError):
                found.add(datetime.date(int(year), month, day))
        return found
    words = " ".join(text.replace(",", " ").replace(".", " ").split())
    for pattern in _WORDED_DATE_FORMATS:
        try:
            return {datetime.datetime.strptime(words, pattern).date()}
        except ValueError:
            continue
    return set()


def phone_in(text):
    """``(e164, digits)`` when ``text`` looks like a phone number, else ``None``. ``e164`` is
    ``None`` when phonenumbers cannot read a possible number from it."""
    if not _PHONE_CHARACTERS.match(text):
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) < MIN_PHONE_DIGITS:
        return None
    try:
        number = phonenumbers.parse(text, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None, digits
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None, digits
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), digits


def name_words(text):
    return [word for word in re.split(r"[\s,]+", text.lower()) if word]


def names_and_date(text):
    """``(names, dates)`` when ``text`` is names with a date of birth first or last ("Okoro
    1966-12-09", "9 Dec 1966 Elena Okoro"), else ``(None, set())``. A date is one word
    (1966-12-09, 12/09/1966) to three ("December 9, 1966"); the names must have a letter."""
    words = text.split()
    for size in range(1, min(3, len(words) - 1) + 1):
        for start in (len(words) - size, 0):
            rest = words[:start] + words[start + size:]
            if not rest or not any(character.isalpha() for character in "".join(rest)):
                continue
            dates = dates_in(" ".join(words[start:start + size]))
            if dates:
                return " ".join(rest), dates
    return None, set()


def _name_matches(words):
    """(the names ``words`` make whole — the full name in either order, or every word a whole
    first or last name —, every word part of one)."""
    joined = " ".join(words)
    full_name = Q(_first_last=joined) | Q(_last_first=joined)
    every_word_whole, part = Q(), Q()
    for word in words:
        every_word_whole &= Q(first_name__iexact=word) | Q(last_name__iexact=word)
        part &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    return full_name | every_word_whole, part


def search(patients, text):
    """``patients`` matching ``text``, best first (see the module's docstring)."""
    text = " ".join(text.split())
    if not text:
        return patients.order_by(*ALPHABETICAL)
    dates = dates_in(text)
    if not dates:
        names, born = names_and_date(text)
        if born:  # both identifiers: only those born that day, ranked by their names
            words = name_words(names)
            return _ranked(patients, words, *_name_matches(words), within=Q(date_of_birth__in=born))
    words = name_words(text)
    phone = None if dates else phone_in(text)

    whole = Q(pk__in=[])
    partial = Q(mrn__istartswith=text) | Q(email__icontains=text)
    if words:
        names_whole, names_part = _name_matches(words)
        whole |= names_whole
        partial |= names_part
    if dates:
        whole |= Q(date_of_birth__in=dates)
    if phone:
        e164, digits = phone
        if e164:
            whole |= Q(phone=e164)
        partial |= Q(phone__endswith=digits)
    return _ranked(patients, words, whole, partial, exact=Q(mrn__iexact=text))


def _ranked(patients, words, whole, partial, *, exact=None, within=None):
    """``patients`` within ``within`` matching ``exact``, ``whole`` or ``partial`` (or, on
    PostgreSQL, with names like ``words``), in that order, each group alphabetical."""
    exact = exact if exact is not None else Q(pk__in=[])
    found = patients.alias(
        _first_last=Lower(Concat("first_name", Value(" "), "last_name")),
        _last_first=Lower(Concat("last_name", Value(" "), "first_name")),
    )
    similar = Q(pk__in=[])
    if words and connection.vendor == "postgresql":
        found, similar = _typos(found, words)
    rank = Case(
        When(exact, then=Value(EXACT_MRN)),
        When(whole, then=Value(WHOLE)),
        When(partial, then=Value(PARTIAL)),
        default=Value(SIMILAR),
        output_field=IntegerField(),
    )
    matching = exact | whole | partial | similar
    return found.filter(matching if within is None else within & matching).alias(_rank=rank).order_by(
        F("_rank").asc(), *ALPHABETICAL
    )


def _typos(patients, words):
    """PostgreSQL only: every word is similar (pg_trgm) to a word of the full name."""
    from django.contrib.postgres.search import TrigramWordSimilarity

    similar = Q()
    for n, word in enumerate(words):
        patients = patients.alias(**{f"_similar_{n}": TrigramWordSimilarity(Value(word), "_first_last")})
        similar &= Q(**{f"_similar_{n}__gte": TYPO_SIMILARITY})
    return patients, similar
