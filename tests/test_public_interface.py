"""The public interface of DESIGN.md imports from the same paths with the same keywords: other
code, checks and scripts rely on it, whatever the modules behind it become."""

import inspect

import pytest
from django.core.exceptions import ValidationError
from django.core.management import get_commands, load_command_class

import patients.services
import scheduling.services
import scheduling.tasks
from tmsclinic.celery import app

KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY


def keywords(function):
    return {name for name, p in inspect.signature(function).parameters.items() if p.kind == KEYWORD_ONLY}


@pytest.mark.parametrize(("function", "required"), [
    (scheduling.services.find_open_slots, {"clinic", "protocol", "start", "end", "chair"}),
    (scheduling.services.book_appointment,
     {"patient", "chair", "starts_at", "kind", "booked_by", "course", "plan", "via"}),
    (scheduling.services.cancel_appointment, {"by", "reason"}),
    (scheduling.services.complete_appointment, {"by"}),
    (scheduling.services.mark_no_show, {"by"}),
    (patients.services.record_assessment, {"patient", "items", "source", "by"}),
])
def test_the_services_take_the_documented_keywords(function, required):
    assert required <= keywords(function)


def test_the_plan_services_and_course_outcome_are_where_the_design_says():
    for name in ("start_plan", "pause_plan", "resume_plan", "end_plan"):
        assert callable(getattr(scheduling.services, name))
    assert list(inspect.signature(patients.services.course_outcome).parameters)[0] == "course"


def test_slot_unavailable_is_a_validation_error():
    assert issubclass(scheduling.services.SlotUnavailable, ValidationError)


@pytest.mark.parametrize("task", ["send_due_reminders", "flag_overdue_patients"])
def test_the_beat_tasks_keep_their_names(task):
    assert getattr(scheduling.tasks, task).name == f"scheduling.tasks.{task}"
    assert f"scheduling.tasks.{task}" in app.tasks


def test_seed_demo_takes_patients_clinics_and_seed():
    assert get_commands()["seed_demo"] == "scheduling"
    parser = load_command_class("scheduling", "seed_demo").create_parser("manage.py", "seed_demo")
    options = {option for action in parser._actions for option in action.option_strings}
    assert {"--patients", "--clinics", "--seed"} <= options
