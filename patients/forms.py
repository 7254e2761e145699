from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from tmsclinic.roles import CLINICIAN

from .models import Patient

CONSENTS = ("email_consent", "sms_consent")


def duplicate_mrn_error(mrn):
    return ValidationError("A patient with MRN %(mrn)s already exists.", code="unique", params={"mrn": mrn})


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance._state.adding:
            # A new patient is always active; discharge happens on a later edit.
            del self.fields["status"]
        clinician = self.fields["primary_clinician"]
        clinician.queryset = (
            get_user_model().objects.filter(groups__name=CLINICIAN).order_by("last_name", "first_name", "username")
        )
        clinician.label_from_instance = lambda user: user.get_full_name() or user.username

    def clean_mrn(self):
        # Checked here rather than by validate_unique so the message can name the MRN.
        mrn = self.cleaned_data["mrn"]
        if Patient.objects.filter(mrn=mrn).exclude(pk=self.instance.pk).exists():
            raise duplicate_mrn_error(mrn)
        return mrn

    def clean_date_of_birth(self):
        born = self.cleaned_data["date_of_birth"]
        if born > timezone.localdate():
            raise ValidationError("The date of birth cannot be in the future.")
        return born

    def save(self, commit=True):
        patient = super().save(commit=False)
        now = timezone.now()
        for consent in CONSENTS:
            # The time consent was given is the clinic's record that reminders were allowed.
            if consent in self.changed_data:
                setattr(patient, f"{consent}_at", now if getattr(patient, consent) else None)
        if commit:
            patient.save()
        return patient


class PatientSearchForm(forms.Form):
    # A form even for one box: it refuses what the database cannot take (NUL characters).
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "MRN, name or e-mail"}),
    )


class PatientFilterForm(PatientSearchForm):
    """The list's search box and filters, read from the query string."""

    status = forms.ChoiceField(choices=[("", "Any status"), *Patient.Status.choices], required=False)
    clinic = forms.ModelChoiceField(label="Home clinic", queryset=None, required=False, empty_label="Any clinic")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Reached through the relation because patients never imports scheduling.
        clinics = Patient._meta.get_field("home_clinic").related_model
        self.fields["clinic"].queryset = clinics.objects.all()
