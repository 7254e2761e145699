"""The PHQ-9 check-in: nine questions and the difficulty one, at most once a week, through
record_assessment; item 9 above 0 brings crisis help on the very next page and a safety flag."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from patients.models import PHQ9_ITEMS, Assessment, PatientFlag
from tests.factories import UserFactory

NOW = datetime.datetime(2027, 3, 1, 15, 0, tzinfo=datetime.UTC)


def answers(item_9=0, **overrides):
    data = {f"item_{n}": 1 for n in range(1, 9)} | {"item_9": item_9, "difficulty": 1}
    return data | overrides


@pytest.fixture
def me(patient):
    patient.user = UserFactory(username=patient.email)
    patient.save()
    clinic = patient.home_clinic
    clinic.crisis_help = "Call the Riverside crisis team or 988 now."
    clinic.crisis_phone = "+12125550999"
    clinic.save()
    return patient


@pytest.fixture
def signed_in(client, me):
    client.force_login(me.user)
    return client


def test_the_form_asks_the_standard_questions_with_labels(signed_in):
    page = signed_in.get(reverse("portal:phq9")).content.decode()
    assert "Over the last 2 weeks, how often have you been bothered" in page
    for wording in PHQ9_ITEMS:
        assert wording.replace("'", "&#x27;") in page
    assert "how difficult have these problems made it" in page
    for n in range(1, 10):
        for value in range(4):
            assert f'id="id_item_{n}_{value}"' in page
            assert f'for="id_item_{n}_{value}"' in page
    assert "Nearly every day" in page and "Extremely difficult" in page


def test_answers_are_recorded_from_the_portal(signed_in, me):
    response = signed_in.post(reverse("portal:phq9"), answers(), follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:phq9-done")
    assessment = Assessment.objects.get(patient=me)
    assert assessment.source == Assessment.Source.PORTAL
    assert assessment.entered_by == me.user
    assert assessment.total == 8 and assessment.difficulty == 1
    body = response.content.decode()
    assert "Your PHQ-9 total is 8" in body
    assert 'data-testid="crisis-help"' not in body
    assert not PatientFlag.objects.filter(patient=me, kind=PatientFlag.Kind.SAFETY).exists()


def test_a_missing_answer_is_shown_at_its_question(signed_in, me):
    data = answers()
    del data["item_4"]
    response = signed_in.post(reverse("portal:phq9"), data)
    assert response.status_code == 400
    body = response.content.decode()
    assert "Answer question 4." in body
    assert 'aria-describedby="id_item_4_error"' in body or "error_1_id_item_4" in body
    assert not Assessment.objects.filter(patient=me).exists()


@pytest.mark.parametrize("item_9", [1, 2, 3])
def test_item_9_shows_crisis_help_at_once_and_flags_staff(signed_in, me, item_9, mailoutbox, clinician,
                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("portal:phq9"), answers(item_9=item_9), follow=True)
    body = response.content.decode()
    assert 'data-testid="crisis-help"' in body
    assert "Call the Riverside crisis team or 988 now." in body
    assert 'href="tel:+12125550999"' in body
    assert body.index("crisis-help") < body.index("Your PHQ-9 total")  # first thing on the page
    flag = PatientFlag.objects.get(patient=me, kind=PatientFlag.Kind.SAFETY, resolved_at__isnull=True)
    assert "item 9" in flag.detail
    assert any("review today" in message.subject for message in mailoutbox)


def test_no_more_than_once_a_week(client, me, settings):
    settings.TMS_PORTAL_PHQ9_EVERY_DAYS = 7
    with time_machine.travel(NOW, tick=False):
        client.force_login(me.user)
        assert client.post(reverse("portal:phq9"), answers()).status_code == 302
    with time_machine.travel(NOW + datetime.timedelta(days=6, hours=23), tick=False):
        client.force_login(me.user)  # the session from a week ago has expired
        page = client.get(reverse("portal:phq9"))
        refused = client.post(reverse("portal:phq9"), answers())
    assert "You can answer the next questionnaire from Monday 8 March" in page.content.decode()
    assert refused.status_code == 409
    assert Assessment.objects.filter(patient=me).count() == 1
    with time_machine.travel(NOW + datetime.timedelta(days=7, minutes=1), tick=False):
        client.force_login(me.user)
        response = client.post(reverse("portal:phq9"), answers())
    assert response.status_code == 302
    assert Assessment.objects.filter(patient=me).count() == 2


def test_a_score_staff_entered_does_not_block_the_check_in(signed_in, me):
    Assessment.objects.create(patient=me, source=Assessment.Source.STAFF,
                              **{f"item_{n}": 0 for n in range(1, 10)})
    assert signed_in.post(reverse("portal:phq9"), answers()).status_code == 302


def test_the_done_page_shows_only_your_own_answers(client, signed_in, me):
    assert signed_in.get(reverse("portal:phq9-done"))["Location"] == reverse("portal:home")
