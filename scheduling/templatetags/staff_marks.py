"""Marks a staff page draws on every row, as filters: an include costs a template lookup and a
new context each time (the worklist drew 40 a page)."""

from django import template
from django.utils.safestring import mark_safe

register = template.Library()

# Fixed markup, nothing a person typed.
CONSENTED = mark_safe('<span aria-hidden="true">✓</span><span class="visually-hidden">consented</span>')  # noqa: S308
NOT_CONSENTED = mark_safe(  # noqa: S308
    '<span aria-hidden="true">✗</span><span class="visually-hidden">not consented</span>')


@register.filter
def consent_mark(given):
    """Consent to reminders on a channel: a tick or a cross, read out in words."""
    return CONSENTED if given else NOT_CONSENTED
