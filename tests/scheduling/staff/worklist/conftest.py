"""The worklist's tests (scheduling/staff/worklist.py): its maintenance protocol."""

import pytest

from tests.factories import ProtocolFactory


@pytest.fixture
def protocol(db):
    return ProtocolFactory(name="iTBS maintenance", chair_minutes=45)
