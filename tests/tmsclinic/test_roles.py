"""tmsclinic/roles.py: the capability table is the policy, README shows it, and the helpers
read it the same way for every role."""

import re
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse

from tests.factories import UserFactory, staff_user
from tmsclinic import roles

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_table():
    """{capability: {roles ticked}} read from README's capability table."""
    text = README.read_text()
    lines = [line for line in text.splitlines() if line.startswith("| `") and "✓" in line]
    header = next(line for line in text.splitlines() if line.startswith("| Capability |"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    table = {}
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        name = re.fullmatch(r"`(\w+)`", cells[0]).group(1).lower()
        table[name] = {column for column, cell in zip(columns, cells, strict=True) if cell == "✓"}
    return table


def test_readme_shows_exactly_the_capability_table():
    expected = {cap: {role for role, held in roles.CAPABILITIES.items() if cap in held} for cap in roles.DESCRIPTIONS}
    assert readme_table() == expected


@pytest.mark.parametrize("role", roles.STAFF_ROLES)
def test_a_role_may_what_its_row_says_and_nothing_else(db, role):
    user = staff_user(role=role, username=f"u-{role}")
    for capability in roles.ALL_CAPABILITIES:
        assert roles.may(user, capability) == (capability in roles.CAPABILITIES[role])


def test_a_superuser_may_everything_and_a_portal_account_nothing(db):
    root = UserFactory(username="root", is_superuser=True)
    patient = UserFactory(username="ann@example.org")
    assert all(roles.may(root, capability) for capability in roles.ALL_CAPABILITIES)
    assert not any(roles.may(patient, capability) for capability in roles.ALL_CAPABILITIES)


def test_holding_two_roles_gives_both_rows(db):
    user = staff_user(role=roles.TECHNICIAN, username="both")
    user.groups.add(*type(user.groups.first()).objects.filter(name=roles.FRONT_DESK))
    assert roles.may(user, roles.BOOK) and roles.may(user, roles.RUN_SESSIONS)
    assert not roles.may(user, roles.CLINICAL_WRITE)


def test_staff_required_refuses_a_view_without_a_capability():
    with pytest.raises(ValueError, match="capabilities"):
        roles.staff_required()(lambda request: None)
    with pytest.raises(ValueError, match="capabilities"):
        roles.staff_required(roles.CLINICIAN)  # a role is not a capability


def test_staff_required_lets_in_any_one_of_its_capabilities(rf, db):
    view = roles.staff_required(roles.BOOK, roles.RUN_SESSIONS)(lambda request: HttpResponse("ok"))
    for role in (roles.FRONT_DESK, roles.TECHNICIAN):
        request = rf.get("/")
        request.user = staff_user(role=role, username=f"v-{role}")
        assert view(request).content == b"ok"
    request = rf.get("/")
    request.user = UserFactory(username="nobody")
    with pytest.raises(PermissionDenied):
        view(request)


def test_technicians_enter_phq9s_only_where_the_clinic_allows_it(db, settings, client):
    from django.urls import reverse

    from tests.factories import PatientFactory

    technician = staff_user(role=roles.TECHNICIAN, username="tech")
    patient = PatientFactory()
    client.force_login(technician)
    assert not roles.may(technician, roles.RECORD_PHQ9)
    assert client.get(reverse("staff:phq9", args=[patient.uuid])).status_code == 403
    settings.TMS_TECHNICIANS_RECORD_PHQ9 = True
    technician = type(technician).objects.get(pk=technician.pk)  # the capabilities are cached per request
    assert roles.may(technician, roles.RECORD_PHQ9) and not roles.may(technician, roles.CLINICAL_READ)
    assert client.get(reverse("staff:phq9", args=[patient.uuid])).status_code == 200
