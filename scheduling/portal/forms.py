"""Forms of the patient portal: login by e-mail, the PHQ-9 check-in, contact preferences."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ObjectDoesNotExist

from patients.forms import PHQ9Form
from patients.models import Patient
from tmsclinic.accounts.forms import ThrottledPasswordResetForm

ACCOUNT_CLOSED = "Your portal account is closed; please call the clinic."


class PortalLoginForm(AuthenticationForm):
    """Django's login form with the e-mail address as the username."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Please enter a correct e-mail address and password.",
        "account_closed": ACCOUNT_CLOSED,
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "E-mail"
        self.fields["username"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})

    def clean_username(self):
        return self.cleaned_data["username"].strip().lower()

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        try:
            discharged = user.patient.status == Patient.Status.DISCHARGED
        except ObjectDoesNotExist:
            discharged = False
        if discharged:
            raise forms.ValidationError(self.error_messages["account_closed"], code="account_closed")


class PortalPasswordResetForm(ThrottledPasswordResetForm):
    """Reset links go only to active patients' accounts: the link opens the portal, and works
    PASSWORD_RESET_TIMEOUT (as an invitation's does)."""

    flow = "portal"
    url_name = "portal:set-password"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].label = "E-mail"

    def get_users(self, email):
        return (user for user in super().get_users(email)
                if Patient.objects.active().filter(user=user).exists())


class PortalPHQ9Form(PHQ9Form):
    """The staff PHQ-9 form, with every question required, the difficulty one included."""

    # One answer under another: easier to read and to tap on a phone than inline radios.
    inline_answers = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["difficulty"].required = True
        self.fields["difficulty"].error_messages["required"] = "Answer the last question."


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ["preferred_channel", "email_consent", "sms_consent"]
        labels = {
            "preferred_channel": "How should the clinic contact you?",
            "email_consent": "I agree to receive reminders by e-mail",
            "sms_consent": "I agree to receive reminders by text message (SMS)",
        }
        widgets = {"preferred_channel": forms.RadioSelect}

    def clean(self):
        cleaned = super().clean()
        channel = cleaned.get("preferred_channel")
        if channel == Patient.Channel.SMS and not self.instance.phone:
            self.add_error("preferred_channel", "The clinic has no mobile number for you: please call to add one.")
        if cleaned.get("sms_consent") and not self.instance.phone:
            self.add_error("sms_consent", "The clinic has no mobile number for you: please call to add one.")
        return cleaned

    def save(self, commit=True):
        """Stamp each consent when it is given; clear the stamp when it is withdrawn."""
        patient = super().save(commit=False)
        patient.stamp_consents(self.changed_data)
        if commit:
            patient.save(update_fields=["preferred_channel", "email_consent", "email_consent_at", "sms_consent",
                                        "sms_consent_at", "updated_at"])
        return patient
