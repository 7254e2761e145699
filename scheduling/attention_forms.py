import datetime

from django import forms

from patients.models import OutreachAttempt, PatientFlag

# A snooze is for "call back after the holidays", not for forgetting a patient.
MAX_SNOOZE_DAYS = 90


class WorklistFilterForm(forms.Form):
    """The worklist's filters, read from the query string."""

    clinic = forms.TypedChoiceField(label="Home clinic", coerce=int, empty_value=None, required=False)
    kind = forms.ChoiceField(label="Flag", choices=[("", "Every kind"), *PatientFlag.Kind.choices], required=False)

    def __init__(self, *args, clinics, **kwargs):
        super().__init__(*args, **kwargs)
        # Choices from the clinics the view has already read: no query of its own.
        self.fields["clinic"].choices = [("", "Any clinic"), *((clinic.pk, clinic.name) for clinic in clinics)]


class OutreachForm(forms.ModelForm):
    class Meta:
        model = OutreachAttempt
        fields = ["channel", "outcome", "note"]
        widgets = {"note": forms.Textarea(attrs={"rows": 2})}


class SnoozeForm(forms.Form):
    until = forms.DateField(label="Hide until", widget=forms.DateInput(attrs={"type": "date"}),
                            error_messages={"required": "Choose the day the flag comes back.",
                                            "invalid": "Enter the date as YYYY-MM-DD."})

    def __init__(self, *args, today, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_until(self):
        until = self.cleaned_data["until"]
        if until <= self.today:
            raise forms.ValidationError("Choose a day after today.")
        if until > self.today + datetime.timedelta(days=MAX_SNOOZE_DAYS):
            raise forms.ValidationError(f"A flag can be hidden for at most {MAX_SNOOZE_DAYS} days.")
        return until


class ResolveForm(forms.Form):
    note = forms.CharField(label="What was done", max_length=1000, widget=forms.Textarea(attrs={"rows": 2}),
                           error_messages={"required": "Say why the flag is resolved."})
