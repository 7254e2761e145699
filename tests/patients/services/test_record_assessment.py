"""record_assessment: scores and stores a PHQ-9, refuses incomplete answers, and raises the
safety and worsening flags, e-mailing the clinician once the assessment is committed."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from patients.models import Assessment, MaintenancePlan, PatientFlag
from patients.services import record_assessment
from tests.factories import AssessmentFactory, MaintenancePlanFactory, staff_user
from tests.patients.services.helpers import phq

CALM = [0, 0, 0, 0, 0, 0, 0, 0, 0]


def with_item_9(value, rest=1):
    return [rest] * 8 + [value]


def record(patient, items, **kwargs):
    return record_assessment(patient=patient, items=items, source="staff", **kwargs)


def test_it_scores_and_stores_the_answers(patient):
    assessment = record(patient, [3, 3, 2, 2, 1, 1, 1, 0, 0], difficulty=2)
    assessment.refresh_from_db()
    assert (assessment.total, assessment.band, assessment.difficulty) == (13, "moderate", 2)
    assert not PatientFlag.objects.exists()


@pytest.mark.parametrize("items", [[1] * 8, [1] * 10, [0, 0, 0, 0, 0, 0, 0, 0, 4], [0] * 8 + [-1], ["1"] * 9])
def test_incomplete_or_impossible_answers_are_refused_and_nothing_is_stored(patient, items):
    with pytest.raises(ValidationError, match="nine questions"):
        record(patient, items)
    assert not Assessment.objects.exists()


def test_item_9_raises_a_safety_flag_and_emails_the_clinician_at_once(patient, django_capture_on_commit_callbacks):
    clinician = staff_user(role="Clinician", username="drb", email="dr.b@clinic.test")
    patient.primary_clinician = clinician
    patient.save()
    with django_capture_on_commit_callbacks(execute=True):
        record(patient, with_item_9(1))
    flag = PatientFlag.objects.get(kind=PatientFlag.Kind.SAFETY, resolved_at__isnull=True)
    assert flag.patient == patient and "several days" in flag.detail
    assert [message.to for message in mail.outbox] == [["dr.b@clinic.test"]]
    body = mail.outbox[0].body
    assert reverse("staff:patient", args=[patient.uuid]) in body
    assert patient.last_name not in body + mail.outbox[0].subject  # no clinical detail by e-mail


def test_without_a_named_clinician_every_clinician_is_emailed(patient, django_capture_on_commit_callbacks):
    staff_user(role="Clinician", username="c1", email="c1@clinic.test")
    staff_user(role="Clinician", username="c2", email="c2@clinic.test")
    staff_user(role="Front desk", username="fd", email="fd@clinic.test")
    with django_capture_on_commit_callbacks(execute=True):
        record(patient, with_item_9(3))
    assert sorted(mail.outbox[0].to) == ["c1@clinic.test", "c2@clinic.test"]


def test_a_second_endorsement_adds_to_the_open_flag_and_alerts_again(patient, django_capture_on_commit_callbacks):
    staff_user(role="Clinician", username="c1", email="c1@clinic.test")
    with django_capture_on_commit_callbacks(execute=True):
        record(patient, with_item_9(1))
        record(patient, with_item_9(3))
    flag = PatientFlag.objects.get(kind=PatientFlag.Kind.SAFETY)
    assert "several days" in flag.detail and "nearly every day" in flag.detail
    assert len(mail.outbox) == 2


def test_no_email_is_sent_if_the_assessment_is_rolled_back(patient, django_capture_on_commit_callbacks):
    from django.db import transaction

    staff_user(role="Clinician", username="c1", email="c1@clinic.test")
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        record(patient, with_item_9(2))
        raise RuntimeError("the surrounding request failed")
    assert callbacks == [] and mail.outbox == []
    assert not PatientFlag.objects.exists()


def test_the_admin_path_raises_the_flag_and_the_email(client, superuser, patient, django_capture_on_commit_callbacks):
    staff_user(role="Clinician", username="c1", email="c1@clinic.test")
    client.force_login(superuser)
    data = {"patient": patient.pk, "instrument": "phq9", "taken_at_0": "2026-11-20", "taken_at_1": "10:00:00",
            **{f"item_{n}": "0" for n in range(1, 9)}, "item_9": "2", "difficulty": ""}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:patients_assessment_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assessment = Assessment.objects.get()
    assert (assessment.total, assessment.entered_by, assessment.source) == (2, superuser, "staff")
    assert PatientFlag.objects.filter(patient=patient, kind=PatientFlag.Kind.SAFETY).exists()
    assert len(mail.outbox) == 1


def test_worsening_during_maintenance_raises_a_flag(patient):
    plan = MaintenancePlanFactory(patient=patient, started_on=datetime.date(2026, 10, 1))
    phq(patient, 3, datetime.date(2026, 9, 28))  # 3 at the end of the acute course
    record(patient, [1, 1, 1, 1, 0, 0, 0, 0, 0])  # 4: a rise of 1, total below 10
    assert not PatientFlag.objects.exists()
    record(patient, [2, 2, 1, 1, 1, 1, 0, 0, 0])  # 8: a rise of 5
    flag = PatientFlag.objects.get(kind=PatientFlag.Kind.WORSENING_SYMPTOMS)
    assert flag.plan == plan and "rose from 3" in flag.detail


def test_a_high_total_during_maintenance_is_worsening_even_without_a_baseline(patient):
    MaintenancePlanFactory(patient=patient, status=MaintenancePlan.Status.ACTIVE)
    record(patient, [2, 2, 2, 2, 1, 1, 0, 0, 0])
    assert PatientFlag.objects.filter(kind=PatientFlag.Kind.WORSENING_SYMPTOMS).exists()


def test_scores_outside_maintenance_raise_no_worsening_flag(patient):
    record(patient, [3, 3, 3, 3, 3, 3, 0, 0, 0])
    assert not PatientFlag.objects.filter(kind=PatientFlag.Kind.WORSENING_SYMPTOMS).exists()


def test_the_end_of_acute_score_is_the_last_on_the_plans_first_day_on_the_clinics_calendar(patient):
    """A New York score at 21:30 on the plan's first day (01:30 UTC the next day) is the
    baseline a rise is measured from; a UTC date left it out and compared with an older 8."""
    MaintenancePlanFactory(patient=patient, started_on=datetime.date(2026, 10, 1))
    phq(patient, 8, datetime.date(2026, 9, 20))
    AssessmentFactory(patient=patient, taken_at=datetime.datetime(2026, 10, 2, 1, 30, tzinfo=datetime.UTC),
                      **{f"item_{n}": (1 if n <= 3 else 0) for n in range(1, 10)})  # 3
    record(patient, [2, 2, 1, 1, 1, 1, 0, 0, 0])  # 8: a rise of 5 from 3
    flag = PatientFlag.objects.get(kind=PatientFlag.Kind.WORSENING_SYMPTOMS)
    assert "rose from 3" in flag.detail
