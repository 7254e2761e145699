"""Forms of the outcomes pages: the staff PHQ-9, maintenance plans, the outcomes report."""

from crispy_forms.bootstrap import InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from django import forms

from patients.models import ITEM_FIELDS, PHQ9_ITEMS, Assessment, PlanTemplate

from .models import Clinic

PHQ9_QUESTION = "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
PHQ9_ANSWERS = [(0, "Not at all"), (1, "Several days"), (2, "More than half the days"), (3, "Nearly every day")]
DIFFICULTY_QUESTION = (
    "If you checked off any problems, how difficult have these problems made it for you to do your work, "
    "take care of things at home, or get along with other people?"
)


class PHQ9Form(forms.Form):
    """The nine PHQ-9 questions in Kroenke's wording, each answered 0–3, and the unscored
    difficulty question."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for number, (field, wording) in enumerate(zip(ITEM_FIELDS, PHQ9_ITEMS, strict=True), start=1):
            self.fields[field] = forms.TypedChoiceField(
                label=f"{number}. {wording}", choices=PHQ9_ANSWERS, coerce=int, widget=forms.RadioSelect,
                error_messages={"required": f"Answer question {number}."},
            )
        self.fields["difficulty"] = forms.TypedChoiceField(
            label=DIFFICULTY_QUESTION, choices=Assessment.Difficulty.choices, coerce=int, empty_value=None,
            required=False, widget=forms.RadioSelect,
        )
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(*(InlineRadios(field) for field in self.fields))

    @property
    def items(self):
        return [self.cleaned_data[field] for field in ITEM_FIELDS]


class ChoosePlanTemplateForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=PlanTemplate.objects.all(), label="Plan template", empty_label=None,
        help_text="Its phases are copied into this patient's plan; you can change them on the next step.",
    )


class StartPlanForm(forms.Form):
    started_on = forms.DateField(label="Start date (first visit due)", widget=forms.DateInput(attrs={"type": "date"}))
    grace_days = forms.IntegerField(
        min_value=0, max_value=60, help_text="Days after a due date before the patient counts as overdue"
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    def clean_started_on(self):
        started_on = self.cleaned_data["started_on"]
        if started_on < self.clinic.today():
            raise forms.ValidationError("A plan cannot start in the past: its first visit would already be overdue.")
        return started_on


def _small_number():
    return forms.NumberInput(attrs={"class": "form-control form-control-sm"})


class PhaseForm(forms.Form):
    interval_days = forms.IntegerField(min_value=1, max_value=365, label="Every (days)", widget=_small_number())
    sessions_per_visit = forms.IntegerField(min_value=1, max_value=20, label="Sessions per visit",
                                            widget=_small_number())
    visits = forms.IntegerField(min_value=1, max_value=500, required=False, label="Visits (blank = ongoing)",
                                widget=_small_number())


class BasePhaseFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        phases = self.phases
        if not phases:
            raise forms.ValidationError("A plan needs at least one phase.")
        if any(visits is None for _, _, visits in phases[:-1]):
            raise forms.ValidationError("Only the last phase can be ongoing: the phases after it would never start.")

    @property
    def phases(self):
        """(interval_days, sessions_per_visit, visits) in order, leaving out removed and blank rows."""
        return [
            (form.cleaned_data["interval_days"], form.cleaned_data["sessions_per_visit"], form.cleaned_data["visits"])
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]


PhaseFormSet = forms.formset_factory(PhaseForm, formset=BasePhaseFormSet, extra=1, can_delete=True)


class PausePlanForm(forms.Form):
    until = forms.DateField(
        required=False, label="Paused until", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Nothing is due before this day. Leave empty to pause until someone resumes the plan.",
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    def clean_until(self):
        until = self.cleaned_data["until"]
        if until is not None and until < self.clinic.today():
            raise forms.ValidationError("A pause cannot end in the past.")
        return until


class EndPlanForm(forms.Form):
    reason = forms.CharField(
        max_length=200, label="Reason for ending the plan",
        error_messages={"required": "Say why the plan ends, e.g. “moved away” or “reintroduction started”."},
    )


DEFAULT_MONTHS = 3


class OutcomesReportForm(forms.Form):
    clinic = forms.ModelChoiceField(queryset=Clinic.objects.all(), required=False, empty_label="All clinics",
                                    widget=forms.Select(attrs={"class": "form-select"}))
    months = forms.IntegerField(
        min_value=0, max_value=120, required=False, label="Plan started at least (months ago)",
        widget=forms.NumberInput(attrs={"class": "form-control", "placeholder": DEFAULT_MONTHS}),
    )
