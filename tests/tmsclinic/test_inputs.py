"""tmsclinic/inputs.py: the one set of rules for what the app accepts — dates within 1900–2200,
one-line text without control characters, a length limit on free text, e-mail headers on one
line — and proof that every form, model field and URL of the project uses it."""

import datetime
import importlib
import inspect

import pytest
from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models

from tmsclinic.inputs import (
    DATE_OUT_OF_RANGE,
    FREE_TEXT_MAX_LENGTH,
    NOT_ONE_LINE,
    IsoDateConverter,
    OneLineField,
    SaneDateField,
    SaneDateTimeField,
    iso_moment,
    one_line,
    validate_date_in_range,
    validate_one_line,
)

# Every module of the project that defines forms.
FORM_MODULES = ["patients.forms", "scheduling.staff.forms", "scheduling.portal.forms", "scheduling.admin",
                "patients.admin"]


@pytest.mark.parametrize("value", [datetime.date(1900, 1, 1), datetime.date(2200, 12, 31),
                                   datetime.datetime(2026, 12, 2, 8, 0, tzinfo=datetime.UTC)])
def test_dates_from_1900_to_2200_are_accepted(value):
    validate_date_in_range(value)


@pytest.mark.parametrize("value", [datetime.date(1, 1, 1), datetime.date(1899, 12, 31), datetime.date(2201, 1, 1),
                                   datetime.datetime(9999, 12, 31, 23, 59)])
def test_dates_outside_are_refused_with_a_plain_message(value):
    with pytest.raises(ValidationError) as refused:
        validate_date_in_range(value)
    assert refused.value.messages == ["Enter a date between 1900 and 2200."]


@pytest.mark.parametrize("text", ["Riverside\r\nBcc: x@example.org", "line\nbreak", "carriage\rreturn", "nul\x00",
                                  "tab\there", "escape\x1b[31m", "delete\x7f", "next line\x85", "separator\u2028",
                                  "paragraph\u2029"])
def test_one_line_text_refuses_line_breaks_and_control_characters(text):
    with pytest.raises(ValidationError) as refused:
        validate_one_line(text)
    assert refused.value.messages == [NOT_ONE_LINE]


@pytest.mark.parametrize("text", ["", "Riverside TMS", "O’Brien-Smith", "Zoë Ñúñez", "北京诊所", "Dr. A. B. (MD)"])
def test_one_line_text_accepts_every_printable_character(text):
    validate_one_line(text)


def test_one_line_makes_a_header_of_any_text():
    assert one_line("Your portal at Riverside\r\nBcc: everyone@example.org\n") == (
        "Your portal at Riverside Bcc: everyone@example.org")
    assert one_line("  A\x00B\u2028C\tD  ") == "A B C D"


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-07T10:00", datetime.datetime(2026, 12, 7, 10, 0)),
    ("2026-12-07T10:00:00-05:00", datetime.datetime(2026, 12, 7, 15, 0, tzinfo=datetime.UTC)),
    ("9999-12-31T23:59", None), ("0001-01-01T00:00:00+00:00", None), ("yesterday", None), ("", None), (None, None),
])
def test_iso_moment_reads_a_moment_in_range_or_nothing(text, expected):
    assert iso_moment(text) == expected


def test_the_url_converter_refuses_days_out_of_range():
    converter = IsoDateConverter()
    assert converter.to_python("2026-12-02") == datetime.date(2026, 12, 2)
    for text in ("0001-01-01", "9999-12-31", "2026-02-30"):
        with pytest.raises(ValueError):
            converter.to_python(text)


@pytest.mark.parametrize(("field", "text"), [(SaneDateField(), "9999-12-31"),
                                             (SaneDateTimeField(), "9999-12-31T23:59"),
                                             (SaneDateTimeField(), "0001-01-01 00:00")])
def test_the_form_fields_refuse_dates_out_of_range(field, text):
    with pytest.raises(ValidationError) as refused:
        field.clean(text)
    assert refused.value.messages == [DATE_OUT_OF_RANGE]


def test_the_one_line_form_field_refuses_a_line_break():
    with pytest.raises(ValidationError):
        OneLineField().clean("moved\naway")


# --- Everyone uses them ------------------------------------------------------------------------


def project_models():
    return [*apps.get_app_config("patients").get_models(), *apps.get_app_config("scheduling").get_models()]


def test_every_date_a_person_can_type_into_a_model_is_in_range():
    for model in project_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.DateField) and field.editable and not (field.auto_now or field.auto_now_add):
                assert validate_date_in_range in field.validators, f"{model.__name__}.{field.name}"


def test_every_single_line_text_field_of_a_model_refuses_control_characters():
    for model in project_models():
        for field in model._meta.concrete_fields:
            if type(field) is models.CharField and field.editable and not field.choices:
                assert validate_one_line in field.validators, f"{model.__name__}.{field.name}"


def test_every_free_text_field_has_a_maximum_length_in_forms_and_keeps_line_breaks():
    for model in project_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.TextField) and field.editable:
                form_field = field.formfield()
                assert form_field.max_length == FREE_TEXT_MAX_LENGTH, f"{model.__name__}.{field.name}"
                assert form_field.clean("first line\nsecond line") == "first line\nsecond line"
                with pytest.raises(ValidationError):
                    form_field.clean("x" * (FREE_TEXT_MAX_LENGTH + 1))


def declared_form_fields():
    for module_name in FORM_MODULES:
        module = importlib.import_module(module_name)
        for name, form in inspect.getmembers(module, inspect.isclass):
            if issubclass(form, forms.BaseForm) and form.__module__ == module_name:
                # Declared on the form itself: a model form's other fields follow their model's rules.
                for field_name, field in form.declared_fields.items():
                    yield f"{module_name}.{name}.{field_name}", field


def test_every_form_takes_dates_through_the_sane_fields():
    checked = 0
    for where, field in declared_form_fields():
        if isinstance(field, forms.DateTimeField):
            assert isinstance(field, SaneDateTimeField) or validate_date_in_range in field.validators, where
            checked += 1
        elif isinstance(field, forms.DateField):
            assert isinstance(field, SaneDateField) or validate_date_in_range in field.validators, where
            checked += 1
    assert checked >= 5


def test_every_typed_line_of_a_plain_form_refuses_control_characters():
    # Model forms get the rule from their model fields (above); these are the plain forms' own.
    for where, field in declared_form_fields():
        if type(field) is forms.CharField and not isinstance(field.widget, forms.HiddenInput | forms.PasswordInput):
            if isinstance(field.widget, forms.Textarea):
                assert field.max_length, where
            else:
                assert isinstance(field, OneLineField), where
