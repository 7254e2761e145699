"""Forms of the patients' own pages: registering and editing a patient, the search and list
filters, and the PHQ-9 (staff's and, made stricter, the portal's)."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from tmsclinic.inputs import OneLineField
from tmsclinic.roles import CLINICIAN, role_members

from .models import ITEM_FIELDS, PHQ9_ITEMS, Assessment, Patient

PHQ9_QUESTION = "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
PHQ9_ANSWERS = [(0, "Not at all"), (1, "Several days"), (2, "More than half the days"), (3, "Nearly every day")]
DIFFICULTY_QUESTION = (
    "If you checked off any problems, how difficult have these problems made it for you to do your work, "
    "take care of things at home, or get along with other people?"
)


def duplicate_mrn_error(mrn):
    return ValidationError("A patient with MRN %(mrn)s already exists.", code="unique", params={"mrn": mrn})


def _clinics():
    # Reached through the relation because patients never imports scheduling.
    return Patient._meta.get_field("home_clinic").related_model


class PatientForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = [
            "mrn",
            "first_name",
            "last_name",
            "date_of_birth",
            "email",
            "phone",
            "home_clinic",
            "preferred_channel",
            "email_consent",
            "sms_consent",
            "primary_clinician",
            "payer",
            "status",
        ]
        labels = {
            "email_consent": "Agrees to reminders by e-mail",
            "sms_consent": "Agrees to reminders by SMS",
        }
        widgets = {
            # The browser's date picker sends and expects ISO dates whatever the locale.
            "date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance._state.adding:
            # A new patient is always active; discharge happens on a later edit.
            del self.fields["status"]
            # Left blank, the MRN is given when the patient is saved (Patient.save).
            self.fields["mrn"].required = False
            self.fields["mrn"].help_text = ("Medical record number. Leave blank to have the next one given, like "
                                            f"{settings.TMS_MRN_FORMAT.format(number=123)}.")
        # Only the user's clinics, and the clinicians who work at them.
        clinics = _clinics().objects.visible_to(user)
        self.fields["home_clinic"].queryset = clinics
        clinician = self.fields["primary_clinician"]
        clinician.queryset = (role_members(CLINICIAN).filter(clinic_memberships__clinic__in=clinics).distinct()
                              .order_by("last_name", "first_name", "username"))
        clinician.label_from_instance = lambda user: user.get_full_name() or user.username

    def clean_mrn(self):
        # Checked here rather than by validate_unique so the message can name the MRN.
        mrn = self.cleaned_data["mrn"]
        if mrn and Patient.objects.filter(mrn=mrn).exclude(pk=self.instance.pk).exists():
            raise duplicate_mrn_error(mrn)
        return mrn

    def clean_date_of_birth(self):
        born = self.cleaned_data["date_of_birth"]
        if born > timezone.localdate():
            raise ValidationError("The date of birth cannot be in the future.")
        return born

    def save(self, commit=True):
        patient = super().save(commit=False)
        patient.stamp_consents(self.changed_data)
        if commit:
            patient.save()
        return patient


class PatientSearchForm(forms.Form):
    # A form even for one box: it refuses what the database cannot take (NUL characters).
    q = OneLineField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name, MRN, date of birth, phone or e-mail"}),
    )


class PatientFilterForm(PatientSearchForm):
    """The list's search box and filters, read from the query string."""

    status = forms.ChoiceField(choices=[("", "Any status"), *Patient.Status.choices], required=False)
    clinic = forms.ModelChoiceField(label="Home clinic", queryset=None, required=False, empty_label="Any clinic")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = _clinics().objects.visible_to(user)


class PHQ9Form(forms.Form):
    """The nine PHQ-9 questions in Kroenke's wording, each answered 0–3, and the unscored
    difficulty question. Drawn by templates/forms/phq9.html."""

    inline_answers = True  # each question's answers side by side

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

    @property
    def items(self):
        return [self.cleaned_data[field] for field in ITEM_FIELDS]


class BreakGlassForm(forms.Form):
    """Opening a patient of another clinic: which one, and why, in words the audit keeps."""

    mrn = OneLineField(label="MRN of the patient", max_length=32,
                       error_messages={"required": "Give the patient's MRN."})
    reason = forms.CharField(
        label="Why you need this record now", min_length=10, max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept in the audit trail and sent to that clinic's administrators.",
        error_messages={"required": "Say why you need this record.",
                        "min_length": "Say why in a sentence (at least 10 characters)."},
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if len(reason) < 10:
            raise forms.ValidationError("Say why in a sentence (at least 10 characters).")
        return reason
