from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm

from tmsclinic.audit import client_ip
from tmsclinic.logoff import is_portal_account

from . import mfa, passwords


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=32, strip=True,
        help_text="The 6-digit code your authenticator app shows now, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false",
                                      "autocapitalize": "off"}),
    )


class ConfirmAppForm(forms.Form):
    code = forms.CharField(
        label="Code from the app", max_length=16, strip=True,
        help_text="The 6-digit code the app shows after you scan the QR code or type the key.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "pattern": "[0-9 ]*"}),
    )


class ResetSecondFactorForm(forms.Form):
    account = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), label="Account",
        help_text="Accounts with a second factor. The account logs in with its password next time and sets up a "
                  "new one where it is required.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = mfa.accounts_with_devices()
        self.fields["account"].label_from_instance = lambda user: (
            f"{user.get_username()} ({user.get_full_name()})" if user.get_full_name() else user.get_username()
        )


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form, refused when the address or the client address has asked too
    often (``passwords.reset_allowed``), and with its e-mail sent by the worker. Subclasses say
    which ``flow`` (token lifetime) and link page they use; the view passes ``request``."""

    flow = None
    url_name = None

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean(self):
        cleaned = super().clean()
        email = cleaned.get("email")
        if not email:
            return cleaned
        try:
            allowed = passwords.reset_allowed(email, client_ip(self.request) or "")
        except passwords.ThrottleUnavailable:
            raise forms.ValidationError(passwords.UNAVAILABLE, code="unavailable") from None
        if not allowed:
            raise forms.ValidationError(passwords.REFUSED, code="throttled")
        return cleaned

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email,
                  html_email_template_name=None):
        passwords.queue_reset_email(context["user"], flow=self.flow, subject_template=subject_template_name,
                                    email_template=email_template_name, url_name=self.url_name)


class StaffPasswordResetForm(ThrottledPasswordResetForm):
    """Staff and admin accounts only: a patient's account resets its password in the portal."""

    flow = "staff"
    url_name = "password_reset_confirm"

    def get_users(self, email):
        return (user for user in super().get_users(email) if not is_portal_account(user))
