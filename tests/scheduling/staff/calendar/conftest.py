"""The staff calendar's tests (day, week, booking, appointment, patient page, starting a course):
a clinic open 08:00-12:00 and 13:00-17:00 every day and a 45-minute protocol, on Wednesday
2 December 2026 at 08:00 in New York (the root conftest's frozen moment)."""

import datetime

import pytest

from tests.factories import OpeningHoursFactory, ProtocolFactory


@pytest.fixture
def open_clinic(clinic):
    for weekday in range(7):
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(8), closes_at=datetime.time(12))
        OpeningHoursFactory(clinic=clinic, weekday=weekday, opens_at=datetime.time(13), closes_at=datetime.time(17))
    return clinic


@pytest.fixture
def protocol(db):
    return ProtocolFactory(chair_minutes=45, pulses_per_session=3000, intensity_percent_mt=120)
