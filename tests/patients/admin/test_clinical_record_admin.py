"""Clinical history in Django admin is not deleted by a click: a clinic admin discharges a
patient, completes or discontinues a course, resolves a flag and corrects an assessment with a
new one, but has no delete page, action or link for any of them (maintenance plans: see
tests/scheduling/admin/test_maintenance_plan_admin.py). Superusers still delete data entered in
error."""

import pytest
from django.contrib.auth.models import Permission

from patients.models import Assessment, MaintenancePlan, OutreachAttempt, Patient, PatientFlag, TreatmentCourse
from tests import factories
from tests.admin_pages import admin_url

GUARDED = [Patient, TreatmentCourse, Assessment, PatientFlag, OutreachAttempt]


@pytest.fixture
def records(patient):
    """One of each clinical record, all about one patient."""
    course = factories.TreatmentCourseFactory(patient=patient, status=TreatmentCourse.Status.COMPLETED)
    plan = factories.MaintenancePlanFactory(patient=patient, source_course=course)
    flag = factories.PatientFlagFactory(patient=patient, plan=plan, kind=PatientFlag.Kind.OVERDUE_MAINTENANCE)
    return {
        Patient: patient,
        TreatmentCourse: course,
        Assessment: factories.AssessmentFactory(patient=patient),
        PatientFlag: flag,
        OutreachAttempt: OutreachAttempt.objects.create(flag=flag, channel="phone", outcome="voicemail"),
        MaintenancePlan: plan,
    }


def everything():
    return {model: list(model.objects.values()) for model in (*GUARDED, MaintenancePlan)}


@pytest.fixture
def clinic_admin(db):
    user = factories.staff_user(username="clinicadmin", role="Clinic admin")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    # The role holds no rights on patients' records since issue 11; grant every one of them,
    # delete included, so that the test shows the guard rather than a missing permission.
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="patients"))
    return user


@pytest.mark.parametrize("model", GUARDED, ids=lambda model: model.__name__)
def test_a_clinic_admin_cannot_delete_clinical_history(model, client, clinic_admin, records):
    record = records[model]
    client.force_login(clinic_admin)
    before = everything()

    assert "delete_selected" not in client.get(admin_url(model, "changelist")).content.decode()
    change = client.get(admin_url(model, "change", record.pk))
    assert change.status_code == 200
    assert admin_url(model, "delete", record.pk) not in change.content.decode()
    assert client.get(admin_url(model, "delete", record.pk)).status_code == 403
    assert client.post(admin_url(model, "delete", record.pk), {"post": "yes"}).status_code == 403
    client.post(admin_url(model, "changelist"),
                {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"})

    assert everything() == before


@pytest.mark.parametrize("model", GUARDED, ids=lambda model: model.__name__)
def test_a_superuser_still_deletes_data_entered_in_error(model, client, superuser, records):
    record = records[model]
    client.force_login(superuser)

    response = client.post(admin_url(model, "delete", record.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not model.objects.filter(pk=record.pk).exists()


def test_a_superusers_delete_of_a_patient_takes_their_records_along(client, superuser, records):
    client.force_login(superuser)

    client.post(admin_url(Patient, "changelist"),
                {"action": "delete_selected", "_selected_action": [records[Patient].pk], "post": "yes"})

    assert everything() == {model: [] for model in (*GUARDED, MaintenancePlan)}
