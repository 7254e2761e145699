import datetime

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse

from patients.forms import PHQ9_ANSWERS
from patients.models import PHQ9_ITEMS, Assessment, PatientFlag
from tests.factories import UserFactory, staff_user
from tmsclinic.roles import CLINIC_ADMIN, CLINICIAN, FRONT_DESK, TECHNICIAN

NOW = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def answers(*items, difficulty=""):
    data = {f"item_{n}": str(value) for n, value in enumerate(items, start=1) if value is not None}
    data["difficulty"] = str(difficulty)
    return data


def flash(response):
    return [message.message for message in get_messages(response.wsgi_request)]


def url(patient):
    return reverse("staff:phq9", args=[patient.uuid])


def test_it_shows_the_nine_questions_with_the_four_answers_and_the_difficulty_question(client, clinician,
                                                                                       patient):
    client.force_login(clinician)
    page = client.get(url(patient)).content.decode()
    assert "Over the last 2 weeks, how often have you been bothered by any of the following problems?" in page
    for number, wording in enumerate(PHQ9_ITEMS, start=1):
        assert f"{number}. {wording}" in page
    for _, answer in PHQ9_ANSWERS:
        assert page.count(answer) == 9
    assert "how difficult have these problems made it for you" in page
    assert page.count('type="radio"') == 9 * 4 + 4
    # Each question is a group of radio buttons named by its legend.
    assert page.count("<legend") == 10


@pytest.mark.parametrize("role", [FRONT_DESK, TECHNICIAN, CLINIC_ADMIN])
def test_roles_without_clinical_access_cannot_enter_a_phq9(client, patient, role):
    client.force_login(staff_user(role=role))
    assert client.get(url(patient)).status_code == 403
    assert client.post(url(patient), answers(2, 2, 2, 2, 2, 2, 1, 1, 0, difficulty=1)).status_code == 403
    assert not Assessment.objects.filter(patient=patient).exists()


@pytest.mark.parametrize("role", [CLINICIAN, TECHNICIAN])
def test_a_clinician_or_a_technician_where_allowed_enters_a_phq9_through_the_service(client, patient, role,
                                                                                     settings):
    settings.TMS_TECHNICIANS_RECORD_PHQ9 = True
    user = staff_user(role=role)
    client.force_login(user)
    response = client.post(url(patient), answers(2, 2, 2, 2, 2, 2, 1, 1, 0, difficulty=1))
    assert response.status_code == 302 and response["Location"] == reverse("staff:patient", args=[patient.uuid])
    assessment = Assessment.objects.get(patient=patient)
    assert (assessment.total, assessment.band) == (14, Assessment.Band.MODERATE)
    assert assessment.source == Assessment.Source.STAFF and assessment.entered_by == user
    assert assessment.difficulty == Assessment.Difficulty.SOMEWHAT
    assert assessment.taken_at == NOW
    assert flash(response) == ["PHQ-9 saved: 14, moderate."]
    assert not PatientFlag.objects.exists() and mail.outbox == []


def test_the_difficulty_question_may_be_left_unanswered(client, clinician, patient):
    client.force_login(clinician)
    client.post(url(patient), answers(0, 0, 0, 0, 0, 0, 0, 0, 0))
    assert Assessment.objects.get(patient=patient).difficulty is None


def test_item_9_raises_a_safety_flag_emails_the_clinician_and_says_so(client, technician, clinician, patient,
                                                                      django_capture_on_commit_callbacks, settings):
    settings.TMS_TECHNICIANS_RECORD_PHQ9 = True  # entered at the chair; the primary clinician is told
    clinician.first_name, clinician.last_name = "Grace", "Hopper"
    clinician.save()
    patient.primary_clinician = clinician
    patient.save()
    client.force_login(technician)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(patient), answers(1, 1, 1, 1, 1, 1, 1, 1, 1), follow=True)
    flag = PatientFlag.objects.get(patient=patient)
    assert flag.kind == PatientFlag.Kind.SAFETY and flag.is_open
    assert "several days" in flag.detail
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [clinician.email]
    page = response.content.decode()
    notice = page[page.index('class="alert alert-danger"'):]
    assert "A safety flag was raised and Grace Hopper has been e-mailed to review today." in notice[:600]


def test_missing_answers_are_named_and_nothing_is_saved(client, clinician, patient,
                                                        django_capture_on_commit_callbacks):
    client.force_login(clinician)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(patient), answers(1, 1, 1, None, 1, 1, 1, 1, None))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Answer question 4." in page and "Answer question 9." in page
    assert "Nothing was saved" in page
    assert not Assessment.objects.exists() and not PatientFlag.objects.exists() and mail.outbox == []


def test_an_answer_outside_the_scale_is_refused(client, clinician, patient):
    client.force_login(clinician)
    response = client.post(url(patient), answers(4, 1, 1, 1, 1, 1, 1, 1, 0))
    assert response.status_code == 400
    assert not Assessment.objects.exists()


def test_only_staff_may_enter_a_phq9(client, patient):
    assert client.get(url(patient))["Location"].startswith(reverse("login"))
    client.force_login(UserFactory())
    assert client.post(url(patient), answers(3, 3, 3, 3, 3, 3, 3, 3, 3)).status_code == 403
    assert not Assessment.objects.exists()
