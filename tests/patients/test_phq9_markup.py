"""The PHQ-9's questions are drawn by one template loop (templates/forms/phq9.html) instead of
crispy-forms: held here to what crispy draws for the same form — every control with its name,
value, id, state and ARIA, every label, legend and error text — read back by an HTML parser, for an
empty form, a form sent half answered (errors) and one sent whole, staff and portal."""

import re
from html.parser import HTMLParser

import pytest
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from django.template import engines
from django.template.loader import render_to_string

from patients.forms import PHQ9Form
from scheduling.portal.forms import PortalPHQ9Form

ALL_ANSWERED = {**{f"item_{n}": str(n % 4) for n in range(1, 10)}, "difficulty": "2"}
HALF_ANSWERED = {"item_1": "1", "item_2": "3", "item_4": "0", "item_7": "x"}


class Controls(HTMLParser):
    """What a person and a screen reader meet in the markup, in order."""

    def __init__(self):
        super().__init__()
        self.inputs, self.labels, self.legends, self.errors, self.fieldsets, self.wrappers = [], {}, [], [], [], []
        self._text_for = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input":
            self.inputs.append((attrs.get("type"), attrs.get("name"), attrs.get("value"), attrs.get("id"),
                                "checked" in attrs, "required" in attrs, attrs.get("aria-invalid"),
                                "is-invalid" in attrs.get("class", "").split(),
                                "form-check-input" in attrs.get("class", "").split()))
        elif tag == "label":
            self._text_for = ("label", attrs["for"])
        elif tag == "legend":
            self.legends.append("")
            self._text_for = ("legend", None)
        elif tag == "p" and attrs.get("id", "").startswith("error_"):
            self._text_for = ("error", attrs["id"])
        elif tag == "fieldset":
            self.fieldsets.append(attrs.get("aria-describedby"))
        elif tag == "div" and attrs.get("id", "").startswith("div_id_"):
            self.wrappers.append(attrs["id"])
        elif tag == "div" and attrs.get("id", "").endswith("_error"):
            self.errors.append(("box", attrs["id"], "invalid-feedback" in attrs.get("class", "")))

    def handle_endtag(self, tag):
        if tag in ("label", "legend", "p"):
            self._text_for = None

    def handle_data(self, data):
        text = re.sub(r"\s+", " ", data).strip()
        if not text or self._text_for is None:
            return
        kind, key = self._text_for
        if kind == "label":
            self.labels[key] = (self.labels.get(key, "") + " " + text).strip()
        elif kind == "legend":
            self.legends[-1] = (self.legends[-1] + " " + text).strip()  # with the required mark, "*"
        else:
            self.errors.append(("text", key, text))


def read(html):
    parser = Controls()
    parser.feed(html)
    return parser


def crispy(form):
    """crispy-forms' drawing of the same form, as the pages had it."""
    form.helper = FormHelper()
    form.helper.form_tag = False
    if form.inline_answers:
        from crispy_forms.bootstrap import InlineRadios

        form.helper.layout = Layout(*(InlineRadios(field) for field in form.fields))
    else:
        form.helper.layout = Layout(*form.fields)
    return engines["django"].from_string("{% load crispy_forms_tags %}{% crispy form %}").render({"form": form})


@pytest.mark.parametrize("form_class", [PHQ9Form, PortalPHQ9Form])
@pytest.mark.parametrize("data", [None, HALF_ANSWERED, ALL_ANSWERED], ids=["empty", "half", "whole"])
def test_the_questions_have_the_controls_labels_and_errors_crispy_gave_them(form_class, data):
    ours, theirs = form_class(data), form_class(data)
    if data is not None:
        assert ours.is_valid() == theirs.is_valid() == (data is ALL_ANSWERED)
    mine = read(render_to_string("forms/phq9.html", {"form": ours}))
    reference = read(crispy(theirs))
    assert len(mine.inputs) == 40
    assert mine.inputs == reference.inputs
    assert mine.labels == reference.labels
    assert mine.legends == reference.legends
    assert mine.fieldsets == reference.fieldsets
    assert mine.wrappers == reference.wrappers
    assert sorted(mine.errors) == sorted(reference.errors)
    if data is HALF_ANSWERED:
        assert ("text", "error_1_id_item_3", "Answer question 3.") in mine.errors
        assert sum(checked for *_, checked, _, _, _, _ in mine.inputs) == 3  # "x" is no answer


def test_inline_answers_are_side_by_side_for_staff_and_stacked_on_the_portal():
    assert render_to_string("forms/phq9.html", {"form": PHQ9Form()}).count("form-check-inline") == 40
    assert "form-check-inline" not in render_to_string("forms/phq9.html", {"form": PortalPHQ9Form()})
