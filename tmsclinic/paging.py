"""A page of a list and the list's length in one query.

Django's ``Paginator`` counts the list (one query), then reads the page (a second). Where the
page's query has to see every row anyway to put them in order, as a list sorted by name or by
relevance does, it can count them on the way: ``COUNT(*) OVER ()`` rides on each row read. The
second query then costs nothing and the first — the clinic wall, the search — is made once.
"""

from django.core.paginator import Page, Paginator
from django.db.models import Count, Window

TOTAL = "listed_total"
FURTHEST = 2**31  # rows


def counted_page(queryset, per_page, number):
    """``Paginator(queryset, per_page).get_page(number)``, the same page and numbers (anything not
    a whole number is the first page, a number past the end the last), in one query where the
    page asked for exists; past the end, two more: the count, then the last page."""
    try:
        number = int(number)
    except (TypeError, ValueError):
        number = 1
    paginator = Paginator(queryset, per_page)
    # Below the first page, or further than any list goes (an OFFSET the database refuses):
    # past an end, as get_page has it.
    rows = _read(queryset, per_page, number) if number >= 1 and (number - 1) * per_page < FURTHEST else []
    if rows:
        total = getattr(rows[0], TOTAL)
    else:  # no page there (or an empty list): the last page, as get_page gives
        total = queryset.count()
        last = max(1, -(-total // per_page))
        rows = _read(queryset, per_page, last) if total and last != number else []
        number = last
    paginator.count = total  # a cached_property: the count just read, not another query
    return Page(rows, number, paginator)


def _read(queryset, per_page, number):
    start = (number - 1) * per_page
    return list(queryset.annotate(**{TOTAL: Window(Count("pk"))})[start:start + per_page])
