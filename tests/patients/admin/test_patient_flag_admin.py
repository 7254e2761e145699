"""Flags in Django admin: resolved by the action or on their page, recording who."""

import datetime

import pytest

from patients.models import PatientFlag
from tests import factories
from tests.admin_pages import admin_url

UTC = datetime.UTC
pytestmark = pytest.mark.usefixtures("_fast_password_hashing", "admin_client")


def test_resolve_action_resolves_only_open_flags_and_records_who(client, superuser):
    earlier = datetime.datetime(2026, 1, 5, tzinfo=UTC)
    colleague = factories.UserFactory()
    open_flags = factories.PatientFlagFactory.create_batch(2)
    closed = factories.PatientFlagFactory(resolved_at=earlier, resolved_by=colleague)

    response = client.post(
        admin_url(PatientFlag, "changelist"),
        {"action": "mark_resolved", "_selected_action": [flag.pk for flag in [*open_flags, closed]]},
    )

    assert response.status_code == 302
    for flag in open_flags:
        flag.refresh_from_db()
        assert flag.resolved_at is not None
        assert flag.resolved_by == superuser
    closed.refresh_from_db()
    assert (closed.resolved_at, closed.resolved_by) == (earlier, colleague)


def test_resolving_a_flag_on_its_page_records_who(client, superuser):
    flag = factories.PatientFlagFactory(raised_at=datetime.datetime(2026, 1, 5, tzinfo=UTC))
    response = client.post(
        admin_url(PatientFlag, "change", flag.pk),
        {
            "patient": flag.patient.pk,
            "kind": flag.kind,
            "detail": "",
            "plan": "",
            "raised_at_0": "2026-01-05",
            "raised_at_1": "00:00",
            "resolved_at_0": "2026-01-06",
            "resolved_at_1": "09:00",
            "resolved_by": "",
            "resolution_note": "Booked for next week",
        },
    )
    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.resolved_by == superuser
