"""Staff accounts in admin, as a clinic admin sees them: their own clinics' staff only, never a
superuser, never superuser status or raw permissions, only the four roles, and never their own
access raised. Tried as a security tester would (issue 11)."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from patients.models import Patient
from scheduling.models import Appointment, Clinic, ClinicMembership
from tests import factories
from tmsclinic.models import AuditEvent


@pytest.fixture
def north(db):
    return factories.ClinicFactory(name="North TMS")


@pytest.fixture
def south(db):
    return factories.ClinicFactory(name="South TMS")


@pytest.fixture
def clinic_admin(client, north):
    user = factories.staff_user(username="boss", role="Clinic admin", clinics=[north])
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    return user


def change_url(user):
    return reverse("admin:auth_user_change", args=[user.pk])


def form_for(user, **changes):
    data = {"username": user.username, "first_name": user.first_name, "last_name": user.last_name,
            "email": user.email, "is_active": "on", "groups": [g.pk for g in user.groups.all()],
            "clinic_memberships-TOTAL_FORMS": "0", "clinic_memberships-INITIAL_FORMS": "0",
            "clinic_memberships-MIN_NUM_FORMS": "0", "clinic_memberships-MAX_NUM_FORMS": "1000"}
    data.update(changes)
    return data


def test_a_clinic_admin_cannot_make_anyone_a_superuser_or_grant_raw_permissions(client, clinic_admin, north):
    colleague = factories.staff_user(username="desk", role="Front desk", clinics=[north])
    page = client.get(change_url(colleague)).content.decode()
    assert 'name="is_superuser"' not in page and 'name="user_permissions"' not in page
    every_permission = list(Permission.objects.values_list("pk", flat=True))
    client.post(change_url(colleague), form_for(colleague, is_superuser="on", user_permissions=every_permission))
    colleague.refresh_from_db()
    assert not colleague.is_superuser and not colleague.user_permissions.exists()


def test_only_the_four_roles_may_be_given(client, clinic_admin, north):
    colleague = factories.staff_user(username="desk", role="Front desk", clinics=[north])
    powerful = Group.objects.create(name="Everything")
    powerful.permissions.set(Permission.objects.all())
    response = client.post(change_url(colleague), form_for(colleague, groups=[powerful.pk]))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert list(colleague.groups.values_list("name", flat=True)) == ["Front desk"]
    clinician = Group.objects.get(name="Clinician")
    client.post(change_url(colleague), form_for(colleague, groups=[clinician.pk]))
    assert list(colleague.groups.values_list("name", flat=True)) == ["Clinician"]
    event = AuditEvent.objects.filter(action="permissions", detail__contains="desk: add roles Clinician").get()
    assert event.username == "boss"  # who granted it, from the request


def test_superusers_and_other_clinics_staff_are_out_of_sight(client, clinic_admin, north, south, superuser):
    mine = factories.staff_user(username="mine", role="Technician", clinics=[north])
    theirs = factories.staff_user(username="theirs", role="Technician", clinics=[south])
    listed = {user.username for user in client.get(reverse("admin:auth_user_changelist")).context["cl"].result_list}
    assert listed == {"boss", "mine"}
    for hidden in (superuser, theirs):
        assert client.get(change_url(hidden)).status_code == 302  # admin: "does not exist", back to the list
        assert client.get(reverse("admin:auth_user_password_change", args=[hidden.pk])).status_code == 404
        response = client.post(reverse("admin:auth_user_password_change", args=[hidden.pk]),
                               {"password1": "taken-over-12345", "password2": "taken-over-12345"})
        assert response.status_code == 404
    superuser.refresh_from_db()
    assert superuser.check_password(factories.PASSWORD)
    assert client.get(change_url(mine)).status_code == 200


def test_nobody_raises_their_own_access(client, clinic_admin):
    clinician = Group.objects.get(name="Clinician")
    client.post(change_url(clinic_admin), form_for(clinic_admin, groups=[clinician.pk], is_staff="on"))
    assert list(clinic_admin.groups.values_list("name", flat=True)) == ["Clinic admin"]


def test_a_new_account_joins_its_creators_clinic_and_accounts_are_not_deleted(client, clinic_admin, north):
    response = client.post(reverse("admin:auth_user_add"), {
        "username": "newhire", "password1": "a-strong-pass-phrase", "password2": "a-strong-pass-phrase",
        "usable_password": "true", "clinic_memberships-TOTAL_FORMS": "0", "clinic_memberships-INITIAL_FORMS": "0",
        "clinic_memberships-MIN_NUM_FORMS": "0", "clinic_memberships-MAX_NUM_FORMS": "1000"})
    assert response.status_code == 302
    newhire = User.objects.get(username="newhire")
    assert list(ClinicMembership.objects.filter(user=newhire).values_list("clinic__name", "is_home")) == [
        ("North TMS", True)]
    assert client.post(reverse("admin:auth_user_delete", args=[newhire.pk]), {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=newhire.pk).exists()


def test_the_clinic_admin_configures_their_clinics_but_opens_no_patient(client, clinic_admin, north, south):
    factories.AppointmentFactory(patient__home_clinic=north)
    assert client.get(reverse("admin:scheduling_clinic_changelist")).context["cl"].result_list[0] == north
    assert len(client.get(reverse("admin:scheduling_clinic_changelist")).context["cl"].result_list) == 1
    assert client.get(reverse("admin:scheduling_clinic_change", args=[south.pk])).status_code == 302
    for model in (Patient, Appointment):
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 403
    assert Clinic.objects.count() >= 2


def test_the_audit_trail_is_read_only_filtered_to_their_clinics_and_exported(client, clinic_admin, north, south):
    from tmsclinic import audit

    ours = factories.PatientFactory(home_clinic=north)
    other = factories.PatientFactory(home_clinic=south)
    audit.record("read", patient=ours, path="/staff/patients/ours/")
    audit.record("read", patient=other, path="/staff/patients/other/")
    listing = client.get(reverse("admin:tmsclinic_auditevent_changelist"))
    paths = {event.path for event in listing.context["cl"].result_list}
    assert "/staff/patients/ours/" in paths and "/staff/patients/other/" not in paths
    event = AuditEvent.objects.get(path="/staff/patients/ours/")
    assert client.post(reverse("admin:tmsclinic_auditevent_change", args=[event.pk]),
                       {"detail": "edited"}).status_code == 403
    assert client.get(reverse("admin:tmsclinic_auditevent_delete", args=[event.pk])).status_code == 403
    export = client.get(reverse("admin:tmsclinic_auditevent_export"))
    body = b"".join(export.streaming_content).decode()
    assert body.splitlines()[0] == "seq,at,username,action,patient_id,path,status,ip,detail,hash"
    assert "/staff/patients/ours/" in body and "/staff/patients/other/" not in body
    assert AuditEvent.objects.filter(action="export", username="boss").exists()


def test_an_accounts_names_are_single_lines(client, clinic_admin, north):
    colleague = factories.staff_user(username="desk", role="Front desk", clinics=[north])
    response = client.post(change_url(colleague), form_for(colleague, first_name="Ann\r\nBcc: x@y.z"))
    assert response.status_code == 200 and "this field takes one line" in response.content.decode()
    colleague.refresh_from_db()
    assert "\n" not in colleague.first_name
