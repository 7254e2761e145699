"""A PHQ-9 of a given total, taken at noon on a given day."""

import datetime

from tests.factories import AssessmentFactory

UTC = datetime.UTC


def phq(patient, total, day):
    items = {f"item_{n}": 0 for n in range(1, 10)}
    for n in range(1, 9):
        take = min(3, total)
        items[f"item_{n}"] = take
        total -= take
    return AssessmentFactory(patient=patient, taken_at=datetime.datetime.combine(day, datetime.time(12), UTC), **items)
